"""The definition model: the six kinds a DevOps user writes.

Native format: YAML, snake_case, one resource per document, ``kind:`` + ``name:`` + fields.
Concepts follow Apache Stratos 4.1. Field-level rules live here (types, ranges, DNS labels);
rules that need several definitions at once live in :mod:`stratos.validation`.
"""

from __future__ import annotations

import re
from ipaddress import IPv4Network
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

_DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_MEMORY = re.compile(r"^[0-9]+(\.[0-9]+)?[kmgKMG]?$")
_ENDPOINT = re.compile(r"^(unix:///.+|tcp://[^/]+|ssh://[^/]+.*)$")
_COMMIT = re.compile(r"^[0-9a-f]{7,40}$")


def _dns_label(value: str) -> str:
    if not _DNS_LABEL.match(value):
        raise ValueError("must be a DNS label (lowercase letters, digits and '-', 1-63 characters)")
    return value


def _memory(value: str) -> str:
    if not _MEMORY.match(value):
        raise ValueError("must be a size such as 256m or 1g")
    return value


def _endpoint(value: str) -> str:
    if not _ENDPOINT.match(value):
        raise ValueError("must be a Docker endpoint: unix:///path, tcp://host:port or ssh://user@host")
    return value


def _absolute(value: str) -> str:
    if not value.startswith("/"):
        raise ValueError("must be an absolute path")
    return value


Name = Annotated[str, AfterValidator(_dns_label)]
Port = Annotated[int, Field(ge=1, le=65535)]
Percent = Annotated[float, Field(gt=0, le=100)]
Positive = Annotated[float, Field(gt=0)]
AbsPath = Annotated[str, AfterValidator(_absolute)]


class Spec(BaseModel):
    """Base of every model: unknown fields are errors."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


# --------------------------------------------------------------------------- cartridge


class FileSpec(Spec):
    """A file placed in the image: from ``src`` (relative to the definition) or inline ``content``."""

    path: AbsPath
    src: str | None = None
    content: str | None = None
    mode: Annotated[str, Field(pattern=r"^0?[0-7]{3,4}$")] = "0644"

    @model_validator(mode="after")
    def _one_source(self) -> FileSpec:
        if (self.src is None) == (self.content is None):
            raise ValueError("exactly one of 'src' or 'content' must be set")
        return self


class ImageBuild(Spec):
    """How to build a cartridge image from a Debian base."""

    base: str | None = None
    packages: list[str] = []
    files: list[FileSpec] = []
    run: list[str] = []
    command: list[str] = []
    entrypoint: list[str] | None = None
    workdir: str | None = None
    env: dict[str, str] = {}
    expose: list[Port] = []
    tag: str | None = None


class ImageSpec(Spec):
    """A ready image reference, or a build."""

    ref: str | None = None
    build: ImageBuild | None = None

    @model_validator(mode="after")
    def _one_way(self) -> ImageSpec:
        if (self.ref is None) == (self.build is None):
            raise ValueError("exactly one of 'ref' or 'build' must be set")
        return self


class CartridgePort(Spec):
    name: Name
    protocol: Literal["http", "tcp"] = "http"
    port: Port
    proxy_port: Port | None = None


class HealthCheck(Spec):
    """An http path or a tcp connect on the first port. Times are seconds."""

    http: str | None = None
    tcp: bool = False
    port: Port | None = None
    interval: Positive = 5
    timeout: Positive = 3
    retries: Annotated[int, Field(ge=1)] = 3
    start_period: Annotated[float, Field(ge=0)] = 10

    @model_validator(mode="after")
    def _one_kind(self) -> HealthCheck:
        if bool(self.http) == bool(self.tcp):
            raise ValueError("exactly one of 'http' (a path) or 'tcp: true' must be set")
        return self


class Volume(Spec):
    name: Name
    mount_path: AbsPath
    keep_on_termination: bool = True


class Persistence(Spec):
    volumes: list[Volume] = []


class Limits(Spec):
    cpus: Positive | None = None
    memory: Annotated[str, AfterValidator(_memory)] | None = None


class Cartridge(Spec):
    """A runtime image and how members made from it behave."""

    kind: Literal["Cartridge"] = "Cartridge"
    name: Name
    display_name: str | None = None
    description: str = ""
    version: str = "1.0"
    category: Literal["framework", "data", "load-balancer"] = "framework"
    image: ImageSpec
    ports: list[CartridgePort] = []
    health_check: HealthCheck | None = None
    environment: dict[str, str] = {}
    deployment_dir: AbsPath | None = None
    persistence: Persistence = Persistence()
    limits: Limits = Limits()
    secrets: list[Name] = []
    exports: dict[str, str] = {}
    reload: Literal["none", "restart"] = "none"
    scales: bool = False

    def image_tag(self) -> str:
        if self.image.ref:
            return self.image.ref
        assert self.image.build is not None
        return self.image.build.tag or f"stratos/cartridge-{self.name}:{self.version}"


# --------------------------------------------------------------------------- network partition


class Partition(Spec):
    name: Name
    endpoint: Annotated[str, AfterValidator(_endpoint)] = "unix:///var/run/docker.sock"
    region: str | None = None
    zone: str | None = None


class NetworkSpec(Spec):
    """The network members and the load balancer of a network partition share."""

    name: Name | None = None
    subnet: IPv4Network | None = None


class OpenStackSpec(Spec):
    """Settings for an OpenStack network partition (used by the Pulumi front end)."""

    flavor: str = "m1.small"
    image: str = "debian-12"
    key_pair: str | None = None
    external_network: str = "public"
    hosts: Annotated[int, Field(ge=1)] = 1
    admin_cidr: str = "0.0.0.0/0"


class NetworkPartition(Spec):
    kind: Literal["NetworkPartition"] = "NetworkPartition"
    name: Name
    provider: Literal["docker", "openstack"] = "docker"
    partitions: Annotated[list[Partition], Field(min_length=1)]
    network: NetworkSpec = NetworkSpec()
    openstack: OpenStackSpec | None = None

    def network_name(self) -> str:
        return self.network.name or f"stratos-{self.name}"


# --------------------------------------------------------------------------- deployment policy


class PartitionRef(Spec):
    name: Name
    max: Annotated[int, Field(ge=1)] = 1


class NetworkPartitionRef(Spec):
    name: Name
    algorithm: Literal["round-robin", "one-after-another"] = "round-robin"
    partitions: Annotated[list[PartitionRef], Field(min_length=1)]


class DeploymentPolicy(Spec):
    kind: Literal["DeploymentPolicy"] = "DeploymentPolicy"
    name: Name
    network_partitions: Annotated[list[NetworkPartitionRef], Field(min_length=1)]

    def capacity(self) -> int:
        return sum(p.max for np in self.network_partitions for p in np.partitions)


# --------------------------------------------------------------------------- autoscaling policy


class Thresholds(Spec):
    """Targets per member. At least one must be set."""

    requests_in_flight: Positive | None = None
    memory_consumption: Percent | None = None
    load_average: Percent | None = None

    @model_validator(mode="after")
    def _at_least_one(self) -> Thresholds:
        if self.requests_in_flight is None and self.memory_consumption is None and self.load_average is None:
            raise ValueError(
                "at least one of 'requests_in_flight', 'memory_consumption', 'load_average' must be set"
            )
        return self


class Behaviour(Spec):
    """How the agent turns measurements into member counts. Times are seconds.

    - evaluation_interval: how often metrics are sampled and a decision is taken.
    - prediction_horizon: how far ahead the load is predicted; about the time a new member
      takes to become healthy.
    - smoothing_window: how many samples the smoothing and the derivative fit look at (default 40:
      10 minutes at the default interval; the curvature term needs at least 5; see
      bench/results/policy_quality.txt for the trade-off).
    - tolerance: relative band around 1.0 in which no scaling happens.
    - scale_up_stabilisation / scale_down_stabilisation: the highest (for down: lowest change)
      recommendation over this window is used; scale-down waits this long.
    - max_step: at most this many members are added in one decision.
    """

    evaluation_interval: Positive = 15
    prediction_horizon: Annotated[float, Field(ge=0)] = 60
    smoothing_window: Annotated[int, Field(ge=2, le=100)] = 40
    tolerance: Annotated[float, Field(ge=0, lt=1)] = 0.1
    scale_up_stabilisation: Annotated[float, Field(ge=0)] = 0
    scale_down_stabilisation: Annotated[float, Field(ge=0)] = 300
    max_step: Annotated[int, Field(ge=1)] = 4


class AutoscalingPolicy(Spec):
    kind: Literal["AutoscalingPolicy"] = "AutoscalingPolicy"
    name: Name
    thresholds: Thresholds
    behaviour: Behaviour = Behaviour()


# --------------------------------------------------------------------------- LB cluster


class Listener(Spec):
    """``proxy_port`` on the load balancer forwards to ``port`` on the members.

    ``publish`` is the host port the LB container publishes it on (default: ``proxy_port``).
    """

    proxy_port: Port
    port: Port
    protocol: Literal["http", "tcp"] = "http"
    publish: Port | None = None

    def host_port(self) -> int:
        return self.publish or self.proxy_port


class LbHealthCheck(Spec):
    enabled: bool = True
    interval: Positive = 2
    fall: Annotated[int, Field(ge=1)] = 2
    rise: Annotated[int, Field(ge=1)] = 1


class Sticky(Spec):
    enabled: bool = False
    cookie: str = "STRATOSID"


def _loopback(value: str) -> str:
    import ipaddress

    try:
        if ipaddress.ip_address(value).is_loopback:
            return value
    except ValueError:
        pass
    raise ValueError(
        "must be a loopback address (127.0.0.0/8 or ::1): the statistics page is for the host only"
    )


class Stats(Spec):
    """HAProxy's statistics page: off unless ``enabled``; then behind HTTP basic authentication with
    the ``user:password`` line of ``credentials_file`` (mode 0600) and published on a loopback
    address of the host only."""

    enabled: bool = False
    port: Port = 8404
    bind: Annotated[str, AfterValidator(_loopback)] = "127.0.0.1"
    credentials_file: AbsPath | None = None

    @model_validator(mode="after")
    def _protected(self) -> Stats:
        if self.enabled and self.credentials_file is None:
            raise ValueError(
                "an enabled statistics page needs 'credentials_file' (a 0600 file holding user:password)"
            )
        return self


class LbCluster(Spec):
    kind: Literal["LbCluster"] = "LbCluster"
    name: Name
    network_partition: Name
    type: Literal["haproxy"] = "haproxy"
    algorithm: Literal["roundrobin", "leastconn", "source"] = "roundrobin"
    listeners: Annotated[list[Listener], Field(min_length=1)]
    health_check: LbHealthCheck = LbHealthCheck()
    sticky: Sticky = Sticky()
    stats: Stats = Stats()
    retries: Annotated[int, Field(ge=0)] = 3
    bind_address: str = "0.0.0.0"


# --------------------------------------------------------------------------- application


class Credentials(Spec):
    """References to secrets, never the secrets themselves."""

    username: str | None = None
    token_file: AbsPath | None = None
    ssh_key_file: AbsPath | None = None
    webhook_secret_file: AbsPath | None = None


def _commit_id(value: str) -> str:
    if not _COMMIT.match(value):
        raise ValueError("must be a commit id (7 to 40 lowercase hexadecimal digits)")
    return value


def _url_path(value: str) -> str:
    if not value.startswith("/") or any(c.isspace() for c in value):
        raise ValueError("must be a URL path starting with '/' (no spaces)")
    return value


#: Transports an artifact URL may name; ``http`` and ``git`` are plaintext (``allow_plaintext``).
GIT_TRANSPORTS = ("https", "ssh", "file", "http", "git")
PLAINTEXT_TRANSPORTS = ("http", "git")
_URL = re.compile(r"^(?P<scheme>[a-z]+)://(?P<netloc>[^/?#]*)(?P<path>[^?#]*)$")
_SCP = re.compile(r"^(?P<user>[\w.-]+)@(?P<host>[\w.-]+):(?P<path>[^/].*|/.+)$")
_HOST = re.compile(r"^([a-z0-9]([a-z0-9.-]*[a-z0-9])?|\[[0-9a-f:.]+\])(:[0-9]{1,5})?$", re.IGNORECASE)


def git_transport(url: str) -> str:
    """The transport git uses for ``url`` (``ssh`` for ``user@host:path``), '' if none we know."""
    match = _URL.match(url)
    if match:
        return match["scheme"]
    return "ssh" if _SCP.match(url) else ""


def redact_url(url: str) -> str:
    """``url`` with what may be a secret before its ``@`` hidden: a password always, and for
    anything but ssh (where a user name is normal: ``ssh://git@host``) the user name too, since
    ``https://TOKEN@host`` is how a token is often written."""
    match = re.match(r"^([a-zA-Z][a-zA-Z0-9+.-]*://)([^/?#@]*)@", url)
    if not match:
        return url
    scheme, userinfo = match[1], match[2]
    user = userinfo.split(":", 1)[0]
    shown = f"{user}:***" if scheme == "ssh://" and ":" in userinfo else user if scheme == "ssh://" else "***"
    return scheme + shown + "@" + url[match.end() :]


def _git_url(value: str) -> str:
    if value.startswith("-"):
        raise ValueError("must not start with '-' (git would read it as an option)")
    if not value or any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise ValueError("must be a git URL without spaces or control characters")
    if "::" in value.split("/", 1)[0]:
        raise ValueError("must not name a git remote helper ('<transport>::'); use https:// or ssh://")
    scp = _SCP.match(value)
    if scp:
        if scp["host"].startswith("-") or scp["user"].startswith("-"):
            raise ValueError("must not have a host or user starting with '-'")
        return value
    match = _URL.match(value)
    if not match or match["scheme"] not in GIT_TRANSPORTS:
        raise ValueError(
            "must be an https:// or ssh:// URL or user@host:path (http://, git:// with "
            "allow_plaintext: true; file:// under <state>/git or STRATOS_GIT_FILE_ROOT)"
        )
    scheme, netloc, path = match["scheme"], match["netloc"], match["path"]
    userinfo, _, host = netloc.rpartition("@")
    if "@" in netloc and (scheme != "ssh" or ":" in userinfo):
        raise ValueError(
            "must not contain credentials (a user name, token or password before '@'): give the "
            "token as credentials.token_file and the user name as credentials.username"
        )
    if scheme == "file":
        if netloc:
            raise ValueError("file:// URL must have no host: file:///absolute/path")
        if "%" in path or any(part in (".", "..") for part in path.split("/")):
            raise ValueError("file:// URL must be a plain absolute path (no '.', '..' or '%')")
    elif not _HOST.match(host) or (userinfo and userinfo.startswith("-")):
        raise ValueError("must have a host name (letters, digits, '.', '-'; optional :port)")
    return value


def _branch(value: str) -> str:
    """The rules of ``git check-ref-format --branch``, plus no leading '-'."""
    why = ""
    if not value or value == "@" or value == "HEAD":
        why = "must be a branch name (not empty, '@' or 'HEAD')"
    elif value.startswith("-"):
        why = "must not start with '-'"
    elif any(ord(c) < 0x20 or ord(c) == 0x7F or c in " ~^:?*[\\" for c in value):
        why = "must not contain spaces, control characters or any of ~ ^ : ? * [ \\"
    elif ".." in value or "@{" in value or "//" in value:
        why = "must not contain '..', '@{' or '//'"
    elif value.startswith("/") or value.endswith(("/", ".")):
        why = "must not start with '/' nor end with '/' or '.'"
    elif any(part.startswith(".") or part.endswith(".lock") for part in value.split("/")):
        why = "must not have a part starting with '.' or ending with '.lock'"
    if why:
        raise ValueError(f"{why} (the rules of git check-ref-format)")
    return value


def _known_hosts(value: str) -> str:
    if len(value) > 65536 or "\0" in value or "\r" in value:
        raise ValueError("must be known_hosts lines (at most 64 KiB, no NUL or carriage return)")
    lines = [line for line in value.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if not lines:
        raise ValueError("must hold at least one host key line ('host key-type base64-key')")
    for n, line in enumerate(lines, 1):
        fields = line.split()
        if fields[0].startswith("@"):
            fields = fields[1:]
        if len(fields) < 3 or not re.match(r"^[A-Za-z0-9+/]+=*$", fields[2]):
            raise ValueError(f"line {n} must be 'host key-type base64-key' (as ssh-keyscan prints)")
    return value


class Artifact(Spec):
    """The git branch a subscription's code comes from, and how releases of it are rolled out.

    - url: ``https://``, ``ssh://`` or ``user@host:path``; no credentials in it (they are files,
      see :class:`Credentials`); plaintext ``http://`` and ``git://`` only with ``allow_plaintext``;
      ``file://`` only under ``<state>/git`` or the ``STRATOS_GIT_FILE_ROOT`` directory (checked
      when fetching).
    - branch: a branch name by the rules of ``git check-ref-format``.
    - ssh_known_hosts: the host keys of an ssh remote (known_hosts lines, as ``ssh-keyscan``
      prints them); else the file ``STRATOS_GIT_KNOWN_HOSTS`` names. A key is never trusted on
      first use.
    - poll_interval: seconds between two fetches (a webhook or ``stratos sync`` fetches at once).
    - keep_releases: checked-out releases kept on the host (the current one included).
    - health_path: the release check, an http GET of this path on every member that must answer
      2xx within ``health_timeout`` seconds after a release goes live, else the agent switches back
      to the last good release; ``null`` turns the release check off (the cartridge's own health
      check, which does not depend on the code, still decides liveness).
    - pin: a commit the agent keeps serving whatever the branch does (``null``: follow the branch).
    """

    allow_plaintext: bool = False  # before url: its rule reads this one
    url: Annotated[str, AfterValidator(_git_url)]
    branch: Annotated[str, AfterValidator(_branch)] = "main"
    ssh_known_hosts: Annotated[str, AfterValidator(_known_hosts)] | None = None
    credentials: Credentials | None = None
    poll_interval: Positive = 15
    keep_releases: Annotated[int, Field(ge=1)] = 5
    health_path: Annotated[str, AfterValidator(_url_path)] | None = "/"
    health_timeout: Positive = 30
    pin: Annotated[str, AfterValidator(_commit_id)] | None = None

    @model_validator(mode="before")
    @classmethod
    def _redact_before_errors(cls, data: object) -> object:
        """An error shows the value: never a secret in the URL (the URL's rule refuses it)."""
        if isinstance(data, dict) and isinstance(data.get("url"), str):
            data = {**data, "url": redact_url(data["url"])}
        return data

    @field_validator("url")
    @classmethod
    def _plaintext_opt_in(cls, value: str, info: ValidationInfo) -> str:
        transport = git_transport(value)
        if transport in PLAINTEXT_TRANSPORTS and info.data.get("allow_plaintext") is not True:
            raise ValueError(
                f"{transport}:// is plaintext (anyone on the way can read or change the code): "
                "use https:// or ssh://, or set allow_plaintext: true"
            )
        return value


class Subscription(Spec):
    alias: Name
    cartridge: Name
    min: Annotated[int, Field(ge=1)] = 1
    max: Annotated[int, Field(ge=1)] = 1
    autoscaling_policy: Name | None = None
    deployment_policy: Name
    lb_cluster: Name | None = None
    artifact: Artifact | None = None
    environment: dict[str, str] = {}
    links: list[Name] = []


class Dependencies(Spec):
    startup_order: list[Annotated[list[Name], Field(min_length=2)]] = []
    scaling_dependents: list[Annotated[list[Name], Field(min_length=2)]] = []
    termination_behaviour: Literal["terminate-all", "terminate-dependents", "terminate-none"] = (
        "terminate-none"
    )


class Application(Spec):
    kind: Literal["Application"] = "Application"
    name: Name
    description: str = ""
    subscriptions: Annotated[list[Subscription], Field(min_length=1)]
    dependencies: Dependencies = Dependencies()
    network_partition_policy: Literal["one-after-another", "all-at-once"] = "one-after-another"

    def subscription(self, alias: str) -> Subscription:
        for sub in self.subscriptions:
            if sub.alias == alias:
                return sub
        raise KeyError(alias)


Definition = Cartridge | NetworkPartition | DeploymentPolicy | AutoscalingPolicy | LbCluster | Application

#: kind -> (model class, plural used in error paths and directory names)
KINDS: dict[str, tuple[type[Spec], str]] = {
    "Cartridge": (Cartridge, "cartridges"),
    "NetworkPartition": (NetworkPartition, "network_partitions"),
    "DeploymentPolicy": (DeploymentPolicy, "deployment_policies"),
    "AutoscalingPolicy": (AutoscalingPolicy, "autoscaling_policies"),
    "LbCluster": (LbCluster, "lb_clusters"),
    "Application": (Application, "applications"),
}
