"""The definition model: the six kinds a DevOps user writes.

Native format: YAML, snake_case, one resource per document, ``kind:`` + ``name:`` + fields.
Concepts follow Apache Stratos 4.1. Field-level rules live here (types, ranges, DNS labels);
rules that need several definitions at once live in :mod:`stratos.validation`.

Hostile input. Every field is typed strictly: numbers and booleans are never read from strings
(``min: '1'`` is refused; a YAML integer is a valid float), every number is finite and bounded,
every string that reaches a generated file (haproxy.cfg, a Dockerfile, an env or link file, a
container label) is one line without control characters and follows the grammar of the place it
goes to (an HAProxy URI or cookie name, a Docker image reference, a Debian package name, an IP
address or network), and every list, mapping and string has an upper bound on its size. These
validators are the only home of those rules: the image build (:mod:`stratos.images`) and the
configuration renderers take the model and keep no rules of their own about a definition
(``tests/unit/test_image_rules.py`` proves that the build refuses nothing the model accepts).
"""

from __future__ import annotations

import ipaddress
import math
import re
import unicodedata
from collections.abc import Callable
from pathlib import PurePosixPath
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

# Every pattern is matched with fullmatch(): "$" would accept a trailing newline.
_DNS_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
_MEMORY = re.compile(r"([0-9]{1,9})(\.[0-9]{1,6})?([kmgtKMGT]?)")
_ENDPOINT = re.compile(r"unix:///[^\s]+|tcp://[^\s/]+|ssh://[^\s/]+(/[^\s]*)?")
_COMMIT = re.compile(r"[0-9a-f]{7,40}")
# Debian package names (policy 5.6.1), optionally pinned: ``pkg`` or ``pkg=1.2-3``.
_PACKAGE = re.compile(r"[a-z0-9][a-z0-9+.-]+(=[A-Za-z0-9.+~:-]+)?")
_ENV_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_MODE = re.compile(r"0?[0-7]{3,4}")
# A Docker image tag (distribution/reference grammar), also what a cartridge version becomes.
_TAG = re.compile(r"[\w][\w.-]{0,127}", re.ASCII)
# distribution/reference: [domain[:port]/]path-component(/path-component)*[:tag][@digest]
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[_.]|__|-+)[a-z0-9]+)*"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_IMAGE_REF = re.compile(
    rf"(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*(?::[\w][\w.-]{{0,127}})?(?:@{_DIGEST})?",
    re.ASCII,
)
# An http path as HAProxy's ``http-check send uri`` and the agent's GET take it: RFC 3986 path and
# query characters, without the ones HAProxy's configuration language gives a meaning to
# (whitespace, '#' comments, quotes, backslash escapes).
_URI_PATH = re.compile(r"/[A-Za-z0-9._~%!$&()*+,;=:@/-]*(\?[A-Za-z0-9._~%!$&()*+,;=:@/?-]*)?")
# A cookie name (an RFC 6265 token, restricted to characters with no meaning in haproxy.cfg).
_COOKIE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")
# Names of things outside Docker (OpenStack flavors, images, key pairs, networks; zones, regions).
_EXTERNAL_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:@+-]{0,254}")

#: Upper bounds. Large enough for any real definition, small enough that nothing a definition says
#: can hold the agent up (a timeout of a year, a million members, a megabyte-long name).
MAX_SECONDS = 86400.0  # one day: any interval, horizon or stabilisation window
MAX_TIMEOUT = 3600.0  # one hour: any single wait (a probe, a release check)
MAX_MEMBERS = 1000
MAX_CPUS = 1024.0
MAX_REQUESTS = 1_000_000.0
MAX_LINE = 4096  # characters of a one-line value
MAX_TEXT = 65536  # characters of a free text (description, a file's inline content, a run script)
MAX_ITEMS = 256  # items of a list or mapping


def _grammar(pattern: re.Pattern[str], rule: str, max_length: int | None = None) -> Callable[[str], str]:
    """A field rule: the whole value matches ``pattern`` (and is at most ``max_length`` long), else
    ``rule`` is the error."""

    def check(value: str) -> str:
        if (max_length is not None and len(value) > max_length) or not pattern.fullmatch(value):
            raise ValueError(rule)
        return value

    return check


_dns_label = _grammar(_DNS_LABEL, "must be a DNS label (lowercase letters, digits and '-', 1-63 characters)")


_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def _memory(value: str) -> str:
    match = _MEMORY.fullmatch(value)
    if not match:
        raise ValueError("must be a size such as 256m or 1g")
    size = float(match.group(1) + (match.group(2) or "")) * _UNITS[match.group(3).lower()]
    if not 6 * (1 << 20) <= size <= 1 << 42:
        raise ValueError("must be between 6m (Docker's minimum) and 4t")
    return value


_endpoint = _grammar(_ENDPOINT, "must be a Docker endpoint: unix:///path, tcp://host:port or ssh://user@host")


def _control_chars(value: str, allowed: str = "") -> None:
    for ch in value:
        if ch not in allowed and (unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn")):
            shown = "newline" if ch in "\n\r" else f"U+{ord(ch):04X}"
            raise ValueError(f"must not contain control characters ({shown})")


def _one_line(value: str) -> str:
    """A value that reaches a generated file: one line, no control or invisible format character."""
    _control_chars(value)
    return value


def _text(value: str) -> str:
    """Free text: lines and tabs, but no other control character."""
    _control_chars(value, allowed="\n\t")
    return value


def _absolute(value: str) -> str:
    _control_chars(value)
    if not value.startswith("/"):
        raise ValueError("must be an absolute path")
    if ".." in PurePosixPath(value).parts:
        raise ValueError("must not contain '..'")
    return value


def _mount_path(value: str) -> str:
    _absolute(value)
    if value != "/" and value.endswith("/"):
        raise ValueError("must not end with '/'")
    if any(c in value for c in ":,"):
        raise ValueError("must not contain ':' or ',' (they separate the parts of a Docker mount)")
    return value


def _file_path(value: str) -> str:
    _absolute(value)
    if value.endswith("/"):
        raise ValueError("must be a file path (not ending with '/')")
    return value


def _relative_source(value: str) -> str:
    _control_chars(value)
    pure = PurePosixPath(value)
    if not value:
        raise ValueError("must not be empty")
    if ".." in pure.parts:
        raise ValueError("must stay inside the definition's directory (no '..')")
    # Where the file may be (inside the definition's directory, or STRATOS_FILES_ROOT) is checked
    # where that directory is known: validation.check_sources on load, the image build, and the
    # cartridge module, which stores sources as absolute paths once they were checked.
    return value


_image_ref = _grammar(
    _IMAGE_REF,
    "must be a Docker image reference such as debian:bookworm-slim or "
    "registry.example:5000/team/app:1.2 (lowercase repository, optional tag and digest)",
    max_length=255,
)


_tag = _grammar(
    _TAG, "must be a Docker tag: letters, digits, '_', '.', '-' (1-128, not starting with . or -)"
)


_package = _grammar(_PACKAGE, "must be a Debian package name, optionally =version")


_env_key = _grammar(_ENV_KEY, "must be a variable name [A-Za-z_][A-Za-z0-9_]*", max_length=255)


_uri_path = _grammar(
    _URI_PATH, "must be a URL path starting with '/' (RFC 3986 characters; no space, quote, '#' or '\\')"
)


_cookie = _grammar(_COOKIE, "must be a cookie name: letters, digits, '_', '.', '-' (1-64)")


_external_name = _grammar(
    _EXTERNAL_NAME, "must be a name: letters, digits and _ . : @ + - (1-255, no spaces)"
)


def _ip_address(value: str) -> str:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise ValueError("must be an IP address such as 127.0.0.1 or ::1") from None
    return value


def _ip_network_text(value: str) -> str:
    try:
        ipaddress.ip_network(value, strict=True)
    except ValueError:
        raise ValueError("must be an IP network such as 10.0.0.0/8 (no host bits set)") from None
    if "/" not in value:
        raise ValueError("must name its prefix length, such as 10.0.0.0/8")
    return value


def _subnet_input(value: Any) -> Any:
    if not isinstance(value, str):
        if isinstance(value, ipaddress.IPv4Network):
            return value
        raise ValueError("must be an IPv4 network written as a string such as 10.10.0.0/24")
    if "/" not in value:
        raise ValueError("must name its prefix length, such as 10.10.0.0/24")
    return value


def _subnet(value: ipaddress.IPv4Network) -> ipaddress.IPv4Network:
    if not 8 <= value.prefixlen <= 29:
        raise ValueError("must have a prefix length between /8 and /29")
    if (
        value.is_loopback
        or value.is_multicast
        or value.is_link_local
        or value.is_reserved
        or value.is_unspecified
    ):
        raise ValueError("must be a private or public unicast network (not loopback, link-local, multicast)")
    return value


def _number(value: Any) -> Any:
    """Numbers are never read from text or booleans: ``min: '1'`` and ``min: true`` are refused.

    (Integral floats such as 8080.0 are accepted for integers: Pulumi's other languages send every
    number as a float.)
    """
    if isinstance(value, str | bytes | bool):
        raise ValueError(f"must be a number, not {'a boolean' if isinstance(value, bool) else 'a string'}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("must be a finite number (not .inf or .nan)")
    return value


_NUMBER = BeforeValidator(_number)


def _finite_seconds(low: float, high: float, *, inclusive: bool = False) -> Any:
    if inclusive:
        return Field(ge=low, le=high, allow_inf_nan=False)
    return Field(gt=low, le=high, allow_inf_nan=False)


Name = Annotated[str, Field(strict=True), AfterValidator(_dns_label)]
Port = Annotated[int, _NUMBER, Field(ge=1, le=65535)]
Percent = Annotated[float, _NUMBER, Field(gt=0, le=100, allow_inf_nan=False)]
Bool = Annotated[bool, Field(strict=True)]
Line = Annotated[str, Field(strict=True, max_length=MAX_LINE), AfterValidator(_one_line)]
Text = Annotated[str, Field(strict=True, max_length=MAX_TEXT), AfterValidator(_text)]
AbsPath = Annotated[str, Field(strict=True, max_length=MAX_LINE), AfterValidator(_absolute)]
MountPath = Annotated[str, Field(strict=True, max_length=MAX_LINE), AfterValidator(_mount_path)]
FilePath = Annotated[str, Field(strict=True, max_length=MAX_LINE), AfterValidator(_file_path)]
ImageRef = Annotated[str, Field(strict=True), AfterValidator(_image_ref)]
EnvKey = Annotated[str, Field(strict=True), AfterValidator(_env_key)]
Environment = Annotated[dict[EnvKey, Line], Field(strict=True, max_length=MAX_ITEMS)]
IpAddress = Annotated[str, Field(strict=True, max_length=64), AfterValidator(_ip_address)]
UriPath = Annotated[str, Field(strict=True, max_length=1024), AfterValidator(_uri_path)]
ExternalName = Annotated[str, Field(strict=True), AfterValidator(_external_name)]


def Count(low: int, high: int) -> Any:  # noqa: N802 - reads as a type in annotations
    return Field(ge=low, le=high)


def Items(low: int = 0, high: int = MAX_ITEMS) -> Any:  # noqa: N802
    return Field(min_length=low, max_length=high)


class DefinitionModel(BaseModel):
    """Base of every model: unknown fields are errors."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, use_attribute_docstrings=True)


# --------------------------------------------------------------------------- cartridge

Seconds = Annotated[float, _NUMBER, _finite_seconds(0, MAX_SECONDS)]
Timeout = Annotated[float, _NUMBER, _finite_seconds(0, MAX_TIMEOUT)]
Delay = Annotated[float, _NUMBER, _finite_seconds(0, MAX_SECONDS, inclusive=True)]


class ImageFile(DefinitionModel):
    """A file placed in the image: from ``src`` (relative to the definition) or inline ``content``.

    ``src`` stays inside the definition's directory (symbolic links resolved, checked when the
    definitions are loaded from files and again when the image is built), or inside the directory
    the ``STRATOS_FILES_ROOT`` setting names.
    """

    path: FilePath
    """Absolute path of the file in the image."""
    src: Annotated[str, Field(strict=True, max_length=MAX_LINE), AfterValidator(_relative_source)] | None = (
        None
    )
    """File it is copied from, relative to the definition's directory (or inside STRATOS_FILES_ROOT); exactly one of src or content."""
    content: Annotated[str, Field(strict=True, max_length=1 << 20)] | None = None
    """The file's content, inline; exactly one of src or content."""
    mode: Annotated[str, Field(strict=True), AfterValidator(_mode)] = "0644"
    """Permission bits, octal (default 0644)."""

    @model_validator(mode="after")
    def _one_source(self) -> ImageFile:
        if (self.src is None) == (self.content is None):
            raise ValueError("exactly one of 'src' or 'content' must be set")
        return self


_mode = _grammar(_MODE, "must be octal permission bits such as 0644 or 0755")


def _run_command(value: str) -> str:
    _control_chars(value, allowed="\n\t")
    if not value.strip():
        raise ValueError("must not be empty")
    return value


class ImageBuild(DefinitionModel):
    """How to build a cartridge image from a Debian base."""

    base: ImageRef | None = None
    """Base image of the build (default: the STRATOS_BASE_IMAGE setting, debian:bookworm-slim)."""
    packages: Annotated[
        list[Annotated[str, Field(strict=True), AfterValidator(_package)]], Items(0, 1024)
    ] = []
    """Debian packages installed, optionally pinned as name=version."""
    files: Annotated[list[ImageFile], Items()] = []
    """Files placed in the image."""
    run: Annotated[
        list[Annotated[str, Field(strict=True, max_length=MAX_TEXT), AfterValidator(_run_command)]], Items()
    ] = []
    """Shell commands run at build time, in order, after the packages and files."""
    command: Annotated[list[Line], Items()] = []
    """The image's command (CMD)."""
    entrypoint: Annotated[list[Line], Items()] | None = None
    """The image's entrypoint (ENTRYPOINT; none: the base image's)."""
    workdir: AbsPath | None = None
    """Working directory of the image (WORKDIR)."""
    env: Environment = {}
    """Environment of the image (ENV)."""
    expose: Annotated[list[Port], Items()] = []
    """Ports the image exposes (EXPOSE)."""
    tag: ImageRef | None = None
    """Tag of the built image (default: stratos/cartridge-<name>:<version>)."""


class Image(DefinitionModel):
    """A ready image reference, or a build."""

    ref: ImageRef | None = None
    """A ready image reference; exactly one of ref or build."""
    build: ImageBuild | None = None
    """How to build the image; exactly one of ref or build."""

    @model_validator(mode="after")
    def _one_way(self) -> Image:
        if (self.ref is None) == (self.build is None):
            raise ValueError("exactly one of 'ref' or 'build' must be set")
        return self


class CartridgePort(DefinitionModel):
    name: Name
    """Name of the port (exports refer to it as port.<name>)."""
    protocol: Literal["http", "tcp"] = "http"
    """http or tcp (default http)."""
    port: Port
    """Port the members listen on."""
    proxy_port: Port | None = None
    """Port of the load balancer's listener in front of it (an LB cluster serving the cartridge must have a listener proxy_port -> port)."""


class HealthCheck(DefinitionModel):
    """An http path or a tcp connect on the first port. Times are seconds (finite, bounded)."""

    http: UriPath | None = None
    """Path of an http GET that must answer 2xx; exactly one of http or tcp."""
    tcp: Bool = False
    """Check with a tcp connect instead (default false)."""
    port: Port | None = None
    """Port checked (default: the cartridge's first port)."""
    interval: Timeout = 5
    """Seconds between two probes (default 5)."""
    timeout: Annotated[float, _NUMBER, _finite_seconds(0, 600)] = 3
    """Seconds a probe may take (default 3)."""
    retries: Annotated[int, _NUMBER, Count(1, 100)] = 3
    """Consecutive failures that make a member unhealthy (default 3)."""
    start_period: Annotated[float, _NUMBER, _finite_seconds(0, MAX_TIMEOUT, inclusive=True)] = 10
    """Seconds after a start during which failures do not count, unless the member passed once (default 10)."""

    @model_validator(mode="after")
    def _one_kind(self) -> HealthCheck:
        if bool(self.http) == bool(self.tcp):
            raise ValueError("exactly one of 'http' (a path) or 'tcp: true' must be set")
        return self


class Volume(DefinitionModel):
    name: Name
    """Name of the volume (a DNS label), unique within the cartridge."""
    mount_path: MountPath
    """Absolute path the volume is mounted at in the members."""
    keep_on_termination: Bool = True
    """Keep the data when the members are removed (default true)."""


class Persistence(DefinitionModel):
    volumes: Annotated[list[Volume], Items(0, 64)] = []
    """Data volumes of each member."""


class Limits(DefinitionModel):
    cpus: Annotated[float, _NUMBER, _finite_seconds(0, MAX_CPUS)] | None = None
    """CPUs a member may use (none: no limit)."""
    memory: Annotated[str, Field(strict=True), AfterValidator(_memory)] | None = None
    """Memory a member may use, such as 256m or 1g (none: no limit)."""


class Cartridge(DefinitionModel):
    """A runtime image and how members made from it behave."""

    kind: Literal["Cartridge"] = "Cartridge"
    name: Name
    """Name of the cartridge (subscriptions refer to it by this name)."""
    display_name: Annotated[Line, Field(max_length=255)] | None = None
    """Human-readable name."""
    description: Text = ""
    """What the cartridge is."""
    version: Annotated[str, Field(strict=True), AfterValidator(_tag)] = "1.0"
    """Version, the image tag's default (default 1.0)."""
    category: Literal["framework", "data", "load-balancer"] = "framework"
    """framework, data or load-balancer (default framework)."""
    image: Image
    """The runtime image: a ready reference or a build."""
    ports: Annotated[list[CartridgePort], Items(0, 64)] = []
    """Ports of the members."""
    health_check: HealthCheck | None = None
    """How member health is probed (none: running is healthy)."""
    environment: Environment = {}
    """Environment of the members (a subscription's environment goes over it)."""
    deployment_dir: MountPath | None = None
    """Directory the application's code is served from in the members (Stratos 4.1's deployment.baseDir; releases are mounted at /srv/stratos/app)."""
    persistence: Persistence = Persistence()
    """Data volumes of the members."""
    limits: Limits = Limits()
    """Resource limits of each member."""
    secrets: Annotated[list[Name], Items(0, 64)] = []
    """Names of secrets generated once per subscription, kept on the host and mounted into the members."""
    exports: Environment = {}
    """Values linked subscriptions receive: templates of {member.hostname}, {env.NAME}, {secret.NAME}, {port.NAME}, {app.name}, {subscription.alias}."""
    reload: Literal["none", "restart"] = "none"
    """How a new release goes live: none (switched in place after a canary) or restart (members replaced one at a time) (default none)."""
    scales: Bool = False
    """Whether a data cartridge with persistence may run more than one member (default false)."""

    def image_tag(self) -> str:
        if self.image.ref:
            return self.image.ref
        assert self.image.build is not None
        return self.image.build.tag or f"stratos/cartridge-{self.name}:{self.version}"


# --------------------------------------------------------------------------- network partition


class Partition(DefinitionModel):
    name: Name
    """Name of the partition (a DNS label), unique within its network partition."""
    endpoint: Annotated[str, Field(strict=True, max_length=MAX_LINE), AfterValidator(_endpoint)] = (
        "unix:///var/run/docker.sock"
    )
    """Docker endpoint of the partition: unix:///path, tcp://host:port or ssh://user@host (default unix:///var/run/docker.sock, the Docker host the agent runs on)."""
    region: ExternalName | None = None
    """Free-form region label, recorded on members."""
    zone: ExternalName | None = None
    """Free-form zone label, recorded on members."""


class NetworkSettings(DefinitionModel):
    """The network members and the load balancer of a network partition share."""

    name: Name | None = None
    """Name of the Docker network (default stratos-<network partition>)."""
    subnet: (
        Annotated[ipaddress.IPv4Network, BeforeValidator(_subnet_input), AfterValidator(_subnet)] | None
    ) = None
    """IPv4 subnet of the network, such as 10.10.0.0/24 (for OpenStack: of the Neutron subnet, default 10.20.0.0/24)."""


class OpenStackSettings(DefinitionModel):
    """Settings for an OpenStack network partition (used by the Pulumi front end)."""

    flavor: ExternalName = "m1.small"
    """Nova flavor of the Docker hosts (default m1.small)."""
    image: ExternalName = "debian-12"
    """Glance image of the Docker hosts, a Debian 12 cloud image with cloud-init (default debian-12)."""
    key_pair: ExternalName | None = None
    """Nova key pair installed for SSH (the Docker provider reaches the hosts over ssh://)."""
    external_network: ExternalName = "public"
    """Name of the external network: the router's gateway and the floating IPs' pool (default public)."""
    hosts: Annotated[int, _NUMBER, Count(1, 100)] = 1
    """Number of Docker hosts (default 1); the first one runs the agent."""
    admin_cidr: Annotated[str, Field(strict=True, max_length=64), AfterValidator(_ip_network_text)] = (
        "0.0.0.0/0"
    )
    """Addresses allowed to reach SSH on the hosts (default 0.0.0.0/0)."""


class NetworkPartition(DefinitionModel):
    kind: Literal["NetworkPartition"] = "NetworkPartition"
    name: Name
    """Name of the network partition definition (deployment policies and LB clusters refer to it by this name)."""
    provider: Literal["docker", "openstack"] = "docker"
    """docker (existing Docker endpoints) or openstack (a network and Docker hosts the Pulumi front end makes); default docker."""
    partitions: Annotated[list[Partition], Items(1, 64)]
    """The partitions (at least one)."""
    network: NetworkSettings = NetworkSettings()
    """The network members and the load balancer share."""
    openstack: OpenStackSettings | None = None
    """Settings of an openstack network partition."""

    def network_name(self) -> str:
        return self.network.name or f"stratos-{self.name}"


# --------------------------------------------------------------------------- deployment policy


class PartitionRef(DefinitionModel):
    name: Name
    """Name of a partition of the network partition."""
    max: Annotated[int, _NUMBER, Count(1, MAX_MEMBERS)] = 1
    """At most this many members of a subscription in this partition (default 1)."""


class NetworkPartitionRef(DefinitionModel):
    name: Name
    """Name of a network partition."""
    algorithm: Literal["round-robin", "one-after-another"] = "round-robin"
    """round-robin or one-after-another: how new members are spread over the partitions (default round-robin)."""
    partitions: Annotated[list[PartitionRef], Items(1, 64)]
    """The partitions used (at least one)."""


class DeploymentPolicy(DefinitionModel):
    kind: Literal["DeploymentPolicy"] = "DeploymentPolicy"
    name: Name
    """Name of the deployment policy."""
    network_partitions: Annotated[list[NetworkPartitionRef], Items(1, 64)]
    """The network partitions used, in order (at least one)."""

    def capacity(self) -> int:
        return sum(p.max for np in self.network_partitions for p in np.partitions)


# --------------------------------------------------------------------------- autoscaling policy


class Thresholds(DefinitionModel):
    """Targets per member. At least one must be set."""

    requests_in_flight: Annotated[float, _NUMBER, _finite_seconds(0, MAX_REQUESTS)] | None = None
    """Requests in flight per member (measured at the load balancer)."""
    memory_consumption: Percent | None = None
    """Memory use per member, percent of its limit (0-100]."""
    load_average: Percent | None = None
    """CPU load per member, percent (0-100]."""

    @model_validator(mode="after")
    def _at_least_one(self) -> Thresholds:
        if self.requests_in_flight is None and self.memory_consumption is None and self.load_average is None:
            raise ValueError(
                "at least one of 'requests_in_flight', 'memory_consumption', 'load_average' must be set"
            )
        return self


class Behaviour(DefinitionModel):
    """How the agent turns measurements into member counts. Times are seconds."""

    evaluation_interval: Timeout = 15
    """How often metrics are sampled and a decision is taken (default 15)."""
    prediction_horizon: Delay = 60
    """How far ahead the load is predicted; about the time a new member takes to become healthy (default 60)."""
    smoothing_window: Annotated[int, _NUMBER, Count(2, 100)] = 40
    """How many samples the smoothing and the derivative fit look at, 2-100 (default 40: 10 minutes at the default interval; the curvature term needs at least 5; see bench/results/policy_quality.txt for the trade-off)."""
    tolerance: Annotated[float, _NUMBER, Field(ge=0, lt=1, allow_inf_nan=False)] = 0.1
    """Relative band around 1.0 in which no scaling happens, [0, 1) (default 0.1)."""
    scale_up_stabilisation: Delay = 0
    """The highest recommendation over this window is used when scaling up (default 0)."""
    scale_down_stabilisation: Delay = 300
    """Scale-down waits this long and uses the lowest change over the window (default 300)."""
    max_step: Annotated[int, _NUMBER, Count(1, MAX_MEMBERS)] = 4
    """At most this many members are added in one decision (default 4)."""


class AutoscalingPolicy(DefinitionModel):
    kind: Literal["AutoscalingPolicy"] = "AutoscalingPolicy"
    name: Name
    """Name of the autoscaling policy."""
    thresholds: Thresholds
    """Targets per member."""
    behaviour: Behaviour = Behaviour()
    """Tuning of the scaling loop."""


# --------------------------------------------------------------------------- LB cluster


class Listener(DefinitionModel):
    """``proxy_port`` on the load balancer forwards to ``port`` on the members.

    ``publish`` is the host port the LB container publishes it on (default: ``proxy_port``).
    """

    proxy_port: Port
    """Port HAProxy listens on."""
    port: Port
    """Port of the members behind it."""
    protocol: Literal["http", "tcp"] = "http"
    """http or tcp (default http)."""
    publish: Port | None = None
    """Host port the LB container publishes proxy_port on (default proxy_port)."""

    def host_port(self) -> int:
        return self.publish or self.proxy_port


class LbHealthCheck(DefinitionModel):
    enabled: Bool = True
    """Check members (default true)."""
    #: seconds between two checks of a member (HAProxy ``inter``; rendered in milliseconds)
    interval: Annotated[float, _NUMBER, Field(ge=0.01, le=MAX_TIMEOUT, allow_inf_nan=False)] = 2
    """Seconds between checks (default 2)."""
    fall: Annotated[int, _NUMBER, Count(1, 100)] = 2
    """Failed checks before a member is taken out (default 2)."""
    rise: Annotated[int, _NUMBER, Count(1, 100)] = 1
    """Passed checks before a member is put back (default 1)."""


class Sticky(DefinitionModel):
    enabled: Bool = False
    """Keep a client on one member (default false)."""
    cookie: Annotated[str, Field(strict=True), AfterValidator(_cookie)] = "STRATOSID"
    """Name of the cookie (default STRATOSID)."""


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


class Stats(DefinitionModel):
    """HAProxy's statistics page: off unless ``enabled``; then behind HTTP basic authentication with
    the ``user:password`` line of ``credentials_file`` (mode 0600) and published on a loopback
    address of the host only."""

    enabled: Bool = False
    """Serve the statistics page (default false)."""
    port: Port = 8404
    """Its port (default 8404)."""
    bind: Annotated[IpAddress, AfterValidator(_loopback)] = "127.0.0.1"
    """Host address it is published on: a loopback address (default 127.0.0.1)."""
    credentials_file: AbsPath | None = None
    """Absolute path of a 0600 file holding ``user:password`` (required when enabled)."""

    @model_validator(mode="after")
    def _protected(self) -> Stats:
        if self.enabled and self.credentials_file is None:
            raise ValueError(
                "an enabled statistics page needs 'credentials_file' (a 0600 file holding user:password)"
            )
        return self


class LbCluster(DefinitionModel):
    kind: Literal["LbCluster"] = "LbCluster"
    name: Name
    """Name of the LB cluster definition (subscriptions refer to it by this name)."""
    network_partition: Name
    """Name of the network partition the load balancer serves."""
    type: Literal["haproxy"] = "haproxy"
    """Load balancer type: haproxy, the only one (default haproxy)."""
    algorithm: Literal["roundrobin", "leastconn", "source"] = "roundrobin"
    """roundrobin, leastconn or source (default roundrobin)."""
    listeners: Annotated[list[Listener], Items(1, 64)]
    """The listeners (at least one)."""
    health_check: LbHealthCheck = LbHealthCheck()
    """Health checks of the members."""
    sticky: Sticky = Sticky()
    """Session stickiness."""
    stats: Stats = Stats()
    """Statistics page."""
    retries: Annotated[int, _NUMBER, Count(0, 100)] = 3
    """Times a failed connection is retried on another member (default 3)."""
    bind_address: IpAddress = "0.0.0.0"
    """Host address the listeners are published on (default 0.0.0.0)."""


# --------------------------------------------------------------------------- application


class Credentials(DefinitionModel):
    """References to secrets, never the secrets themselves."""

    username: str | None = None
    """User name for the git remote."""
    token_file: AbsPath | None = None
    """Absolute path of a file holding an access token."""
    ssh_key_file: AbsPath | None = None
    """Absolute path of an SSH private key."""
    webhook_secret_file: AbsPath | None = None
    """Absolute path of the webhook's HMAC secret."""


_commit_id = _grammar(_COMMIT, "must be a commit id (7 to 40 lowercase hexadecimal digits)")


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


# What may stand between a URL's scheme and the last "@" of its authority: anything but "/" in a
# single value (a value may not be valid yet, spaces included), anything but "/" and white space in
# running text (a log line, a diff), so that one URL's redaction does not run into the next words.
_SCHEME = r"([a-zA-Z][a-zA-Z0-9+.-]*://)"
_USERINFO_IN_VALUE = re.compile(_SCHEME + r"([^/]*)@")
_USERINFO_IN_TEXT = re.compile(_SCHEME + r"([^/\s]*)@")


def _hide_userinfo(match: re.Match[str]) -> str:
    scheme, userinfo = match[1], match[2]
    if scheme != "ssh://":
        return scheme + "***@"
    user = userinfo.split(":", 1)[0]
    return scheme + user + (":***" if ":" in userinfo else "") + "@"


def redact_url(url: str) -> str:
    """``url`` with what may be a secret before its ``@`` hidden: a password always, and for
    anything but ssh (where a user name is normal: ``ssh://git@host``) the user name too, since
    ``https://TOKEN@host`` is how a token is often written. The one redaction of the code base:
    :func:`redact_text` applies it to every URL of a text."""
    return _USERINFO_IN_VALUE.sub(_hide_userinfo, url)


def redact_text(text: str) -> str:
    """Every URL in ``text`` (an error message, a diff) with its credentials hidden as
    :func:`redact_url` hides them."""
    return _USERINFO_IN_TEXT.sub(_hide_userinfo, text)


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


class Artifact(DefinitionModel):
    """The git branch a subscription's code comes from, and how releases of it are rolled out.

    ``url`` has no credentials in it (they are files, see :class:`Credentials`); a ``file://``
    URL's directory is checked when fetching.
    """

    allow_plaintext: bool = False  # before url: its rule reads this one
    """Allow the plaintext http:// and git:// transports (default false)."""
    url: Annotated[str, AfterValidator(_git_url)]
    """Repository URL: https://, ssh:// or user@host:path, no credentials in it (http://, git://
    with allow_plaintext; file:// under the agent's <state>/git or STRATOS_GIT_FILE_ROOT)."""
    branch: Annotated[str, AfterValidator(_branch)] = "main"
    """Branch deployed (default main)."""
    ssh_known_hosts: Annotated[str, AfterValidator(_known_hosts)] | None = None
    """The ssh remote's host keys, known_hosts lines as ssh-keyscan prints them (else the file STRATOS_GIT_KNOWN_HOSTS names; a key is never trusted on first use)."""
    credentials: Credentials | None = None
    """How to authenticate."""
    poll_interval: Seconds = 15
    """Seconds between fetches; a webhook or stratos sync fetches at once (default 15)."""
    keep_releases: Annotated[int, _NUMBER, Count(1, 100)] = 5
    """Releases kept on disk for rollback, the current one included (default 5)."""
    health_path: UriPath | None = "/"
    """Release check: path every member must answer 2xx on within health_timeout after a release goes live, else the agent switches back to the last good release (default /; None: off, the cartridge's own health check still decides liveness)."""
    health_timeout: Timeout = 30
    """Seconds a release has to pass its check before the agent switches back (default 30)."""
    pin: Annotated[str, Field(strict=True), AfterValidator(_commit_id)] | None = None
    """A commit id to keep serving whatever the branch does (None: follow the branch)."""

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


class Subscription(DefinitionModel):
    alias: Name
    """Name of the subscription within the application."""
    cartridge: Name
    """Name of the cartridge."""
    min: Annotated[int, _NUMBER, Count(1, MAX_MEMBERS)] = 1
    """Members kept at least (default 1)."""
    max: Annotated[int, _NUMBER, Count(1, MAX_MEMBERS)] = 1
    """Members allowed at most (default 1)."""
    autoscaling_policy: Name | None = None
    """Name of the autoscaling policy (none: the cluster stays at min)."""
    deployment_policy: Name
    """Name of the deployment policy."""
    lb_cluster: Name | None = None
    """Name of the LB cluster the members are served behind."""
    artifact: Artifact | None = None
    """Git repository deployed to the members."""
    environment: Environment = {}
    """Environment of the members, over the cartridge's."""
    links: Annotated[list[Name], Items(0, 64)] = []
    """Aliases of subscriptions whose exports this one receives (started first)."""


class Dependencies(DefinitionModel):
    startup_order: Annotated[list[Annotated[list[Name], Items(2, 64)]], Items(0, 64)] = []
    """Chains of aliases, each started after the one before it."""
    scaling_dependents: Annotated[list[Annotated[list[Name], Items(2, 64)]], Items(0, 64)] = []
    """Groups of aliases that scale together."""
    termination_behaviour: Literal["terminate-all", "terminate-dependents", "terminate-none"] = (
        "terminate-none"
    )
    """terminate-all, terminate-dependents or terminate-none (default terminate-none)."""


class Application(DefinitionModel):
    kind: Literal["Application"] = "Application"
    name: Name
    """Name of the application definition."""
    description: Text = ""
    """What the application is."""
    subscriptions: Annotated[list[Subscription], Items(1, 64)]
    """The cartridges it uses (at least one)."""
    dependencies: Dependencies = Dependencies()
    """Ordering between subscriptions."""
    network_partition_policy: Literal["one-after-another", "all-at-once"] = "one-after-another"
    """one-after-another or all-at-once (default one-after-another)."""

    def subscription(self, alias: str) -> Subscription:
        for sub in self.subscriptions:
            if sub.alias == alias:
                return sub
        raise KeyError(alias)


Definition = Cartridge | NetworkPartition | DeploymentPolicy | AutoscalingPolicy | LbCluster | Application

#: kind -> (model class, plural used in error paths and directory names)
KINDS: dict[str, tuple[type[DefinitionModel], str]] = {
    "Cartridge": (Cartridge, "cartridges"),
    "NetworkPartition": (NetworkPartition, "network_partitions"),
    "DeploymentPolicy": (DeploymentPolicy, "deployment_policies"),
    "AutoscalingPolicy": (AutoscalingPolicy, "autoscaling_policies"),
    "LbCluster": (LbCluster, "lb_clusters"),
    "Application": (Application, "applications"),
}
