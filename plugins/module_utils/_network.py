# Copyright (c) Stratos as code contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0) or, at your option,
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: Apache-2.0 OR GPL-3.0-or-later

# This module utility is private to stratos.paas: its API may change without notice and other
# collections must not import it.
#
# The runtime step of the network_partition module: the Docker network of each Docker endpoint of
# the network partition, planned and applied by stratos.drivers.network.

from __future__ import annotations

import traceback

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.stratos.paas.plugins.module_utils._common import STRATOS_LIBRARY, RuntimeStep

try:
    from stratos.drivers.network import (
        apply_network,
        connect,
        docker_endpoints,
        plan_network,
        plan_network_removal,
    )
except ImportError:
    HAS_NETWORK_DRIVER = False
    NETWORK_DRIVER_IMPORT_ERROR = traceback.format_exc()
else:
    HAS_NETWORK_DRIVER = True
    NETWORK_DRIVER_IMPORT_ERROR = None


def require_network_driver(module):
    """Fail with Ansible's usual message when the core's network driver (or docker) is missing."""
    if not HAS_NETWORK_DRIVER:
        module.fail_json(
            msg=missing_required_lib("%s (with the docker SDK)" % STRATOS_LIBRARY),
            exception=NETWORK_DRIVER_IMPORT_ERROR,
        )


def network_steps(module, before, after):
    """Plan the Docker networks of a network partition: create or keep those ``after`` wants and
    remove those only ``before`` had (its network was renamed, or the partition is removed).
    Reads only; raises the core's errors (a network in use names its containers)."""
    clients = {}

    def client(endpoint):
        if endpoint not in clients:
            clients[endpoint] = connect(endpoint)
        return clients[endpoint]

    steps = []
    wanted = set()
    if after is not None:
        for endpoint in docker_endpoints(after):
            change = plan_network(client(endpoint), after, endpoint)
            wanted.add((endpoint, change.name))
            steps.append(_step(client(endpoint), change))
    if before is not None:
        for endpoint in docker_endpoints(before):
            if (endpoint, before.network_name()) in wanted:
                continue
            change = plan_network_removal(client(endpoint), before.network_name(), before.name, endpoint)
            steps.append(_step(client(endpoint), change))
    return steps


def _step(client, change):
    return RuntimeStep(
        changed=change.changed,
        diff=change.diff(),
        apply=lambda: apply_network(client, change),
        report=change.report(),
    )
