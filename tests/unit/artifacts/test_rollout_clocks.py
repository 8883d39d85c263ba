"""Every wait of a release is measured on the monotonic clock: a wall clock stepped back by an hour
(NTP) in the middle of a wait neither extends it nor blocks the next fetch (injected clocks)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_rollout_executor import (
    Clock,
    FakePool,
    Recorded,
    Site,
    commit,
    definitions,
    healthy,
    member,
    repo_and_store,
)

from stratos import artifacts
from stratos.agent import rollout
from stratos.drivers import members
from stratos.store import StateStore

HOUR = 3600.0


class Clocks:
    """A monotonic clock and a wall clock that both advance with :meth:`sleep`; :meth:`step_back`
    moves the wall clock only."""

    def __init__(self) -> None:
        self.monotonic = Clock()
        self.offset = 0.0

    def wall(self) -> float:
        return self.monotonic() + 1_000_000.0 + self.offset

    def sleep(self, seconds: float) -> None:
        self.monotonic.sleep(seconds)

    def step_back(self, seconds: float = HOUR) -> None:
        self.offset -= seconds


class SteppingSite(Site):
    """The release check; the wall clock steps back an hour at the first check of ``when``."""

    def __init__(self, store: StateStore, clocks: Clocks, when: str) -> None:
        super().__init__(store)
        self.clocks = clocks
        self.when = when
        self.stepped = False
        self.calls = 0

    def __call__(self, address: str | None, port: int, path: str, timeout: float) -> tuple[bool, str]:
        self.calls += 1
        canary = bool(address and address.startswith("10.9."))
        if not self.stepped and canary == (self.when == "canary"):
            self.stepped = True
            self.clocks.step_back()
        return super().__call__(address, port, path, timeout)


def rollouts_for(tmp_path: Path, when: str) -> tuple[StateStore, Path, Clocks, SteppingSite, Recorded, Any]:
    repo, store = repo_and_store(tmp_path)
    clocks = Clocks()
    site = SteppingSite(store, clocks, when)
    recorded = Recorded()
    executor = rollout.Rollouts(
        store,
        docker=FakePool(),  # type: ignore[arg-type]
        record=recorded,
        clock=clocks.wall,
        monotonic=clocks.monotonic,
        sleep=clocks.sleep,
        probe=site,
        member_probe=lambda address, check, ports, timeout=None: members.ProbeResult(True, "ok"),
    )
    return store, repo, clocks, site, recorded, executor


def test_a_clock_stepped_back_does_not_extend_the_canary_wait(tmp_path: Path) -> None:
    store, repo, clocks, site, recorded, executor = rollouts_for(tmp_path, "canary")
    ds = definitions(store, repo)  # health_timeout 10
    executor.tick(ds, healthy(member(1)), clocks.wall())
    v1 = artifacts.current_release(store, "shop", "web")
    commit(repo, "broken")
    site.broken.add("broken")
    site.canary_content = "broken"
    clocks.sleep(20)
    began = clocks.monotonic()

    executor.tick(ds, healthy(member(1)), clocks.wall())

    assert site.stepped
    assert artifacts.current_release(store, "shop", "web") == v1
    assert recorded.kinds()[-1] == "release_failed"
    assert clocks.monotonic() - began == pytest.approx(10, abs=1)  # health_timeout, not an hour more


def test_a_clock_stepped_back_does_not_extend_the_verification_after_the_switch(tmp_path: Path) -> None:
    store, repo, clocks, site, recorded, executor = rollouts_for(tmp_path, "member")
    ds = definitions(store, repo)
    executor.tick(ds, healthy(member(1), member(2)), clocks.wall())
    v1 = artifacts.current_release(store, "shop", "web")
    commit(repo, "v2")
    site.canary_content = "v2"
    site.stale.add("10.0.0.2")  # this member fails whatever it serves
    clocks.sleep(20)
    site.stepped = False
    began = clocks.monotonic()

    executor.tick(ds, healthy(member(1), member(2)), clocks.wall())

    assert site.stepped
    assert artifacts.current_release(store, "shop", "web") == v1
    assert recorded.kinds()[-3:] == ["release", "release_failed", "rollback"]
    assert clocks.monotonic() - began == pytest.approx(10, abs=1)


def test_a_clock_stepped_back_does_not_hold_the_next_fetch(tmp_path: Path) -> None:
    store, repo, clocks, _, _, executor = rollouts_for(tmp_path, "never")
    ds = definitions(store, repo)  # poll_interval 15
    executor.tick(ds, [], clocks.wall())
    v2 = commit(repo, "v2")
    clocks.step_back()
    clocks.sleep(16)

    executor.tick(ds, [], clocks.wall())

    assert artifacts.current_release(store, "shop", "web") == v2
