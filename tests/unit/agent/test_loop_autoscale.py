"""The loop with an autoscaling policy: fake Docker (stats too), fake HAProxy (show stat too), a
clock the test moves by one second before each tick. Requests in flight drive the decisions."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_loop import FakeDocker, FakeRuntime

from stratos import status
from stratos.agent import metrics
from stratos.agent.events import EventStore
from stratos.agent.loop import Agent, AgentConfig, TickResult
from stratos.drivers import docker as dockerlib
from stratos.drivers import haproxy
from stratos.drivers.members import ProbeResult
from stratos.store import StateStore
from stratos.validation import parse_definition

POLICY = {
    "kind": "AutoscalingPolicy",
    "name": "fast",
    "thresholds": {"requests_in_flight": 4, "load_average": 90},
    "behaviour": {
        "evaluation_interval": 1,
        "prediction_horizon": 0,
        "smoothing_window": 2,
        "tolerance": 0.1,
        "scale_down_stabilisation": 5,
        "max_step": 2,
    },
}


class LoadedRuntime(FakeRuntime):
    """HAProxy whose servers each hold ``in_flight`` requests."""

    def __init__(self) -> None:
        super().__init__()
        self.in_flight = 0

    def stat(self) -> list[haproxy.StatRow]:
        rows = [haproxy.StatRow("be_8080", "BACKEND", "backend", "UP", 0, 0, 0, 0, 0, "", "")]
        for name in self.servers["be_8080"]:
            rows.append(
                haproxy.StatRow("be_8080", name, "server", "UP", self.in_flight, 0, 0, 0, 1, "L7OK", "")
            )
        return rows


class Stats:
    """Docker stats: every member used ``busy`` CPUs over the last second (of a limit of 0.5 in the
    test definitions), and 64 MiB of its 256 MiB without page cache."""

    def __init__(self) -> None:
        self.busy = 0.25

    def __call__(self, endpoint: str, container_id: str) -> Mapping[str, Any]:
        used = int(self.busy * 1e9)
        return {
            "cpu_stats": {
                "cpu_usage": {"total_usage": 1_000_000_000 + used},
                "system_cpu_usage": 3_000_000_000,
                "online_cpus": 2,
            },
            "precpu_stats": {
                "cpu_usage": {"total_usage": 1_000_000_000},
                "system_cpu_usage": 1_000_000_000,
                "online_cpus": 2,
            },
            "memory_stats": {
                "usage": 80 << 20,
                "limit": 256 << 20,
                "stats": {"total_inactive_file": 16 << 20},
            },
        }


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def tick(agent: Agent, n: int = 1) -> TickResult:
    for _ in range(n):
        agent.clock.now += 1.0  # type: ignore[attr-defined]
        result = agent.tick()
        assert result.ok, (result.error, result.failed)
    return result


def make_agent(store: StateStore, fake: FakeDocker, runtime: FakeRuntime, clock: Clock) -> Agent:
    return Agent(
        store,
        docker=dockerlib.ClientPool(connect=lambda endpoint: fake),  # type: ignore[arg-type, return-value]
        events=EventStore(store.database),
        runtime_for=lambda lb: runtime,
        prober=lambda address, check, ports: ProbeResult(True, "ok"),
        clock=clock,
        sleep=lambda s: None,
        config=AgentConfig(interval=1, sample_interval=0),
        stats=Stats(),
    )


#: What :func:`setup` gives: the agent and its fake Docker, its fake loaded LB runtime, its store.
Setup = tuple[Agent, FakeDocker, LoadedRuntime, StateStore]


@pytest.fixture
def setup(tmp_path: Path, definitions_yaml: str) -> Iterator[Setup]:
    store = StateStore(tmp_path / "state")
    store.ensure()
    docs = list(yaml.safe_load_all(definitions_yaml))
    for doc in docs:
        if doc["kind"] == "Application":
            doc["subscriptions"][1]["autoscaling_policy"] = "fast"
    for doc in [POLICY, *docs]:
        store.apply(store.plan_put(parse_definition(doc)))
    fake, runtime = FakeDocker(), LoadedRuntime()
    agent = make_agent(store, fake, runtime, Clock(1_000_000.0))
    yield agent, fake, runtime, store
    agent.close()


def web_members(fake: FakeDocker) -> list[str]:
    return sorted(
        c.labels[dockerlib.PARTITION]
        for c in fake.containers_by_name.values()
        if c.labels[dockerlib.SUBSCRIPTION] == "web"
    )


def test_load_scales_out_then_back_in_and_every_step_is_recorded(setup: Setup) -> None:
    agent, fake, runtime, store = setup
    tick(agent, 2)
    assert web_members(fake) == ["p1", "p2"]

    runtime.in_flight = 5  # 10 in flight, 4 per member: 3 members; then 15 for 3: 4
    tick(agent)
    assert web_members(fake) == ["p1", "p1", "p2"]
    tick(agent)
    assert web_members(fake) == ["p1", "p1", "p2", "p2"]
    scale = [e for e in EventStore(store.database).events("shop", "web") if e.kind == "scale"]
    assert [(e.from_count, e.to_count) for e in scale] == [(0, 2), (2, 3), (3, 4)]
    assert [e.details["rule"] for e in scale] == ["min", "scale-up", "scale-up"]
    scale = scale[1:]
    assert scale[0].details["factors"]["requests_in_flight"]["measured"] == 10.0
    assert any(r.startswith("requests_in_flight: measured 10.0") for r in scale[0].reasons)
    starts = [e for e in EventStore(store.database).events("shop", "web") if e.kind == "start"]
    assert "scale-up 2 -> 3 (requests_in_flight)" in starts[-2].reasons

    data = status.read_status(store)
    web = data.subscription("shop", "web") if data is not None else None
    assert web is not None and web.autoscaling is not None
    assert web.desired == 4
    assert web.cpu_percent == 50.0 and web.memory_percent == 25.0
    assert web.autoscaling.rule == "scale-up"
    # Members started in this tick have not been read yet; reads run in the background.
    assert 50.0 in {m.cpu_percent for m in web.members} <= {50.0, None}

    runtime.in_flight = 0
    agent.observer.sampler._read.busy = 0.01  # type: ignore[attr-defined]
    tick(agent, 4)  # the scale-down waits for the stabilisation window (5 s)
    assert len(web_members(fake)) == 4
    tick(agent, 4)
    assert web_members(fake) == ["p1", "p2"]
    drains = [c for c in runtime.calls if c.startswith("drain")]
    assert len(drains) == 2
    snapshot = agent.recorder.snapshot()
    assert snapshot.actions[("shop", "web", "up")] == 3  # min 0 -> 2, then 2 -> 3 -> 4
    assert snapshot.actions[("shop", "web", "down")] >= 1
    text = metrics.render(snapshot)
    assert 'stratos_desired_members{application="shop",subscription="web"} 2.0' in text
    assert (
        'stratos_factor_value{application="shop",factor="requests_in_flight",subscription="web"} 0.0' in text
    )
    assert EventStore(store.database).samples("shop", "web")


def test_a_restarted_agent_continues_with_the_decided_count(setup: Setup) -> None:
    agent, fake, runtime, store = setup
    tick(agent, 2)
    runtime.in_flight = 6  # 12 in flight: 3 members
    tick(agent)
    assert len(web_members(fake)) == 3
    saved = json.loads((store.agent_dir / "scaling.json").read_text())
    assert saved["subscriptions"]["shop/web"]["desired"] == 3
    agent.close()

    runtime.in_flight = 4  # 12 in flight over 3: hold
    fresh = make_agent(store, fake, runtime, Clock(1_000_100.0))
    try:
        fresh.clock.now += 1  # type: ignore[attr-defined]
        result = fresh.tick()
        assert result.plan is not None and result.plan.actions == ()
        assert (
            fresh.autoscaler.states[("shop", "web")].since
            == saved["subscriptions"]["shop/web"]["state"]["since"]
        )
    finally:
        fresh.close()


def test_dry_run_decides_but_writes_nothing(setup: Setup) -> None:
    agent, fake, runtime, store = setup
    tick(agent, 2)
    runtime.in_flight = 10
    agent.config.dry_run = True
    result = tick(agent)
    assert [d.split(" (")[0] for d in result.done] == [
        "start shop/web in local/p1",
        "start shop/web in local/p2",
    ]
    assert len(web_members(fake)) == 2
    scale = [e.to_count for e in EventStore(store.database).events("shop") if e.kind == "scale"]
    assert scale == [2]  # the first decision (min) only
    assert (
        json.loads((store.agent_dir / "scaling.json").read_text())["subscriptions"]["shop/web"]["desired"]
        == 2
    )
