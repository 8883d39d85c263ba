# Copyright (c) Stratos as code contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0) or, at your option,
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: Apache-2.0 OR GPL-3.0-or-later

# This module utility is private to stratos.paas: its API may change without notice and other
# collections must not import it.
#
# The lb_cluster module's edge: its options, and one call of the core's operation
# (stratos.operations.lb_cluster.apply_lb_cluster: the definition and the HAProxy container);
# run_plan() renders the plan.

from __future__ import annotations

import traceback

from ansible_collections.stratos.paas.plugins.module_utils._common import check_name, read_body
from ansible_collections.stratos.paas.plugins.module_utils._diff import run_plan

try:
    from stratos.operations.lb_cluster import apply_lb_cluster
    from stratos.store import StateStore
    from stratos.validation import parse_definition
except ImportError:
    LB_DRIVER_IMPORT_ERROR = traceback.format_exc()
else:
    LB_DRIVER_IMPORT_ERROR = None

#: The options lb_cluster adds to the definition module's (documented in plugins/modules/lb_cluster.py).
LB_OPTIONS = dict(
    purge=dict(type="bool", default=False),
    wait_timeout=dict(type="int", default=30),
)


def run_lb_cluster_module(module):
    """Write or remove the LB cluster definition and its HAProxy container, exit the module."""
    run_plan(module, lambda pool: _plan(module.params, pool), LB_DRIVER_IMPORT_ERROR)


def _plan(params, pool):
    name = params["name"]
    check_name(name)  # before it becomes part of a path
    definition = None
    if params["state"] == "present":
        definition = parse_definition(read_body(params, "LbCluster"), params.get("src") or "")
    store = StateStore(params["state_dir"])
    return apply_lb_cluster(
        store, name, definition, pool=pool, purge=params["purge"], wait=params["wait_timeout"]
    )
