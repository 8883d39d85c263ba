#!/usr/bin/python
# Copyright (c) Stratos as code contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0) or, at your option,
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: Apache-2.0 OR GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: lb_cluster
short_description: Manage a Stratos LB cluster and its HAProxy container
description:
  - Registers, updates or removes an LB cluster in the Stratos state directory of the managed host,
    and runs its load balancer, one HAProxy container per LB cluster on its network partition.
  - The Stratos core renders the HAProxy configuration into C(<state_dir>/lb/<name>/haproxy.cfg), one
    frontend and one backend per listener, without servers. The container C(stratos-lb-<name>), made
    from the image of the C(haproxy) cartridge (registered, else the built-in one, see
    M(stratos.paas.cartridge_image)), runs on the network partition's Docker network, with the
    configuration mounted read-only, and publishes each listener's C(proxy_port) on
    C(bind_address:publish) (C(publish) defaults to C(proxy_port)).
  - HAProxy's runtime API is a socket in C(<state_dir>/lb/<name>/run/). The Stratos agent adds,
    drains and removes the members of each backend there, without a reload; this module never touches
    the servers.
  - The container carries the labels C(org.stratos.role=lb), C(org.stratos.lb-cluster=<name>) and
    C(org.stratos.config-hash), the hash of its image, network, published ports and mounts. When that
    hash changes the container is recreated; when only the configuration changes HAProxy checks it
    (C(haproxy -c)) and reloads gracefully; a stopped container is started; otherwise nothing happens.
    A container of that name that belongs to another LB cluster is never touched; the module fails.
  - The container runs on the Docker endpoint of the network partition's first partition, which must be
    the managed host's own engine (the configuration and the runtime API are bind mounts). The load
    balancers of an C(openstack) network partition belong to the Pulumi front end; for them this module
    only keeps the definition.
  - The definition is validated by the Stratos core before anything is written or created.
author:
  - Stratos as code maintainers (@stratos-as-code)
extends_documentation_fragment:
  - stratos.paas._attributes
  - stratos.paas._attributes.actiongroup_stratos
  - stratos.paas.common
  - stratos.paas.common.definition
attributes:
  check_mode:
    support: full
    details:
      - Reads the container and the configuration file to predict the change; writes, creates, reloads
        and removes nothing.
  diff_mode:
    support: full
    details:
      - The diff lists the definition file, then the container (image, network, published ports,
        mounts, restart policy, state) followed by its C(haproxy.cfg), before and after.
  idempotent:
    support: full
options:
  purge:
    description:
      - With O(state=absent), also remove C(<state_dir>/lb/<name>/), the configuration and the runtime
        API directory. By default they stay (the container is removed either way).
    type: bool
    default: false
  wait_timeout:
    description:
      - Seconds to wait, after creating, starting or reloading the container, until HAProxy's runtime
        API answers. The module fails when it does not.
    type: int
    default: 30
requirements:
  - The Python package C(docker) (a dependency of C(stratos-paas)) and access to the Docker Engine.
  - The image of the C(haproxy) cartridge on that engine (M(stratos.paas.cartridge_image) builds it) and
    the network partition's Docker network (M(stratos.paas.network_partition) creates it).
seealso:
  - module: stratos.paas.network_partition
  - module: stratos.paas.application
"""

EXAMPLES = r"""
- name: Build the HAProxy image
  stratos.paas.cartridge_image:
    builtin: haproxy

- name: An LB cluster for the web tier, published on port 8080 of the host
  stratos.paas.lb_cluster:
    name: web
    definition:
      network_partition: local
      algorithm: roundrobin
      listeners:
        - proxy_port: 8080
          port: 80
          protocol: http
  register: web_lb

- name: Ask it
  ansible.builtin.uri:
    url: "{{ web_lb.containers[0].url }}"
    status_code: [200, 503]

- name: Publish the listener on another host port, bound to the loopback only
  stratos.paas.lb_cluster:
    name: web
    definition:
      network_partition: local
      bind_address: 127.0.0.1
      listeners:
        - proxy_port: 8080
          port: 80
          publish: 18080

- name: Remove it, with its configuration directory
  stratos.paas.lb_cluster:
    name: web
    state: absent
    purge: true
"""

RETURN = r"""
definition:
  description:
    - The LB cluster in canonical form (defaults omitted) as stored; with O(state=absent) the removed
      one. V(null) when there was none.
  returned: always
  type: dict
  sample:
    kind: LbCluster
    name: web
    network_partition: local
    listeners:
      - proxy_port: 8080
        port: 80
path:
  description: The definition's file in the state directory.
  returned: always
  type: str
  sample: /var/lib/stratos/definitions/lb_clusters/web.yml
containers:
  description:
    - The HAProxy container planned (in check mode) or handled, and with O(purge) the directory
      removed. Usually one item; two when the LB cluster moves to another Docker endpoint.
  returned: success
  type: list
  elements: dict
  contains:
    name:
      description: The container's name (the directory's path for a purge).
      type: str
      returned: always
      sample: stratos-lb-web
    endpoint:
      description: The Docker endpoint it runs on.
      type: str
      returned: except for a purge
      sample: unix:///var/run/docker.sock
    action:
      description: What was (or, in check mode, would be) done.
      type: str
      returned: always
      choices: [create, recreate, start, reload, remove, none]
      sample: create
    reasons:
      description: Why.
      type: list
      elements: str
      returned: always
      sample: [the container does not exist]
    container_id:
      description: The container's id; V(null) when it does not exist (yet, in check mode).
      type: str
      returned: except for a purge
      sample: 1f0c3e6e8d0f5a2b7c9d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b
    image:
      description: The HAProxy image.
      type: str
      returned: when present
      sample: stratos/cartridge-haproxy:2.6
    network:
      description: The Docker network of the network partition.
      type: str
      returned: when present
      sample: stratos-local
    ports:
      description: The published listeners.
      type: list
      elements: dict
      returned: when present
      contains:
        proxy_port:
          description: The port HAProxy listens on in the container (a frontend and a backend per listener).
          type: int
          sample: 8080
        port:
          description: The members' port the listener forwards to.
          type: int
          sample: 80
        protocol:
          description: V(http) or V(tcp).
          type: str
          sample: http
        host_ip:
          description: The host address the port is published on.
          type: str
          sample: 0.0.0.0
        host_port:
          description: The host port (the listener's C(publish), else its C(proxy_port)).
          type: int
          sample: 8080
    urls:
      description: The URL of each listener, as the managed host reaches it.
      type: list
      elements: str
      returned: when present
      sample: ["http://127.0.0.1:8080/"]
    url:
      description: The URL of the first http listener, else of the first listener.
      type: str
      returned: when present
      sample: http://127.0.0.1:8080/
    config:
      description: The HAProxy configuration file on the managed host.
      type: str
      returned: when present
      sample: /var/lib/stratos/lb/web/haproxy.cfg
    socket:
      description: HAProxy's runtime API socket on the managed host (the agent's).
      type: str
      returned: when present
      sample: /var/lib/stratos/lb/web/run/admin.sock
problems:
  description: Every problem found in the definition, each naming the field path, the value and the rule.
  returned: failure
  type: list
  elements: str
  sample:
    - "lb_clusters/web.listeners[1].proxy_port (8080): must be unique within the LB cluster; listeners[0] uses it too"
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.stratos.paas.plugins.module_utils._common import definition_module_args
from ansible_collections.stratos.paas.plugins.module_utils._lb import LB_OPTIONS, run_lb_cluster_module


def main():
    module = AnsibleModule(**definition_module_args(**LB_OPTIONS))
    run_lb_cluster_module(module)


if __name__ == "__main__":
    main()
