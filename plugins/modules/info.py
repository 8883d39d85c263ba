#!/usr/bin/python
# Copyright (c) Stratos as code contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0) or, at your option,
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: Apache-2.0 OR GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: info
short_description: Read the Stratos definitions and the live state of a host
description:
  - Returns the definitions stored in the Stratos state directory of the managed host, all of them or
    those of one kind or one name, with every problem the stored set has.
  - With O(live=true), also the live state, from three sources.
  - The agent's last report in C(<state_dir>/agent/status.json), per application and subscription,
    with its members, their health and whether they are registered in the load balancer.
  - The view of each LB cluster's HAProxy through its runtime API (C(show stat)), per frontend and
    backend, with each server's status and health check.
  - The platform containers of this state directory (members, load balancers, agent) on the Docker
    endpoints of its network partitions, with their C(org.stratos.*) labels.
  - Secrets are never returned. The generated secrets, link files and repository credentials are not
    read, a password or token embedded in an artifact URL is shown as C(***), and of the containers
    only the labels listed in RV(containers) are returned.
extends_documentation_fragment:
  - stratos.paas._attributes
  - stratos.paas._attributes.info_module
  - stratos.paas.common
options:
  kind:
    description: Only the definitions (and live state) of this kind.
    type: str
    choices: [Cartridge, NetworkPartition, DeploymentPolicy, AutoscalingPolicy, LbCluster, Application]
  name:
    description:
      - Only the definitions of this name (of any kind, or of O(kind)), the application's members and the
        LB cluster's view of that name, and the containers that belong to it.
    type: str
  live:
    description:
      - Also read the agent's status, the load balancers' runtime API and Docker. Without it only the
        state directory is read.
      - A Docker endpoint that cannot be reached is a warning, not a failure.
    type: bool
    default: true
requirements:
  - The Python package C(docker) (a dependency of C(stratos-paas)) and access to the Docker Engine, with
    O(live=true).
seealso:
  - module: stratos.paas.application
"""

EXAMPLES = r"""
- name: Everything the host knows
  stratos.paas.info:
  register: stratos

- name: How many web members serve
  ansible.builtin.debug:
    msg: "{{ stratos.applications.shop.subscriptions.web.healthy }} healthy, {{ stratos.applications.shop.subscriptions.web.in_lb }} in the LB"

- name: The LB cluster "web", as HAProxy sees it
  stratos.paas.info:
    kind: LbCluster
    name: web
  register: web_lb

- name: The stored cartridges only, without touching Docker
  stratos.paas.info:
    kind: Cartridge
    live: false
"""

RETURN = r"""
definitions:
  description:
    - The stored definitions, per kind (in its plural, snake case form) then per name, as stored.
      A file that does not parse is left out and reported in RV(problems).
  returned: always
  type: dict
  sample:
    cartridges:
      php: {kind: Cartridge, name: php, version: "8.2", category: framework}
    lb_clusters:
      web:
        kind: LbCluster
        name: web
        network_partition: local
        listeners: [{proxy_port: 8080, port: 80}]
problems:
  description: Every problem of the stored definitions (each naming the file, the field, the value and the rule).
  returned: always
  type: list
  elements: str
  sample: []
agent:
  description: When the agent last wrote its status, its age in seconds and how that tick went. V(null) without a status.
  returned: when O(live=true)
  type: dict
  sample: {time: 1735689600.25, age: 1.3, tick: {ok: true, error: null, seconds: 0.41}}
applications:
  description:
    - Per application the agent reports, its C(subscriptions), each with C(min), C(max), C(desired),
      C(healthy), C(in_lb), C(ready), C(waiting_for), C(notes) and C(members) (C(id), C(partition),
      C(health), C(in_lb), C(address), C(current_revision)).
  returned: when O(live=true)
  type: dict
  sample:
    shop:
      subscriptions:
        web:
          min: 2
          healthy: 2
          in_lb: 2
          ready: true
          members:
            - {id: shop-web-1a2b3c, partition: local/p1, health: healthy, in_lb: true, address: 172.18.0.4}
load_balancers:
  description:
    - Per LB cluster, HAProxy's own view through its runtime API. C(available) is false (with C(error))
      when the socket does not answer.
  returned: when O(live=true)
  type: dict
  sample:
    web:
      available: true
      socket: /var/lib/stratos/lb/web/run/admin.sock
      frontends: {fe_8080: {status: OPEN, sessions: 0}}
      backends:
        be_8080:
          status: UP
          sessions: 0
          queued: 0
          servers:
            - name: shop-web-1a2b3c
              address: 172.18.0.4:80
              status: UP
              check_status: L7OK
              weight: 1
              sessions: 0
              total_sessions: 12
containers:
  description:
    - The platform containers of this state directory, with C(name), C(id), C(endpoint), C(image),
      C(status) and C(labels) (only C(org.stratos.role), C(state-id), C(application), C(subscription),
      C(cartridge), C(network-partition), C(partition), C(member-id), C(revision), C(lb-cluster) and
      C(config-hash), each prefixed with C(org.stratos.)).
  returned: when O(live=true)
  type: list
  elements: dict
  sample:
    - name: stratos-lb-web
      id: 1f0c3e6e8d0f
      endpoint: unix:///var/run/docker.sock
      image: stratos/cartridge-haproxy:2.6
      status: running
      labels: {org.stratos.role: lb, org.stratos.lb-cluster: web}
"""

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
