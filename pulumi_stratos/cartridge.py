"""The Cartridge component: a cartridge's image, built from its definition or pulled by reference.

Deliberately without ``from __future__ import annotations`` (see :mod:`pulumi_stratos.inputs`).
"""

import os
from pathlib import Path

import pulumi
import pulumi_docker as docker
import pulumi_openstack as openstack

from pulumi_stratos import _support, definitions
from pulumi_stratos.inputs import CartridgeArgs, Glance
from stratos.errors import Problem, ValidationError
from stratos.images import (
    CARTRIDGE_LABEL,
    CARTRIDGE_VERSION_LABEL,
    BuildContext,
    CartridgeImage,
    render_build,
)
from stratos.model import Cartridge as CartridgeDefinition
from stratos.store import dump_definition

BUILD_DIR = ".stratos-build"


@_support.clean_doc
class Cartridge(pulumi.ComponentResource):
    """A cartridge's image: built with pulumi_docker.Image from the Dockerfile the core renders for
    the definition's image.build (base image: the definition's, else base_image, else the
    STRATOS_BASE_IMAGE setting), or pulled as pulumi_docker.RemoteImage when the definition or
    image_ref names a ready image; optionally uploaded to OpenStack Glance."""

    image_name: pulumi.Output[str]
    """The image reference members are started from (the definition's image tag)."""
    image_digest: pulumi.Output[str]
    """Digest of the image on its Docker host (image id of a local build or pull)."""
    glance_image_id: pulumi.Output[str | None]
    """Id of the Glance image, when glance is set."""
    definition: pulumi.Output[str]
    """The Cartridge definition, canonical YAML as the agent reads it."""

    def __init__(self, name: str, args: CartridgeArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        source = definitions.source_label("Cartridge", name)
        given = definitions.cartridge_source(args, source)
        spec = definitions.parse(given.document)
        assert isinstance(spec, CartridgeDefinition)
        context = _render(spec, given.source_dir, args.get("base_image"), source)
        glance = _glance(args.get("glance"), spec, source)
        build_dir = Path(args.get("build_dir") or Path.cwd() / BUILD_DIR / spec.name)
        if context is not None:
            write_context(context, build_dir)
        super().__init__("stratos:index:Cartridge", name, {}, opts)
        self._spec = spec

        child = pulumi.ResourceOptions(parent=self)
        if args.get("docker_host") is not None:
            provider = _support.docker_provider(f"{name}-docker", args["docker_host"], self)
            child = pulumi.ResourceOptions(parent=self, provider=provider)
        tag = spec.image_tag()
        if context is not None:
            image = docker.Image(
                f"{name}-image",
                image_name=tag,
                build=docker.DockerBuildArgs(
                    context=str(build_dir),
                    dockerfile=str(build_dir / "Dockerfile"),
                    # apt-get in the build reaches Debian's archive without a bridge network.
                    network="host",
                ),
                skip_push=True,
                opts=child,
            )
            self.image_name = image.image_name
            self.image_digest = image.repo_digest
        else:
            remote = docker.RemoteImage(f"{name}-image", name=tag, keep_locally=True, opts=child)
            self.image_name = remote.name
            self.image_digest = remote.image_id

        if glance is not None:
            uploaded = openstack.images.Image(
                f"{name}-glance",
                name=glance.get("name") or tag,
                container_format=glance.get("container_format") or "docker",
                disk_format=glance.get("disk_format") or "raw",
                local_file_path=glance.get("local_file_path"),
                image_source_url=glance.get("image_source_url"),
                visibility=glance.get("visibility") or "private",
                properties={
                    CARTRIDGE_LABEL: spec.name,
                    CARTRIDGE_VERSION_LABEL: spec.version,
                },
                opts=pulumi.ResourceOptions(parent=self, depends_on=[image if context else remote]),
            )
            self.glance_image_id = uploaded.id.apply(_optional)
        else:
            self.glance_image_id = pulumi.Output.from_input(None)
        self.definition = pulumi.Output.from_input(dump_definition(spec))
        _support.register_outputs(self, "image_name", "image_digest", "glance_image_id", "definition")

    @property
    def spec(self) -> CartridgeDefinition:
        """The validated core definition."""
        return self._spec


def _optional(value: str) -> str | None:
    return value


def _render(
    spec: CartridgeDefinition, source_dir: Path, base_image: str | None, source: str
) -> BuildContext | None:
    """The core's build context of the cartridge, or None for a ready image."""
    if spec.image.build is None:
        return None
    from stratos.errors import ImageBuildError

    try:
        return render_build(CartridgeImage.of(spec, source_dir), base_image)
    except ImageBuildError as exc:
        raise ValidationError(
            [Problem(source, f"cartridges/{spec.name}.image.build", str(exc), has_value=False)]
        ) from exc


def _glance(value: Glance | None, spec: CartridgeDefinition, source: str) -> Glance | None:
    if value is None:
        return None
    problems = definitions.deferred_problems(value, source, "glance")
    if (value.get("local_file_path") is None) == (value.get("image_source_url") is None):
        problems.append(
            Problem(
                source,
                f"cartridges/{spec.name}.glance",
                "exactly one of 'local_file_path' or 'image_source_url' must be set",
                has_value=False,
            )
        )
    if problems:
        raise ValidationError(problems)
    return value


def write_context(context: BuildContext, directory: Path) -> None:
    """Write a rendered build context (Dockerfile and files, with their modes), replacing stale files.

    The content is deterministic, so an unchanged cartridge leaves the image untouched.
    """
    directory.mkdir(parents=True, exist_ok=True)
    wanted = {"Dockerfile": (0o644, context.dockerfile.encode())}
    wanted.update({f.name: (f.mode, f.data) for f in context.files})
    for existing in sorted(directory.rglob("*"), reverse=True):
        relative = existing.relative_to(directory).as_posix()
        if existing.is_file() and relative not in wanted:
            existing.unlink()
    for relative, (mode, data) in wanted.items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.is_file() or path.read_bytes() != data:
            path.write_bytes(data)
        os.chmod(path, mode)
