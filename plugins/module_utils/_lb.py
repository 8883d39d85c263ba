# Copyright (c) Stratos as code contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0) or, at your option,
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: Apache-2.0 OR GPL-3.0-or-later

# This module utility is private to stratos.paas: its API may change without notice and other
# collections must not import it.
#
# The lb_cluster module's options and its one core call (stratos.operations.lb_cluster).

from __future__ import annotations

from ansible_collections.stratos.paas.plugins.module_utils._common import (
    core,
    definition_of,
    run_with_docker,
)

#: The options lb_cluster adds to the definition module's (documented in plugins/modules/lb_cluster.yml).
LB_OPTIONS = dict(
    purge=dict(type="bool", default=False),
    wait_timeout=dict(type="int", default=30),
)


def run_lb_cluster_module(module):
    """Write or remove the LB cluster definition and its HAProxy container, exit the module."""
    params = module.params
    run_with_docker(
        module,
        lambda pool: core.apply_lb_cluster(
            core.StateStore(params["state_dir"]),
            params["name"],
            definition_of(params, "LbCluster"),
            pool=pool,
            purge=params["purge"],
            wait=params["wait_timeout"],
        ),
    )
