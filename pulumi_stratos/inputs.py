"""Typed inputs of the Stratos components: the core's definition kinds as TypedDicts, plus the
settings only the Pulumi front end needs (where Docker is, which image, which security group).

Definition fields use the core model's names and meaning (``stratos.model``) and are *plain*: the
whole set is validated by the core before any resource is registered, so their values must be known
when the program runs, not be Outputs. Pulumi-only settings that come from other resources
(``docker_host``, ``security_group_id``) are Inputs.

Deliberately without ``from __future__ import annotations``: Pulumi's analyzer reads these
annotations at run time to infer the package schema (for every Pulumi language), and it cannot
resolve string annotations. For the same reason the analyzer's limits apply: no unions other than
optional, no Literal (allowed values are listed in the docstrings and enforced by the core).
"""

from typing import NotRequired, TypedDict

import pulumi

# --------------------------------------------------------------------------- network partition


class Partition(TypedDict):
    """A place members may run: one Docker endpoint."""

    name: str
    """Name of the partition (a DNS label), unique within its network partition."""
    endpoint: NotRequired[str]
    """Docker endpoint of the partition: unix:///path, tcp://host:port or ssh://user@host (default unix:///var/run/docker.sock, the Docker host the agent runs on)."""
    region: NotRequired[str]
    """Free-form region label, recorded on members."""
    zone: NotRequired[str]
    """Free-form zone label, recorded on members."""


class NetworkSettings(TypedDict):
    """The Docker network members and the load balancer of a network partition share."""

    name: NotRequired[str]
    """Name of the Docker network (default stratos-<network partition>)."""
    subnet: NotRequired[str]
    """IPv4 subnet of the network, such as 10.10.0.0/24 (for OpenStack: of the Neutron subnet, default 10.20.0.0/24)."""


class OpenStackSettings(TypedDict):
    """How an OpenStack network partition's Docker hosts are made."""

    flavor: NotRequired[str]
    """Nova flavor of the Docker hosts (default m1.small)."""
    image: NotRequired[str]
    """Glance image of the Docker hosts, a Debian 12 cloud image with cloud-init (default debian-12)."""
    key_pair: NotRequired[str]
    """Nova key pair installed for SSH (the Docker provider reaches the hosts over ssh://)."""
    external_network: NotRequired[str]
    """Name of the external network: the router's gateway and the floating IPs' pool (default public)."""
    hosts: NotRequired[int]
    """Number of Docker hosts (default 1); the first one runs the agent."""
    admin_cidr: NotRequired[str]
    """Addresses allowed to reach SSH on the hosts (default 0.0.0.0/0)."""


class NetworkPartitionArgs(TypedDict):
    """Where members may run: a NetworkPartition definition and how to provision it."""

    name: str
    """Name of the network partition definition (deployment policies and LB clusters refer to it by this name)."""
    provider: NotRequired[str]
    """docker (existing Docker endpoints) or openstack (a network and Docker hosts the Pulumi front end makes); default docker."""
    partitions: list[Partition]
    """The partitions (at least one)."""
    network: NotRequired[NetworkSettings]
    """The network members and the load balancer share."""
    openstack: NotRequired[OpenStackSettings]
    """Settings of an openstack network partition."""
    ssh_user: NotRequired[str]
    """OpenStack only: the hosts' login user, added to the docker group (default debian)."""
    agent_image: NotRequired[str]
    """OpenStack only: the agent image the hosts' cloud-init starts; it must be pullable from the hosts (default stratos/agent:<version>)."""
    state_dir: NotRequired[str]
    """OpenStack only: the hosts' state directory (default /var/lib/stratos)."""
    dns_nameservers: NotRequired[list[str]]
    """OpenStack only: DNS servers of the subnet."""


# --------------------------------------------------------------------------- deployment policy


class PartitionRef(TypedDict):
    """A partition a deployment policy uses, and how many members it may hold."""

    name: str
    """Name of a partition of the network partition."""
    max: NotRequired[int]
    """At most this many members of a subscription in this partition (default 1)."""


class NetworkPartitionRef(TypedDict):
    """A network partition a deployment policy uses."""

    name: str
    """Name of a network partition."""
    algorithm: NotRequired[str]
    """round-robin or one-after-another: how new members are spread over the partitions (default round-robin)."""
    partitions: list[PartitionRef]
    """The partitions used (at least one)."""


class DeploymentPolicy(TypedDict):
    """Where a subscription's members may be placed (a typed value, not a cloud resource)."""

    name: str
    """Name of the deployment policy."""
    network_partitions: list[NetworkPartitionRef]
    """The network partitions used, in order (at least one)."""


# --------------------------------------------------------------------------- autoscaling policy


class Thresholds(TypedDict):
    """Targets per member; at least one must be set."""

    requests_in_flight: NotRequired[float]
    """Requests in flight per member (measured at the load balancer)."""
    memory_consumption: NotRequired[float]
    """Memory use per member, percent of its limit (0-100]."""
    load_average: NotRequired[float]
    """CPU load per member, percent (0-100]."""


class Behaviour(TypedDict):
    """How the agent turns measurements into member counts. Times are seconds."""

    evaluation_interval: NotRequired[float]
    """How often metrics are sampled and a decision is taken (default 15)."""
    prediction_horizon: NotRequired[float]
    """How far ahead the load is predicted; about the time a new member takes to become healthy (default 60)."""
    smoothing_window: NotRequired[int]
    """How many samples the smoothing and the derivative fit look at, 2-100 (default 40: 10 minutes at the default interval; the curvature term needs at least 5; see bench/results/policy_quality.txt for the trade-off)."""
    tolerance: NotRequired[float]
    """Relative band around 1.0 in which no scaling happens, [0, 1) (default 0.1)."""
    scale_up_stabilisation: NotRequired[float]
    """The highest recommendation over this window is used when scaling up (default 0)."""
    scale_down_stabilisation: NotRequired[float]
    """Scale-down waits this long and uses the lowest change over the window (default 300)."""
    max_step: NotRequired[int]
    """At most this many members are added in one decision (default 4)."""


class AutoscalingPolicy(TypedDict):
    """When a subscription scales (a typed value, not a cloud resource)."""

    name: str
    """Name of the autoscaling policy."""
    thresholds: Thresholds
    """Targets per member."""
    behaviour: NotRequired[Behaviour]
    """Tuning of the scaling loop."""


# --------------------------------------------------------------------------- cartridge


class Glance(TypedDict):
    """Upload of a cartridge image to OpenStack Glance (as the seed demo uploads the PHP image)."""

    name: NotRequired[str]
    """Name of the Glance image (default: the cartridge's image tag, the name nova-docker looks up)."""
    local_file_path: NotRequired[str]
    """A file to upload, e.g. the output of `docker save <image tag>`; exactly one of this or image_source_url."""
    image_source_url: NotRequired[str]
    """A URL Glance downloads the image from; exactly one of this or local_file_path."""
    container_format: NotRequired[str]
    """Glance container format (default docker)."""
    disk_format: NotRequired[str]
    """Glance disk format (default raw)."""
    visibility: NotRequired[str]
    """public, private, shared or community (default private)."""


class CartridgeArgs(TypedDict):
    """A cartridge: its definition (built-in, a file or inline YAML) and its image."""

    builtin: NotRequired[str]
    """Name of a cartridge shipped with the core (php, mysql, haproxy); exactly one of builtin, definition_file, definition_yaml."""
    definition_file: NotRequired[str]
    """Path of a Cartridge definition (YAML); its files' src paths are relative to its directory."""
    definition_yaml: NotRequired[str]
    """A Cartridge definition as YAML text; src paths are relative to source_dir."""
    source_dir: NotRequired[str]
    """Directory src paths of definition_yaml are relative to (default: the working directory)."""
    image_ref: NotRequired[str]
    """Use this ready image instead of building (the definition handed to the agent names it)."""
    base_image: NotRequired[str]
    """Base image of the build when the definition names none (default: the STRATOS_BASE_IMAGE setting, debian:bookworm-slim)."""
    build_dir: NotRequired[str]
    """Directory the rendered build context is written to (default .stratos-build/<cartridge> under the working directory)."""
    docker_host: NotRequired[pulumi.Input[str]]
    """Docker endpoint the image is built on or pulled to (default: the Docker provider's, usually the local engine)."""
    glance: NotRequired[Glance]
    """Also upload the image to OpenStack Glance."""


# --------------------------------------------------------------------------- LB cluster


class Listener(TypedDict):
    """A port of the load balancer and the member port it forwards to."""

    proxy_port: int
    """Port HAProxy listens on."""
    port: int
    """Port of the members behind it."""
    protocol: NotRequired[str]
    """http or tcp (default http)."""
    publish: NotRequired[int]
    """Host port the LB container publishes proxy_port on (default proxy_port)."""


class LbHealthCheck(TypedDict):
    """Health checks of the members behind the load balancer."""

    enabled: NotRequired[bool]
    """Check members (default true)."""
    interval: NotRequired[float]
    """Seconds between checks (default 2)."""
    fall: NotRequired[int]
    """Failed checks before a member is taken out (default 2)."""
    rise: NotRequired[int]
    """Passed checks before a member is put back (default 1)."""


class Sticky(TypedDict):
    """Cookie-based session stickiness (http listeners)."""

    enabled: NotRequired[bool]
    """Keep a client on one member (default false)."""
    cookie: NotRequired[str]
    """Name of the cookie (default STRATOSID)."""


class Stats(TypedDict):
    """HAProxy's statistics page."""

    enabled: NotRequired[bool]
    """Serve the statistics page (default false)."""
    port: NotRequired[int]
    """Its port (default 8404)."""
    bind: NotRequired[str]
    """Host address it is published on: a loopback address (default 127.0.0.1)."""
    credentials_file: NotRequired[str]
    """Absolute path of a 0600 file holding ``user:password`` (required when enabled)."""


class LbClusterArgs(TypedDict):
    """A load balancer cluster: an LbCluster definition and where its HAProxy container runs."""

    name: str
    """Name of the LB cluster definition (subscriptions refer to it by this name)."""
    network_partition: NetworkPartitionArgs
    """The network partition the load balancer serves (the same value given to its NetworkPartition)."""
    type: NotRequired[str]
    """Load balancer type: haproxy, the only one (default haproxy)."""
    algorithm: NotRequired[str]
    """roundrobin, leastconn or source (default roundrobin)."""
    listeners: list[Listener]
    """The listeners (at least one)."""
    health_check: NotRequired[LbHealthCheck]
    """Health checks of the members."""
    sticky: NotRequired[Sticky]
    """Session stickiness."""
    stats: NotRequired[Stats]
    """Statistics page."""
    retries: NotRequired[int]
    """Times a failed connection is retried on another member (default 3)."""
    bind_address: NotRequired[str]
    """Host address the listeners are published on (default 0.0.0.0)."""
    cartridges: NotRequired[list[CartridgeArgs]]
    """Cartridges served behind this load balancer: their http health paths become the backends' checks."""
    image: NotRequired[str]
    """HAProxy image (default: the haproxy cartridge's tag, stratos/cartridge-haproxy:2.6)."""
    state_dir: NotRequired[str]
    """The Docker host's state directory (default /var/lib/stratos)."""
    docker_host: NotRequired[pulumi.Input[str]]
    """Docker endpoint the HAProxy container runs on (default: the network partition's first partition; required for openstack: its NetworkPartition's docker_host)."""
    security_group_id: NotRequired[pulumi.Input[str]]
    """OpenStack only: the network partition's security group, which gets one rule per listener (required for openstack)."""
    public_host: NotRequired[pulumi.Input[str]]
    """Host name in the URL outputs (default: the Docker endpoint's host, localhost for a local socket)."""


# --------------------------------------------------------------------------- application


class Credentials(TypedDict):
    """References to secrets on the Docker host, never the secrets themselves."""

    username: NotRequired[str]
    """User name for the git remote."""
    token_file: NotRequired[str]
    """Absolute path of a file holding an access token."""
    ssh_key_file: NotRequired[str]
    """Absolute path of an SSH private key."""
    webhook_secret_file: NotRequired[str]
    """Absolute path of the webhook's HMAC secret."""


class Artifact(TypedDict):
    """The git repository whose commits are deployed to the members."""

    url: str
    """Repository URL: https://, ssh:// or user@host:path, no credentials in it (http://, git://
    with allow_plaintext; file:// under the agent's <state>/git or STRATOS_GIT_FILE_ROOT)."""
    branch: NotRequired[str]
    """Branch deployed (default main)."""
    allow_plaintext: NotRequired[bool]
    """Allow the plaintext http:// and git:// transports (default false)."""
    ssh_known_hosts: NotRequired[str]
    """The ssh remote's host keys, known_hosts lines as ssh-keyscan prints them (else the file STRATOS_GIT_KNOWN_HOSTS names; a key is never trusted on first use)."""
    credentials: NotRequired[Credentials]
    """How to authenticate."""
    poll_interval: NotRequired[float]
    """Seconds between fetches; a webhook or stratos sync fetches at once (default 15)."""
    keep_releases: NotRequired[int]
    """Releases kept on disk for rollback, the current one included (default 5)."""
    health_path: NotRequired[str | None]
    """Release check: path every member must answer 2xx on within health_timeout after a release goes live, else the agent switches back to the last good release (default /; None: off, the cartridge's own health check still decides liveness)."""
    health_timeout: NotRequired[float]
    """Seconds a release has to pass its check before the agent switches back (default 30)."""
    pin: NotRequired[str | None]
    """A commit id to keep serving whatever the branch does (None: follow the branch)."""


class Subscription(TypedDict):
    """A cartridge used by the application: a cluster of members between min and max."""

    alias: str
    """Name of the subscription within the application."""
    cartridge: str
    """Name of the cartridge."""
    min: NotRequired[int]
    """Members kept at least (default 1)."""
    max: NotRequired[int]
    """Members allowed at most (default 1)."""
    autoscaling_policy: NotRequired[str]
    """Name of the autoscaling policy (none: the cluster stays at min)."""
    deployment_policy: str
    """Name of the deployment policy."""
    lb_cluster: NotRequired[str]
    """Name of the LB cluster the members are served behind."""
    artifact: NotRequired[Artifact]
    """Git repository deployed to the members."""
    environment: NotRequired[dict[str, str]]
    """Environment of the members, over the cartridge's."""
    links: NotRequired[list[str]]
    """Aliases of subscriptions whose exports this one receives (started first)."""


class Dependencies(TypedDict):
    """Ordering between the subscriptions of an application."""

    startup_order: NotRequired[list[list[str]]]
    """Chains of aliases, each started after the one before it."""
    scaling_dependents: NotRequired[list[list[str]]]
    """Groups of aliases that scale together."""
    termination_behaviour: NotRequired[str]
    """terminate-all, terminate-dependents or terminate-none (default terminate-none)."""


class Agent(TypedDict):
    """The resident agent that keeps the application's members between min and max."""

    image: NotRequired[str]
    """The agent image (default stratos/agent:<version of the core>)."""
    container_name: NotRequired[str]
    """Name of the agent container (default stratos-agent; one agent per Docker host)."""
    state_dir: NotRequired[str]
    """The host's state directory, bind-mounted at the same path (default /var/lib/stratos)."""
    interval: NotRequired[float]
    """Seconds between two ticks of the agent (default 5)."""
    environment: NotRequired[dict[str, str]]
    """Extra environment of the agent (for example STRATOS_BASE_IMAGE)."""
    docker_access: NotRequired[str]
    """How the agent (uid 10001, read-only root file system) reaches Docker: proxy (an allow-list proxy container, default), external (the docker.sock of your own socket proxy in proxy_dir) or socket (the engine's socket, the agent as root)."""
    proxy_dir: NotRequired[str]
    """Host directory of the Docker proxy's socket (default /run/stratos-docker-proxy/<container name>; required with docker_access external)."""
    proxy_image: NotRequired[str]
    """Image of the Docker proxy (default: the haproxy cartridge's image)."""
    http_split: NotRequired[bool]
    """Serve the webhook, /metrics and /status from a container of their own, <container name>-http (uid 10002, no Docker access, only <state>/agent mounted); default true unless docker_access is socket."""
    http_bind: NotRequired[str]
    """Address the webhook, /metrics and /status listen on, on the host's network (default 127.0.0.1)."""
    http_port: NotRequired[int]
    """Port of the webhook, /metrics and /status (default 9464)."""
    docker_host: NotRequired[pulumi.Input[str]]
    """Docker endpoint of the agent's host (default: the first partition of the first subscription's deployment policy; required for openstack: its NetworkPartition's docker_host)."""


class ApplicationArgs(TypedDict):
    """An application: its definition, the definitions it refers to, and its agent."""

    name: NotRequired[str]
    """Name of the application definition (default: the resource name)."""
    description: NotRequired[str]
    """What the application is."""
    subscriptions: list[Subscription]
    """The cartridges it uses (at least one)."""
    dependencies: NotRequired[Dependencies]
    """Ordering between subscriptions."""
    network_partition_policy: NotRequired[str]
    """one-after-another or all-at-once (default one-after-another)."""
    cartridges: list[CartridgeArgs]
    """The cartridges the subscriptions name (the same values given to their Cartridge components)."""
    deployment_policies: list[DeploymentPolicy]
    """The deployment policies the subscriptions name."""
    autoscaling_policies: NotRequired[list[AutoscalingPolicy]]
    """The autoscaling policies the subscriptions name."""
    lb_clusters: NotRequired[list[LbClusterArgs]]
    """The LB clusters the subscriptions name (their network partitions are included)."""
    network_partitions: NotRequired[list[NetworkPartitionArgs]]
    """Network partitions the deployment policies name, beyond those of the LB clusters."""
    agent: NotRequired[Agent]
    """The agent that receives the definitions."""
    protect_volumes: NotRequired[bool]
    """Protect the data volumes from deletion and keep them when the stack is destroyed (default true)."""
