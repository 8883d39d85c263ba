"""One slow or broken dependency never stops self-healing for the others (fake Docker, HAProxy and
prober): a fetch that hangs, a Docker endpoint that does not answer, drains that wait."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from test_loop import FakeDocker, FakeRuntime, make_setup

from stratos import artifacts, status
from stratos.agent.loop import Agent, TickResult
from stratos.drivers import docker as dockerlib
from stratos.errors import DriverError
from stratos.store import StateStore

Setup = tuple[Agent, FakeDocker, FakeRuntime, StateStore]

SITE = """
---
kind: Application
name: site
subscriptions:
  - alias: www
    cartridge: php
    min: 1
    max: 1
    deployment_policy: php-spread
    artifact: {url: "https://git.invalid/site.git", branch: main}
"""

FAR_APPLICATION = """
---
kind: Application
name: far
subscriptions:
  - alias: api
    cartridge: php
    min: 1
    max: 2
    deployment_policy: far-only
"""


def tick_within(agent: Agent, seconds: float = 30.0) -> TickResult:
    """One tick in a thread; a tick that does not end within ``seconds`` fails the test."""
    results: list[TickResult] = []
    thread = threading.Thread(target=lambda: results.append(agent.tick()), daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        pytest.fail(f"the tick did not end within {seconds:g}s")
    return results[0]


def kill(fake: FakeDocker, alias: str) -> str:
    victim = next(
        c
        for c in fake.containers_by_name.values()
        if c.labels[dockerlib.SUBSCRIPTION] == alias and c.status == "running"
    )
    victim.status = "exited"
    return victim.name


def running(fake: FakeDocker, alias: str) -> int:
    return sum(
        1
        for c in fake.containers_by_name.values()
        if c.labels[dockerlib.SUBSCRIPTION] == alias and c.status == "running"
    )


class HangingGit:
    """git that hangs on every network call (clone, fetch) until released, like a remote that
    accepts the connection and never answers; local calls run for real."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.hanging = threading.Event()

    def __call__(self, args: Sequence[str], env: Mapping[str, str]) -> bytes:
        if "clone" in args or "fetch" in args or "ls-remote" in args:
            self.hanging.set()
            self.release.wait(300)
            raise DriverError("git clone: the remote did not answer")
        return artifacts.run_git(args, env)


@pytest.fixture
def hanging() -> Iterator[HangingGit]:
    git = HangingGit()
    yield git
    git.release.set()


def test_a_hung_fetch_does_not_delay_replacing_a_dead_member_of_another_subscription(
    tmp_path: Path, definitions_yaml: str, hanging: HangingGit
) -> None:
    agent, fake, _, store = make_setup(tmp_path, definitions_yaml + SITE, git=hanging)
    assert tick_within(agent).error is None  # db (site/www waits for its first release)
    assert tick_within(agent).error is None  # web
    assert hanging.hanging.wait(10)
    assert (running(fake, "db"), running(fake, "web"), running(fake, "www")) == (1, 2, 0)
    victim = kill(fake, "db")

    result = tick_within(agent)

    assert result.error is None, result.error
    assert victim in fake.removed and running(fake, "db") == 1
    assert agent.rollouts.busy() == [("site", "www")]  # still fetching, off the reconcile path


def test_an_unreachable_docker_endpoint_degrades_only_its_subscriptions(
    tmp_path: Path, definitions_yaml: str, far_platform_yaml: str
) -> None:
    agent, fake, runtime, store = make_setup(tmp_path, definitions_yaml + far_platform_yaml + FAR_APPLICATION)

    def connect(endpoint: str) -> Any:
        if endpoint.startswith("tcp://192.0.2.1"):
            raise DriverError(f"cannot reach the Docker Engine at {endpoint}: connection refused")
        return fake

    agent.runtime.pool = agent.rollouts.docker = dockerlib.ClientPool(connect=connect)  # type: ignore[attr-defined]
    assert tick_within(agent).error is None
    assert tick_within(agent).error is None
    assert (running(fake, "db"), running(fake, "web")) == (1, 2)
    victim = kill(fake, "web")

    result = tick_within(agent)

    assert result.error is None, result.error
    assert victim in fake.removed and running(fake, "web") == 2
    assert result.plan is not None
    assert not [a for a in result.plan.actions if getattr(a, "application", "") == "far"]
    data = status.read_status(store)
    assert data is not None
    api = data.subscription("far", "api")
    assert api is not None
    notes = api.notes
    assert any("degraded: Docker endpoint tcp://192.0.2.1:2376" in n and "refused" in n for n in notes)
    assert agent.observer.endpoint_errors.keys() == {"tcp://192.0.2.1:2376"}


class DrainTogether(FakeRuntime):
    """Drains that end only when two of them wait at the same time (a serial loop never gets there)."""

    def __init__(self) -> None:
        super().__init__()
        self.barrier = threading.Barrier(2, timeout=10)

    def wait_drained(self, backend: str, name: str, timeout: float, poll: float = 0.25) -> bool:
        self.barrier.wait()
        return True


def test_removals_wait_for_their_drains_side_by_side(tmp_path: Path, definitions_yaml: str) -> None:
    runtime = DrainTogether()
    agent, fake, _, store = make_setup(tmp_path, definitions_yaml, runtime)
    wanted = {"web": 4}
    agent.desired = lambda: lambda app, sub: wanted.get(sub.alias, sub.min)
    tick_within(agent)
    tick_within(agent)
    assert running(fake, "web") == 4
    wanted["web"] = 2

    result = tick_within(agent, 60)

    assert result.failed == [], result.failed
    assert running(fake, "web") == 2 and len(runtime.servers["be_8080"]) == 2
    assert sum(1 for call in runtime.calls if call.startswith("drain ")) == 2
