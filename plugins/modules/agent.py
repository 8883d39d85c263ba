#!/usr/bin/python
# Copyright (c) Stratos as code contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0) or, at your option,
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: Apache-2.0 OR GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: agent
short_description: Run the Stratos resident agent as a Docker container
description:
  - Creates, updates or removes the container that runs the Stratos agent on the managed host's
    Docker Engine. The agent keeps each subscription between its min and max members, replaces failed
    members, rolls out new commits and writes its view to C(<state_dir>/agent/status.json).
  - The container runs C(stratos agent --state-dir <state_dir> --interval <interval> --metrics-port 0) from O(image),
    with the restart policy O(restart), O(state_dir) bind-mounted at the same path and the host's network
    (so it reaches members on every partition network and the load balancers' loopback-bound ports).
  - It runs as the image's unprivileged user C(stratos) (uid and gid 10001), on a read-only root file
    system with a tmpfs on C(/tmp), every capability dropped and C(no-new-privileges). The state
    directory is given to that uid before the agent starts (a one-shot container from the agent image).
  - The Docker socket is not mounted. With O(docker_access=proxy) a second container, C(<name>-docker-proxy),
    runs HAProxy (from O(proxy_image)) in front of O(docker_socket) with an allow-list of the Docker API
    calls the agent makes, and only its socket, in O(proxy_dir), is mounted into the agent.
    See C(docs/security.md) in the Stratos sources for what remains root-equivalent.
  - The webhook, C(/metrics) and C(/status) are served on O(http_bind):O(http_port) by a third container,
    C(<name>-http) (O(http_split)), running C(stratos agent-http) as uid 10002 in the agent's group,
    read-only, with no capability and no Docker access; only C(<state_dir>/agent) is mounted into it,
    read-only but for C(agent/triggers) (its requests to the agent) and C(agent/http) (the webhook replay
    window). It reads no definition and no secret file; the agent publishes what a webhook is checked
    against (repository, branch and webhook secret of each subscription) in C(<state_dir>/agent/hooks).
  - A webhook secret file (C(artifact.credentials.webhook_secret_file)), like the git credentials, must
    be readable by the agent's uid 10001 inside its container, for example under C(<state_dir>/secrets),
    which is given to that uid.
  - The container carries the labels C(org.stratos.role=agent) and C(org.stratos.config-hash), the
    hash of its configuration. A container with the same hash, made from the image O(image) resolves
    to now, is left alone; otherwise it is recreated (the agent adopts the members that exist, so a
    recreation starts no duplicates).
  - A container named O(name) that does not carry C(org.stratos.role=agent) is never touched; the module
    fails and says so.
attributes:
  check_mode:
    support: full
    details:
      - Reads the container and the image to predict the change; creates, starts and removes nothing.
  diff_mode:
    support: full
    details:
      - The diff shows the container's configuration (image, command, restart policy, mounts,
        environment, state and configuration hash) before and after.
  idempotent:
    support: full
extends_documentation_fragment:
  - stratos.paas._attributes
  - stratos.paas.common
options:
  state:
    description:
      - V(present) makes the agent container exist, match the options and run (a stopped container is
        started).
      - V(absent) stops the container (giving the agent time to finish its tick) and removes it. The
        state directory, the agent's database and the members are kept.
    type: str
    choices: [present, absent]
    default: present
  name:
    description: The container's name.
    type: str
    default: stratos-agent
  image:
    description:
      - The agent image. Its entrypoint must be the C(stratos) command line.
      - Defaults to C(stratos/agent:<version>), the version being that of C(stratos-paas) on the managed
        host; C(images/build-agent-image.sh) in the Stratos sources builds it.
      - The image is not pulled; it must exist on the managed host's Docker Engine when O(state=present)
        (check mode only warns about a missing image).
    type: str
  interval:
    description: Seconds between two ticks of the agent (observe, decide, act, record).
    type: float
    default: 5
  restart:
    description: The container's Docker restart policy.
    type: str
    choices: ['no', on-failure, always, unless-stopped]
    default: unless-stopped
  docker_socket:
    description:
      - The Docker Engine's socket on the managed host. The module talks to it, and it is mounted at
        the same path into the container, where the agent uses it.
    type: path
    default: /var/run/docker.sock
  environment:
    description:
      - Extra environment variables of the agent container (for example C(STRATOS_BASE_IMAGE)).
      - C(STRATOS_STATE_DIR) is always set to O(state_dir), C(HOME) to C(/tmp).
    type: dict
    default: {}
  docker_access:
    description:
      - How the agent reaches the Docker Engine.
      - V(proxy) runs the allow-list proxy C(<name>-docker-proxy) and mounts only its socket.
      - V(external) mounts O(proxy_dir), which must hold the C(docker.sock) of a socket proxy run by
        someone else (for example an existing socket proxy image from a registry).
      - V(socket) mounts O(docker_socket) itself and runs the agent as root, as earlier versions did;
        whoever controls the agent then controls the host.
    type: str
    choices: [proxy, external, socket]
    default: proxy
  proxy_dir:
    description:
      - The host directory where the proxy's socket C(docker.sock) is (mounted into the agent at
        C(/run/stratos-docker), where the image's C(/var/run/docker.sock) points).
      - Defaults to C(/run/stratos-docker-proxy/<name>). Required with O(docker_access=external).
    type: path
  proxy_image:
    description:
      - The image the proxy runs (HAProxy 2.6 or later). Defaults to the haproxy cartridge's image,
        which C(make images) builds.
    type: str
  http_split:
    description:
      - Serve the webhook, C(/metrics) and C(/status) from the container C(<name>-http) (see above), and
        run the agent with C(--metrics-port 0).
      - V(false) lets the agent serve them itself, as uid 10001 with its Docker access.
      - Defaults to V(true), but V(false) with O(docker_access=socket) (a root agent writes files the HTTP
        side's uid cannot read); V(true) with O(docker_access=socket) is refused.
    type: bool
  http_bind:
    description:
      - The address (on the host's network) the webhook, C(/metrics) and C(/status) listen on. C(/metrics)
        and C(/status) are unauthenticated; a webhook proves itself by its signature.
    type: str
    default: 127.0.0.1
  http_port:
    description:
      - The port of the webhook, C(/metrics) and C(/status) (1 to 65535).
    type: int
    default: 9464
"""

EXAMPLES = r"""
- name: Run the agent with the image matching the installed core
  stratos.paas.agent:
    state_dir: /var/lib/stratos

- name: Run a given image, ticking every 2 seconds
  stratos.paas.agent:
    image: stratos/agent:0.1.0
    interval: 2

- name: Take webhooks on every address, port 9500 (the HTTP side, uid 10002, answers them)
  stratos.paas.agent:
    http_bind: 0.0.0.0
    http_port: 9500

- name: Stop and remove the agent (members and state stay)
  stratos.paas.agent:
    state: absent
"""

RETURN = r"""
container:
  description: The agent container as planned (in check mode) or handled.
  returned: always
  type: dict
  contains:
    name:
      description: The container's name.
      type: str
      returned: always
      sample: stratos-agent
    action:
      description: What was (or, in check mode, would be) done.
      type: str
      returned: always
      choices: [create, recreate, start, remove, none]
      sample: create
    reasons:
      description: Why.
      type: list
      elements: str
      returned: always
      sample: ["configuration changed: command"]
    image:
      description: The image the container runs (or would run). V(null) with O(state=absent).
      type: str
      returned: always
      sample: stratos/agent:0.1.0
    config_hash:
      description: The configuration hash the container carries (or would carry). V(null) with O(state=absent).
      type: str
      returned: always
      sample: 3f0c5e8a...
    command:
      description: The container's command (arguments of C(stratos)). V(null) with O(state=absent).
      type: list
      elements: str
      returned: always
      sample: [agent, --state-dir, /var/lib/stratos, --interval, "5", --metrics-port, "0"]
    companions:
      description: The containers that come with the agent (its Docker proxy, its HTTP side) and what was
        (or would be) done with each.
      type: dict
      returned: always
      sample: {stratos-agent-docker-proxy: create, stratos-agent-http: create}
"""

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
    )


if __name__ == "__main__":
    main()
