"""The Docker endpoints of a state directory (stratos.endpoints)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from stratos import endpoints
from stratos.model import NetworkPartition
from stratos.store import StateStore
from stratos.validation import DefinitionSet, parse_definition

LOCAL = "unix:///var/run/docker.sock"
REMOTE = "tcp://10.0.0.2:2375"


def partition(name: str, *endpoints_: str, provider: str = "docker") -> dict[str, Any]:
    return {
        "kind": "NetworkPartition",
        "name": name,
        "provider": provider,
        "partitions": [{"name": f"p{i}", "endpoint": e} for i, e in enumerate(endpoints_)],
    }


def test_endpoints_are_distinct_and_openstack_has_none() -> None:
    np = NetworkPartition.model_validate(
        {k: v for k, v in partition("two", LOCAL, REMOTE, LOCAL).items() if k != "kind"}
    )
    assert endpoints.docker_endpoints(np) == [LOCAL, REMOTE]
    assert endpoints.docker_endpoints(np.model_copy(update={"provider": "openstack"})) == []


@pytest.mark.parametrize(
    ("partitions", "always_local", "expected"),
    [
        pytest.param([], False, [LOCAL], id="none-falls-back-to-local"),
        pytest.param([], True, [LOCAL], id="none-always-local"),
        pytest.param([partition("a", REMOTE)], False, [REMOTE], id="remote-only"),
        pytest.param([partition("a", REMOTE)], True, [LOCAL, REMOTE], id="local-first"),
        pytest.param(
            [partition("a", REMOTE, LOCAL), partition("b", REMOTE)],
            False,
            [REMOTE, LOCAL],
            id="distinct-in-order",
        ),
        pytest.param([partition("o", REMOTE, provider="openstack")], False, [LOCAL], id="openstack-has-none"),
    ],
)
def test_of_definitions(partitions: list[dict[str, Any]], always_local: bool, expected: list[str]) -> None:
    ds = DefinitionSet()
    for np in partitions:
        ds.add(parse_definition(np))
    assert endpoints.of_definitions(ds, always_local=always_local) == expected


def test_of_state_reads_the_stored_partitions_and_skips_a_broken_file(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    store.ensure()
    store.apply(store.plan_put(parse_definition(partition("a", REMOTE))))
    broken = store.definition_path("NetworkPartition", "b")
    broken.write_text("kind: NetworkPartition\nname: b\npartitions: nope\n")
    assert endpoints.of_state(store) == [REMOTE]
    assert endpoints.of_state(store, always_local=True) == [LOCAL, REMOTE]
