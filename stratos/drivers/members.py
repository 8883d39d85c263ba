"""Members: the containers the agent starts for a subscription, how it probes and stops them.

Only the agent calls this module; members are dynamic and belong to it alone.

A member of subscription ``<alias>`` of application ``<app>`` is a container

- named ``stratos-<member id>``, member id ``<app>-<alias>-<6 hex>``, hostname the member id;
- from ``Cartridge.image_tag()``, on the network partition's Docker network with the DNS alias
  ``<alias>.<app>`` (shared by all members of the subscription: what links resolve to);
- with the labels of :mod:`stratos.drivers.docker` (revision = :func:`stratos.planning.revision.revision`);
- with environment = cartridge ``environment`` + subscription ``environment`` + link variables +
  ``STRATOS_APPLICATION``, ``STRATOS_SUBSCRIPTION``, ``STRATOS_MEMBER_ID``, ``STRATOS_PARTITION``;
- with named volumes ``stratos-<app>-<alias>-<volume>`` for the cartridge's persistence (never
  removed by the agent; only :func:`purge_volumes`, called on an explicit purge);
- with the subscription's secrets directory (``<state>/secrets/<app>/<alias>``) read-only at
  ``/run/stratos/secrets`` and, when it has an artifact, its releases directory
  (``<state>/releases/<app>/<alias>``) read-only at ``/srv/stratos/app`` (``current`` inside it is
  the live release: the cartridge's deployment dir links to ``/srv/stratos/app/current``);
- with the cartridge's CPU and memory limits and restart policy ``no`` (the agent replaces members).

Links. A subscription that links to ``<link>`` receives what the linked cartridge ``exports``
(templates ``{member.hostname}``, ``{env.NAME}``, ``{secret.NAME}``, ``{port.NAME}``,
``{app.name}``, ``{subscription.alias}``; see :func:`resolve_exports`), as:

- environment variables ``<LINK>_<KEY>`` for the values that hold no secret, ``LINK`` being the link
  alias in upper case (``-`` becomes ``_``) and ``KEY`` the export name in upper case, except
  ``database``, which becomes ``NAME``. For the seed demo's ``links: [db]`` to the mysql cartridge:
  ``DB_HOST=db.<app>``, ``DB_PORT=3306``, ``DB_NAME``, ``DB_USER``;
- for each value that holds a secret, a file ``/run/stratos/secrets/<link>_<key>`` (0600, copied into
  the subscription's own secrets directory) named by ``<LINK>_<KEY>_FILE``, e.g.
  ``DB_PASSWORD_FILE=/run/stratos/secrets/db_password``. A secret is never an environment variable,
  so it appears neither in ``docker inspect`` nor in logs;
- the whole set, secrets included, as ``KEY=value`` lines in a 0600 file
  ``/run/stratos/links/<link>.env`` (host: ``<state>/links/<app>/<link>.env``), mounted read-only.

The linked subscription's own members get its secrets as files in ``/run/stratos/secrets`` (the
mysql cartridge reads ``/run/stratos/secrets/password``); secrets are generated once per
subscription by :meth:`StateStore.secret` and kept on the host.

Health is probed from the agent's side, on the member's address on the partition network: an http
GET of the health check path (2xx or 3xx is healthy), or a tcp connect.
"""

from __future__ import annotations

import functools
import http.client
import os
import re
import secrets as _secrets
import socket
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from stratos.drivers import docker as dockerlib
from stratos.errors import StratosError
from stratos.fsutil import SECRET, atomic_write_text
from stratos.model import Application, Cartridge, HealthCheck, NetworkPartition, Subscription
from stratos.planning.revision import effective_environment
from stratos.store import StateStore

if TYPE_CHECKING:
    import docker
    from docker.models.containers import Container

    from stratos.validation import DefinitionSet

SECRETS_MOUNT = "/run/stratos/secrets"
LINKS_MOUNT = "/run/stratos/links"
APP_MOUNT = "/srv/stratos/app"

#: Seconds a member gets between SIGTERM and SIGKILL when it is stopped.
STOP_GRACE = 10.0


def member_id(app: str, alias: str, suffix: str | None = None) -> str:
    return f"{app}-{alias}-{suffix or _secrets.token_hex(3)}"


def container_name(member: str) -> str:
    return f"stratos-{member}"


def service_name(app: str, alias: str) -> str:
    """The DNS alias every member of a subscription answers to on its network."""
    return f"{alias}.{app}"


def volume_name(app: str, alias: str, volume: str) -> str:
    return f"stratos-{app}-{alias}-{volume}"


# --------------------------------------------------------------------------- link exports (pure)

_REF = re.compile(r"\{([a-z]+)\.([A-Za-z0-9_.-]+)\}")


@dataclass(frozen=True)
class Export:
    """One exported value; ``secret`` when any part of it came from a ``{secret.*}`` reference."""

    key: str
    value: str
    secret: bool = False


def resolve_exports(
    cartridge: Cartridge,
    *,
    app: str,
    alias: str,
    environment: Mapping[str, str],
    secret: Callable[[str], str],
) -> list[Export]:
    """Resolve the cartridge's ``exports`` templates for subscription ``alias`` of ``app``.

    ``secret(name)`` returns the subscription's secret ``name`` (generated once, kept on the host).
    Unknown references raise :class:`StratosError` naming the export, the reference and the rule.
    """
    ports = {p.name: str(p.port) for p in cartridge.ports}
    exports = []
    for key, template in cartridge.exports.items():
        is_secret = False

        def replace(match: re.Match[str], key: str = key, template: str = template) -> str:
            nonlocal is_secret
            scope, name = match.group(1), match.group(2)
            if scope == "member" and name == "hostname":
                return service_name(app, alias)
            if scope == "env":
                if name not in environment:
                    raise StratosError(
                        f"cartridges/{cartridge.name}.exports.{key} ({template!r}): "
                        f"env.{name} must be set in the cartridge's or the subscription's environment"
                    )
                return environment[name]
            if scope == "secret":
                if name not in cartridge.secrets:
                    raise StratosError(
                        f"cartridges/{cartridge.name}.exports.{key} ({template!r}): "
                        f"secret.{name} must be listed in the cartridge's secrets"
                    )
                is_secret = True
                return secret(name)
            if scope == "port" and name in ports:
                return ports[name]
            if scope == "app" and name == "name":
                return app
            if scope == "subscription" and name == "alias":
                return alias
            raise StratosError(
                f"cartridges/{cartridge.name}.exports.{key} ({template!r}): unknown reference "
                f"{{{scope}.{name}}}; known: member.hostname, env.<NAME>, secret.<NAME>, port.<NAME>, "
                "app.name, subscription.alias"
            )

        value = _REF.sub(replace, template)
        exports.append(Export(key, value, is_secret))
    return exports


def env_prefix(link: str) -> str:
    return re.sub(r"[^A-Z0-9]", "_", link.upper())


def env_key(link: str, key: str) -> str:
    name = "NAME" if key == "database" else re.sub(r"[^A-Z0-9]", "_", key.upper())
    return f"{env_prefix(link)}_{name}"


def secret_file_name(link: str, key: str) -> str:
    return f"{link}_{key}"


def link_environment(link: str, exports: Sequence[Export]) -> dict[str, str]:
    """The variables a linking member gets: values, and ``*_FILE`` paths for secret values."""
    env = {}
    for export in exports:
        if export.secret:
            env[f"{env_key(link, export.key)}_FILE"] = f"{SECRETS_MOUNT}/{secret_file_name(link, export.key)}"
        else:
            env[env_key(link, export.key)] = export.value
    return env


def link_file_text(link: str, exports: Sequence[Export]) -> str:
    """The 0600 ``<link>.env`` file: every export, secrets included, as ``KEY=value`` lines."""
    lines = []
    for export in exports:
        if "\n" in export.value:
            raise StratosError(f"link '{link}': export '{export.key}' spans lines")
        lines.append(f"{env_key(link, export.key)}={export.value}")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- revision (pure)


# --------------------------------------------------------------------------- member spec (pure)


@dataclass(frozen=True)
class LinkFiles:
    """Host files a linking member mounts for one link."""

    link: str
    env_file: Path
    environment: dict[str, str]


@dataclass(frozen=True)
class MemberSpec:
    member_id: str
    name: str
    hostname: str
    image: str
    network: str
    aliases: tuple[str, ...]
    environment: dict[str, str]
    labels: dict[str, str]
    binds: tuple[str, ...]
    volumes: dict[str, str]
    nano_cpus: int | None
    mem_limit: str | None
    health_check: HealthCheck | None = None
    ports: tuple[int, ...] = ()
    volume_labels: dict[str, dict[str, str]] = field(default_factory=dict)


def member_spec(
    *,
    app: Application,
    sub: Subscription,
    cartridge: Cartridge,
    np: NetworkPartition,
    partition: str,
    member: str,
    state_id: str,
    revision: str,
    secrets_dir: Path | None,
    releases_dir: Path | None,
    links: Sequence[LinkFiles] = (),
) -> MemberSpec:
    """Pure: the container of one member. Paths are host paths prepared by the caller."""
    environment = effective_environment(cartridge, sub)
    for link in links:
        environment.update(link.environment)
    environment.update(
        {
            "STRATOS_APPLICATION": app.name,
            "STRATOS_SUBSCRIPTION": sub.alias,
            "STRATOS_MEMBER_ID": member,
            "STRATOS_PARTITION": f"{np.name}/{partition}",
        }
    )
    labels = {
        dockerlib.ROLE: dockerlib.ROLE_MEMBER,
        dockerlib.STATE_ID: state_id,
        dockerlib.APPLICATION: app.name,
        dockerlib.SUBSCRIPTION: sub.alias,
        dockerlib.CARTRIDGE: cartridge.name,
        dockerlib.NETWORK_PARTITION: np.name,
        dockerlib.PARTITION: partition,
        dockerlib.MEMBER_ID: member,
        dockerlib.REVISION: revision,
    }
    binds = []
    if secrets_dir is not None:
        binds.append(f"{secrets_dir}:{SECRETS_MOUNT}:ro")
    for link in links:
        binds.append(f"{link.env_file}:{LINKS_MOUNT}/{link.link}.env:ro")
    if releases_dir is not None:
        binds.append(f"{releases_dir}:{APP_MOUNT}:ro")
    volumes = {volume_name(app.name, sub.alias, v.name): v.mount_path for v in cartridge.persistence.volumes}
    volume_labels = {
        name: {
            dockerlib.STATE_ID: state_id,
            dockerlib.APPLICATION: app.name,
            dockerlib.SUBSCRIPTION: sub.alias,
        }
        for name in volumes
    }
    limits = cartridge.limits
    return MemberSpec(
        member_id=member,
        name=container_name(member),
        hostname=member[:63].rstrip("-"),
        image=cartridge.image_tag(),
        network=np.network_name(),
        aliases=(service_name(app.name, sub.alias),),
        environment=environment,
        labels=labels,
        binds=tuple(binds),
        volumes=volumes,
        nano_cpus=int(limits.cpus * 1e9) if limits.cpus else None,
        mem_limit=limits.memory,
        health_check=cartridge.health_check,
        ports=tuple(p.port for p in cartridge.ports),
        volume_labels=volume_labels,
    )


# --------------------------------------------------------------------------- host files (I/O)


def prepare_links(
    store: StateStore, definitions: DefinitionSet, app: Application, sub: Subscription
) -> list[LinkFiles]:
    """Write the link files of ``sub`` (0600) and its copies of linked secrets; return what to mount."""
    result = []
    for link in sub.links:
        other = app.subscription(link)
        cartridge = definitions.cartridges[other.cartridge]
        exports = resolve_exports(
            cartridge,
            app=app.name,
            alias=link,
            environment=effective_environment(cartridge, other),
            secret=functools.partial(store.secret, app.name, link),
        )
        env_file = store.link_file(app.name, link)
        _private_dir(env_file.parent)
        _write_if_changed(env_file, link_file_text(link, exports))
        for export in exports:
            if export.secret:
                target = store.secrets_dir(app.name, sub.alias) / secret_file_name(link, export.key)
                _private_dir(target.parent)
                _write_if_changed(target, export.value + "\n")
        result.append(LinkFiles(link, env_file, link_environment(link, exports)))
    return result


def prepare_secrets(
    store: StateStore, app: Application, sub: Subscription, cartridge: Cartridge
) -> Path | None:
    """Generate the cartridge's secrets for ``sub`` once; the directory to mount, if it has any file."""
    for name in cartridge.secrets:
        store.secret(app.name, sub.alias, name)
    directory = store.secrets_dir(app.name, sub.alias)
    return directory if directory.is_dir() and any(directory.iterdir()) else None


def _private_dir(path: Path) -> None:
    """``links/<app>`` or ``secrets/<app>/<alias>``: this directory and its parent 0700."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
    os.chmod(path.parent, 0o700)


def _write_if_changed(path: Path, text: str) -> None:
    if path.is_file() and path.read_text() == text and (path.stat().st_mode & 0o777) == 0o600:
        return
    atomic_write_text(path, text, SECRET)


# --------------------------------------------------------------------------- Docker (I/O)


@dataclass(frozen=True)
class ObservedMember:
    """A member container as Docker reports it."""

    member_id: str
    container_id: str
    name: str
    application: str
    subscription: str
    cartridge: str
    network_partition: str
    partition: str
    revision: str
    status: str
    started_at: float
    address: str | None
    endpoint: str = dockerlib.DEFAULT_ENDPOINT
    exit_code: int | None = None
    oom_killed: bool = False

    @property
    def running(self) -> bool:
        return self.status == "running"


def start_member(
    client: docker.DockerClient, spec: MemberSpec, endpoint: str = dockerlib.DEFAULT_ENDPOINT
) -> ObservedMember:
    """Create and start the member container (and its named volumes, labelled, if missing)."""
    import docker as docker_sdk

    with dockerlib.docker_errors(f"starting member {spec.member_id}"):
        for name, labels in spec.volume_labels.items():
            try:
                client.volumes.get(name)
            except docker_sdk.errors.NotFound:
                client.volumes.create(name=name, labels=labels)
        mounts = list(spec.binds) + [f"{name}:{path}:rw" for name, path in spec.volumes.items()]
        endpoint_config = client.api.create_endpoint_config(aliases=list(spec.aliases))
        container = client.containers.run(
            spec.image,
            name=spec.name,
            hostname=spec.hostname,
            detach=True,
            environment=spec.environment,
            labels=spec.labels,
            volumes=mounts,
            network=spec.network,
            networking_config={spec.network: endpoint_config},
            restart_policy={"Name": "no"},
            nano_cpus=spec.nano_cpus,
            mem_limit=spec.mem_limit,
            init=False,
        )
        container.reload()
    return observe_container(container, endpoint)


def observe_container(container: Container, endpoint: str = dockerlib.DEFAULT_ENDPOINT) -> ObservedMember:
    attrs = container.attrs
    labels = (attrs.get("Config") or {}).get("Labels") or {}
    state = attrs.get("State") or {}
    network = (attrs.get("NetworkSettings") or {}).get("Networks") or {}
    address = None
    for net in network.values():
        if net.get("IPAddress"):
            address = net["IPAddress"]
            break
    started = _timestamp(state.get("StartedAt")) or _timestamp(attrs.get("Created")) or 0.0
    return ObservedMember(
        member_id=labels.get(dockerlib.MEMBER_ID, ""),
        container_id=str(attrs.get("Id", container.id)),
        name=str(attrs.get("Name", "")).lstrip("/"),
        application=labels.get(dockerlib.APPLICATION, ""),
        subscription=labels.get(dockerlib.SUBSCRIPTION, ""),
        cartridge=labels.get(dockerlib.CARTRIDGE, ""),
        network_partition=labels.get(dockerlib.NETWORK_PARTITION, ""),
        partition=labels.get(dockerlib.PARTITION, ""),
        revision=labels.get(dockerlib.REVISION, ""),
        status=str(state.get("Status", "unknown")),
        started_at=started,
        address=address,
        endpoint=endpoint,
        exit_code=state.get("ExitCode") if state.get("Status") in ("exited", "dead") else None,
        oom_killed=bool(state.get("OOMKilled")),
    )


def _timestamp(text: str | None) -> float | None:
    if not text or text.startswith("0001-"):
        return None
    # Docker gives nanoseconds; Python parses microseconds.
    match = re.match(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})$", text)
    if not match:
        return None
    fraction = (match.group(2) or ".0")[:7]
    zone = "+00:00" if match.group(3) == "Z" else match.group(3)
    return datetime.fromisoformat(f"{match.group(1)}{fraction}{zone}").timestamp()


def list_members(
    client: docker.DockerClient, state_id: str, endpoint: str = dockerlib.DEFAULT_ENDPOINT
) -> list[ObservedMember]:
    """Every member container of this state directory on one Docker endpoint (any state)."""
    filters = {
        "label": dockerlib.label_filter({dockerlib.ROLE: dockerlib.ROLE_MEMBER, dockerlib.STATE_ID: state_id})
    }
    with dockerlib.docker_errors(f"listing members on {endpoint}"):
        containers = client.containers.list(all=True, filters=filters)
    result = []
    for container in containers:
        member = observe_container(container, endpoint)
        if member.member_id:
            result.append(member)
    return result


def stop_member(client: docker.DockerClient, container_id: str, grace: float = STOP_GRACE) -> None:
    """Stop (SIGTERM, then SIGKILL after ``grace``) and remove; named volumes stay."""
    import docker as docker_sdk

    container = dockerlib.find_container(client, container_id, f"stopping member {container_id[:12]}")
    if container is None:
        return
    with dockerlib.docker_errors(f"stopping member {container.name}"):
        if container.status in ("running", "restarting", "paused"):
            container.stop(timeout=max(1, int(round(grace))))
        try:
            container.remove(v=True, force=True)
        except docker_sdk.errors.NotFound:
            pass
        except docker_sdk.errors.APIError as exc:
            # A removal already under way (e.g. two calls racing) is not a failure.
            if "already in progress" not in str(exc):
                raise


def app_volumes(
    client: docker.DockerClient, app: str, alias: str | None = None, *, state_id: str | None = None
) -> list[str]:
    """The names of an application's (or one subscription's) named volumes, sorted; with
    ``state_id``, only those of that state directory's agent."""
    labels = {dockerlib.APPLICATION: app}
    if alias is not None:
        labels[dockerlib.SUBSCRIPTION] = alias
    if state_id is not None:
        labels[dockerlib.STATE_ID] = state_id
    with dockerlib.docker_errors(f"listing the volumes of application '{app}'"):
        found = client.volumes.list(filters={"label": dockerlib.label_filter(labels)})
    return sorted(volume.name for volume in found)


def purge_volumes(
    client: docker.DockerClient, app: str, alias: str | None = None, *, state_id: str | None = None
) -> list[str]:
    """Remove the named volumes of an application (or one subscription): explicit purge only."""
    removed = []
    with dockerlib.docker_errors(f"purging the volumes of {app}"):
        for name in app_volumes(client, app, alias, state_id=state_id):
            client.volumes.get(name).remove(force=True)
            removed.append(name)
    return removed


# --------------------------------------------------------------------------- health probes (I/O)


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    detail: str


def probe(
    address: str | None, check: HealthCheck | None, ports: Iterable[int], timeout: float | None = None
) -> ProbeResult:
    """Probe a member from outside: http GET of the check's path, or tcp connect, on its address."""
    if address is None:
        return ProbeResult(False, "no address on the partition network")
    if check is None:
        return ProbeResult(True, "no health check defined")
    port = check.port or next(iter(ports), None)
    if port is None:
        return ProbeResult(False, "the cartridge has no port to probe")
    limit = timeout if timeout is not None else check.timeout
    if check.http:
        return _probe_http(address, port, check.http, limit)
    return _probe_tcp(address, port, limit)


def _probe_http(address: str, port: int, path: str, timeout: float) -> ProbeResult:
    conn = http.client.HTTPConnection(address, port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"User-Agent": "stratos-agent", "Connection": "close"})
        response = conn.getresponse()
        response.read(4096)
        ok = 200 <= response.status < 400
        return ProbeResult(ok, f"GET {path}: {response.status}")
    except (OSError, http.client.HTTPException) as exc:
        return ProbeResult(False, f"GET {path}: {exc or type(exc).__name__}")
    finally:
        conn.close()


def _probe_tcp(address: str, port: int, timeout: float) -> ProbeResult:
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return ProbeResult(True, f"tcp {port}: connected")
    except OSError as exc:
        return ProbeResult(False, f"tcp {port}: {exc}")
