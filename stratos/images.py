"""Cartridge images: render a Dockerfile from a cartridge's build spec and build it, idempotently.

Three steps, each usable alone:

- :func:`render_build` (pure, reads only the cartridge's own files) turns a build spec into a
  :class:`BuildContext`: the Dockerfile text and the files it copies, with their modes;
- :func:`plan_image` (reads Docker, changes nothing; what Ansible check mode runs) compares the
  context's build hash with the label of the image already holding the tag;
- :func:`build_image` carries a plan out: builds (host network, so ``apt-get`` reaches the
  archive), tags, optionally pushes to a registry.

An image is up to date when its ``org.stratos.build-hash`` label equals the sha256 of the rendered
Dockerfile, every file of the build context (name, mode, content) and the base image's id, so a
rebuilt base image rebuilds every cartridge on top of it.

The cartridge is a :class:`stratos.model.Cartridge` (or a mapping the model validates): the build
keeps no rules of its own about a definition, it renders what the model accepted. The Docker
client is always passed in (see :func:`docker_client`).
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import tarfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, TypedDict

import jinja2

from stratos import model, settings
from stratos.drivers import docker as dockerlib
from stratos.errors import ImageBuildError, Problem, ValidationError
from stratos.validation import parse_definition, source_file

if TYPE_CHECKING:
    import docker
    from typing_extensions import Unpack  # typing.Unpack for **kwargs from Python 3.12

BUILD_HASH_LABEL = dockerlib.BUILD_HASH
BASE_IMAGE_LABEL = dockerlib.BASE_IMAGE
CARTRIDGE_LABEL = dockerlib.CARTRIDGE
CARTRIDGE_VERSION_LABEL = dockerlib.CARTRIDGE_VERSION

#: Seconds one build may take before the Docker API call gives up (apt on a slow mirror is slow).
DEFAULT_BUILD_TIMEOUT = 1800

_TEMPLATES = Path(__file__).parent / "templates"
_REGISTRY = re.compile(r"[A-Za-z0-9.-]+(:[0-9]{1,5})?")


class ImagePushError(ImageBuildError):
    """The image was built but the registry refused or could not be reached."""

    temporary = True


# --------------------------------------------------------------------------- what to build


@dataclass(frozen=True)
class CartridgeImage:
    """What to build for one cartridge: its identity, its validated build spec and where its files live.

    The spec is the model's :class:`stratos.model.ImageBuild`: every rule of a build (package
    names, paths, modes, environment, commands, references) is a validator there, so a definition
    ``stratos validate`` accepts renders, and one it refuses never reaches the build.
    """

    name: str
    version: str
    build: model.ImageBuild
    source_dir: Path | None = None

    @property
    def default_tag(self) -> str:
        return self.build.tag or f"stratos/cartridge-{self.name}:{self.version}"

    @classmethod
    def of(cls, cartridge: Any, source_dir: str | Path | None = None) -> CartridgeImage:
        """From a ``model.Cartridge``, or a mapping the model validates (``kind`` may be left out).

        Raises :class:`~stratos.errors.ValidationError` (the model's problems) for a mapping that
        breaks a rule, :class:`~stratos.errors.ImageBuildError` for a cartridge with a ready image.
        """
        if isinstance(cartridge, CartridgeImage):
            return cartridge
        if isinstance(cartridge, Mapping):
            cartridge = as_cartridge(cartridge)
        if not isinstance(cartridge, model.Cartridge):
            raise TypeError(f"expected a model.Cartridge or a mapping, not {type(cartridge).__name__}")
        build = cartridge.image.build
        if build is None:
            raise ImageBuildError(
                f"cartridge '{cartridge.name}': image.build is not set (image.ref is "
                f"{cartridge.image.ref!r}: a ready image, nothing to build)"
            )
        return cls(
            name=cartridge.name,
            version=cartridge.version,
            build=build,
            source_dir=Path(source_dir) if source_dir is not None else None,
        )


def as_cartridge(data: Mapping[str, Any], source: str = "") -> model.Cartridge:
    """A cartridge mapping through the model (``kind: Cartridge`` unless it says otherwise)."""
    definition = parse_definition({"kind": "Cartridge", **data}, source)
    if not isinstance(definition, model.Cartridge):
        raise ValidationError([Problem(source, "kind", "must be 'Cartridge'", data.get("kind"))])
    return definition


# --------------------------------------------------------------------------- rendering (pure)


@dataclass(frozen=True)
class ContextFile:
    """A file of the build context: its name in the tar, mode and bytes."""

    name: str
    mode: int
    data: bytes


@dataclass(frozen=True)
class BuildContext:
    """A rendered build: the Dockerfile and the files it copies. Independent of Docker's state."""

    dockerfile: str
    files: tuple[ContextFile, ...]
    base: str
    labels: Mapping[str, str]

    def digest(self, base_image_id: str) -> str:
        """sha256 of the Dockerfile, every context file (name, mode, content) and the base image id."""
        h = hashlib.sha256()
        for part in self._hash_parts(base_image_id):
            h.update(len(part).to_bytes(8, "big"))
            h.update(part)
        return h.hexdigest()

    def _hash_parts(self, base_image_id: str) -> Iterator[bytes]:
        yield b"stratos-image-v1"
        yield self.dockerfile.encode()
        for f in sorted(self.files, key=lambda f: f.name):
            yield f.name.encode()
            yield f"{f.mode:o}".encode()
            yield hashlib.sha256(f.data).digest()
        yield base_image_id.encode()

    def tar(self) -> bytes:
        """The context as an uncompressed tar, deterministic (fixed owners and times)."""
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for name, mode, data in [("Dockerfile", 0o644, self.dockerfile.encode())] + [
                (f.name, f.mode, f.data) for f in self.files
            ]:
                info = tarfile.TarInfo(name)
                info.size, info.mode, info.mtime = len(data), mode, 0
                info.uid = info.gid = 0
                info.uname = info.gname = "root"
                tar.addfile(info, io.BytesIO(data))
        return buffer.getvalue()


def render_build(image: CartridgeImage, base: str | None = None) -> BuildContext:
    """Render the Dockerfile and gather the context files of one cartridge image.

    ``base`` is the fallback when the spec names none; it defaults to the ``STRATOS_BASE_IMAGE``
    setting (``debian:bookworm-slim`` unless set). Reads the ``src`` files, nothing else. The spec
    was validated by the model; what is checked here is what only the build knows: the base
    image it was given and where the ``src`` files resolve to.
    """
    spec = image.build
    where = f"cartridge '{image.name}': image.build"
    chosen_base = spec.base or _argument(model._image_ref, base or settings.base_image(), f"{where}.base")
    files = tuple(_context_file(i, f, image.source_dir, where) for i, f in enumerate(spec.files))
    copies = [
        _json([cf.name, f.path]) for cf, f in zip(files, spec.files, strict=True)
    ]  # mode comes from the tar entry: the legacy builder keeps it
    labels = {CARTRIDGE_LABEL: image.name, CARTRIDGE_VERSION_LABEL: image.version}
    dockerfile = _template().render(
        name=image.name,
        version=image.version,
        base=chosen_base,
        labels=" ".join(f"{k}={_json(v)}" for k, v in labels.items()),
        packages=list(spec.packages),
        env=[(k, _env_value(v)) for k, v in spec.env.items()],
        files=copies,
        run=[_run(cmd) for cmd in spec.run],
        workdir=spec.workdir,
        expose=" ".join(f"{p}" for p in spec.expose),
        entrypoint=None if spec.entrypoint is None else _json(list(spec.entrypoint)),
        command=_json(list(spec.command)) if spec.command else None,
    )
    return BuildContext(dockerfile=dockerfile + "\n", files=files, base=chosen_base, labels=labels)


@cache
def _template() -> jinja2.Template:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(_TEMPLATES)),
        autoescape=False,  # a Dockerfile, not HTML; values are quoted by the renderer
        keep_trailing_newline=False,
        undefined=jinja2.StrictUndefined,
    )
    return env.get_template("Dockerfile.j2")


def _context_file(index: int, f: model.ImageFile, source_dir: Path | None, where: str) -> ContextFile:
    at = f"{where}.files[{index}]"
    if f.content is not None:
        data = f.content.encode()
    else:
        assert f.src is not None  # the model: exactly one of src or content
        if source_dir is None:
            raise ImageBuildError(f"{at}.src ({f.src!r}): needs the cartridge definition's directory")
        # The rule validation.check_sources applies when definitions are loaded from files: the
        # resolved path (symbolic links followed) stays inside the definition's directory.
        try:
            path = source_file(source_dir, f.src)
        except ValueError as exc:
            raise ImageBuildError(f"{at}.src ({f.src!r}): {exc}") from None
        data = path.read_bytes()
    # Numbered so two files with one basename never collide; the basename keeps the Dockerfile readable.
    name = PurePosixPath(f.path).name
    return ContextFile(name=f"files/{index:02d}-{name}", mode=int(f.mode, 8), data=data)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _env_value(value: str) -> str:
    # Double-quoted ENV value: backslash, quote and $ (variable substitution) are escaped.
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$") + '"'


def _run(command: str) -> str:
    if "\n" in command.strip() or command.strip().endswith("\\"):
        # A trailing backslash would continue the RUN line into the next instruction.
        # Exec form keeps a multi-line script intact (JSON escapes the newlines).
        return _json(["/bin/sh", "-ec", command])
    return command.strip()


def _argument(rule: Callable[[str], str], value: str, at: str) -> str:
    """An argument of the build (not of the definition) checked by the model's rule for its field."""
    try:
        return rule(value)
    except ValueError as exc:
        raise ImageBuildError(f"{at} ({value[:80]!r}): {exc}") from None


# --------------------------------------------------------------------------- planning


@dataclass(frozen=True)
class ExistingImage:
    """What Docker holds under the target tag."""

    id: str
    build_hash: str | None
    repo_digests: tuple[str, ...] = ()


@dataclass(frozen=True)
class ImagePlan:
    """What :func:`build_image` would do. ``changed`` is the build or the push.

    The build's decision, not a change record: :func:`stratos.operations.images.image_change`
    turns it into one.
    """

    cartridge: str
    tag: str
    base: str
    base_image_id: str | None
    build_hash: str | None
    build: bool
    reason: str
    push_ref: str | None = None
    push: bool = False
    existing: ExistingImage | None = None
    context: BuildContext | None = field(default=None, repr=False, compare=False)

    @property
    def changed(self) -> bool:
        return self.build or self.push


def decide_image(
    image: CartridgeImage,
    context: BuildContext,
    *,
    tag: str,
    base_image_id: str | None,
    existing: ExistingImage | None,
    push_ref: str | None = None,
    pushed: bool = False,
) -> ImagePlan:
    """Pure: compare the wanted build with what exists. ``pushed``: the registry holds this image."""
    build_hash = context.digest(base_image_id) if base_image_id else None
    if base_image_id is None:
        build, reason = True, f"base image {context.base} is not present locally; it will be pulled"
    elif existing is None:
        build, reason = True, f"no image tagged {tag}"
    elif existing.build_hash != build_hash:
        build, reason = True, f"{tag} was built from other inputs (build hash differs)"
    else:
        build, reason = False, f"{tag} is up to date"
    push = push_ref is not None and (build or not pushed)
    return ImagePlan(
        cartridge=image.name,
        tag=tag,
        base=context.base,
        base_image_id=base_image_id,
        build_hash=build_hash,
        build=build,
        reason=reason,
        push_ref=push_ref,
        push=push,
        existing=existing,
        context=context,
    )


class ImageOptions(TypedDict, total=False):
    """Where a build reads from and goes to (the same for :func:`plan_image` and :func:`build_image`)."""

    source_dir: str | Path | None
    """The directory of the cartridge's definition: ``src`` paths are relative to it."""
    base: str | None
    """The base image when the spec names none (default: the ``STRATOS_BASE_IMAGE`` setting)."""
    tag: str | None
    """The tag of the image (default: the spec's tag, else ``stratos/cartridge-<name>:<version>``)."""
    registry: str | None
    """``host[:port]`` of a registry to push to (none: no push)."""


def plan_image(client: docker.DockerClient, cartridge: Any, **options: Unpack[ImageOptions]) -> ImagePlan:
    """What :func:`build_image` would do, changing nothing (reads images, and the registry if pushing).

    ``cartridge`` is a ``model.Cartridge`` (or mapping) with ``image.build``.
    """
    image = CartridgeImage.of(cartridge, options.get("source_dir"))
    context = render_build(image, options.get("base"))
    target = options.get("tag") or image.default_tag
    registry = options.get("registry")
    _argument(model._image_ref, target, f"cartridge '{image.name}': tag")
    push_ref = registry_ref(target, registry) if registry else None
    base_id = _image_id(client, context.base)
    existing = _existing(client, target)
    pushed = False
    if push_ref is not None and existing is not None and base_id is not None:
        pushed = _registry_has(client, push_ref, existing)
    return decide_image(
        image,
        context,
        tag=target,
        base_image_id=base_id,
        existing=existing,
        push_ref=push_ref,
        pushed=pushed,
    )


def registry_ref(tag: str, registry: str) -> str:
    """``stratos/cartridge-php:8.2`` + ``127.0.0.1:5000`` -> ``127.0.0.1:5000/stratos/cartridge-php:8.2``."""
    registry = registry.strip().rstrip("/")
    if not _REGISTRY.fullmatch(registry):
        raise ImageBuildError(f"registry ({registry!r}): must be host or host:port such as 127.0.0.1:5000")
    return f"{registry}/{tag}"


# --------------------------------------------------------------------------- building (I/O)


@dataclass(frozen=True)
class ImageResult:
    """The outcome of :func:`build_image`."""

    changed: bool
    tag: str
    image_id: str
    build_hash: str
    built: bool
    pushed_ref: str | None
    seconds: float
    plan: ImagePlan = field(repr=False)
    log: tuple[str, ...] = field(default=(), repr=False)


def build_image(
    client: docker.DockerClient,
    cartridge: Any,
    *,
    timeout: float = DEFAULT_BUILD_TIMEOUT,
    pull_base: bool = True,
    force: bool = False,
    **options: Unpack[ImageOptions],
) -> ImageResult:
    """Build (if needed), tag and optionally push a cartridge image. Raises ``ImageBuildError``.

    Builds use the host network so ``apt-get`` reaches the archive without a bridge. A missing base
    image is pulled first when ``pull_base`` (it must be known to compute the build hash).
    ``force`` rebuilds without Docker's layer cache even when the image is up to date (to pick up
    Debian security updates, which the build hash cannot see).
    """
    started = time.monotonic()
    plan = plan_image(client, cartridge, **options)
    assert plan.context is not None
    if plan.base_image_id is None:
        if not pull_base:
            raise ImageBuildError(f"base image {plan.base} is not present locally and pull_base is off")
        _pull(client, plan.base)
        plan = plan_image(client, cartridge, **options)
        assert plan.context is not None and plan.base_image_id is not None

    log: tuple[str, ...] = ()
    build_hash = plan.build_hash
    assert build_hash is not None
    if force and not plan.build:
        plan = replace(plan, build=True, reason="rebuild forced", push=plan.push_ref is not None)
    if plan.build:
        image_id, log = _build(client, plan, timeout, nocache=force)
        if plan.existing is not None and plan.existing.id != image_id:
            _remove_if_dangling(client, plan.existing.id)
    else:
        assert plan.existing is not None
        image_id = plan.existing.id

    pushed_ref = None
    if plan.push and plan.push_ref is not None:
        _push(client, image_id, plan.push_ref, timeout)
        pushed_ref = plan.push_ref
    return ImageResult(
        changed=plan.changed,
        tag=plan.tag,
        image_id=image_id,
        build_hash=build_hash,
        built=plan.build,
        pushed_ref=pushed_ref,
        seconds=time.monotonic() - started,
        plan=plan,
        log=log,
    )


def docker_client(endpoint: str | None = None, timeout: float = 60) -> docker.DockerClient:
    """A client for ``endpoint`` (``unix:///…``, ``tcp://…``, ``ssh://…``) or the environment's."""
    import docker as docker_sdk

    try:
        if endpoint:
            return docker_sdk.DockerClient(base_url=endpoint, timeout=int(timeout))
        return docker_sdk.from_env(timeout=int(timeout))
    except docker_sdk.errors.DockerException as exc:
        raise ImageBuildError(
            f"Docker Engine at {endpoint or '(environment)'} is unreachable: {exc}"
        ) from exc


def _image_id(client: docker.DockerClient, ref: str) -> str | None:
    found = dockerlib.find_image(client, ref, f"cannot inspect image {ref}", ImageBuildError)
    return None if found is None else str(found.id)


def _existing(client: docker.DockerClient, tag: str) -> ExistingImage | None:
    found = dockerlib.find_image(client, tag, f"cannot inspect image {tag}", ImageBuildError)
    if found is None:
        return None
    labels = found.labels or {}
    return ExistingImage(
        id=str(found.id),
        build_hash=labels.get(BUILD_HASH_LABEL),
        repo_digests=tuple(found.attrs.get("RepoDigests") or ()),
    )


def _registry_has(client: docker.DockerClient, push_ref: str, existing: ExistingImage) -> bool:
    """True when the registry's manifest for ``push_ref`` is the one this image was pushed as."""
    import docker as docker_sdk

    repository = push_ref.rsplit(":", 1)[0] if ":" in push_ref.rsplit("/", 1)[-1] else push_ref
    local = {d.split("@", 1)[1] for d in existing.repo_digests if d.split("@", 1)[0] == repository}
    if not local:
        return False
    try:
        remote = client.images.get_registry_data(push_ref).id
    except docker_sdk.errors.APIError:
        return False  # unknown or unreachable: pushing is the way to find out
    return remote in local


def _pull(client: docker.DockerClient, ref: str) -> None:
    import docker as docker_sdk

    try:
        client.images.pull(ref)
    except docker_sdk.errors.APIError as exc:
        raise ImageBuildError(
            f"base image {ref} is not present and cannot be pulled ({exc.explanation or exc}); "
            "without a registry build one with images/build-base-image.sh and set STRATOS_BASE_IMAGE"
        ) from exc


def _build(
    client: docker.DockerClient, plan: ImagePlan, timeout: float, nocache: bool = False
) -> tuple[str, tuple[str, ...]]:
    import docker as docker_sdk

    assert plan.context is not None and plan.build_hash is not None and plan.base_image_id is not None
    labels = {BUILD_HASH_LABEL: plan.build_hash, BASE_IMAGE_LABEL: plan.base}
    log: list[str] = []
    image_id: str | None = None
    try:
        stream = client.api.build(
            fileobj=io.BytesIO(plan.context.tar()),
            custom_context=True,
            tag=plan.tag,
            labels=labels,
            rm=True,
            forcerm=True,
            pull=False,
            nocache=nocache,
            network_mode="host",
            decode=True,
            timeout=int(timeout),
        )
        for chunk in stream:
            message = _stream_error(chunk)
            if message is not None:
                raise ImageBuildError(
                    f"cartridge '{plan.cartridge}': building {plan.tag} failed: {message}\n" + _tail(log)
                )
            if "stream" in chunk:
                log.extend(line for line in chunk["stream"].splitlines() if line.strip())
            aux = chunk.get("aux")
            if isinstance(aux, dict) and "ID" in aux:
                image_id = str(aux["ID"])
    except docker_sdk.errors.DockerException as exc:
        raise ImageBuildError(f"cartridge '{plan.cartridge}': building {plan.tag} failed: {exc}") from exc
    except OSError as exc:  # timeouts and broken connections surface as socket errors
        raise ImageBuildError(
            f"cartridge '{plan.cartridge}': building {plan.tag} failed: {exc}\n{_tail(log)}"
        ) from exc
    built = _existing(client, plan.tag)
    if built is None or built.build_hash != plan.build_hash or (image_id and built.id != image_id):
        raise ImageBuildError(
            f"cartridge '{plan.cartridge}': build finished but {plan.tag} does not carry the new build\n"
            + _tail(log)
        )
    return built.id, tuple(log)


def _push(client: docker.DockerClient, image_id: str, push_ref: str, timeout: float) -> None:
    import docker as docker_sdk

    repository, _, tag = push_ref.rpartition(":")
    try:
        if not client.api.tag(image_id, repository, tag, force=True):
            raise ImageBuildError(f"cannot tag {image_id} as {push_ref}")
        for chunk in client.api.push(repository, tag, stream=True, decode=True):
            message = _stream_error(chunk)
            if message is not None:
                raise ImagePushError(f"pushing {push_ref} failed: {message}")
    except docker_sdk.errors.DockerException as exc:
        raise ImagePushError(f"pushing {push_ref} failed: {exc}") from exc
    except OSError as exc:
        raise ImagePushError(f"pushing {push_ref} failed: {exc}") from exc


def _stream_error(chunk: Mapping[str, Any]) -> str | None:
    """The error a chunk of a build or push stream reports (the engine's own words), else None."""
    if "error" not in chunk and "errorDetail" not in chunk:
        return None
    return str(chunk.get("error") or chunk["errorDetail"].get("message", "")).strip()


def _remove_if_dangling(client: docker.DockerClient, image_id: str) -> None:
    """Drop the image the tag used to name, if nothing else names or uses it."""
    import docker as docker_sdk

    try:
        old = client.images.get(image_id)
        if not old.tags:
            client.images.remove(image_id, noprune=False)
    except docker_sdk.errors.APIError:
        pass  # still used by a container or another tag: keep it


def _tail(lines: Iterable[str], count: int = 20) -> str:
    kept = list(lines)[-count:]
    return "\n".join(kept)
