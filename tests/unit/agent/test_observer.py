"""The observer against a member runtime held in memory: endpoints, blind subscriptions, reports."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from fake_runtime import FakeMemberRuntime
from test_actor import Setup, make_agent

from stratos.agent.observer import KILL_GRACE, load_definitions
from stratos.errors import StratosError
from stratos.store import StateStore

FAR_APPLICATION = """
---
kind: Application
name: far
subscriptions:
  - {alias: api, cartridge: php, deployment_policy: far-only}
"""


@pytest.fixture
def far(tmp_path: Path, definitions_yaml: str, far_platform_yaml: str) -> Setup:
    return make_agent(tmp_path, definitions_yaml + far_platform_yaml + FAR_APPLICATION)


def test_an_endpoint_that_does_not_answer_makes_its_subscriptions_blind(far: Setup) -> None:
    agent, members, _, store = far
    members.down.add("tcp://192.0.2.1:2376")
    definitions = load_definitions(store)
    observed = agent.observer.members(definitions)
    assert observed == {} and not agent.observer.complete()
    blind = agent.observer.blind(definitions)
    assert list(blind) == [("far", "api")] and "192.0.2.1" in blind[("far", "api")]
    members.down.clear()
    agent.observer.members(definitions)
    assert agent.observer.complete() and agent.observer.blind(definitions) == {}


@pytest.mark.parametrize(
    ("action", "health", "later"),
    [("kill", "starting", "healthy"), ("die", "unhealthy", "unhealthy"), ("oom", "unhealthy", "unhealthy")],
    ids=["kill-waits-for-the-grace", "die-replaces", "oom-replaces"],
)
def test_what_the_engine_reported_overrides_the_probe(
    tmp_path: Path, definitions_yaml: str, action: str, health: str, later: str
) -> None:
    clock = itertools.count(0.0, 1.0)
    agent, members, _, store = make_agent(tmp_path, definitions_yaml)
    now = [100.0]
    agent.observer.monotonic = lambda: now[0]
    agent.tick()
    definitions = load_definitions(store)
    (db,) = members.of("db")
    agent.observer.report(db.member_id, action)
    observed = agent.observer.members(definitions)
    agent.observer.probe(definitions, observed.values())
    states = {m.member_id: m for m in agent.observer.world(definitions, observed, next(clock)).members}
    assert states[db.member_id].health == health
    now[0] += KILL_GRACE + 1
    states = {m.member_id: m for m in agent.observer.world(definitions, observed, next(clock)).members}
    assert states[db.member_id].health == later


@pytest.mark.parametrize("state", ["missing", "empty"])
def test_definitions_that_are_missing_or_empty_fail_the_load(tmp_path: Path, state: str) -> None:
    store = StateStore(tmp_path / "state")
    if state == "empty":
        store.ensure()
    with pytest.raises(StratosError, match="nothing is changed"):
        load_definitions(store)


def test_a_member_gone_from_the_runtime_is_not_running(tmp_path: Path, definitions_yaml: str) -> None:
    agent, members, _, _ = make_agent(tmp_path, definitions_yaml, FakeMemberRuntime())
    agent.tick()
    (db,) = members.of("db")
    assert agent.observer.still_running(db)
    members.members.clear()
    assert not agent.observer.still_running(db)
