"""HAProxy: the runtime API of an LB cluster and its (static) container.

Ownership. The LB container and its configuration belong to the IaC front ends (the ``lb_cluster``
Ansible module and the Pulumi component call :func:`ensure_lb_container`); backend *membership*
belongs to the agent, which changes it through the runtime API only (:class:`Runtime`), never by a
reload. The configuration therefore holds frontends and backends but no server.

Configuration: :mod:`stratos.lb.config` renders it (pure); this module writes it into the container,
has HAProxy check it (``haproxy -c``) and reloads.

Runtime API (HAProxy 2.6 management guide, section 9.3), as :class:`Runtime` uses it:

- ``add server <be>/<srv> <addr>:<port> check inter .. fall .. rise ..``: allowed on backends with a
  dynamic algorithm; the server starts in maintenance, its health check disabled;
- ``enable health <be>/<srv>`` then ``enable server <be>/<srv>``: checks on, out of maintenance;
- ``set server <be>/<srv> state drain``: no new requests, running ones finish (checks go on);
- ``del server <be>/<srv>``: only for a server in maintenance (``state maint``) with no active or
  idle connection and an empty queue, so removal is maint, then ``del server`` retried for a
  bounded time while connections end (``shutdown sessions server`` half-way through);
- ``show stat`` (CSV) and ``show servers state`` (version 1) are parsed into typed rows.

A reload (only when the configuration changes, e.g. a health path or the algorithm; never for
membership) or a restart loses the servers added at run time; the agent notices it within half a
second (``show info``: ``Pid`` changed or ``Uptime_sec`` went back; :mod:`stratos.agent.watch`)
and adds its members again at once, without waiting for its next tick.
A change of listeners changes the published ports, which only a new container can have.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import socket
import stat
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from stratos import builtin
from stratos.drivers import docker as dockerlib
from stratos.errors import DriverError, NotFoundError, StratosError
from stratos.fsutil import SECRET, atomic_write_text
from stratos.lb import config as lbconfig
from stratos.model import Cartridge, LbCluster, NetworkPartition
from stratos.store import StateStore

if TYPE_CHECKING:
    import docker
    from docker.models.containers import Container

    from stratos.validation import DefinitionSet


#: Seconds a runtime API command may take.
COMMAND_TIMEOUT = 5.0

# --------------------------------------------------------------------------- statistics credentials

_STATS_USER = re.compile(r"[A-Za-z0-9._-]{1,64}")
#: Printable ASCII without space, quotes, backslash or '#' (HAProxy would split or comment it).
_STATS_PASSWORD = re.compile(r"[!$-&(-\[\]-~]{12,128}")


def read_stats_auth(lb: LbCluster) -> str | None:
    """The ``user:password`` of ``stats.credentials_file`` (``None`` when the page is off).

    The file must be a regular file readable by its owner only (0600/0400) holding one line
    ``user:password`` (user: letters, digits, ``.``, ``_``, ``-``; password: 12 to 128 printable
    characters without spaces, quotes, ``\\`` or ``#``). Errors name the file and the rule, never
    the content.
    """
    if not lb.stats.enabled or lb.stats.credentials_file is None:
        return None
    path = lb.stats.credentials_file
    where = f"LB cluster '{lb.name}': stats.credentials_file ({path})"
    try:
        st = os.stat(path)
        text = Path(path).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise StratosError(f"{where} cannot be read: {getattr(exc, 'strerror', None) or exc}") from None
    if not stat.S_ISREG(st.st_mode):
        raise StratosError(f"{where} must be a regular file")
    if st.st_mode & 0o077:
        raise StratosError(
            f"{where} must be readable by its owner only (0600), not {stat.S_IMODE(st.st_mode):04o}"
        )
    user, sep, password = text.strip("\r\n").partition(":")
    if not sep or not _STATS_USER.fullmatch(user) or not _STATS_PASSWORD.fullmatch(password):
        raise StratosError(
            f"{where} must hold one line user:password (user: letters, digits, '.', '_', '-'; "
            "password: 12 to 128 printable characters without spaces, quotes, backslash or '#')"
        )
    return f"{user}:{password}"


# --------------------------------------------------------------------------- runtime API parsing (pure)

# ``show servers state`` srv_admin_state bits.
ADMF_FMAINT, ADMF_IMAINT, ADMF_CMAINT = 0x01, 0x02, 0x04
ADMF_FDRAIN, ADMF_IDRAIN, ADMF_RMAINT = 0x08, 0x10, 0x20
_MAINT = ADMF_FMAINT | ADMF_IMAINT | ADMF_CMAINT | ADMF_RMAINT
_DRAIN = ADMF_FDRAIN | ADMF_IDRAIN
# srv_op_state values.
OP_STOPPED, OP_STARTING, OP_RUNNING, OP_STOPPING = 0, 1, 2, 3


@dataclass(frozen=True)
class ServerState:
    """One line of ``show servers state`` (format version 1)."""

    backend: str
    name: str
    addr: str
    port: int
    op_state: int
    admin_state: int
    check_result: int = 0

    @property
    def in_maintenance(self) -> bool:
        return bool(self.admin_state & _MAINT)

    @property
    def draining(self) -> bool:
        return bool(self.admin_state & _DRAIN)

    @property
    def up(self) -> bool:
        return self.op_state in (OP_STARTING, OP_RUNNING)

    @property
    def serving(self) -> bool:
        """Takes new requests: up, neither in maintenance nor draining."""
        return self.up and not self.in_maintenance and not self.draining


def parse_servers_state(text: str) -> list[ServerState]:
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return []
    if lines[0].strip() != "1":
        raise DriverError(f"haproxy: 'show servers state' has format version {lines[0].strip()!r}, not 1")
    header: list[str] = []
    rows: list[ServerState] = []
    for line in lines[1:]:
        if line.startswith("#"):
            if not header:
                header = line.lstrip("#").split()
            continue
        values = line.split()
        if not header:
            raise DriverError("haproxy: 'show servers state' has no header line")
        row = dict(zip(header, values, strict=False))
        rows.append(
            ServerState(
                backend=row["be_name"],
                name=row["srv_name"],
                addr=row.get("srv_addr", ""),
                port=_int(row.get("srv_port")),
                op_state=_int(row.get("srv_op_state")),
                admin_state=_int(row.get("srv_admin_state")),
                check_result=_int(row.get("srv_check_result")),
            )
        )
    return rows


@dataclass(frozen=True)
class StatRow:
    """One line of ``show stat``: a frontend, a backend or a server, with the counters we read."""

    proxy: str
    name: str
    type: Literal["frontend", "backend", "server", "listener"]
    status: str
    current_sessions: int
    queued: int
    total_sessions: int
    rate: int
    weight: int
    check_status: str
    addr: str
    fields: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    def number(self, name: str) -> int:
        return _int(self.fields.get(name))


_STAT_TYPES: dict[str, Literal["frontend", "backend", "server", "listener"]] = {
    "0": "frontend",
    "1": "backend",
    "2": "server",
    "3": "listener",
}


def parse_stat(text: str) -> list[StatRow]:
    """Parse ``show stat`` CSV (header line starting with ``# ``; empty fields are 0/'')."""
    body = text.lstrip()
    if not body.startswith("#"):
        if not body:
            return []
        raise DriverError(f"haproxy: 'show stat' did not answer CSV: {body[:80]!r}")
    reader = csv.reader(io.StringIO(body[1:].lstrip()))
    header = [name.strip() for name in next(reader)]
    rows = []
    for values in reader:
        if not values or not values[0]:
            continue
        data = dict(zip(header, values, strict=False))
        rows.append(
            StatRow(
                proxy=data.get("pxname", ""),
                name=data.get("svname", ""),
                type=_STAT_TYPES.get(data.get("type", ""), "server"),
                status=data.get("status", ""),
                current_sessions=_int(data.get("scur")),
                queued=_int(data.get("qcur")),
                total_sessions=_int(data.get("stot")),
                rate=_int(data.get("rate")),
                weight=_int(data.get("weight")),
                check_status=data.get("check_status", ""),
                addr=data.get("addr", ""),
                fields=data,
            )
        )
    return rows


def parse_info(text: str) -> dict[str, str]:
    """``show info``: ``Name: value`` lines."""
    info = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            info[key.strip()] = value.strip()
    return info


def _int(value: str | None) -> int:
    try:
        return int(value) if value not in (None, "") else 0
    except ValueError:
        return 0


# Answers that mean a runtime command failed (HAProxy answers free text; success is mostly empty).
_FAILURES = (
    "unknown command",
    "no such",
    "unknown keyword",
    "not found",
    "cannot",
    "can't",
    "error",
    "invalid",
    "require",
    "only ",
    "already",
    "permission denied",
    "not allowed",
    "still has",
    "failed",
)


def answer_failed(answer: str) -> bool:
    text = answer.strip().lower()
    return bool(text) and any(marker in text for marker in _FAILURES)


# --------------------------------------------------------------------------- runtime API client


class Runtime:
    """HAProxy's runtime API on a unix socket: one command per connection, read until HAProxy closes."""

    def __init__(
        self,
        socket_path: str | Path,
        timeout: float = COMMAND_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.socket_path = str(socket_path)
        self.timeout = timeout
        self._clock = clock
        self._sleep = sleep

    def __repr__(self) -> str:
        return f"Runtime({self.socket_path!r})"

    def command(self, line: str) -> str:
        """Send one command line, return the whole answer. Socket problems raise DriverError."""
        if "\n" in line:
            raise ValueError("one command line, without newline")
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(self.timeout)
                sock.connect(self.socket_path)
                sock.sendall(line.encode() + b"\n")
                chunks = []
                while True:
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    chunks.append(chunk)
        except FileNotFoundError as exc:
            raise DriverError(f"haproxy: runtime API socket {self.socket_path} does not exist") from exc
        except OSError as exc:
            raise DriverError(f"haproxy: runtime API {self.socket_path}: {line.split()[0]}: {exc}") from exc
        return b"".join(chunks).decode(errors="replace")

    def execute(self, line: str) -> str:
        """A command whose answer must not be an error message."""
        answer = self.command(line)
        if answer_failed(answer):
            raise DriverError(f"haproxy: '{line}' failed: {answer.strip()}")
        return answer

    def available(self) -> bool:
        try:
            self.info()
            return True
        except DriverError:
            return False

    # ------------------------------------------------------------ reading
    def info(self) -> dict[str, str]:
        return parse_info(self.command("show info"))

    def stat(self) -> list[StatRow]:
        return parse_stat(self.command("show stat"))

    def servers_state(self, backend: str | None = None) -> list[ServerState]:
        answer = self.command("show servers state" + (f" {backend}" if backend else ""))
        if answer_failed(answer) and not answer.lstrip().startswith("1"):
            raise DriverError(f"haproxy: 'show servers state {backend or ''}' failed: {answer.strip()}")
        return parse_servers_state(answer)

    def members(self, backend: str) -> list[ServerState]:
        return self.servers_state(backend)

    def member(self, backend: str, name: str) -> ServerState | None:
        return next((s for s in self.servers_state(backend) if s.name == name), None)

    # ------------------------------------------------------------ changing membership
    def add_member(
        self,
        backend: str,
        name: str,
        addr: str,
        port: int,
        check: bool = True,
        inter: float = 2.0,
        fall: int = 2,
        rise: int = 1,
        sticky: bool = False,
    ) -> None:
        """Add a server and put it in service (health check enabled when ``check``). Idempotent.

        ``sticky``: the backend uses dynamic cookies, which HAProxy computes for servers added at
        run time only when asked again (``enable dynamic-cookie backend``).
        """
        existing = self.member(backend, name)
        if existing is not None and (existing.addr, existing.port) != (addr, port):
            self.remove_member(backend, name)
            existing = None
        if existing is None:
            options = f" check inter {lbconfig.duration(inter)} fall {fall} rise {rise}" if check else ""
            answer = self.command(f"add server {backend}/{name} {addr}:{port}{options}")
            if "registered" not in answer.lower():
                raise DriverError(f"haproxy: add server {backend}/{name} failed: {answer.strip()}")
        if check:
            self.execute(f"enable health {backend}/{name}")
        self.execute(f"set server {backend}/{name} state ready")
        if sticky:
            self.execute(f"enable dynamic-cookie backend {backend}")

    def drain_member(self, backend: str, name: str) -> None:
        """No new requests to the server; those running finish."""
        self.execute(f"set server {backend}/{name} state drain")

    def wait_drained(self, backend: str, name: str, timeout: float, poll: float = 0.25) -> bool:
        """Wait (bounded) until the server holds no session and no queued request."""
        deadline = self._clock() + timeout
        while True:
            row = next(
                (r for r in self.stat() if r.proxy == backend and r.name == name and r.type == "server"),
                None,
            )
            if row is None or (row.current_sessions == 0 and row.queued == 0):
                return True
            if self._clock() >= deadline:
                return False
            self._sleep(poll)

    def remove_member(
        self, backend: str, name: str, timeout: float = 10.0, poll: float = 0.2, wait: bool = True
    ) -> bool:
        """Maintenance, then delete (retried while its connections end and idle ones are purged).

        Requests still waiting on the server are redispatched by HAProxy once it is in maintenance;
        sessions still open after half of ``timeout`` are shut down. Without ``wait``, one attempt:
        the server stays in maintenance (taking no request) when it still has connections, and the
        result says whether it is gone.
        """
        if self.member(backend, name) is None:
            return True
        self.execute(f"set server {backend}/{name} state maint")
        start = self._clock()
        shut = False
        while True:
            answer = self.command(f"del server {backend}/{name}")
            if not answer_failed(answer) or self.member(backend, name) is None:
                return True
            if not wait:
                return False
            elapsed = self._clock() - start
            if elapsed >= timeout:
                raise DriverError(f"haproxy: del server {backend}/{name} failed: {answer.strip()}")
            if not shut and elapsed >= timeout / 2:
                self.command(f"shutdown sessions server {backend}/{name}")
                shut = True
            self._sleep(poll)


# --------------------------------------------------------------------------- the LB container


def container_name(lb: LbCluster) -> str:
    return f"stratos-lb-{lb.name}"


def socket_path(store: StateStore, lb_name: str) -> Path:
    return store.lb_dir(lb_name) / "run" / "admin.sock"


def runtime(store: StateStore, lb_name: str, **kwargs: Any) -> Runtime:
    """The runtime API client of an LB cluster's HAProxy, from the host's state directory."""
    return Runtime(socket_path(store, lb_name), **kwargs)


def lb_image(definitions: DefinitionSet | None = None) -> str:
    """The HAProxy image: the ``haproxy`` cartridge of the definitions, else the built-in one."""
    if definitions is not None and "haproxy" in definitions.cartridges:
        return definitions.cartridges["haproxy"].image_tag()
    import yaml

    data = yaml.safe_load(builtin.cartridge_file("haproxy").read_text())
    return Cartridge.model_validate(data).image_tag()


@dataclass(frozen=True)
class LbContainerSpec:
    """What the LB container must look like (its ``shape``) and the configuration it must run."""

    name: str
    lb_cluster: str
    image: str
    network: str
    ports: dict[str, tuple[str, int]]
    conf_dir: str
    run_dir: str
    config: str

    def shape(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "image": self.image,
            "network": self.network,
            "ports": {k: list(v) for k, v in sorted(self.ports.items())},
            "mounts": [f"{self.conf_dir}:{lbconfig.CONF_DIR}:ro", f"{self.run_dir}:{lbconfig.RUN_DIR}:rw"],
            "restart": "unless-stopped",
        }

    def shape_hash(self) -> str:
        return hashlib.sha256(json.dumps(self.shape(), sort_keys=True).encode()).hexdigest()

    def labels(self) -> dict[str, str]:
        return {
            dockerlib.ROLE: dockerlib.ROLE_LB,
            dockerlib.LB_CLUSTER: self.lb_cluster,
            dockerlib.CONFIG_HASH: self.shape_hash(),
        }


def desired_lb(
    lb: LbCluster,
    np: NetworkPartition,
    store: StateStore,
    checks: Mapping[int, str] | None = None,
    image: str | None = None,
) -> LbContainerSpec:
    """Pure: the LB container and configuration for an LB cluster."""
    ports = {f"{li.proxy_port}/tcp": (lb.bind_address, li.host_port()) for li in lb.listeners}
    if lb.stats.enabled:
        ports[f"{lb.stats.port}/tcp"] = (lb.stats.bind, lb.stats.port)
    lb_dir = store.lb_dir(lb.name)
    return LbContainerSpec(
        name=container_name(lb),
        lb_cluster=lb.name,
        image=image or lb_image(),
        network=np.network_name(),
        ports=ports,
        conf_dir=str(lb_dir),
        run_dir=str(lb_dir / "run"),
        config=lbconfig.render_config(lb, checks, stats_auth=read_stats_auth(lb)),
    )


Action = Literal["none", "create", "recreate", "start", "reload"]


@dataclass(frozen=True)
class LbChange:
    """What making the LB container match its spec does: ``action`` and why. The operations turn it
    into their :class:`~stratos.changes.Change` (this layer may not import them)."""

    name: str
    action: Action
    reasons: tuple[str, ...]
    before: dict[str, Any] | None
    after: dict[str, Any]

    @property
    def changed(self) -> bool:
        return self.action != "none"


def compare_lb(
    spec: LbContainerSpec,
    current_labels: Mapping[str, str] | None,
    current_status: str | None,
    current_config: str | None,
) -> LbChange:
    """Pure: the change that makes the observed container and configuration match ``spec``."""
    after = {**spec.shape(), "config_sha256": lbconfig.config_digest(spec.config), "state": "running"}
    if current_labels is None:
        return LbChange(spec.name, "create", ("the container does not exist",), None, after)
    before = {
        **spec.shape(),
        "config_hash": current_labels.get(dockerlib.CONFIG_HASH, ""),
        "config_sha256": lbconfig.config_digest(current_config or ""),
        "state": current_status or "unknown",
    }
    if (
        current_labels.get(dockerlib.ROLE) != dockerlib.ROLE_LB
        or current_labels.get(dockerlib.LB_CLUSTER) != spec.lb_cluster
    ):
        raise DriverError(
            f"haproxy: container '{spec.name}' exists but is not the load balancer of LB cluster "
            f"'{spec.lb_cluster}' (labels {dict(current_labels)}); remove it or rename the LB cluster"
        )
    if current_labels.get(dockerlib.CONFIG_HASH) != spec.shape_hash():
        return LbChange(
            spec.name, "recreate", ("image, network, published ports or mounts changed",), before, after
        )
    if current_status not in ("running", "restarting"):
        reasons = [f"the container is {current_status}"]
        if current_config != spec.config:
            reasons.append("configuration changed")
        return LbChange(spec.name, "start", tuple(reasons), before, after)
    if current_config != spec.config:
        return LbChange(spec.name, "reload", ("configuration changed (not its listeners)",), before, after)
    return LbChange(spec.name, "none", (), before, before)


def _get(client: docker.DockerClient, name: str) -> Container | None:
    return dockerlib.find_container(client, name, f"haproxy: cannot inspect container '{name}'")


def plan_lb_container(
    client: docker.DockerClient,
    lb: LbCluster,
    np: NetworkPartition,
    store: StateStore,
    *,
    definitions: DefinitionSet | None = None,
    image: str | None = None,
) -> tuple[LbContainerSpec, LbChange]:
    """What :func:`ensure_lb_container` would do (reads Docker and the state dir, changes nothing).

    ``definitions`` gives the health paths of the cartridges served behind the LB (and the haproxy
    cartridge's image); by default the state directory's definitions, when they form a valid set.
    """
    if definitions is None:
        definitions = _stored_definitions(store)
    checks = lbconfig.listener_checks(lb, definitions) if definitions is not None else {}
    spec = desired_lb(lb, np, store, checks, image or lb_image(definitions))
    container = _get(client, spec.name)
    config_path = Path(spec.conf_dir) / lbconfig.CONFIG_NAME
    current_config = config_path.read_text() if config_path.is_file() else None
    if container is None:
        return spec, compare_lb(spec, None, None, current_config)
    labels = dict((container.attrs.get("Config") or {}).get("Labels") or {})
    status = (container.attrs.get("State") or {}).get("Status", "unknown")
    return spec, compare_lb(spec, labels, status, current_config)


def _stored_definitions(store: StateStore) -> DefinitionSet | None:
    from stratos.errors import ValidationError

    try:
        return store.load()
    except (ValidationError, OSError):
        return None


def apply_lb_container(
    client: docker.DockerClient,
    spec: LbContainerSpec,
    change: LbChange,
    store: StateStore,
    wait: float = 30.0,
) -> None:
    """Carry ``change`` out, then wait (bounded) until the runtime API answers."""
    if change.action == "none":
        return
    conf_dir, run_dir = Path(spec.conf_dir), Path(spec.run_dir)
    conf_dir.mkdir(parents=True, exist_ok=True)
    run_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(run_dir, 0o711)  # the agent (another uid) reaches admin.sock; it cannot list the directory
    if not (run_dir / "server-state").exists():
        atomic_write_text(run_dir / "server-state", "1\n", SECRET)
    rt = Runtime(run_dir / "admin.sock")
    with dockerlib.docker_errors(f"haproxy: {change.action} of container '{spec.name}'"):
        container = _get(client, spec.name)
        # HAProxy itself checks the new configuration before it replaces the one on disk (which a
        # running, restarting or recreated container reads): a refused one changes nothing.
        if change.action == "reload" and container is not None:
            _check_config(container, conf_dir, spec.config)
            atomic_write_text(conf_dir / lbconfig.CONFIG_NAME, spec.config, SECRET)
            reload(container, rt, run_dir)
        else:
            check_config_in_image(client, spec.image, conf_dir, spec.config)
            atomic_write_text(conf_dir / lbconfig.CONFIG_NAME, spec.config, SECRET)
            if change.action == "start" and container is not None:
                container.start()
            else:
                if container is not None:
                    container.remove(force=True)
                _create(client, spec)
    _wait_available(rt, wait, f"haproxy of LB cluster '{spec.lb_cluster}'")


def _require_image(client: docker.DockerClient, image: str) -> None:
    """Raise ``NotFoundError`` when the LB image is not on this Docker host.

    Both creating the LB container and checking a configuration in a throw-away one need the image,
    and say the same thing when it is missing: build the haproxy cartridge image first.
    """
    import docker as docker_sdk

    try:
        client.images.get(image)
    except docker_sdk.errors.ImageNotFound as exc:
        raise NotFoundError(
            f"haproxy: image {image} does not exist on this Docker host; build the haproxy "
            "cartridge image first"
        ) from exc


def _create(client: docker.DockerClient, spec: LbContainerSpec) -> None:
    import docker as docker_sdk

    _require_image(client, spec.image)
    try:
        client.networks.get(spec.network)
    except docker_sdk.errors.NotFound as exc:
        raise NotFoundError(
            f"haproxy: Docker network '{spec.network}' does not exist; apply the network partition first"
        ) from exc
    client.containers.run(
        spec.image,
        name=spec.name,
        detach=True,
        network=spec.network,
        ports={key: value for key, value in spec.ports.items()},
        volumes=spec.shape()["mounts"],
        restart_policy={"Name": "unless-stopped"},
        labels=spec.labels(),
        hostname=spec.name,
    )


def _check_config(container: Container, conf_dir: Path, config: str) -> None:
    """Refuse a configuration HAProxy itself refuses, before it replaces the running one."""
    candidate = conf_dir / f".{lbconfig.CONFIG_NAME}.candidate"
    atomic_write_text(candidate, config, SECRET)
    try:
        code, output = container.exec_run(["haproxy", "-c", "-f", f"{lbconfig.CONF_DIR}/{candidate.name}"])
    finally:
        candidate.unlink(missing_ok=True)
    if code != 0:
        text = output.decode(errors="replace") if isinstance(output, bytes) else str(output)
        raise DriverError(f"haproxy: the new configuration is invalid: {_alerts(text)}")


def _alerts(output: str) -> str:
    """HAProxy's answer to ``-c`` without its [NOTICE] lines (version, path), at most 2000 characters."""
    lines = [line for line in output.strip().splitlines() if "[NOTICE]" not in line]
    return "\n".join(lines)[-2000:]


def check_config_in_image(client: docker.DockerClient, image: str, conf_dir: Path, config: str) -> None:
    """``haproxy -c`` of ``config`` in a throw-away container of the LB image (no network).

    For a load balancer that is not running (created, recreated or started): the check runs the
    HAProxy that will read the file. Raises ``DriverError`` with HAProxy's message when refused,
    ``NotFoundError`` when the image is missing; the configuration on disk is left as it was.
    """
    import uuid

    import docker as docker_sdk

    _require_image(client, image)
    conf_dir.mkdir(parents=True, exist_ok=True)
    candidate = conf_dir / f".{lbconfig.CONFIG_NAME}.candidate"
    atomic_write_text(candidate, config, SECRET)
    try:
        client.containers.run(
            image,
            entrypoint=["haproxy"],
            command=["-c", "-f", f"{lbconfig.CONF_DIR}/{candidate.name}"],
            volumes=[f"{conf_dir}:{lbconfig.CONF_DIR}:ro"],
            network_mode="none",
            name=f"stratos-check-{uuid.uuid4().hex[:12]}",
            remove=True,
            stdout=True,
            stderr=True,
        )
    except docker_sdk.errors.ContainerError as exc:
        stderr = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else str(exc.stderr)
        raise DriverError(f"haproxy: the new configuration is invalid: {_alerts(stderr)}") from None
    finally:
        candidate.unlink(missing_ok=True)


def reload(container: Container, rt: Runtime, run_dir: Path) -> None:
    """Reload the master-worker HAProxy (SIGUSR2 to the master, PID 1 of the container).

    The server state is saved first so that servers of the configuration keep their state; servers
    added at run time are not restored by HAProxy (the agent adds them again).
    """
    try:
        state = rt.command("show servers state")
        atomic_write_text(run_dir / "server-state", _static_servers_only(state), SECRET)
    except DriverError:
        pass
    container.kill(signal="SIGUSR2")


def _static_servers_only(state: str) -> str:
    # Our configuration has no server: an empty version-1 state file (dynamic servers are the agent's).
    lines = state.splitlines()
    return "\n".join(line for line in lines[:2] if line.strip()) + "\n" if lines else "1\n"


def _wait_available(rt: Runtime, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not rt.available():
        if time.monotonic() >= deadline:
            raise DriverError(f"{what}: the runtime API {rt.socket_path} did not answer within {timeout:g}s")
        time.sleep(0.2)


def ensure_lb_container(
    client: docker.DockerClient,
    lb: LbCluster,
    np: NetworkPartition,
    store: StateStore,
    *,
    definitions: DefinitionSet | None = None,
    image: str | None = None,
    check_mode: bool = False,
    wait: float = 30.0,
) -> LbChange:
    """Make the LB container of ``lb`` match its definition (idempotent); the IaC front ends call this.

    Create or recreate when image, network, published ports or mounts changed; reload (SIGUSR2,
    after ``haproxy -c``) when only the configuration changed; otherwise nothing.
    """
    spec, change = plan_lb_container(client, lb, np, store, definitions=definitions, image=image)
    if not check_mode:
        apply_lb_container(client, spec, change, store, wait)
    return change


def remove_lb_container(client: docker.DockerClient, lb_name: str, check_mode: bool = False) -> bool:
    """Remove the LB container of ``lb_name`` (its state directory stays). Returns whether it existed."""
    name = f"stratos-lb-{lb_name}"
    container = _get(client, name)
    if container is None:
        return False
    labels = (container.attrs.get("Config") or {}).get("Labels") or {}
    if labels.get(dockerlib.LB_CLUSTER) != lb_name:
        raise DriverError(f"haproxy: container '{name}' is not the load balancer of LB cluster '{lb_name}'")
    if not check_mode:
        with dockerlib.docker_errors(f"haproxy: removing container '{name}'"):
            container.remove(force=True)
    return True
