"""The Docker network of a network partition: planned purely from what exists, then applied.

A network partition's members and its load balancer share one Docker network per Docker endpoint,
named ``NetworkPartition.network_name()`` and labelled ``org.stratos.network-partition=<name>``.
:func:`plan_network` and :func:`plan_network_removal` only read; :func:`apply_network` acts on the
plan, so a front end's check mode and diff come from the same record as the real change.

Rules:

- a missing network is created (with the definition's subnet, if it names one);
- an existing network labelled for this partition whose subnet differs is recreated, unless
  containers are attached (then the plan fails naming them);
- an existing network without the label (made by hand) is used as is when its subnet fits, and is
  never removed;
- an existing network labelled for another partition is a conflict;
- removing a network that still has containers attached fails naming them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import docker
import docker.errors

from stratos.changes import Change
from stratos.drivers.docker import NETWORK_PARTITION
from stratos.endpoints import docker_endpoints as docker_endpoints  # its home is stratos.endpoints
from stratos.errors import DriverError
from stratos.model import NetworkPartition

#: The label that marks a network as owned by a network partition (its value: the partition's name).
LABEL = NETWORK_PARTITION

Action = Literal["create", "recreate", "remove", "none"]


class NetworkConflictError(DriverError):
    """A network exists but cannot be used or changed as the definition asks (permanent)."""

    temporary = False


class NetworkInUseError(DriverError):
    """A network cannot be removed or recreated while containers are attached to it."""

    def __init__(self, name: str, containers: list[str], doing: str):
        self.name = name
        self.containers = list(containers)
        super().__init__(
            f"docker network '{name}' cannot be {doing}: containers still attached: "
            + ", ".join(self.containers)
        )


@dataclass(frozen=True)
class NetworkSpecSummary:
    """The parts of a Docker network the platform cares about."""

    name: str
    driver: str = "bridge"
    subnet: str | None = None
    labels: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "driver": self.driver}
        if self.subnet is not None:
            data["subnet"] = self.subnet
        data["labels"] = dict(sorted(self.labels.items()))
        return data


def network_change(
    name: str,
    action: Action,
    before: NetworkSpecSummary | None,
    after: NetworkSpecSummary | None,
    reason: str = "",
    endpoint: str = "",
) -> Change:
    """The change record of one endpoint's network (kind ``docker-network``)."""
    return Change(
        "docker-network",
        name,
        action,
        before.as_dict() if before is not None else None,
        after.as_dict() if after is not None else None,
        (reason,) if reason else (),
        where=endpoint,
        title=f"docker network {name}",
    )


def network_report(change: Change) -> dict[str, Any]:
    """What a front end returns about one network: name, endpoint, action and reason."""
    return {
        "name": change.name,
        "endpoint": change.where,
        "action": change.action,
        "reason": change.reasons[0] if change.reasons else "",
    }


def desired_network(np: NetworkPartition) -> NetworkSpecSummary:
    subnet = str(np.network.subnet) if np.network.subnet is not None else None
    return NetworkSpecSummary(np.network_name(), "bridge", subnet, {LABEL: np.name})


def connect(endpoint: str, timeout: float = 60) -> docker.DockerClient:
    """A Docker client for an endpoint. The caller owns it (and closes it)."""
    try:
        return docker.DockerClient(
            base_url=endpoint, timeout=int(timeout), use_ssh_client=endpoint.startswith("ssh://")
        )
    except docker.errors.DockerException as exc:
        raise DriverError(f"cannot reach the Docker Engine at {endpoint}: {exc}") from exc


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class _Existing:
    id: str
    summary: NetworkSpecSummary
    containers: list[str]


def _find(client: docker.DockerClient, name: str) -> _Existing | None:
    try:
        matches = [n for n in client.networks.list(names=[name]) if n.name == name]
        if not matches:
            return None
        attrs = client.networks.get(matches[0].id).attrs
    except docker.errors.NotFound:
        return None
    except docker.errors.DockerException as exc:
        raise DriverError(f"cannot inspect docker network '{name}': {exc}") from exc
    configs = (attrs.get("IPAM") or {}).get("Config") or []
    subnets = [c["Subnet"] for c in configs if c.get("Subnet")]
    summary = NetworkSpecSummary(
        name=attrs.get("Name", name),
        driver=attrs.get("Driver", ""),
        subnet=subnets[0] if subnets else None,
        labels={k: v for k, v in (attrs.get("Labels") or {}).items() if k == LABEL},
    )
    containers = sorted(c.get("Name", cid[:12]) for cid, c in (attrs.get("Containers") or {}).items())
    return _Existing(attrs.get("Id", matches[0].id), summary, containers)


# --------------------------------------------------------------------------- planning (reads only)


def plan_network(client: docker.DockerClient, np: NetworkPartition, endpoint: str = "") -> Change:
    """What making this endpoint's network match the network partition does. Reads only."""
    want = desired_network(np)
    found = _find(client, want.name)
    if found is None:
        return network_change(want.name, "create", None, want, "does not exist", endpoint)
    have = found.summary
    owner = have.labels.get(LABEL)
    if owner is not None and owner != np.name:
        raise NetworkConflictError(
            f"docker network '{want.name}' belongs to network partition '{owner}', not '{np.name}'; "
            "give network.name another value"
        )
    subnet_fits = want.subnet is None or want.subnet == have.subnet
    if owner is None:
        if not subnet_fits:
            raise NetworkConflictError(
                f"docker network '{want.name}' exists (not created by Stratos) with subnet "
                f"{have.subnet or '(none)'}, but network.subnet is {want.subnet}; remove it or change "
                "network.subnet"
            )
        return network_change(
            want.name, "none", have, have, "exists, not created by Stratos: used as is", endpoint
        )
    if subnet_fits:
        return network_change(want.name, "none", have, have, "exists", endpoint)
    if found.containers:
        raise NetworkInUseError(want.name, found.containers, f"recreated with subnet {want.subnet}")
    return network_change(
        want.name, "recreate", have, want, f"subnet {have.subnet} differs from {want.subnet}", endpoint
    )


def plan_network_removal(
    client: docker.DockerClient, name: str, partition: str | None = None, endpoint: str = ""
) -> Change:
    """What removing a network does. Only networks labelled for ``partition`` (or, when it is None,
    for any network partition) are removed; others are left alone. Reads only."""
    found = _find(client, name)
    if found is None:
        return network_change(name, "none", None, None, "does not exist", endpoint)
    owner = found.summary.labels.get(LABEL)
    if owner is None or (partition is not None and owner != partition):
        why = "not created by Stratos" if owner is None else f"belongs to network partition '{owner}'"
        return network_change(name, "none", found.summary, found.summary, f"{why}: left in place", endpoint)
    if found.containers:
        raise NetworkInUseError(name, found.containers, "removed")
    return network_change(name, "remove", found.summary, None, "removed with its network partition", endpoint)


# --------------------------------------------------------------------------- acting


def apply_network(client: docker.DockerClient, change: Change) -> None:
    """Carry out a planned change."""
    try:
        if change.action in ("remove", "recreate"):
            found = _find(client, change.name)
            if found is not None:
                if found.containers:
                    raise NetworkInUseError(change.name, found.containers, "removed")
                client.networks.get(found.id).remove()
        if change.action in ("create", "recreate"):
            assert isinstance(change.after, Mapping)
            _create(client, _summary(change.after))
    except docker.errors.DockerException as exc:
        raise DriverError(f"docker network '{change.name}': {exc}") from exc


def _summary(shown: Mapping[str, Any]) -> NetworkSpecSummary:
    return NetworkSpecSummary(shown["name"], shown["driver"], shown.get("subnet"), dict(shown["labels"]))


def _create(client: docker.DockerClient, want: NetworkSpecSummary) -> None:
    ipam = None
    if want.subnet is not None:
        ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=want.subnet)])
    client.networks.create(want.name, driver=want.driver, ipam=ipam, labels=dict(want.labels))


def ensure_network(client: docker.DockerClient, np: NetworkPartition) -> Change:
    """Make the network match the network partition; returns what was done."""
    change = plan_network(client, np)
    apply_network(client, change)
    return change


def remove_network(client: docker.DockerClient, name: str, partition: str | None = None) -> Change:
    """Remove a network created for a network partition; returns what was done."""
    change = plan_network_removal(client, name, partition)
    apply_network(client, change)
    return change
