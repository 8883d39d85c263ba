"""Reacting between ticks (fake Docker and HAProxy, injected clocks): an HAProxy restart is noticed
and the members put back at once; an engine event takes a member out of HAProxy at once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_loop import FakeDocker, FakeRuntime, make_setup

from stratos.agent import loop as looplib
from stratos.agent.loop import Agent
from stratos.agent.watch import LbWatch
from stratos.drivers import docker as dockerlib
from stratos.errors import DriverError
from stratos.store import StateStore


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


class Haproxy(FakeRuntime):
    """The fake runtime API with ``show info`` and the commands the watchers send."""

    def __init__(self) -> None:
        super().__init__()
        self.pid = "8"
        self.uptime = 100.0
        self.executed: list[str] = []

    def info(self) -> dict[str, str]:
        if self.down:
            raise DriverError("haproxy: runtime API socket does not exist")
        return {"Pid": self.pid, "Uptime_sec": str(int(self.uptime))}

    def execute(self, line: str) -> str:
        self.executed.append(line)
        return ""

    def restart(self) -> None:
        """What a restart does to the servers added at run time: gone."""
        self.pid = str(int(self.pid) + 1)
        self.uptime = 0.0
        self.servers = {"be_8080": {}}


@pytest.mark.parametrize(
    ("change", "restarted"),
    [
        ({"advance": 5}, False),
        ({"pid": "9", "advance": 5}, True),  # a reload: a new worker
        ({"uptime": 1, "advance": 5}, True),  # a restart of the container: same pid, uptime went back
        ({"down_then_up": True, "advance": 5}, True),
    ],
    ids=["running-on", "reloaded", "restarted-same-pid", "unreachable-then-back"],
)
def test_lb_watch_notices_a_restart(change: dict[str, Any], restarted: bool) -> None:
    haproxy, clock = Haproxy(), Clock()
    lb_watch = LbWatch(lambda name: haproxy, clock)
    assert lb_watch.restarted(["web"]) == []  # the first look is the baseline
    if change.get("down_then_up"):
        haproxy.down = True
        assert lb_watch.restarted(["web"]) == []
        haproxy.down = False
    clock.t += change["advance"]
    haproxy.uptime = change.get("uptime", haproxy.uptime + change["advance"])
    haproxy.pid = change.get("pid", haproxy.pid)
    assert lb_watch.restarted(["web"]) == (["web"] if restarted else [])


Setup = tuple[Agent, FakeDocker, Haproxy, StateStore]


@pytest.fixture
def setup(tmp_path: Path, definitions_yaml: str) -> Setup:
    haproxy = Haproxy()
    agent, fake, _, store = make_setup(tmp_path, definitions_yaml, haproxy)
    assert agent.tick().ok and agent.tick().ok
    assert len(haproxy.servers["be_8080"]) == 2
    return agent, fake, haproxy, store


def test_an_haproxy_restart_puts_the_members_back_without_a_tick(setup: Setup) -> None:
    agent, _, haproxy, _ = setup
    before = dict(haproxy.servers["be_8080"])
    assert agent.check_lbs() == []
    haproxy.restart()

    assert agent.check_lbs() == ["web"]

    assert haproxy.servers["be_8080"] == before
    assert agent.check_lbs() == []


def test_an_engine_event_takes_the_member_out_of_haproxy_at_once(setup: Setup) -> None:
    agent, fake, haproxy, _ = setup
    victim = next(c for c in fake.containers_by_name.values() if c.labels[dockerlib.SUBSCRIPTION] == "web")
    member_id = victim.labels[dockerlib.MEMBER_ID]

    agent.member_event(member_id, "die")

    assert haproxy.executed == [f"set server be_8080/{member_id} state maint"]
    # The next tick replaces it, even before Docker shows it exited.
    result = agent.tick()
    assert result.ok, result.failed
    assert victim.name in fake.removed and member_id not in haproxy.servers["be_8080"]
    assert len(haproxy.servers["be_8080"]) == 2


def test_a_member_reported_killed_stays_out_until_it_dies_or_the_grace_ends(setup: Setup) -> None:
    agent, fake, haproxy, _ = setup
    clock = Clock()
    agent.monotonic = clock
    victim = next(c for c in fake.containers_by_name.values() if c.labels[dockerlib.SUBSCRIPTION] == "web")
    member_id = victim.labels[dockerlib.MEMBER_ID]
    agent.member_event(member_id, "kill")
    haproxy.servers["be_8080"][member_id] = (victim.address, 80, 1)  # what 'state maint' did

    agent.tick()  # still running: kept, not registered again, not replaced
    assert victim.name not in fake.removed
    assert haproxy.servers["be_8080"][member_id][2] == 1
    clock.t += looplib.KILL_GRACE + 1
    agent.tick()  # it survived the signal: in service again
    assert victim.name not in fake.removed
    assert f"add be_8080/{member_id}" in haproxy.calls
