#!/usr/bin/python
# Copyright (c) Stratos as code contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0) or, at your option,
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: Apache-2.0 OR GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: deployment_policy
short_description: Manage a Stratos deployment policy definition
description:
  - Registers, updates or removes a deployment policy in the Stratos state directory of the managed host.
  - A deployment policy says in which network partitions and partitions the members of a subscription
    may run, how many at most in each partition, and how they are spread (C(round-robin) or
    C(one-after-another)).
  - The definition is validated by the Stratos core before anything is written, including that every
    network partition and partition it names is defined.
extends_documentation_fragment:
  - stratos.paas._attributes
  - stratos.paas.common
  - stratos.paas.common.definition
"""

EXAMPLES = r"""
- name: Spread members over two partitions, three at most in each
  stratos.paas.deployment_policy:
    name: php-spread
    definition:
      network_partitions:
        - name: local
          algorithm: round-robin
          partitions:
            - name: p1
              max: 3
            - name: p2
              max: 3

- name: Remove it once no application uses it
  stratos.paas.deployment_policy:
    name: php-spread
    state: absent
"""

RETURN = r"""
definition:
  description:
    - The deployment policy in canonical form (defaults omitted) as stored; with O(state=absent) the
      removed one. V(null) when there was none.
  returned: always
  type: dict
  sample:
    kind: DeploymentPolicy
    name: php-spread
    network_partitions:
      - name: local
        partitions:
          - name: p1
            max: 3
path:
  description: The definition's file in the state directory.
  returned: always
  type: str
  sample: /var/lib/stratos/definitions/deployment_policies/php-spread.yml
problems:
  description: Every problem found in the definition, each naming the field path, the value and the rule.
  returned: failure
  type: list
  elements: str
  sample:
    - "deployment_policies/php-spread.network_partitions[0].name ('lokal'): must name a defined network partition; did you mean 'local'?"
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.stratos.paas.plugins.module_utils._common import (
    definition_module_args,
    run_definition_module,
)


def main():
    module = AnsibleModule(**definition_module_args())
    run_definition_module(module, "DeploymentPolicy")


if __name__ == "__main__":
    main()
