#!/usr/bin/python
# Copyright (c) Stratos as code contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0) or, at your option,
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: Apache-2.0 OR GPL-3.0-or-later

from __future__ import annotations

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.stratos.paas.plugins.module_utils._common import STATE_DIR_SPEC, core, run_with_core

KINDS = ["Cartridge", "NetworkPartition", "DeploymentPolicy", "AutoscalingPolicy", "LbCluster", "Application"]


def main():
    argument_spec = dict(
        STATE_DIR_SPEC,
        kind=dict(type="str", choices=KINDS),
        name=dict(type="str"),
        live=dict(type="bool", default=True),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params
    run_with_core(
        module,
        lambda: core.info(params["state_dir"], kind=params["kind"], name=params["name"], live=params["live"]),
    )


if __name__ == "__main__":
    main()
