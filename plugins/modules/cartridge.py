#!/usr/bin/python
# Copyright (c) Stratos as code contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0) or, at your option,
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: Apache-2.0 OR GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: cartridge
short_description: Manage a Stratos cartridge definition
description:
  - Registers, updates or removes a cartridge in the Stratos state directory of the managed host.
  - A cartridge is a runtime image (ready, or built from a Debian base) and how members made from
    it behave, such as ports, health check, environment, volumes, limits, secrets and the values it
    exports to linked subscriptions.
  - The definition is validated by the Stratos core before anything is written; every problem is
    reported at once, naming the field, the rule and the value.
  - The image itself is built by M(stratos.paas.cartridge_image); this module only keeps the definition.
extends_documentation_fragment:
  - stratos.paas._attributes
  - stratos.paas.common
  - stratos.paas.common.definition
options:
  builtin:
    description:
      - Register one of the standard cartridges shipped with the Stratos core package instead of
        giving the definition.
      - V(php) is Apache with mod_php, V(mysql) is MariaDB with a generated password, V(haproxy)
        is the load balancer of LB clusters.
      - Relative C(src) paths of its image files are resolved against the shipped definition's directory.
      - Mutually exclusive with O(definition) and O(src).
    type: str
    choices: [php, mysql, haproxy]
"""

EXAMPLES = r"""
- name: Register the standard PHP cartridge
  stratos.paas.cartridge:
    name: php
    builtin: php

- name: Register a cartridge that uses a ready image
  stratos.paas.cartridge:
    name: redis
    definition:
      version: "7"
      category: data
      image:
        ref: redis:7
      ports:
        - name: redis
          protocol: tcp
          port: 6379
      health_check:
        tcp: true
      exports:
        host: "{member.hostname}"
        port: "6379"

- name: Register a cartridge kept as a YAML file on the managed host
  stratos.paas.cartridge:
    name: tomcat
    src: /srv/stratos/cartridges/tomcat/cartridge.yml
    state_dir: /srv/stratos/state

- name: Remove a cartridge no application subscribes to any more
  stratos.paas.cartridge:
    name: redis
    state: absent
"""

RETURN = r"""
definition:
  description:
    - The cartridge in canonical form (defaults omitted) as stored; with O(state=absent) the removed
      one. V(null) when there was none.
  returned: always
  type: dict
  sample:
    kind: Cartridge
    name: redis
    version: "7"
    category: data
    image:
      ref: redis:7
    ports:
      - name: redis
        protocol: tcp
        port: 6379
    health_check:
      tcp: true
path:
  description: The definition's file in the state directory.
  returned: always
  type: str
  sample: /var/lib/stratos/definitions/cartridges/redis.yml
problems:
  description: Every problem found in the definition, each naming the field path, the value and the rule.
  returned: failure
  type: list
  elements: str
  sample:
    - "cartridges/redis.ports[0].port (70000): must be <= 65535"
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.stratos.paas.plugins.module_utils._common import (
    definition_module_args,
    run_definition_module,
)


def main():
    module = AnsibleModule(
        **definition_module_args(builtin=dict(type="str", choices=["php", "mysql", "haproxy"], body=True))
    )
    run_definition_module(module, "Cartridge")


if __name__ == "__main__":
    main()
