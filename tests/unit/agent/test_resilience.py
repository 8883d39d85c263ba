"""What no fault may do to the agent: a lost definitions directory removes nothing, a broken probe
fails only its member (fake Docker, HAProxy and prober; no sleeps)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from test_loop import FakeDocker, FakeRuntime, make_setup

from stratos import status
from stratos.agent.events import EventStore
from stratos.agent.loop import Agent
from stratos.drivers import docker as dockerlib
from stratos.drivers.members import ProbeResult
from stratos.store import StateStore

Setup = tuple[Agent, FakeDocker, FakeRuntime, StateStore]


@pytest.fixture
def setup(tmp_path: Path, definitions_yaml: str) -> Setup:
    return make_setup(tmp_path, definitions_yaml)


def running(fake: FakeDocker) -> list[str]:
    return sorted(c.name for c in fake.containers_by_name.values() if c.status == "running")


def bring_up(agent: Agent, fake: FakeDocker) -> list[str]:
    assert agent.tick().ok
    assert agent.tick().ok
    up = running(fake)
    assert len(up) == 3
    return up


@pytest.mark.parametrize("how", ["missing", "empty", "moved-away"])
def test_a_lost_definitions_directory_is_an_error_that_changes_nothing(setup: Setup, how: str) -> None:
    agent, fake, runtime, store = setup
    up = bring_up(agent, fake)
    servers = dict(runtime.servers["be_8080"])
    if how == "missing":
        shutil.rmtree(store.definitions_dir)
    elif how == "empty":
        shutil.rmtree(store.definitions_dir)
        store.definitions_dir.mkdir()
    else:  # a volume that is not mounted: the directory is there, its sub-directories are empty
        for sub in store.definitions_dir.iterdir():
            shutil.rmtree(sub)
            sub.mkdir()

    result = agent.tick()

    assert result.error is not None and str(store.definitions_dir) in result.error
    assert "nothing is changed" in result.error
    assert fake.removed == [] and running(fake) == up
    assert runtime.servers["be_8080"] == servers
    data = status.read_status(store)
    assert data is not None and data.tick.ok is False and "nothing is changed" in str(data.tick.error)


def test_an_application_absent_without_a_tombstone_keeps_its_members(setup: Setup) -> None:
    agent, fake, runtime, store = setup
    up = bring_up(agent, fake)
    store.definition_path("Application", "shop").unlink()  # by hand: no tombstone

    result = agent.tick()

    assert result.ok, (result.error, result.failed)
    assert result.plan is not None and result.plan.actions == ()
    assert running(fake) == up and len(runtime.servers["be_8080"]) == 2
    data = status.read_status(store)
    assert data is not None
    assert any("not removed explicitly (no tombstone)" in note for note in data.notes)


def test_an_application_removed_through_the_store_is_drained_and_removed(setup: Setup) -> None:
    agent, fake, runtime, store = setup
    up = bring_up(agent, fake)
    store.apply(store.plan_remove("Application", "shop"))
    assert "shop" in store.removed_applications()

    result = agent.tick()

    assert result.ok, result.failed
    assert sorted(fake.removed) == up
    assert runtime.servers["be_8080"] == {}
    reasons = [e.reasons for e in EventStore(store.database).events("shop") if e.kind == "stop"]
    assert reasons and all("application 'shop' was removed" in r[0] for r in reasons)


def test_putting_an_application_back_clears_its_tombstone(setup: Setup) -> None:
    _, _, _, store = setup
    definition = store.load().applications["shop"]
    store.apply(store.plan_remove("Application", "shop"))
    assert store.removed_applications() == {"shop"}
    store.apply(store.plan_put(definition))
    assert store.removed_applications() == frozenset()


def test_a_probe_that_raises_fails_its_member_only(setup: Setup) -> None:
    agent, fake, runtime, store = setup
    bring_up(agent, fake)
    web = [c for c in fake.containers_by_name.values() if c.labels[dockerlib.SUBSCRIPTION] == "web"]
    broken = web[0].address

    def prober(address: str | None, check: object, ports: object) -> ProbeResult:
        if address == broken:
            raise ValueError("inf is not a valid timeout")
        return ProbeResult(True, "ok")

    agent.observer.prober = prober
    result = agent.tick()

    assert result.error is None, result.error
    record = agent.observer.health[web[0].labels[dockerlib.MEMBER_ID]]
    assert record.failures == 1 and "ValueError: inf is not a valid timeout" in record.detail
    other = agent.observer.health[web[1].labels[dockerlib.MEMBER_ID]]
    assert other.failures == 0
