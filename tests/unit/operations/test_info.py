"""info: the stored definitions (credentials hidden), their problems, the agent's view and the
platform's containers; a Docker endpoint that cannot be listed is a warning."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from stratos.drivers import docker as dockerlib
from stratos.errors import DriverError, ValidationError
from stratos.operations.definition import apply_definition
from stratos.operations.inventory import info

NOW = 1_000_000.0


@dataclass
class FakeContainer:
    name: str
    id: str
    attrs: dict[str, Any]


class FakeContainers:
    def __init__(self, found: list[FakeContainer] | Exception) -> None:
        self.found = found

    def list(self, all: bool, filters: dict[str, Any]) -> list[FakeContainer]:
        assert all and filters == {"label": [dockerlib.ROLE]}
        if isinstance(self.found, Exception):
            raise self.found
        return self.found


@dataclass
class FakeClient:
    containers: FakeContainers


def pool(found: list[FakeContainer] | Exception) -> dockerlib.ClientPool:
    return dockerlib.ClientPool(connect=lambda endpoint: FakeClient(FakeContainers(found)))  # type: ignore[arg-type,return-value]


def container(name: str, state: Path | None, **labels: str) -> FakeContainer:
    if state is not None:
        labels[dockerlib.STATE_ID] = dockerlib.state_id(state)
    labels.setdefault(dockerlib.ROLE, "member")
    labels[dockerlib.CONFIG] = "{secret}"
    attrs = {"Config": {"Labels": labels, "Image": "img"}, "State": {"Status": "running"}, "Mounts": []}
    return FakeContainer(name, f"id-{name}", attrs)


def test_offline_it_lists_the_stored_definitions_by_kind(tmp_path: Path) -> None:
    apply_definition(
        tmp_path, "Cartridge", "redis", definition={"version": "7", "image": {"ref": "redis:7"}}
    ).apply()
    plan = info(tmp_path, live=False)
    assert not plan.changes and not plan.changed
    assert plan.report["definitions"]["cartridges"]["redis"]["image"] == {"ref": "redis:7"}
    assert set(plan.report) == {"definitions", "problems"} and plan.report["problems"] == []
    assert list(info(tmp_path, kind="Cartridge", live=False).report["definitions"]) == ["cartridges"]
    assert info(tmp_path, name="other", live=False).report["definitions"]["cartridges"] == {}


@pytest.mark.parametrize(
    ("text", "problem"),
    [("kind: Cartridge\nname: bad\nimage: 1\n", "cartridges/bad"), ("a: [1", "is not valid YAML")],
    ids=["invalid", "not-yaml"],
)
def test_a_broken_stored_file_is_a_problem_not_a_failure(tmp_path: Path, text: str, problem: str) -> None:
    (tmp_path / "definitions" / "cartridges").mkdir(parents=True)
    (tmp_path / "definitions" / "cartridges" / "bad.yml").write_text(text)
    plan = info(tmp_path, live=False)
    assert plan.report["definitions"]["cartridges"] == {}
    assert any(problem in p for p in plan.report["problems"]), plan.report["problems"]


def test_an_invalid_name_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError):
        info(tmp_path, name="../x")


def test_live_it_reports_the_agent_applications_and_our_containers(tmp_path: Path) -> None:
    (tmp_path / "agent").mkdir()
    status = {
        "time": NOW - 3,
        "tick": {"n": 7},
        "applications": {"shop": {"subscriptions": {"web": {"min": 1}}}},
    }
    (tmp_path / "agent" / "status.json").write_text(json.dumps(status))
    found = [
        container("shop-web-1", tmp_path, **{dockerlib.APPLICATION: "shop"}),
        container("foreign", None),
        container("blog-web-1", tmp_path, **{dockerlib.APPLICATION: "blog"}),
    ]
    plan = info(tmp_path, pool=pool(found), now=lambda: NOW)
    report = plan.report
    assert report["agent"] == {"time": NOW - 3, "age": 3.0, "tick": {"n": 7}}
    assert report["applications"] == {"shop": {"subscriptions": {"web": {"min": 1}}}}
    assert [c["name"] for c in report["containers"]] == ["blog-web-1", "shop-web-1"]
    assert dockerlib.CONFIG not in report["containers"][0]["labels"]  # the agent's configuration stays out
    assert report["containers"][0]["endpoint"] == dockerlib.DEFAULT_ENDPOINT
    named = info(tmp_path, kind="Application", name="shop", pool=pool(found), now=lambda: NOW).report
    assert [c["name"] for c in named["containers"]] == ["shop-web-1"] and named["load_balancers"] == {}


def test_an_endpoint_that_cannot_be_listed_is_a_warning(tmp_path: Path) -> None:
    plan = info(tmp_path, pool=pool(DriverError("refused")), now=lambda: NOW)
    assert plan.report["containers"] == [] and plan.report["agent"] is None
    assert plan.report["warnings"] == ["containers not listed: refused"]
