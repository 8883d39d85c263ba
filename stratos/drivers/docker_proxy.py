"""The Docker API allow-list in front of the engine's socket: HAProxy (the haproxy cartridge's image)
configured as a Docker socket proxy, the way the docker-socket-proxy project does it.

The agent never sees ``/var/run/docker.sock``: it gets a directory holding the proxy's socket
(``docker.sock``, mode 0660, owned by the agent's uid). The proxy forwards to the engine only the
methods and paths the agent calls (:data:`RULES`) and answers every other request 403; container and
volume create bodies are read whole and refused when they ask for what no member needs
(:data:`BODY_CHECKS`: privileged, host namespaces, added capabilities, devices, bind mounts outside the
state directory, driver options that bind a host path). The body checks are regular expressions over
JSON, so they are a second line, not a parser: :file:`docs/security.md` says what they cannot stop.

The proxy container runs HAProxy as root (the engine's socket is root's) with every capability dropped
but ``CHOWN`` (to give its socket to the agent's uid), no network, a read-only root file system and
``no-new-privileges``; its configuration travels in an environment variable (it holds no secret), so
the container needs no file of its own on the host (base64, so that it stays one line). :func:`desired` is what the agent driver, the
Pulumi component and cloud-init all start it from.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

import jinja2

from stratos.drivers import docker as labels
from stratos.errors import StratosError

ROLE = labels.ROLE_DOCKER_PROXY
#: The directory inside the proxy container that holds its socket (bind-mounted from the host).
LISTEN_DIR = "/run/stratos-docker"
SOCKET_NAME = "docker.sock"
CONFIG_ENV = "STRATOS_DOCKER_PROXY_CONFIG"
CONFIG_PATH = "/tmp/haproxy.cfg"
#: Largest create body (bytes) the proxy reads; the agent's are a few KiB.
MAX_BODY = 262144
BUFSIZE = 2 * MAX_BODY
MAXCONN = 64
#: Long enough for ``GET /events`` and ``POST /containers/{id}/stop?t=…``.
STREAM_TIMEOUT = "1h"

_V = r"^(/v[0-9]+\.[0-9]+)?"
_NAME = r"[a-zA-Z0-9][a-zA-Z0-9_.-]*"
#: An image reference in a path: registry host[:port]/path[:tag][@digest], as the SDK quotes it.
_IMAGE = r"[a-zA-Z0-9][a-zA-Z0-9_.:/@-]*"


@dataclass(frozen=True)
class Rule:
    """One allowed call: HTTP methods and a path regular expression (version prefix included)."""

    methods: tuple[str, ...]
    pattern: str
    why: str


def _rule(methods: str, path: str, why: str) -> Rule:
    return Rule(tuple(methods.split()), f"{_V}{path}$", why)


#: What the agent calls (grep of the agent and its drivers for docker SDK calls), nothing else.
RULES: tuple[Rule, ...] = (
    _rule("GET HEAD", "/_ping", "the SDK's ping"),
    _rule("GET", "/version", "API version negotiation"),
    _rule("GET", "/events", "reacting to members that die"),
    _rule("GET", "/containers/json", "listing members"),
    _rule("POST", "/containers/create", "starting a member (body checked)"),
    _rule("GET", f"/containers/{_NAME}/json", "inspecting a member"),
    _rule("GET", f"/containers/{_NAME}/stats", "a member's CPU and memory"),
    _rule("POST", f"/containers/{_NAME}/(start|stop|kill|wait)", "starting and stopping members"),
    _rule("DELETE", f"/containers/{_NAME}", "removing a member"),
    _rule("GET", f"/images/{_IMAGE}/json", "does a member's image exist"),
    _rule("GET", "/volumes", "listing members' data volumes"),
    _rule("POST", "/volumes/create", "a member's data volume (body checked)"),
    _rule("GET DELETE", f"/volumes/{_NAME}", "inspecting and removing a data volume"),
    _rule("GET", "/networks", "listing partition networks"),
    _rule("GET", f"/networks/{_NAME}", "inspecting a partition network"),
)


@dataclass(frozen=True)
class BodyCheck:
    what: str
    path: str
    reason: str
    pattern: str


_CREATE = f"{_V}/containers/create$"
_VOLUME = f"{_V}/volumes/create$"


def _container_create(reason: str, pattern: str) -> BodyCheck:
    return BodyCheck("container create", _CREATE, reason, pattern)


def _volume_create(reason: str, pattern: str) -> BodyCheck:
    return BodyCheck("volume create", _VOLUME, reason, pattern)


def body_checks(state_dir: str) -> tuple[BodyCheck, ...]:
    """Refusals of create bodies (case-insensitive: the engine matches JSON keys so)."""
    # An opening quote is the first thing in the array or follows a comma.
    state = re.escape(state_dir.rstrip("/") + "/")
    return (
        # JSON may spell any ASCII character as \\u00XX and '/' as \\/: the engine would decode them,
        # the patterns below would not see them. json.dumps never writes either.
        BodyCheck("create", _CREATE, "escaped ASCII in the body", r"\\(u00[2-7][0-9a-f]|/)"),
        BodyCheck("create", _VOLUME, "escaped ASCII in the body", r"\\(u00[2-7][0-9a-f]|/)"),
        _container_create("privileged", r'"privileged"\s*:\s*true'),
        _container_create(
            "host or shared namespace",
            r'"(pidmode|ipcmode|utsmode|usernsmode|cgroupnsmode|networkmode)"\s*:\s*"(host|container:)',
        ),
        _container_create("added capabilities", r'"capadd"\s*:\s*\[\s*[^\]\s]'),
        _container_create(
            "devices",
            r'"(devices|devicerequests|devicecgrouprules)"\s*:\s*\[\s*[^\]\s]',
        ),
        _container_create(
            "security options other than no-new-privileges",
            r'"securityopt"\s*:\s*\[([^\]]*,)?\s*"(?!no-new-privileges(:true)?")',
        ),
        _container_create("mounts (use binds)", r'"mounts"\s*:\s*\[\s*[^\]\s]'),
        _container_create("volumes-from", r'"volumesfrom"\s*:\s*\[\s*[^\]\s]'),
        _container_create(
            "a bind mount outside the state directory",
            rf'"binds"\s*:\s*\[([^\]]*,)?\s*"((?!{state})/|[^"]*\.\.)',
        ),
        _volume_create("driver options", r'"driveropts"\s*:\s*\{\s*"'),
        _volume_create("a volume driver", r'"driver"\s*:\s*"(?!local")'),
    )


@dataclass(frozen=True)
class ProxySpec:
    """The proxy container.

    - ``name``: its container name (the agent's name + ``-docker-proxy``);
    - ``image``: an image with HAProxy 2.6 (the haproxy cartridge's);
    - ``docker_socket``: the engine's socket on the host;
    - ``socket_dir``: the host directory where the proxy's socket appears (only the agent mounts it);
    - ``state_dir``: the only host tree members may bind-mount from;
    - ``uid``/``gid``: who owns the proxy's socket (the agent).
    """

    name: str
    image: str
    docker_socket: str
    socket_dir: str
    state_dir: str
    uid: int
    gid: int

    def __post_init__(self) -> None:
        problems = []
        for field_name in ("docker_socket", "socket_dir", "state_dir"):
            value = getattr(self, field_name)
            if not value.startswith("/") or any(c in value for c in "'\"\\\n\r\t "):
                problems.append(
                    f"{field_name} ({value!r}): must be an absolute path without quotes, backslashes or blanks"
                )
        if self.socket_dir.rstrip("/") == self.state_dir.rstrip("/"):
            problems.append(f"socket_dir ({self.socket_dir!r}): must not be the state directory")
        for field_name in ("uid", "gid"):
            if not 0 < getattr(self, field_name) < 2**31:
                problems.append(f"{field_name} ({getattr(self, field_name)!r}): must be between 1 and 2^31-1")
        if problems:
            raise StratosError("docker proxy: " + "; ".join(problems))


def render_config(spec: ProxySpec) -> str:
    """The proxy's haproxy.cfg (pure)."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("stratos", "templates"),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # noqa: S701 - an HAProxy configuration, not HTML
    )
    return env.get_template("docker-proxy.cfg.j2").render(
        listen=f"{LISTEN_DIR}/{SOCKET_NAME}",
        engine=spec.docker_socket,
        uid=spec.uid,
        gid=spec.gid,
        rules=RULES,
        body_checks=body_checks(spec.state_dir),
        max_body=MAX_BODY,
        bufsize=BUFSIZE,
        maxconn=MAXCONN,
        stream_timeout=STREAM_TIMEOUT,
    )


#: Writes the configuration from the environment (base64: one line, so that a systemd unit or a
#: ``docker run`` command line carries it too) to the tmpfs, checks it, and runs HAProxy.
ENTRYPOINT = [
    "/bin/sh",
    "-c",
    f'printf "%s" "${CONFIG_ENV}" | base64 -d > {CONFIG_PATH} && haproxy -c -q -f {CONFIG_PATH} '
    f"&& exec haproxy -db -f {CONFIG_PATH}",
]


def desired(spec: ProxySpec) -> dict[str, Any]:
    """The proxy container as a plain summary (every front end starts it from this)."""
    return {
        "name": spec.name,
        "image": spec.image,
        "entrypoint": list(ENTRYPOINT),
        "user": "0:0",
        # HAProxy as PID 1 ignores SIGTERM (docker stop would wait for its timeout): an init forwards it.
        "init": True,
        "network_mode": "none",
        "read_only": True,
        "tmpfs": {"/tmp": "rw,noexec,nosuid,size=1m"},
        "cap_drop": ["ALL"],
        "cap_add": ["CHOWN", "FOWNER"],
        "security_opt": ["no-new-privileges"],
        "mounts": sorted(
            [f"{spec.docker_socket}:{spec.docker_socket}:rw", f"{spec.socket_dir}:{LISTEN_DIR}:rw"]
        ),
        "environment": {CONFIG_ENV: base64.b64encode(render_config(spec).encode()).decode()},
    }


def config_hash(spec: ProxySpec) -> str:
    return hashlib.sha256(json.dumps(desired(spec), sort_keys=True).encode()).hexdigest()


def run_kwargs(spec: ProxySpec) -> dict[str, Any]:
    """Keyword arguments of ``client.containers.run`` for the proxy (labels added by the caller)."""
    want = desired(spec)
    return {
        "entrypoint": want["entrypoint"],
        "command": [],
        "name": spec.name,
        "user": want["user"],
        "init": want["init"],
        "network_mode": want["network_mode"],
        "read_only": want["read_only"],
        "tmpfs": want["tmpfs"],
        "cap_drop": want["cap_drop"],
        "cap_add": want["cap_add"],
        "security_opt": want["security_opt"],
        "volumes": want["mounts"],
        "environment": want["environment"],
        "detach": True,
    }
