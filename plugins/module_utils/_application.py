# Copyright (c) Stratos as code contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0) or, at your option,
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: Apache-2.0 OR GPL-3.0-or-later

# This module utility is private to stratos.paas: its API may change without notice and other
# collections must not import it.
#
# The application module's options and its one core call: stratos.operations.application writes
# the definition, reloads the LB clusters and waits for the agent; run_with_docker() renders the plan.

from __future__ import annotations

from ansible_collections.stratos.paas.plugins.module_utils._common import (
    core,
    definition_of,
    run_with_docker,
)

#: The options application adds to the definition module's (documented in plugins/modules/application.yml).
APP_OPTIONS = dict(
    wait=dict(type="bool", default=True),
    wait_timeout=dict(type="int", default=180),
    purge_data=dict(type="bool", default=False),
    pin_release=dict(type="dict"),
)


def run_application_module(module):
    """Write or remove the application definition, wait for the agent, exit the module."""
    params = module.params
    run_with_docker(module, lambda pool: _plan(params, pool))


def _plan(params, pool):
    app = definition_of(params, "Application")
    wait = dict(pool=pool, wait=params["wait"], timeout=params["wait_timeout"])
    store = core.StateStore(params["state_dir"])
    if app is None:
        return core.remove_application(store, params["name"], purge=params["purge_data"], **wait)
    return core.apply_application(store, app, pins=params.get("pin_release"), **wait)
