#!/usr/bin/python
# Copyright (c) Stratos as code contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0) or, at your option,
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: Apache-2.0 OR GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: network_partition
short_description: Manage a Stratos network partition and its Docker network
description:
  - Registers, updates or removes a network partition in the Stratos state directory of the managed
    host. A network partition is where members may run, as one or more partitions (Docker endpoints
    with an optional region and zone), and the network its members and its load balancer share.
  - For a C(docker) network partition the module also creates, on every distinct Docker endpoint of
    its partitions, the Docker network named by C(network.name) (default C(stratos-<name>)), with
    C(network.subnet) when given and the label C(org.stratos.network-partition=<name>).
    With O(state=absent) it removes the networks it created, and fails, naming them, while containers
    are still attached. A network that exists without the label is used as is and never removed.
  - The networks of an C(openstack) network partition belong to the Pulumi front end; this module only
    keeps their definition.
  - The definition is validated by the Stratos core before anything is written or created.
attributes:
  check_mode:
    support: full
    details:
      - Reads the Docker networks to predict the change; creates and removes nothing.
  diff_mode:
    support: full
    details:
      - The diff lists the definition file, then each Docker network, before and after.
extends_documentation_fragment:
  - stratos.paas._attributes
  - stratos.paas.common
  - stratos.paas.common.definition
requirements:
  - The Python package C(docker) (a dependency of C(stratos-paas)) and access to each partition's Docker endpoint.
"""

EXAMPLES = r"""
- name: One network partition with two partitions on the local Docker Engine
  stratos.paas.network_partition:
    name: local
    definition:
      provider: docker
      partitions:
        - name: p1
          zone: a
        - name: p2
          zone: b
      network:
        name: stratos-local
        subnet: 10.10.0.0/24

- name: Remove it (after the applications and policies that use it)
  stratos.paas.network_partition:
    name: local
    state: absent
"""

RETURN = r"""
definition:
  description:
    - The network partition in canonical form (defaults omitted) as stored; with O(state=absent) the
      removed one. V(null) when there was none.
  returned: always
  type: dict
  sample:
    kind: NetworkPartition
    name: local
    partitions:
      - name: p1
        zone: a
    network:
      name: stratos-local
      subnet: 10.10.0.0/24
path:
  description: The definition's file in the state directory.
  returned: always
  type: str
  sample: /var/lib/stratos/definitions/network_partitions/local.yml
networks:
  description: The Docker networks planned (in check mode) or handled, one per Docker endpoint.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The Docker network's name.
      type: str
      returned: always
      sample: stratos-local
    endpoint:
      description: The Docker endpoint.
      type: str
      returned: always
      sample: unix:///var/run/docker.sock
    action:
      description: What was (or, in check mode, would be) done.
      type: str
      returned: always
      choices: [create, recreate, remove, none]
      sample: create
    reason:
      description: Why.
      type: str
      returned: always
      sample: does not exist
problems:
  description: Every problem found in the definition, each naming the field path, the value and the rule.
  returned: failure
  type: list
  elements: str
  sample:
    - "network_partitions/local.partitions[0].endpoint ('http://x'): must be a Docker endpoint: unix:///path, tcp://host:port or ssh://user@host"
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.stratos.paas.plugins.module_utils._common import (
    core,
    definition_module_args,
    definition_options,
    run_with_core,
)


def main():
    module = AnsibleModule(**definition_module_args())
    params = module.params
    run_with_core(
        module,
        lambda: core.apply_network_partition(
            params["state_dir"], params["name"], **definition_options(params)
        ),
        diff_list=True,
    )


if __name__ == "__main__":
    main()
