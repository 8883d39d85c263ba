#!/usr/bin/python
# Copyright (c) Stratos as code contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0) or, at your option,
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: Apache-2.0 OR GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: cartridge_image
short_description: Build a Stratos cartridge's image, and push it to a registry
description:
  - Builds the Docker image of a cartridge whose C(image.build) describes it (Debian packages, files,
    commands), on the Docker Engine of the managed host. The Stratos core renders the Dockerfile from
    a Jinja2 template and builds it with the host's network.
  - The image carries the label C(org.stratos.build-hash), the hash of the rendered Dockerfile, of
    every file copied into the image and of the base image's id. An image whose label matches is up
    to date and is not built again; a rebuilt base image rebuilds the cartridges on top of it.
  - With O(registry), the image is also pushed there as C(<registry>/<tag>), unless the registry
    already holds exactly this image.
  - The cartridge is a definition stored in O(state_dir) (O(name)), one of the standard cartridges
    shipped with the core (O(builtin)), or a YAML file (O(src)). It is validated by the Stratos core
    first.
  - A cartridge with C(image.ref) (a ready image) has nothing to build; the module fails and says so.
extends_documentation_fragment:
  - stratos.paas._attributes
  - stratos.paas.common
attributes:
  check_mode:
    support: full
    details:
      - Renders the build and compares its hash with the image's label, and asks the registry whether
        it holds the image; builds, pushes and removes nothing.
  diff_mode:
    support: full
    details:
      - The diff shows the tag, the image id and the build hash before and after, and the pushed
        reference.
  idempotent:
    support: full
    details:
      - Not with O(force=true), which rebuilds every time.
options:
  state:
    description:
      - V(present) builds the image when it is missing or out of date, and pushes it with O(registry).
      - V(absent) removes the local image tag (the registry's copy stays). An image whose
        C(org.stratos.cartridge) label names another cartridge is never removed; the module fails.
    type: str
    choices: [present, absent]
    default: present
  name:
    description:
      - The name of a cartridge definition stored in O(state_dir) (see M(stratos.paas.cartridge)).
      - Exactly one of O(name), O(builtin) or O(src) is required.
    type: str
  builtin:
    description:
      - One of the standard cartridges shipped with the Stratos core package.
      - V(php) is Apache with mod_php, V(mysql) is MariaDB, V(haproxy) is the load balancer that
        M(stratos.paas.lb_cluster) runs.
    type: str
    choices: [php, mysql, haproxy]
  src:
    description:
      - Path, on the managed host, of a YAML file holding one cartridge definition.
      - Relative C(src) paths of its image files are resolved against the directory of this file.
    type: path
  base_image:
    description:
      - The image to build on when the cartridge's C(image.build.base) names none.
      - Defaults to the core's setting, the environment variable E(STRATOS_BASE_IMAGE) of the module
        on the managed host, else C(debian:bookworm-slim).
      - A base image missing on the host is pulled; without a registry build one with
        C(images/build-base-image.sh) of the Stratos sources.
    type: str
  tag:
    description:
      - The image's tag, instead of the cartridge's C(image.build.tag) or C(stratos/cartridge-<name>:<version>).
    type: str
  registry:
    description:
      - A registry as C(host) or C(host:port), such as C(127.0.0.1:5000), to push the image to as
        C(<registry>/<tag>).
      - The Docker Engine of the managed host pushes; credentials are those of its C(docker login).
        A registry on the loopback may use plain http, other plain http registries must be among the
        engine's C(insecure-registries).
    type: str
  push:
    description:
      - Push to O(registry). Has no effect without O(registry).
    type: bool
    default: true
  force:
    description:
      - Build again without Docker's layer cache even when the image is up to date, for example to
        pick up Debian security updates that the build hash cannot see. Always reports a change.
    type: bool
    default: false
  docker_host:
    description:
      - The Docker endpoint to build on, such as C(unix:///var/run/docker.sock) or C(tcp://host:2376).
      - Defaults to the environment of the module (E(DOCKER_HOST)), else the local socket.
    type: str
  timeout:
    description: Seconds one build or push may take.
    type: int
    default: 1800
requirements:
  - The Python package C(docker) (a dependency of C(stratos-paas)) and access to the Docker Engine.
seealso:
  - module: stratos.paas.cartridge
"""

EXAMPLES = r"""
- name: Build the standard cartridge images on a locally built Debian base
  stratos.paas.cartridge_image:
    builtin: "{{ item }}"
    base_image: stratos/debian:bookworm
  loop: [php, mysql, haproxy]

- name: Build a registered cartridge and push it to a registry on the loopback
  stratos.paas.cartridge_image:
    name: tomcat
    registry: 127.0.0.1:5000
  register: tomcat_image

- name: Rebuild from a cartridge file, without the layer cache, under a tag of its own
  stratos.paas.cartridge_image:
    src: /srv/stratos/cartridges/tomcat/cartridge.yml
    tag: registry.example.com/platform/tomcat:10-1
    force: true

- name: Remove the local image
  stratos.paas.cartridge_image:
    builtin: php
    state: absent
"""

RETURN = r"""
cartridge:
  description: The cartridge's name.
  returned: success
  type: str
  sample: php
tag:
  description: The image's tag on the Docker Engine.
  returned: success
  type: str
  sample: stratos/cartridge-php:8.2
image_id:
  description:
    - The image's id; in check mode, the id of the image that holds the tag now (V(null) when none).
  returned: success
  type: str
  sample: sha256:8ba59f1257080b7c0d3b9a35c9b3f13c3d5f8f0e1c1e5c8c8f1d9e0a7b6c5d4e
build_hash:
  description:
    - The build hash (label C(org.stratos.build-hash)) of the image. V(null) in check mode when the
      base image is not on the host yet.
  returned: success
  type: str
  sample: 0c7d6c0b0e8c2c5e1f0b1d5e6a3f4c2b1a0d9e8f7c6b5a4d3c2b1a0f9e8d7c6b
base:
  description: The base image the build starts from.
  returned: state=present
  type: str
  sample: stratos/debian:bookworm
built:
  description: Whether the image was built by this run.
  returned: success
  type: bool
reason:
  description: Why the image is (or would be) built, or why not.
  returned: success
  type: str
  sample: no image tagged stratos/cartridge-php:8.2
push_ref:
  description: Where the image goes with O(registry); V(null) without.
  returned: state=present
  type: str
  sample: 127.0.0.1:5000/stratos/cartridge-php:8.2
pushed_ref:
  description: The reference pushed by this run; V(null) when nothing was pushed (or in check mode).
  returned: success
  type: str
  sample: 127.0.0.1:5000/stratos/cartridge-php:8.2
seconds:
  description: How long the build (or the check that it is up to date) and the push took.
  returned: state=present and not in check mode
  type: float
  sample: 41.7
problems:
  description: Every problem found in the cartridge definition, each naming the field path, the value and the rule.
  returned: failure
  type: list
  elements: str
  sample:
    - "/srv/tomcat/cartridge.yml: cartridges/tomcat.image.build.packages (7): must be a list"
"""

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
