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

#: The options that describe the agent's container (the core's AgentSpec fields, but name).
AGENT_SPEC = dict(
    image=dict(type="str"),
    interval=dict(type="float", default=5),
    restart=dict(
        type="str", choices=["no", "on-failure", "always", "unless-stopped"], default="unless-stopped"
    ),
    docker_access=dict(type="str", choices=["proxy", "external", "socket"], default="proxy"),
    proxy_dir=dict(type="path"),
    proxy_image=dict(type="str"),
    http_split=dict(type="bool"),
    http_bind=dict(type="str", default="127.0.0.1"),
    http_port=dict(type="int", default=9464),
)


def main():
    argument_spec = dict(
        STATE_DIR_SPEC,
        **STATE_SPEC,
        **AGENT_SPEC,
        name=dict(type="str", default="stratos-agent"),
        docker_socket=dict(type="path", default="/var/run/docker.sock"),
        environment=dict(type="dict", default={}),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params
    options = {key: params[key] for key in ("state_dir", *AGENT_SPEC)}
    run_with_core(
        module,
        lambda: core.apply_agent(
            present=params["state"] == "present",
            name=params["name"],
            docker_socket=params["docker_socket"],
            environment=params["environment"],
            **options,
        ),
        diff_first=True,  # the agent container's; its companions are reported under companions
    )


if __name__ == "__main__":
    main()
