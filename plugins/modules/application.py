#!/usr/bin/python
# Copyright (c) Stratos as code contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0) or, at your option,
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: Apache-2.0 OR GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: application
short_description: Deploy or remove a Stratos application and wait for its members
description:
  - Registers, updates or removes an application in the Stratos state directory of the managed host.
    An application is a set of subscriptions, each running a cartridge between C(min) and C(max)
    members placed by a deployment policy, optionally behind an LB cluster, scaled by an autoscaling
    policy, with its code from a git repository (C(artifact)) and links to other subscriptions.
  - The definition is validated by the Stratos core against the definitions already stored (its
    cartridges, policies and LB clusters must exist, C(min) must not exceed C(max) nor the deployment
    policy's capacity, a C(proxy_port) must not be claimed twice on one LB cluster, a data cartridge
    with persistence runs one member, a subscription does not link to itself...) before anything is
    written. Every problem is reported at once, naming the field, the rule and the value.
  - The members belong to the Stratos agent (M(stratos.paas.agent)), which reads the definitions on
    each tick, starts, replaces and removes members, and registers the healthy ones in their LB
    cluster through HAProxy's runtime API. This module writes the definition and waits for the agent.
  - With O(state=present) and O(wait=true), it returns once a status written by the agent after the
    definition (C(<state_dir>/agent/status.json)) reports, for every subscription, at least C(min)
    healthy members, registered in the load balancer when the subscription has an C(lb_cluster).
    After O(wait_timeout) seconds it fails, saying per subscription what it saw (members, their health,
    how many are in the load balancer) and whether the agent runs at all.
  - With O(state=absent), the definition is removed; the agent then drains the members out of the
    load balancer and removes them. With O(wait=true) the module returns once no member container of
    the application is left and none is a server of its LB clusters. The data volumes
    (C(stratos-<application>-<alias>-<volume>)), the generated secrets, link files and releases are
    kept, unless O(purge_data=true).
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
      - Validates and predicts the change, and with O(purge_data) lists the data that would go; writes,
        waits for and removes nothing. RV(status) is the agent's current view.
  diff_mode:
    support: full
    details:
      - The diff shows the stored definition file before and after, in canonical YAML, and with
        O(purge_data) the volumes and directories removed.
  idempotent:
    support: full
    details:
      - The definition is written only when it differs. With O(wait=true) a run that changes nothing
        still waits for one fresh status of the agent.
options:
  wait:
    description:
      - With O(state=present), wait until the agent reports every subscription ready (see above).
      - With O(state=absent), wait until the application's members are gone and out of its load
        balancers.
      - Check mode never waits.
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds to wait (see O(wait)). The module fails after that long, with what it saw; the definition
        stays written (or removed), so a later run just waits again.
    type: int
    default: 180
  purge_data:
    description:
      - With O(state=absent), also remove the application's data once its members are gone (the
        module waits for that even with O(wait=false)), its named Docker volumes (those labelled
        C(org.stratos.application=<name>) by this state directory's agent), and its secrets, link files
        and releases in O(state_dir).
      - Without it, all of that is kept, and an application deployed again under the same name finds
        its data and its secrets.
    type: bool
    default: false
  pin_release:
    description:
      - Keep serving a given release of a subscription's artifact, whatever its branch does, given as
        a mapping of subscription alias to commit id; V(null) as the commit follows the branch again.
      - Sets C(artifact.pin) of those subscriptions in the stored definition; the agent switches its
        members to that commit (a release that fails its health check is still switched back).
      - The commit is a full or abbreviated (at least 7 hex digits) commit id.
    type: dict
notes:
  - The definition holds no secret. Repository credentials are files on the managed host named by
    C(artifact.credentials) (C(token_file), C(ssh_key_file)); a password or token embedded in an
    artifact URL is shown as C(***) in what the module returns.
requirements:
  - The Python package C(docker) (a dependency of C(stratos-paas)) and access to the Docker Engine, for
    O(state=absent) with O(wait) or O(purge_data).
  - The Stratos agent running on the managed host, for O(wait) (role C(stratos.paas.autoscaler)).
seealso:
  - module: stratos.paas.agent
  - module: stratos.paas.info
"""

EXAMPLES = r"""
- name: Pin the PHP front end of shop to a known good release
  stratos.paas.application:
    name: shop
    src: /etc/stratos/shop.yml
    pin_release:
      web: 3f2c1a9

- name: Deploy the seed demo's application and wait until its members serve
  stratos.paas.application:
    name: shop
    definition:
      description: PHP front end counting visits in MySQL
      subscriptions:
        - alias: db
          cartridge: mysql
          deployment_policy: single
          environment:
            MYSQL_DATABASE: shop
        - alias: web
          cartridge: php
          min: 2
          max: 6
          autoscaling_policy: php-load
          deployment_policy: php-spread
          lb_cluster: web
          links: [db]
          artifact:
            url: https://git.example.com/shop.git
            branch: main
            credentials:
              username: deploy
              token_file: /etc/stratos/shop.token
      dependencies:
        startup_order:
          - [db, web]
    wait_timeout: 300
  register: shop

- name: Show how many members serve
  ansible.builtin.debug:
    msg: "{{ shop.status.subscriptions.web.healthy }} healthy web members"

- name: Deploy from a file without waiting
  stratos.paas.application:
    name: shop
    src: /srv/stratos/definitions/application.yml
    wait: false

- name: Remove it, keeping the MySQL data for later
  stratos.paas.application:
    name: shop
    state: absent

- name: Remove it with its data
  stratos.paas.application:
    name: shop
    state: absent
    purge_data: true
"""

RETURN = r"""
definition:
  description:
    - The application in canonical form (defaults omitted) as stored; with O(state=absent) the removed
      one. V(null) when there was none.
  returned: always
  type: dict
  sample:
    kind: Application
    name: shop
    subscriptions:
      - alias: web
        cartridge: php
        min: 2
        max: 6
        deployment_policy: php-spread
        lb_cluster: web
load_balancers:
  description:
    - The HAProxy containers of the LB clusters the application uses whose configuration changed with
      it (their health checks follow the cartridges served behind each listener), and what was (in
      check mode, would be) done to them. A reload never changes the LB's members.
  returned: when an LB configuration changed
  type: list
  elements: dict
  contains:
    name:
      description: The HAProxy container.
      type: str
      returned: always
      sample: stratos-lb-web
    action:
      description: What was done.
      type: str
      returned: always
      sample: reload
    reasons:
      description: Why.
      type: list
      elements: str
      returned: always
path:
  description: The definition's file in the state directory.
  returned: always
  type: str
  sample: /var/lib/stratos/definitions/applications/shop.yml
status:
  description:
    - The agent's view of the application when the module returned (or failed waiting), from
      C(<state_dir>/agent/status.json). V(null) when the agent reports no such application (no agent,
      not yet, or no more).
  returned: success, and failure while waiting
  type: dict
  contains:
    time:
      description: When the agent wrote it (Unix time).
      type: float
      sample: 1735689600.25
    age:
      description: Its age in seconds when the module read it.
      type: float
      sample: 1.3
    tick:
      description: Whether the agent's tick went well (C(ok), C(error), C(seconds)).
      type: dict
      sample: {ok: true, error: null, seconds: 0.41}
    subscriptions:
      description:
        - Per subscription alias, C(min), C(max), C(desired), C(healthy), C(in_lb) (V(null) behind no LB
          cluster), C(ready), C(waiting_for), C(notes) and its C(members), each with C(id),
          C(partition), C(health), C(in_lb), C(address) and C(current_revision).
      type: dict
      sample:
        web:
          min: 2
          max: 6
          desired: 2
          healthy: 2
          in_lb: 2
          ready: true
          waiting_for: []
          notes: []
          members:
            - id: shop-web-1a2b3c
              partition: local/p1
              health: healthy
              in_lb: true
              address: 172.18.0.4
              current_revision: true
members:
  description:
    - With O(state=absent) and a wait, the member containers still there when the module returned
      (empty on success) or failed, as C(<member id> (<container status>)).
  returned: state=absent, when it waited
  type: list
  elements: str
  sample: []
lb_servers:
  description: With O(state=absent), the LB servers (C(<lb cluster>/<backend>/<member id>)) still there when the wait failed.
  returned: failure while waiting for the members to go
  type: list
  elements: str
  sample: [web/be_8080/shop-web-1a2b3c]
purged:
  description: With O(purge_data), what was (or in check mode would be) removed.
  returned: state=absent and purge_data
  type: dict
  contains:
    volumes:
      description: The Docker volumes.
      type: list
      elements: str
      sample: [stratos-shop-db-data]
    paths:
      description: The directories in the state directory.
      type: list
      elements: str
      sample: [/var/lib/stratos/secrets/shop, /var/lib/stratos/links/shop]
problems:
  description: Every problem found in the definition, each naming the field path, the value and the rule.
  returned: failure
  type: list
  elements: str
  sample:
    - "applications/shop.subscriptions[1].max (1): must be >= min (2)"
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.stratos.paas.plugins.module_utils._application import (
    APP_OPTIONS,
    run_application_module,
)
from ansible_collections.stratos.paas.plugins.module_utils._common import definition_module_args


def main():
    module = AnsibleModule(**definition_module_args(**APP_OPTIONS))
    run_application_module(module)


if __name__ == "__main__":
    main()
