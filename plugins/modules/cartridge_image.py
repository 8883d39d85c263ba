#!/usr/bin/python
# Copyright (c) Stratos as code contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0) or, at your option,
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: Apache-2.0 OR GPL-3.0-or-later

from __future__ import annotations

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.stratos.paas.plugins.module_utils._common import (
    STATE_DIR_SPEC,
    STATE_SPEC,
    core,
    run_with_core,
)

#: The options of the core's build_image (but state and state_dir).
IMAGE_SPEC = dict(
    name=dict(type="str"),
    builtin=dict(type="str", choices=["php", "mysql", "haproxy"]),
    src=dict(type="path"),
    base_image=dict(type="str"),
    tag=dict(type="str"),
    registry=dict(type="str"),
    push=dict(type="bool", default=True),
    force=dict(type="bool", default=False),
    docker_host=dict(type="str"),
    timeout=dict(type="int", default=1800),
)


def main():
    module = AnsibleModule(
        argument_spec=dict(STATE_DIR_SPEC, **STATE_SPEC, **IMAGE_SPEC),
        mutually_exclusive=[("name", "builtin", "src")],
        required_one_of=[("name", "builtin", "src")],
        supports_check_mode=True,
    )
    params = module.params
    options = {key: params[key] for key in IMAGE_SPEC}
    run_with_core(
        module,
        lambda: core.build_image(params["state_dir"], present=params["state"] == "present", **options),
    )


if __name__ == "__main__":
    main()
