# Copyright (c) Stratos as code contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0) or, at your option,
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: Apache-2.0 OR GPL-3.0-or-later

# This module utility is private to stratos.paas: its API may change without notice and other
# collections must not import it.
#
# The cartridge_image module's edge: find the cartridge (stored, built-in or a file), then hand it
# to stratos.images, whose plan (plan_image) drives changed, check mode and --diff and whose
# build_image carries it out.

from __future__ import annotations

import os
import traceback

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.stratos.paas.plugins.module_utils._common import (
    STATE_DIR_SPEC,
    STRATOS_LIBRARY,
    check_name,
    require_stratos,
)

try:
    import yaml
    from stratos import builtin as stratos_builtin
    from stratos import images
    from stratos.errors import (
        DriverError,
        ImageBuildError,
        NotFoundError,
        Problem,
        StratosError,
        ValidationError,
    )
    from stratos.model import Cartridge
    from stratos.store import StateStore
    from stratos.validation import parse_definition, read_documents
except ImportError:
    HAS_IMAGES = False
    IMAGES_IMPORT_ERROR = traceback.format_exc()
else:
    HAS_IMAGES = True
    IMAGES_IMPORT_ERROR = None

#: Options of the cartridge_image module (its documentation is in plugins/modules/cartridge_image.py).
IMAGE_SPEC = dict(
    STATE_DIR_SPEC,
    state=dict(type="str", choices=["present", "absent"], default="present"),
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


def image_module_args():
    return dict(
        argument_spec=IMAGE_SPEC,
        mutually_exclusive=[("name", "builtin", "src")],
        required_one_of=[("name", "builtin", "src")],
        supports_check_mode=True,
    )


def run_image_module(module):
    """Build (or remove) one cartridge image and exit the module."""
    require_stratos(module)
    if not HAS_IMAGES:
        module.fail_json(msg=missing_required_lib(STRATOS_LIBRARY), exception=IMAGES_IMPORT_ERROR)
    client = None
    try:
        cartridge, source_dir = find_cartridge(module.params)
        client = images.docker_client(module.params["docker_host"], timeout=module.params["timeout"])
        if module.params["state"] == "present":
            result = _present(module, client, cartridge, source_dir)
        else:
            result = _absent(module, client, cartridge)
    except ValidationError as exc:
        module.fail_json(msg=str(exc), problems=[str(p) for p in exc.problems])
    except StratosError as exc:
        module.fail_json(msg=str(exc), error=type(exc).__name__, temporary=exc.temporary)
    except Exception as exc:  # the Docker SDK's own errors (connection refused...) name the cause
        module.fail_json(msg="Docker: %s" % exc, error=type(exc).__name__, exception=traceback.format_exc())
    finally:
        if client is not None:
            client.close()
    module.exit_json(**result)


def find_cartridge(params):
    """The cartridge to build and the directory its relative file sources are read from."""
    if params["name"] is not None:
        name = params["name"]
        check_name(name)
        store = StateStore(params["state_dir"])
        text = store.read("Cartridge", name)
        if text is None:
            raise NotFoundError(
                "cartridge '%s' is not defined in %s (register it with stratos.paas.cartridge, "
                "or use builtin or src)" % (name, store.definitions_dir)
            )
        path = str(store.definition_path("Cartridge", name))
        cartridge = parse_definition(yaml.safe_load(text), path)
        # Stored definitions hold absolute file sources, checked when the cartridge module stored
        # them (inside the directory of the file they came from): the build reads them from there.
        build = cartridge.image.build
        sources = [f.src for f in build.files if f.src] if build is not None else []
        if sources and all(os.path.isabs(src) for src in sources):
            return cartridge, os.path.commonpath([os.path.dirname(src) for src in sources])
        return cartridge, os.path.dirname(path)
    if params["builtin"] is not None:
        path = str(stratos_builtin.cartridge_file(params["builtin"]))
    else:
        path = params["src"]
    docs, problems = read_documents([path])
    if problems:
        raise ValidationError(problems)
    if len(docs) != 1 or not isinstance(docs[0].data, dict):
        raise ValidationError(
            [
                Problem(
                    path, "(file)", "must hold exactly one cartridge definition (a mapping)", has_value=False
                )
            ]
        )
    data = dict(docs[0].data)
    data.setdefault("kind", "Cartridge")
    cartridge = parse_definition(data, path)
    if not isinstance(cartridge, Cartridge):
        raise ValidationError([Problem(path, "kind", "must be 'Cartridge'", data["kind"])])
    return cartridge, os.path.dirname(os.path.abspath(path))


def _present(module, client, cartridge, source_dir):
    params = module.params
    registry = params["registry"] if params["push"] else None
    options = dict(source_dir=source_dir, base=params["base_image"], tag=params["tag"], registry=registry)
    plan = images.plan_image(client, cartridge, **options)
    if params["force"] and not plan.build:
        plan_changed, reason = True, "rebuild forced"
    else:
        plan_changed, reason = plan.changed, plan.reason
    result = dict(
        changed=plan_changed,
        cartridge=cartridge.name,
        tag=plan.tag,
        base=plan.base,
        reason=reason,
        built=False,
        pushed_ref=None,
        push_ref=plan.push_ref,
        image_id=plan.existing.id if plan.existing else None,
        build_hash=plan.build_hash,
    )
    if module._diff:
        after = plan.after
        if plan_changed and not plan.build:
            after = dict(after, image_id="(rebuilt)" if params["force"] else after["image_id"])
        if plan.push_ref:
            after = dict(after, pushed=plan.push_ref if plan.push or params["force"] else "(up to date)")
        result["diff"] = dict(
            before=_yaml(plan.before),
            after=_yaml(after),
            before_header="image/%s" % plan.tag,
            after_header="image/%s" % plan.tag,
        )
    if module.check_mode:
        return result
    built = images.build_image(client, cartridge, timeout=params["timeout"], force=params["force"], **options)
    result.update(
        changed=built.changed,
        image_id=built.image_id,
        build_hash=built.build_hash,
        built=built.built,
        pushed_ref=built.pushed_ref,
        reason=built.plan.reason,
        seconds=round(built.seconds, 3),
    )
    return result


def _absent(module, client, cartridge):
    """Remove the local image tag (never an image that another cartridge's label claims)."""
    import docker as docker_sdk

    tag = module.params["tag"] or (cartridge.image_tag() if cartridge.image.build else None)
    if tag is None:
        raise ImageBuildError(
            "cartridge '%s': image.ref is %r, a ready image that this module did not build; nothing to remove"
            % (cartridge.name, cartridge.image.ref)
        )
    try:
        found = client.images.get(tag)
    except docker_sdk.errors.ImageNotFound:
        found = None
    labels = (found.labels or {}) if found is not None else {}
    if found is not None and labels.get(images.CARTRIDGE_LABEL) != cartridge.name:
        raise DriverError(
            "image %s is not the image of cartridge '%s' (label %s is %r); it is left alone"
            % (tag, cartridge.name, images.CARTRIDGE_LABEL, labels.get(images.CARTRIDGE_LABEL))
        )
    result = dict(
        changed=found is not None,
        cartridge=cartridge.name,
        tag=tag,
        image_id=found.id if found is not None else None,
        build_hash=labels.get(images.BUILD_HASH_LABEL),
        built=False,
        pushed_ref=None,
        reason="%s exists" % tag if found is not None else "no image tagged %s" % tag,
    )
    if module._diff:
        before = dict(tag=tag, image_id=result["image_id"], build_hash=result["build_hash"])
        result["diff"] = dict(
            before=_yaml(before) if found is not None else "",
            after="",
            before_header="image/%s" % tag if found is not None else "(absent)",
            after_header="(absent)",
        )
    if found is not None and not module.check_mode:
        try:
            client.images.remove(tag, noprune=False)
        except docker_sdk.errors.APIError as exc:
            raise DriverError("removing image %s: %s" % (tag, exc.explanation or exc)) from exc
    return result


def _yaml(data):
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False)
