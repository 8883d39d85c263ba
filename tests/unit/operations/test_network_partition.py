"""apply_network_partition: the definition and one Docker network per endpoint, in one plan."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from unit.drivers.test_network import FakeClient

from stratos.drivers.network import LABEL, NetworkInUseError
from stratos.operations.network_partition import apply_network_partition

LOCAL = "unix:///var/run/docker.sock"
REMOTE = "tcp://10.0.0.2:2375"


def body(subnet: str | None = None, endpoints: tuple[str, ...] = (LOCAL,), **network: Any) -> dict[str, Any]:
    if subnet:
        network["subnet"] = subnet
    partitions = [{"name": f"p{i}", "endpoint": e} for i, e in enumerate(endpoints)]
    return {"partitions": partitions, "network": network}


@pytest.fixture
def clients() -> dict[str, FakeClient]:
    return {LOCAL: FakeClient(), REMOTE: FakeClient()}


def run(state: Path, clients: dict[str, FakeClient], definition: dict[str, Any] | None) -> Any:
    return apply_network_partition(
        state, "local", present=definition is not None, definition=definition, connect=clients.__getitem__
    )


def test_create_plans_the_definition_then_each_endpoints_network(
    tmp_path: Path, clients: dict[str, FakeClient]
) -> None:
    plan = run(tmp_path, clients, body("10.77.0.0/24", (LOCAL, REMOTE)))
    assert [(c.kind, c.action, c.where) for c in plan.changes] == [
        ("NetworkPartition", "create", ""),
        ("docker-network", "create", LOCAL),
        ("docker-network", "create", REMOTE),
    ]
    assert [n["endpoint"] for n in plan.report["networks"]] == [LOCAL, REMOTE]
    assert all(not c.calls for c in clients.values())  # planning created nothing
    plan.apply()
    assert clients[LOCAL].calls == [("create", "stratos-local", "10.77.0.0/24")]
    assert (tmp_path / "definitions/network_partitions/local.yml").is_file()
    assert not run(tmp_path, clients, body("10.77.0.0/24", (LOCAL, REMOTE))).changed


def test_a_renamed_network_replaces_the_old_one(tmp_path: Path, clients: dict[str, FakeClient]) -> None:
    run(tmp_path, clients, body()).apply()
    plan = run(tmp_path, clients, body(name="shop-net"))
    assert [(c.name, c.action) for c in plan.changes[1:]] == [
        ("shop-net", "create"),
        ("stratos-local", "remove"),
    ]
    plan.apply()
    assert [n.name for n in clients[LOCAL].nets.values()] == ["shop-net"]


def test_removal_takes_the_network_then_the_definition(
    tmp_path: Path, clients: dict[str, FakeClient]
) -> None:
    run(tmp_path, clients, body()).apply()
    plan = run(tmp_path, clients, None)
    assert [c.action for c in plan.changes] == ["remove", "remove"]
    plan.apply()
    assert not clients[LOCAL].nets
    assert not (tmp_path / "definitions/network_partitions/local.yml").exists()


def test_a_network_in_use_fails_the_plan_and_keeps_the_definition(
    tmp_path: Path, clients: dict[str, FakeClient]
) -> None:
    run(tmp_path, clients, body()).apply()
    clients[LOCAL].nets.clear()
    clients[LOCAL].add("stratos-local", None, {LABEL: "local"}, containers=("shop-web-1",))
    with pytest.raises(NetworkInUseError, match="shop-web-1"):
        run(tmp_path, clients, None)
    assert (tmp_path / "definitions/network_partitions/local.yml").is_file()


def test_an_openstack_partition_has_no_docker_network(tmp_path: Path, clients: dict[str, FakeClient]) -> None:
    definition = {
        "provider": "openstack",
        "partitions": [{"name": "p1"}],
        "openstack": {"external_network": "x"},
    }
    plan = apply_network_partition(tmp_path, "cloud", definition=definition, connect=clients.__getitem__)
    assert [c.kind for c in plan.changes] == ["NetworkPartition"]
    assert plan.report["networks"] == []
