"""Build (or remove) one cartridge's image: :func:`build_image`.

The cartridge is the stored one (``name``), a built-in one or a file (:func:`find_cartridge`); its
image is planned by :func:`stratos.images.plan_image` (the build hash against the tag's label) and
built by :func:`stratos.images.build_image`. Removal takes away the local tag only, and never an
image that another cartridge's label claims. Every error of the Docker SDK (a refused connection...)
becomes a :class:`~stratos.errors.DriverError` naming what was being done.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from stratos import images
from stratos.changes import Action, Change, Plan
from stratos.drivers.docker import docker_errors
from stratos.errors import DriverError, ImageBuildError, NotFoundError, Problem, ValidationError
from stratos.model import Cartridge
from stratos.operations.definition import check_name, definition_file, read_definition_file
from stratos.store import StateStore
from stratos.validation import parse_definition

if TYPE_CHECKING:
    import docker


def find_cartridge(
    state_dir: str | Path | StateStore,
    *,
    name: str | None = None,
    builtin: str | None = None,
    src: str | None = None,
) -> tuple[Cartridge, str]:
    """The cartridge to build (stored as ``name``, built-in, or the file ``src``) and the directory
    its relative file sources are read from."""
    store = state_dir if isinstance(state_dir, StateStore) else StateStore(state_dir)
    if name is not None:
        check_name(name)
        text = store.read("Cartridge", name)
        if text is None:
            raise NotFoundError(
                f"cartridge '{name}' is not defined in {store.definitions_dir} (register it with "
                "stratos.paas.cartridge, or use builtin or src)"
            )
        path = str(store.definition_path("Cartridge", name))
        stored = parse_definition(yaml.safe_load(text), path)
        assert isinstance(stored, Cartridge)
        # Stored definitions hold absolute file sources, checked when they were stored (inside the
        # directory of the file they came from): the build reads them from there.
        build = stored.image.build
        sources = [f.src for f in build.files if f.src] if build is not None else []
        if sources and all(os.path.isabs(src) for src in sources):
            return stored, os.path.commonpath([os.path.dirname(src) for src in sources])
        return stored, os.path.dirname(path)
    path = definition_file(builtin, src)
    data = read_definition_file(path, "(file)")
    data.setdefault("kind", "Cartridge")
    cartridge = parse_definition(data, path)
    if not isinstance(cartridge, Cartridge):
        raise ValidationError([Problem(path, "kind", "must be 'Cartridge'", data["kind"])])
    return cartridge, os.path.dirname(os.path.abspath(path))


def build_image(
    state_dir: str | Path | StateStore,
    *,
    name: str | None = None,
    builtin: str | None = None,
    src: str | None = None,
    present: bool = True,
    base_image: str | None = None,
    tag: str | None = None,
    registry: str | None = None,
    push: bool = True,
    force: bool = False,
    docker_host: str | None = None,
    timeout: float = images.DEFAULT_BUILD_TIMEOUT,
    connect: Callable[[str | None, float], docker.DockerClient] | None = None,
) -> Plan:
    """Plan building (``present``) or removing the image of one cartridge; reads only.

    The plan has one change (kind ``image``, named after the tag) and reports what the
    ``stratos.paas.cartridge_image`` module returns; its ``apply`` builds (or removes) and returns
    what changed in that report (the image id, ``built``, ``pushed_ref``, ``seconds``...).
    """
    cartridge, source_dir = find_cartridge(state_dir, name=name, builtin=builtin, src=src)
    client = (connect or _client)(docker_host, timeout)
    with docker_errors(
        f"cartridge '{cartridge.name}': reading images on {docker_host or 'the Docker Engine'}"
    ):
        if not present:
            return _absent(client, cartridge, tag)
        registry = registry if push else None
        return _present(client, cartridge, source_dir, base_image, tag, registry, force, timeout)


def _client(docker_host: str | None, timeout: float) -> docker.DockerClient:
    return images.docker_client(docker_host, timeout=timeout)


def image_change(plan: images.ImagePlan, force: bool = False) -> Change:
    """The change record of a planned build: the tag's image id and build hash before and after."""
    e = plan.existing
    before = {"tag": plan.tag, "image_id": e.id if e else None, "build_hash": e.build_hash if e else None}
    after: dict[str, Any] = {
        "tag": plan.tag,
        "image_id": e.id if e and not plan.build else "(built)",
        "build_hash": plan.build_hash or "(after the base image is pulled)",
    }
    forced = force and not plan.build
    if forced:
        after["image_id"] = "(rebuilt)"
    if plan.push_ref:
        after["pushed"] = plan.push_ref if plan.push or force else "(up to date)"
    action: Action = "build" if plan.build or forced else "tag" if plan.push else "none"
    reason = "rebuild forced" if forced else plan.reason
    return Change("image", plan.tag, action, before, after, (reason,))


def _present(
    client: docker.DockerClient,
    cartridge: Cartridge,
    source_dir: str,
    base: str | None,
    tag: str | None,
    registry: str | None,
    force: bool,
    timeout: float,
) -> Plan:
    options: dict[str, Any] = dict(source_dir=source_dir, base=base, tag=tag, registry=registry)
    plan = images.plan_image(client, cartridge, **options)
    change = image_change(plan, force)
    report = {
        "cartridge": cartridge.name,
        "tag": plan.tag,
        "base": plan.base,
        "reason": change.reasons[0],
        "built": False,
        "pushed_ref": None,
        "push_ref": plan.push_ref,
        "image_id": plan.existing.id if plan.existing else None,
        "build_hash": plan.build_hash,
    }

    def apply() -> dict[str, Any]:
        with docker_errors(f"cartridge '{cartridge.name}': building {plan.tag}"):
            built = images.build_image(client, cartridge, timeout=timeout, force=force, **options)
        return {
            "changed": built.changed,
            "image_id": built.image_id,
            "build_hash": built.build_hash,
            "built": built.built,
            "pushed_ref": built.pushed_ref,
            "reason": built.plan.reason,
            "seconds": round(built.seconds, 3),
        }

    return Plan((change,), report, apply)


def _absent(client: docker.DockerClient, cartridge: Cartridge, tag: str | None) -> Plan:
    """Remove the local image tag (never an image that another cartridge's label claims)."""
    import docker as docker_sdk

    tag = tag or (cartridge.image_tag() if cartridge.image.build else None)
    if tag is None:
        raise ImageBuildError(
            f"cartridge '{cartridge.name}': image.ref is {cartridge.image.ref!r}, a ready image that "
            "this module did not build; nothing to remove"
        )
    try:
        found = client.images.get(tag)
    except docker_sdk.errors.ImageNotFound:
        found = None
    labels = (found.labels or {}) if found is not None else {}
    if found is not None and labels.get(images.CARTRIDGE_LABEL) != cartridge.name:
        raise DriverError(
            f"image {tag} is not the image of cartridge '{cartridge.name}' (label {images.CARTRIDGE_LABEL} "
            f"is {labels.get(images.CARTRIDGE_LABEL)!r}); it is left alone"
        )
    image_id = found.id if found is not None else None
    build_hash = labels.get(images.BUILD_HASH_LABEL)
    reason = f"{tag} exists" if found is not None else f"no image tagged {tag}"
    before = {"tag": tag, "image_id": image_id, "build_hash": build_hash} if found is not None else None
    change = Change("image", tag, "remove" if found is not None else "none", before, None, (reason,))
    report = {
        "cartridge": cartridge.name,
        "tag": tag,
        "image_id": image_id,
        "build_hash": build_hash,
        "built": False,
        "pushed_ref": None,
        "reason": reason,
    }

    def apply() -> None:
        if found is not None:
            with docker_errors(f"removing image {tag}"):
                client.images.remove(tag, noprune=False)

    return Plan((change,), report, apply)
