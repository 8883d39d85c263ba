"""The actor's dispatch table, and the agent's loop against a member runtime held in memory."""

from __future__ import annotations

import itertools
import typing
from pathlib import Path
from typing import Any

import pytest
import yaml
from fake_runtime import FakeMemberRuntime
from test_loop import FakeRuntime

from stratos import status
from stratos.agent import actor as actorlib
from stratos.agent.events import EventStore
from stratos.agent.loop import Agent, AgentConfig
from stratos.drivers import docker as dockerlib
from stratos.drivers.members import MemberSpec, ObservedMember, ProbeResult
from stratos.errors import DriverError
from stratos.planning import reconcile
from stratos.scaling.observations import Placement
from stratos.store import StateStore
from stratos.validation import parse_definition

Setup = tuple[Agent, FakeMemberRuntime, FakeRuntime, StateStore]


def _unreachable(endpoint: str) -> Any:
    raise DriverError(f"no Docker in unit tests ({endpoint})")


def make_agent(tmp_path: Path, definitions_yaml: str, members: FakeMemberRuntime | None = None) -> Setup:
    store = StateStore(tmp_path / "state")
    store.ensure()
    for doc in yaml.safe_load_all(definitions_yaml):
        store.apply(store.plan_put(parse_definition(doc)))
    members = members or FakeMemberRuntime()
    lb = FakeRuntime()
    clock = itertools.count(1_000_000, 1)
    agent = Agent(
        store,
        runtime=members,
        docker=dockerlib.ClientPool(connect=_unreachable),
        events=EventStore(store.database),
        runtime_for=lambda name: lb,
        prober=lambda address, check, ports: ProbeResult(True, "ok"),
        clock=lambda: float(next(clock)),
        sleep=lambda s: None,
        config=AgentConfig(interval=1),
    )
    return agent, members, lb, store


@pytest.fixture
def setup(tmp_path: Path, definitions_yaml: str) -> typing.Iterator[Setup]:
    made = make_agent(tmp_path, definitions_yaml)
    yield made
    made[0].close()


def test_every_action_type_has_one_handler(setup: Setup) -> None:
    agent = setup[0]
    assert set(agent.actor.handlers) == set(typing.get_args(reconcile.Action))


START = reconcile.Start("shop", "web", Placement("local", "p1"), ("below min",))
STOP = reconcile.Stop("shop", "web", "m1", True, ("too many",))
REPLACE = reconcile.Stop("shop", "web", "m1", False, ("exited",), kind="replace")
REGISTER = reconcile.Register("shop", "web", "m1", "web", "be_8080", "10.0.0.1", 80, ("healthy",))
DEREGISTER = reconcile.Deregister("web", "be_8080", "gone", ("no member",))


@pytest.mark.parametrize(
    ("action", "line"),
    [
        (START, "start shop/web in local/p1 (below min)"),
        (STOP, "drain and remove m1 of shop/web (too many)"),
        (REPLACE, "remove m1 of shop/web (exited)"),
        (REGISTER, "register m1 as web/be_8080 10.0.0.1:80 (healthy)"),
        (DEREGISTER, "deregister web/be_8080/gone (no member)"),
    ],
    ids=["start", "drain", "replace", "register", "deregister"],
)
def test_describe_says_what_and_why(action: reconcile.Action, line: str) -> None:
    assert actorlib.describe(action) == line


def test_ticks_bring_up_db_then_web_through_the_runtime(setup: Setup) -> None:
    agent, members, lb, store = setup
    assert agent.tick().ok
    assert [m.subscription for m in members.members.values()] == ["db"]
    second = agent.tick()
    assert second.ok, second.failed
    web = members.of("web")
    assert sorted(m.partition for m in web) == ["p1", "p2"]
    assert sorted(lb.servers["be_8080"]) == sorted(m.member_id for m in web)
    data = status.read_status(store)
    sub = data.subscription("shop", "web") if data is not None else None
    assert sub is not None and (sub.healthy, sub.in_lb, sub.ready) == (2, 2, True)
    third = agent.tick()
    assert third.plan is not None and third.plan.actions == ()


def test_a_dead_member_is_stopped_and_replaced_through_the_runtime(setup: Setup) -> None:
    agent, members, lb, _ = setup
    agent.tick()
    agent.tick()
    victim = members.of("web")[0]
    members.exit(victim)
    result = agent.tick()
    assert result.ok, result.failed
    assert f"stop {victim.container_id}" in members.calls
    assert victim.member_id not in lb.servers["be_8080"] and len(members.of("web")) == 2


def test_a_start_that_fails_is_recorded_and_the_others_go_on(setup: Setup) -> None:
    agent, members, _, store = setup
    agent.tick()
    real = members.start_member
    starts = iter([DriverError("image not found"), None])

    def start(spec: MemberSpec, endpoint: str) -> ObservedMember:
        error = next(starts)
        if error is not None:
            raise error
        return real(spec, endpoint)

    members.start_member = start  # type: ignore[method-assign]
    result = agent.tick()
    assert len(result.failed) == 1 and "image not found" in result.failed[0]
    assert len(members.of("web")) == 1
    kinds = [e.kind for e in EventStore(store.database).events("shop", "web")]
    assert "start-failed" in kinds and "start" in kinds


def test_an_acting_tick_loads_and_plans_once(setup: Setup, monkeypatch: pytest.MonkeyPatch) -> None:
    agent, members, _, store = setup
    calls = {"plan": 0, "load": 0, "list": 0}
    real_plan, real_load, real_list = reconcile.plan, store.load, members.list_members

    def plan(*args: Any, **kwargs: Any) -> reconcile.Plan:
        calls["plan"] += 1
        return real_plan(*args, **kwargs)

    def load() -> Any:
        calls["load"] += 1
        return real_load()

    def list_members(endpoint: str) -> list[ObservedMember]:
        calls["list"] += 1
        return real_list(endpoint)

    monkeypatch.setattr(reconcile, "plan", plan)
    monkeypatch.setattr(store, "load", load)
    monkeypatch.setattr(members, "list_members", list_members)
    result = agent.tick()
    assert result.plan is not None and result.plan.actions  # it acted
    assert calls == {"plan": 1, "load": 1, "list": 1}


def test_watchers_follow_every_endpoint_of_the_runtime(setup: Setup) -> None:
    agent, members, _, _ = setup
    agent.config.lb_watch_interval = 0
    agent.start_watchers()
    assert [w.endpoint for w in members.watches] == [dockerlib.DEFAULT_ENDPOINT]
    agent.stop_watchers()
    assert all(w.closed for w in members.watches)


def test_an_engine_event_between_ticks_makes_the_next_tick_replace_the_member(setup: Setup) -> None:
    agent, members, lb, _ = setup
    agent.tick()
    agent.tick()
    victim = members.of("web")[0]
    lb.execute = lambda line: lb.calls.append(line) or ""  # type: ignore[method-assign]
    agent.member_event(victim.member_id, "oom")
    assert f"set server be_8080/{victim.member_id} state maint" in lb.calls
    result = agent.tick()
    assert result.ok, result.failed
    assert f"stop {victim.container_id}" in members.calls
    assert victim.member_id not in {m.member_id for m in members.of("web")}
