from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from stratos.drivers.network import (
    LABEL,
    NetworkConflictError,
    NetworkInUseError,
    apply_network,
    ensure_network,
    network_report,
    plan_network,
    plan_network_removal,
    remove_network,
)
from stratos.model import NetworkPartition


@dataclass
class FakeNetwork:
    client: FakeClient
    id: str
    name: str
    attrs: dict[str, Any]

    def remove(self) -> None:
        self.client.calls.append(("remove", self.name))
        del self.client.nets[self.id]


@dataclass
class FakeNetworks:
    client: FakeClient

    def list(self, names: list[str]) -> list[FakeNetwork]:
        # Like the Engine, the name filter also matches on substrings.
        return [n for n in self.client.nets.values() if any(x in n.name for x in names)]

    def get(self, network_id: str) -> FakeNetwork:
        return self.client.nets[network_id]

    def create(self, name: str, driver: str, ipam: Any, labels: dict[str, str]) -> FakeNetwork:
        subnet = ipam["Config"][0]["Subnet"] if ipam else None
        self.client.calls.append(("create", name, subnet))
        return self.client.add(name, subnet, labels)


@dataclass
class FakeClient:
    nets: dict[str, FakeNetwork] = field(default_factory=dict)
    calls: list[tuple[Any, ...]] = field(default_factory=list)

    @property
    def networks(self) -> FakeNetworks:
        return FakeNetworks(self)

    def add(
        self, name: str, subnet: str | None, labels: dict[str, str], containers: tuple[str, ...] = ()
    ) -> FakeNetwork:
        nid = f"id-{len(self.nets)}-{name}"
        attrs = {
            "Id": nid,
            "Name": name,
            "Driver": "bridge",
            "Labels": labels,
            "IPAM": {"Config": [{"Subnet": subnet}] if subnet else []},
            "Containers": {f"c{i}": {"Name": c} for i, c in enumerate(containers)},
        }
        self.nets[nid] = FakeNetwork(self, nid, name, attrs)
        return self.nets[nid]


def partition(subnet: str | None = None, **network: Any) -> NetworkPartition:
    spec: dict[str, Any] = {"name": "local", "partitions": [{"name": "p1"}, {"name": "p2"}]}
    if subnet:
        network["subnet"] = subnet
    if network:
        spec["network"] = network
    return NetworkPartition.model_validate(spec)


OURS = {LABEL: "local"}


@pytest.mark.parametrize(
    ("existing", "subnet", "action"),
    [
        ([], None, "create"),
        ([], "10.77.0.0/24", "create"),
        ([("stratos-local", None, OURS)], None, "none"),
        ([("stratos-local", "10.77.0.0/24", OURS)], None, "none"),
        ([("stratos-local", "10.77.0.0/24", OURS)], "10.77.0.0/24", "none"),
        ([("stratos-local", "10.66.0.0/24", OURS)], "10.77.0.0/24", "recreate"),
        ([("stratos-local", None, {})], None, "none"),
        ([("stratos-local-2", None, OURS)], None, "create"),
    ],
    ids=[
        "missing",
        "missing-with-subnet",
        "exists",
        "exists-any-subnet-fits",
        "exists-same-subnet",
        "subnet-differs",
        "adopts-unlabelled",
        "substring-name-is-another-network",
    ],
)
def test_plan(
    existing: list[tuple[str, str | None, dict[str, str]]], subnet: str | None, action: str
) -> None:
    client = FakeClient()
    for name, net, labels in existing:
        client.add(name, net, labels)
    change = plan_network(client, partition(subnet))  # type: ignore[arg-type]
    assert change.action == action
    assert change.changed == (action != "none")
    assert client.calls == []


@pytest.mark.parametrize(
    ("labels", "subnet", "message"),
    [
        ({LABEL: "other"}, None, "belongs to network partition 'other'"),
        ({}, "10.77.0.0/24", "not created by Stratos"),
    ],
    ids=["owned-by-another-partition", "unlabelled-with-other-subnet"],
)
def test_plan_conflicts(labels: dict[str, str], subnet: str | None, message: str) -> None:
    client = FakeClient()
    client.add("stratos-local", "10.66.0.0/24", labels)
    with pytest.raises(NetworkConflictError, match=message):
        plan_network(client, partition(subnet))  # type: ignore[arg-type]


def test_recreate_refused_while_containers_attached() -> None:
    client = FakeClient()
    client.add("stratos-local", "10.66.0.0/24", OURS, containers=("web-1", "lb"))
    with pytest.raises(NetworkInUseError, match="containers still attached: lb, web-1"):
        plan_network(client, partition("10.77.0.0/24"))  # type: ignore[arg-type]


def test_ensure_creates_then_is_idempotent() -> None:
    client = FakeClient()
    np = partition("10.77.0.0/24", name="shared")
    assert ensure_network(client, np).action == "create"  # type: ignore[arg-type]
    assert ensure_network(client, np).action == "none"  # type: ignore[arg-type]
    assert client.calls == [("create", "shared", "10.77.0.0/24")]


def test_recreate_applies_remove_then_create() -> None:
    client = FakeClient()
    client.add("stratos-local", "10.66.0.0/24", OURS)
    apply_network(client, plan_network(client, partition("10.77.0.0/24")))  # type: ignore[arg-type]
    assert client.calls == [("remove", "stratos-local"), ("create", "stratos-local", "10.77.0.0/24")]


@pytest.mark.parametrize(
    ("labels", "action"),
    [(OURS, "remove"), ({}, "none"), ({LABEL: "other"}, "none")],
    ids=["ours", "unlabelled-left-alone", "another-partitions-left-alone"],
)
def test_removal(labels: dict[str, str], action: str) -> None:
    client = FakeClient()
    client.add("stratos-local", None, labels)
    change = remove_network(client, "stratos-local", "local")  # type: ignore[arg-type]
    assert change.action == action
    assert (client.nets == {}) == (action == "remove")


def test_removal_of_missing_network_is_no_change() -> None:
    assert plan_network_removal(FakeClient(), "stratos-local").action == "none"  # type: ignore[arg-type]


def test_removal_refused_while_containers_attached() -> None:
    client = FakeClient()
    client.add("stratos-local", None, OURS, containers=("shop-web-1",))
    with pytest.raises(NetworkInUseError, match="cannot be removed: containers still attached: shop-web-1"):
        plan_network_removal(client, "stratos-local", "local")  # type: ignore[arg-type]


def test_the_change_shows_before_and_after() -> None:
    client = FakeClient()
    change = plan_network(client, partition("10.77.0.0/24"), "unix:///var/run/docker.sock")  # type: ignore[arg-type]
    assert change.before is None and isinstance(change.after, dict)
    assert change.after["subnet"] == "10.77.0.0/24" and change.after["labels"] == {LABEL: "local"}
    assert change.label == "docker network stratos-local on unix:///var/run/docker.sock"
    assert network_report(change) == {
        "name": "stratos-local",
        "endpoint": "unix:///var/run/docker.sock",
        "action": "create",
        "reason": "does not exist",
    }
