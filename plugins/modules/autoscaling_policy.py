#!/usr/bin/python
# Copyright (c) Stratos as code contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0) or, at your option,
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: Apache-2.0 OR GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: autoscaling_policy
short_description: Manage a Stratos autoscaling policy definition
description:
  - Registers, updates or removes an autoscaling policy in the Stratos state directory of the managed host.
  - An autoscaling policy gives the per-member targets the agent scales on (requests in flight, memory
    consumption, load average; at least one) and how it turns measurements into member counts
    (evaluation interval, prediction horizon, smoothing window, tolerance, stabilisation windows,
    largest step).
  - The definition is validated by the Stratos core before anything is written.
extends_documentation_fragment:
  - stratos.paas._attributes
  - stratos.paas.common
  - stratos.paas.common.definition
"""

EXAMPLES = r"""
- name: Scale PHP members on load and requests in flight
  stratos.paas.autoscaling_policy:
    name: php-load
    definition:
      thresholds:
        requests_in_flight: 20
        load_average: 70
        memory_consumption: 80
      behaviour:
        evaluation_interval: 5
        prediction_horizon: 20
        scale_down_stabilisation: 60
        max_step: 2

- name: Keep every Stratos module's state in one place
  module_defaults:
    group/stratos.paas.stratos:
      state_dir: /srv/stratos
  block:
    - name: Register a policy from a file on the managed host
      stratos.paas.autoscaling_policy:
        name: batch
        src: /srv/definitions/batch-policy.yml
"""

RETURN = r"""
definition:
  description:
    - The autoscaling policy in canonical form (defaults omitted) as stored; with O(state=absent) the
      removed one. V(null) when there was none.
  returned: always
  type: dict
  sample:
    kind: AutoscalingPolicy
    name: php-load
    thresholds:
      requests_in_flight: 20.0
    behaviour:
      evaluation_interval: 5.0
path:
  description: The definition's file in the state directory.
  returned: always
  type: str
  sample: /var/lib/stratos/definitions/autoscaling_policies/php-load.yml
problems:
  description: Every problem found in the definition, each naming the field path, the value and the rule.
  returned: failure
  type: list
  elements: str
  sample:
    - "autoscaling_policies/php-load.behaviour.tolerance (1.5): must be < 1"
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.stratos.paas.plugins.module_utils._common import (
    definition_module_args,
    run_definition_module,
)


def main():
    module = AnsibleModule(**definition_module_args())
    run_definition_module(module, "AutoscalingPolicy")


if __name__ == "__main__":
    main()
