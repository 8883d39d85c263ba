"""The resident agent as a Docker container on a managed host.

The agent container is static infrastructure (its lifetime is the stack's), so the IaC front ends
own it: the ``stratos.paas.agent`` module and the autoscaler role, and the Pulumi components.

Three steps, as for images:

- :func:`desired` (pure) turns an :class:`AgentSpec` into the summary the container must match;
  its sha256 is the ``org.stratos.config-hash`` label;
- :func:`plan_agent` / :func:`plan_agent_removal` (read Docker, change nothing; what Ansible check
  mode runs) compare it with the container that holds the name and return a
  :class:`~stratos.changes.Plan` (the container's change, then its companions')
  whose changes feed ``changed`` and ``--diff``;
- the plan's ``apply`` carries it out. :func:`ensure_agent` and :func:`remove_agent` do both.

The container runs ``<image> agent --state-dir <dir> --interval <s>`` (the image's entrypoint is the
``stratos`` CLI) with restart policy ``unless-stopped``, as the image's ``stratos`` user
(:data:`AGENT_UID`), on a read-only root file system (a tmpfs on ``/tmp``), with every capability
dropped and ``no-new-privileges``. It does not get the Docker socket: by default a second container,
``<name>-docker-proxy`` (:mod:`stratos.drivers.docker_proxy`), serves an allow-list of the Docker
API on a socket in :attr:`AgentSpec.proxy_dir`, which alone is mounted into the agent, where the
image's ``/var/run/docker.sock`` points. ``docker_access: external`` mounts a directory holding the
``docker.sock`` of a proxy the user runs; ``docker_access: socket`` mounts the engine's socket and runs
the agent as root, as before (root-equivalent; see docs/security.md).

The webhook, ``/metrics`` and ``/status`` are served by a third container, ``<name>-http``
(:func:`desired_http`, on unless ``http_split`` is false or ``docker_access`` is ``socket``): the same
image running ``stratos agent-http`` as uid :data:`HTTP_UID` in the agent's group, read-only, no
capability, no Docker access, with ``<state>/agent`` mounted read-only (status, metrics snapshot and
the webhook table the agent publishes, which holds the webhook secrets and nothing else secret) and
only ``agent/triggers`` and ``agent/http`` (the replay window) writable. The agent then serves no
HTTP (``--metrics-port 0``).

The state directory is bind-mounted at the same path (so paths in definitions and status files mean
the same inside and out) and given to the agent's uid before the agent starts (a one-shot container
from the agent image, :func:`owner_command`). The agent keeps the host's network: it probes members on
every partition network, which are Docker bridges isolated from one another, and reaches the load
balancers' loopback-bound ports. The Docker client is always passed in.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from stratos import settings
from stratos.changes import Change, Plan
from stratos.drivers import docker as labels
from stratos.drivers import docker_proxy
from stratos.errors import DriverError, NotFoundError, StratosError
from stratos.model import KINDS

if TYPE_CHECKING:
    import docker
    from docker.models.containers import Container

ROLE_LABEL = labels.ROLE
CONFIG_HASH_LABEL = labels.CONFIG_HASH
#: The summary the container was made from (canonical JSON), so ``--diff`` shows what was asked for.
CONFIG_LABEL = labels.CONFIG
AGENT_ROLE = labels.ROLE_AGENT

DEFAULT_NAME = "stratos-agent"
DEFAULT_INTERVAL = 5.0
DEFAULT_RESTART = "unless-stopped"
DOCKER_SOCKET = "/var/run/docker.sock"
RESTART_POLICIES = ("no", "on-failure", "always", "unless-stopped")
PROXY_ROLE = docker_proxy.ROLE
HTTP_ROLE = labels.ROLE_AGENT_HTTP

#: The ``stratos`` user of the agent image (images/agent/Dockerfile): fixed, so the state directory
#: and the proxy's socket can be given to it from outside the image.
AGENT_UID = 10001
AGENT_GID = 10001
#: The uid of the HTTP side (its own user, in the agent's group, so it reads what the agent shares).
HTTP_UID = 10002
#: Where the image's ``/var/run/docker.sock`` points: the directory with the proxy's socket.
PROXY_MOUNT = docker_proxy.LISTEN_DIR
DOCKER_ACCESS = ("proxy", "external", "socket")
#: The HTTP side's command (``stratos agent-http …``, :func:`stratos.agent.http.run`).
HTTP_COMMAND = "agent-http"
HTTP_SHARED = "agent"
#: The directories below ``<state>/agent`` that the HTTP side writes (group-writable, 0770): request
#: files for the agent, and the webhook replay window.
HTTP_WRITABLE = ("triggers", "http")
DEFAULT_HTTP_BIND = "127.0.0.1"
DEFAULT_HTTP_PORT = 9464
TMPFS = {"/tmp": "rw,nosuid,nodev,size=64m"}
#: The one-shot owner container's capabilities (:func:`owner_command`): chown and chgrp anything,
#: traverse any directory, chmod files it does not own (the definitions' group read and setgid bits), and
#: keep a setgid bit on a group it is not in (FSETID: without it the kernel drops the bit silently).
OWNER_CAPS = ("CHOWN", "DAC_READ_SEARCH", "FOWNER", "FSETID")

#: Seconds the Docker proxy gets to open its socket.
PROXY_START_TIMEOUT = 15.0
#: Seconds the running agent gets to finish its tick when it is stopped to be replaced or removed.
STOP_TIMEOUT = 20

Action = Literal["none", "create", "recreate", "start", "remove"]


def package_version() -> str:
    try:
        return metadata.version("stratos-paas")
    except metadata.PackageNotFoundError:
        return "0.0.0"


def default_image() -> str:
    """The agent image matching this core: ``stratos/agent:<version of stratos-paas>``."""
    return f"stratos/agent:{package_version()}"


@dataclass(frozen=True)
class AgentSpec:
    """What the agent container must look like.

    - ``name``: the container's name.
    - ``image``: the agent image; ``None`` means :func:`default_image`.
    - ``state_dir``: the host's state directory, bind-mounted at the same path.
    - ``interval``: seconds between two ticks of the agent.
    - ``restart``: Docker restart policy.
    - ``docker_socket``: the host's Docker socket, mounted at the same path.
    - ``environment``: extra environment variables (for example ``STRATOS_BASE_IMAGE``).
    - ``docker_access``: ``proxy`` (the allow-list proxy, default), ``external`` (``proxy_dir`` holds the
      ``docker.sock`` of a proxy run by someone else) or ``socket`` (the engine's socket, agent as root).
    - ``proxy_dir``: the host directory of the proxy's socket; default ``/run/stratos-docker-proxy/<name>``.
    - ``proxy_image``: the image the proxy runs; ``None`` means the haproxy cartridge's image.
    - ``http_split``: serve the webhook, /metrics and /status from a container of their own, ``<name>-http``
      (no Docker access, its own uid); ``None`` (default) means on unless ``docker_access`` is ``socket``
      (a root agent's files are not readable by the HTTP side's group).
    - ``http_bind``, ``http_port``: where the webhook, /metrics and /status are served (the host's
      network; default the loopback, 9464), by the HTTP side or, without the split, the agent.
    """

    name: str = DEFAULT_NAME
    image: str | None = None
    state_dir: str = settings.DEFAULT_STATE_DIR
    interval: float = DEFAULT_INTERVAL
    restart: str = DEFAULT_RESTART
    docker_socket: str = DOCKER_SOCKET
    environment: dict[str, str] = field(default_factory=dict)
    docker_access: str = "proxy"
    proxy_dir: str | None = None
    proxy_image: str | None = None
    http_split: bool | None = None
    http_bind: str = DEFAULT_HTTP_BIND
    http_port: int = DEFAULT_HTTP_PORT

    def __post_init__(self) -> None:
        problems = []
        if self.http_split and self.docker_access == "socket":
            problems.append(
                "http_split: cannot be true with docker_access 'socket' (the agent runs as root there, and "
                "its files are not readable by the HTTP side); set it false or use the proxy"
            )
        if (
            isinstance(self.http_port, bool)
            or not isinstance(self.http_port, int)
            or not (1 <= self.http_port <= 65535)
        ):
            problems.append(f"http_port ({self.http_port!r}): must be an integer from 1 to 65535")
        try:
            ipaddress.ip_address(self.http_bind)
        except ValueError:
            problems.append(f"http_bind ({self.http_bind!r}): must be an IP address, such as 127.0.0.1")
        if self.docker_access not in DOCKER_ACCESS:
            problems.append(
                f"docker_access ({self.docker_access!r}): must be one of {', '.join(DOCKER_ACCESS)}"
            )
        if self.proxy_dir is not None and not self.proxy_dir.startswith("/"):
            problems.append(f"proxy_dir ({self.proxy_dir!r}): must be an absolute path")
        if self.docker_access != "socket" and (self.state_dir + "/").startswith("/root/"):
            # The bind mount's parents inside the container are the image's: its /root is 0700.
            problems.append(
                f"state_dir ({self.state_dir!r}): must not be below /root, which the agent's uid "
                f"{AGENT_UID} cannot enter in its image"
            )
        if self.docker_access == "external" and self.proxy_dir is None:
            problems.append(
                "proxy_dir: is required with docker_access 'external' (the directory of its docker.sock)"
            )
        if not self.name or "/" in self.name:
            problems.append(f"name ({self.name!r}): must be a non-empty container name without '/'")
        if not self.state_dir.startswith("/"):
            problems.append(f"state_dir ({self.state_dir!r}): must be an absolute path")
        if not self.docker_socket.startswith("/"):
            problems.append(f"docker_socket ({self.docker_socket!r}): must be an absolute path")
        if not self.interval > 0:
            problems.append(f"interval ({self.interval!r}): must be greater than 0")
        if self.restart not in RESTART_POLICIES:
            problems.append(f"restart ({self.restart!r}): must be one of {', '.join(RESTART_POLICIES)}")
        if problems:
            raise StratosError("agent: " + "; ".join(problems))

    @property
    def image_ref(self) -> str:
        return self.image or default_image()

    @property
    def split(self) -> bool:
        """Whether the HTTP side runs in ``<name>-http`` (see ``http_split``)."""
        return self.docker_access != "socket" if self.http_split is None else self.http_split

    def command(self) -> list[str]:
        command = ["agent", "--state-dir", self.state_dir, "--interval", _number(self.interval)]
        if self.split:
            return [*command, "--metrics-port", "0"]
        return [*command, "--bind", self.http_bind, "--metrics-port", str(self.http_port)]

    def http_command(self) -> list[str]:
        return [
            HTTP_COMMAND,
            "--state-dir",
            self.state_dir,
            "--bind",
            self.http_bind,
            "--port",
            str(self.http_port),
        ]

    @property
    def proxy_dir_ref(self) -> str:
        return self.proxy_dir or f"/run/stratos-docker-proxy/{self.name}"

    @property
    def user(self) -> str:
        return "0:0" if self.docker_access == "socket" else f"{AGENT_UID}:{AGENT_GID}"

    def proxy(self) -> docker_proxy.ProxySpec | None:
        """The allow-list proxy this agent needs (``None`` unless ``docker_access`` is ``proxy``)."""
        if self.docker_access != "proxy":
            return None
        from stratos.drivers import haproxy

        return docker_proxy.ProxySpec(
            name=f"{self.name}-docker-proxy",
            image=self.proxy_image or haproxy.lb_image(),
            docker_socket=self.docker_socket,
            socket_dir=self.proxy_dir_ref,
            state_dir=self.state_dir,
            uid=AGENT_UID,
            gid=AGENT_GID,
        )


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def desired(spec: AgentSpec) -> dict[str, Any]:
    """The container's configuration as a plain, ordered summary (what ``--diff`` shows)."""
    if spec.docker_access == "socket":
        docker_mount = f"{spec.docker_socket}:{PROXY_MOUNT}/{docker_proxy.SOCKET_NAME}:rw"
    else:
        docker_mount = f"{spec.proxy_dir_ref}:{PROXY_MOUNT}:ro"
    proxy = spec.proxy()
    return {
        "name": spec.name,
        "image": spec.image_ref,
        "command": spec.command(),
        "restart": spec.restart,
        "network_mode": "host",
        "user": spec.user,
        "read_only": True,
        "tmpfs": dict(TMPFS),
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "mounts": sorted([docker_mount, f"{spec.state_dir}:{spec.state_dir}:rw"]),
        "environment": {
            "STRATOS_STATE_DIR": spec.state_dir,
            "HOME": "/tmp",
            **dict(sorted(spec.environment.items())),
        },
        "docker_access": spec.docker_access,
        "docker_proxy": None
        if proxy is None
        else {"name": proxy.name, "image": proxy.image, "config_hash": docker_proxy.config_hash(proxy)},
        "http": desired_http(spec),
    }


def desired_http(spec: AgentSpec) -> dict[str, Any] | None:
    """The HTTP side's container (``None`` without the split): no Docker access, its own uid, only
    ``<state_dir>/agent`` mounted, read-only, but for ``triggers/`` and ``http/``."""
    if not spec.split:
        return None
    shared = f"{spec.state_dir.rstrip('/')}/{HTTP_SHARED}"
    writable = [f"{shared}/{sub}:{shared}/{sub}:rw" for sub in HTTP_WRITABLE]
    return {
        "name": f"{spec.name}-http",
        "image": spec.image_ref,
        "command": spec.http_command(),
        "network_mode": "host",
        "user": f"{HTTP_UID}:{AGENT_GID}",
        "read_only": True,
        "tmpfs": dict(TMPFS),
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "mounts": sorted([f"{shared}:{shared}:ro", *writable]),
        "environment": {"STRATOS_STATE_DIR": spec.state_dir, "HOME": "/tmp"},
    }


def owner_command(spec: AgentSpec) -> list[str]:
    """What the one-shot container runs to give the state directory to the agent's uid.

    The agent writes its database, status, releases, secrets and link files, and ``StateStore.ensure``
    sets the modes of the top-level directories, so it owns those; the definitions' and load balancers'
    files stay whoever wrote them; ``git/`` (the ``file://`` root) is given to the agent, since git
    refuses to read a repository another uid owns. The definitions (0640) are given to the agent's group, and their
    directories made setgid, so that a definition written later by root on the host is readable by the
    agent too. ``agent/triggers`` and ``agent/http`` are made group-writable (0770) for the HTTP side.
    """
    root = spec.state_dir.rstrip("/") or "/"
    # git/: the file:// root (the demo's repository); git refuses a repository another uid owns.
    subs = [f"{root}/{sub}" for sub in ("definitions", "lb", "agent", "releases", "secrets", "links", "git")]
    script = (
        'set -e; owner="$1"; shift; for d in "$@"; do mkdir -p "$d"; done; '
        'defs="$2"; agent="$4"; mkdir -p "$agent/triggers" "$agent/http"; '
        f'for k in {" ".join(sorted(plural for _, plural in KINDS.values()))}; do mkdir -p "$defs/$k"; done; '
        'chown "$owner" "$1" "$2" "$3"; shift 3; chown -R "$owner" "$@"; '
        'chgrp -R "${owner#*:}" "$defs"; find "$defs" -type d -exec chmod g+rxs {} +; '
        'find "$defs" -type f -exec chmod g+r {} +; chmod 0770 "$agent/triggers" "$agent/http"'
    )
    return ["/bin/sh", "-c", script, "stratos-owner", f"{AGENT_UID}:{AGENT_GID}", root, *subs]


def _canonical(spec: AgentSpec) -> str:
    return json.dumps(desired(spec), sort_keys=True, separators=(",", ":"))


def config_hash(spec: AgentSpec) -> str:
    return hashlib.sha256(_canonical(spec).encode()).hexdigest()


@dataclass(frozen=True)
class Observed:
    """The container that holds the agent's name, as far as planning needs it."""

    name: str
    labels: dict[str, str]
    status: str
    image_id: str
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def running(self) -> bool:
        return self.status in ("running", "restarting")


def _change(
    name: str,
    action: Action,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    reasons: tuple[str, ...] = (),
) -> Change:
    return Change("container", name, action, before, after, reasons)


def compare(spec: AgentSpec, current: Observed | None, image_id: str | None) -> Change:
    """Pure: the change that turns ``current`` into the container ``spec`` describes.

    ``image_id`` is the id the spec's image reference resolves to now (``None`` when the image is
    missing); a container made from an older build of the same tag is recreated.
    """
    want = desired(spec)
    after = {**want, "state": "running", "config_hash": config_hash(spec)}
    if current is None:
        return _change(spec.name, "create", None, after, ("the container does not exist",))
    _refuse_foreign(current)
    before = _before(current)
    reasons = []
    differing = [key for key in want if current.summary.get(key) != want[key]]
    if differing:
        reasons.append("configuration changed: " + ", ".join(differing))
    elif current.labels.get(CONFIG_HASH_LABEL) != after["config_hash"]:
        reasons.append("configuration hash changed")
    if image_id is not None and current.image_id != image_id:
        reasons.append(
            f"image {spec.image_ref} now resolves to {_short(image_id)} (container: {_short(current.image_id)})"
        )
    if reasons:
        return _change(spec.name, "recreate", before, after, tuple(reasons))
    if not current.running:
        return _change(spec.name, "start", before, after, (f"the container is {current.status}",))
    return _change(spec.name, "none", before, before)


def image_missing(change: Change, image_id: str | None) -> bool:
    """Pure: whether ``change`` makes a container from an image that does not exist (it would fail)."""
    return change.action in ("create", "recreate") and image_id is None


def compare_removal(current: Observed | None, name: str) -> Change:
    """Pure: the change that removes the agent container ``name``."""
    if current is None:
        return _change(name, "none", None, None)
    _refuse_foreign(current)
    return _change(name, "remove", _before(current), None, ("state is absent",))


def _before(current: Observed) -> dict[str, Any]:
    return {
        **current.summary,
        "state": current.status,
        "config_hash": current.labels.get(CONFIG_HASH_LABEL, ""),
    }


def _refuse_foreign(current: Observed) -> None:
    if current.labels.get(ROLE_LABEL) != AGENT_ROLE:
        raise StratosError(
            f"agent: container '{current.name}' exists but is not a Stratos agent "
            f"(label {ROLE_LABEL} is {current.labels.get(ROLE_LABEL)!r}, not {AGENT_ROLE!r}); "
            "remove it or choose another name"
        )


def _short(image_id: str) -> str:
    return image_id.removeprefix("sha256:")[:12]


# --------------------------------------------------------------------------- reading Docker


def observe(container: Container) -> Observed:
    """The planning view of a container (from ``docker inspect`` data).

    The summary is the one recorded in the container's :data:`CONFIG_LABEL` when there is one
    (Docker cannot change a container's command, mounts or environment afterwards, so it stays
    true); otherwise it is read from the inspect data.
    """
    attrs = container.attrs
    config = attrs.get("Config") or {}
    host = attrs.get("HostConfig") or {}
    env = dict(item.split("=", 1) for item in config.get("Env") or [] if "=" in item)
    summary = {
        "name": attrs.get("Name", "").lstrip("/") or container.name,
        "image": config.get("Image", ""),
        "command": list(config.get("Cmd") or []),
        "restart": (host.get("RestartPolicy") or {}).get("Name", "") or "no",
        "network_mode": host.get("NetworkMode", ""),
        "user": config.get("User") or "",
        "read_only": bool(host.get("ReadonlyRootfs")),
        "tmpfs": dict(host.get("Tmpfs") or {}),
        "cap_drop": list(host.get("CapDrop") or []),
        "security_opt": list(host.get("SecurityOpt") or []),
        "mounts": sorted(host.get("Binds") or []),
        "environment": {key: env[key] for key in sorted(env) if key.startswith("STRATOS_")},
        # Not readable from inspect data: only the recorded configuration says.
        "docker_access": None,
        "docker_proxy": None,
        "http": None,
    }
    labels = dict(config.get("Labels") or {})
    try:
        recorded = json.loads(labels.get(CONFIG_LABEL, ""))
    except ValueError:
        recorded = None
    if isinstance(recorded, dict):
        summary = {key: recorded.get(key) for key in summary}
        summary["restart"] = (host.get("RestartPolicy") or {}).get("Name", "") or "no"
    return Observed(
        name=summary["name"],
        labels=labels,
        status=(attrs.get("State") or {}).get("Status", "unknown"),
        image_id=str(attrs.get("Image", "")),
        summary=summary,
    )


def _get_container(client: docker.DockerClient, name: str) -> Container | None:
    return labels.find_container(client, name, f"agent: cannot inspect container '{name}'")


def _image_id(client: docker.DockerClient, ref: str) -> str | None:
    image = labels.find_image(client, ref, f"agent: cannot inspect image {ref}")
    return None if image is None else str(image.id)


def companions(spec: AgentSpec) -> dict[str, tuple[str, str | None]]:
    """The containers that come with the agent: name -> (role, wanted config hash or None: absent)."""
    proxy = spec.proxy()
    http = desired_http(spec)
    return {
        f"{spec.name}-docker-proxy": (PROXY_ROLE, docker_proxy.config_hash(proxy) if proxy else None),
        f"{spec.name}-http": (HTTP_ROLE, _hash(http) if http else None),
    }


def http_config_hash(summary: dict[str, Any]) -> str:
    """The config-hash label of the HTTP side's container made from ``desired_http``'s summary."""
    return _hash(summary)


def _hash(summary: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(summary, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def compare_companion(
    name: str, role: str, want_hash: str | None, current: Observed | None
) -> tuple[Action, str | None]:
    """Pure: what to do with one companion container, and why (``None``: nothing to do)."""
    if current is not None and current.labels.get(ROLE_LABEL) != role:
        raise StratosError(
            f"agent: container '{name}' exists but is not the agent's {role} "
            f"(label {ROLE_LABEL} is {current.labels.get(ROLE_LABEL)!r}); remove it or choose another name"
        )
    if want_hash is None:
        return ("remove", f"{name}: not wanted any more") if current is not None else ("none", None)
    if current is None:
        return "create", f"{name}: the container does not exist"
    if current.labels.get(CONFIG_HASH_LABEL) != want_hash:
        return "recreate", f"{name}: configuration changed"
    if not current.running:
        return "start", f"{name}: the container is {current.status}"
    return "none", None


def _companion_change(name: str, role: str, want_hash: str | None, current: Observed | None) -> Change:
    action, why = compare_companion(name, role, want_hash, current)
    before = {"role": role, "config_hash": current.labels.get(CONFIG_HASH_LABEL, "")} if current else None
    after = {"role": role, "config_hash": want_hash} if want_hash is not None else None
    return _change(name, action, before, before if action == "none" else after, (why,) if why else ())


def _plan(
    client: docker.DockerClient, spec: AgentSpec | None, name: str, change: Change, image_missing: bool
) -> Plan:
    wanted = (
        companions(spec)
        if spec is not None
        else {
            f"{name}-docker-proxy": (PROXY_ROLE, None),
            f"{name}-http": (HTTP_ROLE, None),
        }
    )
    others = []
    for other, (role, want_hash) in wanted.items():
        container = _get_container(client, other)
        others.append(_companion_change(other, role, want_hash, observe(container) if container else None))
    changes = (change, *others)
    report = {"image_present": not image_missing, "companions": {c.name: c.action for c in others}}
    return Plan(changes, report, lambda: _apply(client, changes, spec))


def plan_agent(client: docker.DockerClient, spec: AgentSpec) -> Plan:
    """What :func:`ensure_agent` would do; reads Docker, changes nothing.

    The plan's first change is the agent container's, then one per companion (its Docker proxy, its
    HTTP side); its report says whether the image exists and what each companion gets."""
    container = _get_container(client, spec.name)
    current = observe(container) if container is not None else None
    image_id = _image_id(client, spec.image_ref)
    change = compare(spec, current, image_id)
    return _plan(client, spec, spec.name, change, image_missing(change, image_id))


def plan_agent_removal(client: docker.DockerClient, name: str = DEFAULT_NAME) -> Plan:
    """What :func:`remove_agent` would do; reads Docker, changes nothing."""
    container = _get_container(client, name)
    change = compare_removal(observe(container) if container is not None else None, name)
    return _plan(client, None, name, change, False)


# --------------------------------------------------------------------------- changing Docker


def _apply(client: docker.DockerClient, changes: tuple[Change, ...], spec: AgentSpec | None) -> None:
    """Carry a plan's changes out (``spec`` is ``None`` for a removal).

    The proxy comes first (the agent's first call goes through it), the agent's HTTP side last.
    """
    import docker as docker_sdk

    change, *others = changes
    if not any(c.changed for c in changes):
        return
    companion_actions = {c.name: c.action for c in others}
    proxy_name, http_name = f"{change.name}-docker-proxy", f"{change.name}-http"
    try:
        if change.action in ("create", "recreate") and spec is None:
            raise ValueError("apply_agent: a spec is required to create the agent container")
        if change.action == "remove":
            _stop_and_remove(client, change.name)
        _apply_companion(client, proxy_name, companion_actions.get(proxy_name, "none"), spec)
        if change.action == "recreate":
            _stop_and_remove(client, change.name)
        if change.action == "start":
            container = _get_container(client, change.name)
            if container is None:
                raise DriverError(f"agent: container '{change.name}' disappeared while being started")
            container.start()
        if change.action in ("create", "recreate"):
            assert spec is not None
            _create(client, spec)
        _apply_companion(client, http_name, companion_actions.get(http_name, "none"), spec)
    except docker_sdk.errors.APIError as exc:
        raise DriverError(
            f"agent: {change.action} of container '{change.name}' failed: {exc.explanation or exc}"
        ) from exc


def _stop_and_remove(client: docker.DockerClient, name: str) -> None:
    container = _get_container(client, name)
    if container is not None:
        container.stop(timeout=STOP_TIMEOUT)
        container.remove(force=True)


def _apply_companion(client: docker.DockerClient, name: str, action: str, spec: AgentSpec | None) -> None:
    if action == "none":
        return
    if action in ("recreate", "remove"):
        _stop_and_remove(client, name)
    if action == "start":
        container = _get_container(client, name)
        if container is not None:
            container.start()
            return
        action = "create"
    if action in ("create", "recreate"):
        if spec is None:
            raise ValueError(f"apply_agent: a spec is required to create {name}")
        if name.endswith("-docker-proxy"):
            _create_proxy(client, spec)
        else:
            _create_http(client, spec)


def _labels(role: str, summary_hash: str, summary: dict[str, Any] | None = None) -> dict[str, str]:
    labels = {ROLE_LABEL: role, CONFIG_HASH_LABEL: summary_hash}
    if summary is not None:
        labels[CONFIG_LABEL] = json.dumps(summary, sort_keys=True, separators=(",", ":"))
    return labels


def _create_proxy(client: docker.DockerClient, spec: AgentSpec) -> None:
    proxy = spec.proxy()
    assert proxy is not None
    if _image_id(client, proxy.image) is None:
        raise NotFoundError(
            f"agent: the Docker proxy's image {proxy.image} does not exist on this Docker host; build the "
            "haproxy cartridge image (make images) or set the proxy image"
        )
    container = client.containers.run(
        proxy.image,
        restart_policy={"Name": "unless-stopped"},
        labels=_labels(PROXY_ROLE, docker_proxy.config_hash(proxy)),
        **docker_proxy.run_kwargs(proxy),
    )
    _wait_for_socket(container, Path(proxy.socket_dir) / docker_proxy.SOCKET_NAME)


def _wait_for_socket(container: Container | None, socket: Path, timeout: float = PROXY_START_TIMEOUT) -> None:
    """Bounded wait until the proxy's socket appears, when its directory is on this machine (the
    module's case; a remote Docker host's directory is not, and the agent's restart policy covers it)."""
    if container is None or not socket.parent.is_dir():
        return
    deadline = time.monotonic() + timeout
    while not socket.exists():
        container.reload()
        if container.status not in ("created", "running") or time.monotonic() > deadline:
            logs = container.logs(tail=5).decode(errors="replace").strip()
            raise DriverError(
                f"agent: the Docker proxy {container.name} did not open {socket} "
                f"(status {container.status}): {logs}"
            )
        time.sleep(0.1)


def _create_http(client: docker.DockerClient, spec: AgentSpec) -> None:
    want = desired_http(spec)
    assert want is not None
    _run_detached(client, spec, want, want["name"], want["network_mode"], _labels(HTTP_ROLE, _hash(want)))


def _run_detached(
    client: docker.DockerClient,
    spec: AgentSpec,
    want: dict[str, Any],
    name: str,
    network_mode: str,
    labels: dict[str, str],
) -> None:
    """Start the long-running container ``want`` describes (the agent's or its HTTP side's)."""
    client.containers.run(
        spec.image_ref,
        command=want["command"],
        name=name,
        detach=True,
        restart_policy={"Name": spec.restart} if spec.restart != "no" else None,
        network_mode=network_mode,
        user=want["user"],
        read_only=want["read_only"],
        tmpfs=want["tmpfs"],
        cap_drop=want["cap_drop"],
        security_opt=want["security_opt"],
        volumes=want["mounts"],
        environment=want["environment"],
        labels=labels,
    )


def _give_state_dir(client: docker.DockerClient, spec: AgentSpec) -> None:
    """Give the state directory to the agent's uid (a one-shot container, no network, CHOWN only)."""
    if spec.docker_access == "socket":
        return
    client.containers.run(
        spec.image_ref,
        entrypoint=owner_command(spec)[:1],
        command=owner_command(spec)[1:],
        user="0:0",
        network_mode="none",
        read_only=True,
        cap_drop=["ALL"],
        cap_add=list(OWNER_CAPS),
        security_opt=["no-new-privileges"],
        volumes=[f"{spec.state_dir}:{spec.state_dir}:rw"],
        labels={ROLE_LABEL: "agent-owner"},
        remove=True,
    )


def _create(client: docker.DockerClient, spec: AgentSpec) -> None:
    if _image_id(client, spec.image_ref) is None:
        raise NotFoundError(
            f"agent: image {spec.image_ref} does not exist on this Docker host; build it "
            "(images/build-agent-image.sh in the Stratos sources) or set the image"
        )
    _give_state_dir(client, spec)
    want = desired(spec)
    labels = {ROLE_LABEL: AGENT_ROLE, CONFIG_HASH_LABEL: config_hash(spec), CONFIG_LABEL: _canonical(spec)}
    _run_detached(client, spec, want, spec.name, "host", labels)


def ensure_agent(client: docker.DockerClient, spec: AgentSpec) -> Plan:
    """Make the agent container match ``spec``: create, recreate, start, or leave it alone."""
    plan = plan_agent(client, spec)
    plan.apply()
    return plan


def remove_agent(client: docker.DockerClient, name: str = DEFAULT_NAME) -> Plan:
    """Stop and remove the agent container ``name`` (the state directory stays)."""
    plan = plan_agent_removal(client, name)
    plan.apply()
    return plan
