# Copyright (c) Stratos as code contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0) or, at your option,
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: Apache-2.0 OR GPL-3.0-or-later

# This module utility is private to stratos.paas: its API may change without notice and other
# collections must not import it.
#
# The application module's edge: its options, and one call of the core's operation
# (stratos.operations.application: apply_application / remove_application), which writes or removes
# the definition and waits for the agent; run_plan() renders the plan.

from __future__ import annotations

import traceback

from ansible_collections.stratos.paas.plugins.module_utils._common import check_name, read_body
from ansible_collections.stratos.paas.plugins.module_utils._diff import run_plan

try:
    from stratos.operations.application import apply_application, remove_application
    from stratos.store import StateStore
    from stratos.validation import parse_definition
except ImportError:
    APP_DEPS_IMPORT_ERROR = traceback.format_exc()
else:
    APP_DEPS_IMPORT_ERROR = None

#: The options application adds to the definition module's (documented in plugins/modules/application.py).
APP_OPTIONS = dict(
    wait=dict(type="bool", default=True),
    wait_timeout=dict(type="int", default=180),
    purge_data=dict(type="bool", default=False),
    pin_release=dict(type="dict"),
)


def run_application_module(module):
    """Write or remove the application definition, wait for the agent, exit the module."""
    run_plan(module, lambda pool: _plan(module.params, pool), APP_DEPS_IMPORT_ERROR)


def _plan(params, pool):
    name = params["name"]
    check_name(name)  # before it becomes part of a path
    store = StateStore(params["state_dir"])
    wait = dict(pool=pool, wait=params["wait"], timeout=params["wait_timeout"])
    if params["state"] == "absent":
        return remove_application(store, name, purge=params["purge_data"], **wait)
    app = parse_definition(read_body(params, "Application"), params.get("src") or "")
    return apply_application(store, app, pins=params.get("pin_release"), **wait)
