"""The resident agent as a Docker container on a managed host.

The agent container is static infrastructure (its lifetime is the stack's), so the IaC front ends
own it: the ``stratos.paas.agent`` module and the autoscaler role, and the Pulumi components.

Three steps, as for images:

- :func:`desired` (pure) turns an :class:`AgentSpec` into the summary the container must match;
  its sha256 is the ``org.stratos.config-hash`` label;
- :func:`plan_agent` / :func:`plan_agent_removal` (read Docker, change nothing; what Ansible check
  mode runs) compare it with the container that holds the name and return an :class:`AgentChange`
  whose ``before``/``after`` feed ``changed`` and ``--diff``;
- :func:`apply_agent` carries a change out. :func:`ensure_agent` and :func:`remove_agent` do both.

The container runs ``<image> agent --state-dir <dir> --interval <s>`` (the image's entrypoint is the
``stratos`` CLI) with restart policy ``unless-stopped``, the Docker socket mounted, the state
directory bind-mounted at the same path (so paths in definitions and status files mean the same
inside and out) and the host's network (so it reaches members' addresses on every partition
network and HAProxy's loopback-bound ports). The Docker client is always passed in.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from importlib import metadata
from typing import TYPE_CHECKING, Any, Literal

import yaml

from stratos import settings
from stratos.errors import DriverError, NotFoundError, StratosError

if TYPE_CHECKING:
    import docker
    from docker.models.containers import Container

ROLE_LABEL = "org.stratos.role"
CONFIG_HASH_LABEL = "org.stratos.config-hash"
#: The summary the container was made from (canonical JSON), so ``--diff`` shows what was asked for.
CONFIG_LABEL = "org.stratos.config"
AGENT_ROLE = "agent"

DEFAULT_NAME = "stratos-agent"
DEFAULT_INTERVAL = 5.0
DEFAULT_RESTART = "unless-stopped"
DOCKER_SOCKET = "/var/run/docker.sock"
RESTART_POLICIES = ("no", "on-failure", "always", "unless-stopped")

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
    """

    name: str = DEFAULT_NAME
    image: str | None = None
    state_dir: str = settings.DEFAULT_STATE_DIR
    interval: float = DEFAULT_INTERVAL
    restart: str = DEFAULT_RESTART
    docker_socket: str = DOCKER_SOCKET
    environment: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        problems = []
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

    def command(self) -> list[str]:
        return ["agent", "--state-dir", self.state_dir, "--interval", _number(self.interval)]


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def desired(spec: AgentSpec) -> dict[str, Any]:
    """The container's configuration as a plain, ordered summary (what ``--diff`` shows)."""
    return {
        "name": spec.name,
        "image": spec.image_ref,
        "command": spec.command(),
        "restart": spec.restart,
        "network_mode": "host",
        "mounts": sorted(
            [f"{spec.docker_socket}:{spec.docker_socket}:rw", f"{spec.state_dir}:{spec.state_dir}:rw"]
        ),
        "environment": {"STRATOS_STATE_DIR": spec.state_dir, **dict(sorted(spec.environment.items()))},
    }


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


@dataclass(frozen=True)
class AgentChange:
    """What making the agent container match a spec (or removing it) does, and why."""

    name: str
    action: Action
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    reasons: tuple[str, ...] = ()
    #: False when a container is to be made from an image that does not exist (it would fail).
    image_present: bool = True

    @property
    def changed(self) -> bool:
        return self.action != "none"

    def diff(self) -> dict[str, str]:
        """Ansible's diff format: the container's summary before and after, as YAML text."""

        def text(summary: dict[str, Any] | None) -> str:
            return (
                "" if summary is None else yaml.safe_dump(summary, sort_keys=False, default_flow_style=False)
            )

        label = f"container/{self.name}"
        return {
            "before": text(self.before),
            "after": text(self.after),
            "before_header": label if self.before is not None else "(absent)",
            "after_header": label if self.after is not None else "(absent)",
        }


def compare(spec: AgentSpec, current: Observed | None, image_id: str | None) -> AgentChange:
    """Pure: the change that turns ``current`` into the container ``spec`` describes.

    ``image_id`` is the id the spec's image reference resolves to now (``None`` when the image is
    missing); a container made from an older build of the same tag is recreated.
    """
    want = desired(spec)
    after = {**want, "state": "running", "config_hash": config_hash(spec)}
    if current is None:
        return AgentChange(
            spec.name,
            "create",
            None,
            after,
            ("the container does not exist",),
            image_present=image_id is not None,
        )
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
        return AgentChange(
            spec.name, "recreate", before, after, tuple(reasons), image_present=image_id is not None
        )
    if not current.running:
        return AgentChange(spec.name, "start", before, after, (f"the container is {current.status}",))
    return AgentChange(spec.name, "none", before, before)


def compare_removal(current: Observed | None, name: str) -> AgentChange:
    """Pure: the change that removes the agent container ``name``."""
    if current is None:
        return AgentChange(name, "none", None, None)
    _refuse_foreign(current)
    return AgentChange(name, "remove", _before(current), None, ("state is absent",))


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
        "mounts": sorted(host.get("Binds") or []),
        "environment": {key: env[key] for key in sorted(env) if key.startswith("STRATOS_")},
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
    import docker as docker_sdk

    try:
        return client.containers.get(name)
    except docker_sdk.errors.NotFound:
        return None
    except docker_sdk.errors.APIError as exc:
        raise DriverError(f"agent: cannot inspect container '{name}': {exc.explanation or exc}") from exc


def _image_id(client: docker.DockerClient, ref: str) -> str | None:
    import docker as docker_sdk

    try:
        return str(client.images.get(ref).id)
    except docker_sdk.errors.ImageNotFound:
        return None
    except docker_sdk.errors.APIError as exc:
        raise DriverError(f"agent: cannot inspect image {ref}: {exc.explanation or exc}") from exc


def plan_agent(client: docker.DockerClient, spec: AgentSpec) -> AgentChange:
    """What :func:`ensure_agent` would do; reads Docker, changes nothing."""
    container = _get_container(client, spec.name)
    current = observe(container) if container is not None else None
    return compare(spec, current, _image_id(client, spec.image_ref))


def plan_agent_removal(client: docker.DockerClient, name: str = DEFAULT_NAME) -> AgentChange:
    """What :func:`remove_agent` would do; reads Docker, changes nothing."""
    container = _get_container(client, name)
    return compare_removal(observe(container) if container is not None else None, name)


# --------------------------------------------------------------------------- changing Docker


def apply_agent(client: docker.DockerClient, change: AgentChange, spec: AgentSpec | None = None) -> None:
    """Carry ``change`` out. ``spec`` is required unless the change is a removal or nothing."""
    import docker as docker_sdk

    if change.action == "none":
        return
    try:
        if change.action in ("recreate", "remove"):
            container = _get_container(client, change.name)
            if container is not None:
                container.stop(timeout=STOP_TIMEOUT)
                container.remove(force=True)
        if change.action == "start":
            container = _get_container(client, change.name)
            if container is None:
                raise DriverError(f"agent: container '{change.name}' disappeared while being started")
            container.start()
        if change.action in ("create", "recreate"):
            if spec is None:
                raise ValueError("apply_agent: a spec is required to create the agent container")
            _create(client, spec)
    except docker_sdk.errors.APIError as exc:
        raise DriverError(
            f"agent: {change.action} of container '{change.name}' failed: {exc.explanation or exc}"
        ) from exc


def _create(client: docker.DockerClient, spec: AgentSpec) -> None:
    if _image_id(client, spec.image_ref) is None:
        raise NotFoundError(
            f"agent: image {spec.image_ref} does not exist on this Docker host; build it "
            "(images/build-agent-image.sh in the Stratos sources) or set the image"
        )
    want = desired(spec)
    client.containers.run(
        spec.image_ref,
        command=want["command"],
        name=spec.name,
        detach=True,
        restart_policy={"Name": spec.restart} if spec.restart != "no" else None,
        network_mode="host",
        volumes=want["mounts"],
        environment=want["environment"],
        labels={ROLE_LABEL: AGENT_ROLE, CONFIG_HASH_LABEL: config_hash(spec), CONFIG_LABEL: _canonical(spec)},
    )


def ensure_agent(client: docker.DockerClient, spec: AgentSpec) -> AgentChange:
    """Make the agent container match ``spec``: create, recreate, start, or leave it alone."""
    change = plan_agent(client, spec)
    apply_agent(client, change, spec)
    return change


def remove_agent(client: docker.DockerClient, name: str = DEFAULT_NAME) -> AgentChange:
    """Stop and remove the agent container ``name`` (the state directory stays)."""
    change = plan_agent_removal(client, name)
    apply_agent(client, change)
    return change
