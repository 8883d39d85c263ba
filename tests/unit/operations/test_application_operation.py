"""The application operations, planned and applied against fakes of Docker (the agent's part is a
status file the tests write)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from docker_fakes import FakeContainer, FakePool
from support import BAD_PIN_RELEASES

from stratos import status
from stratos.drivers import docker as dockerlib
from stratos.drivers import haproxy
from stratos.errors import ValidationError
from stratos.lb import config as lbconfig
from stratos.model import Application, LbCluster, NetworkPartition
from stratos.operations import application as ops
from stratos.store import StateStore


def agent_status(
    when: float, ready: bool = True, aliases: tuple[str, ...] = ("db", "web"), error: str | None = None
) -> status.AgentStatus:
    """A status as the agent writes it, for application shop."""
    sub = {
        "min": 2,
        "healthy": 2 if ready else 1,
        "in_lb": 2 if ready else 1,
        "ready": ready,
        "waiting_for": [],
        "notes": [],
        "members": [{"id": "shop-web-1", "health": "healthy", "in_lb": True}],
    }
    return status.AgentStatus.model_validate(
        {
            "time": when,
            "tick": {"ok": error is None, "error": error, "seconds": 0.1},
            "applications": {"shop": {"subscriptions": {alias: sub for alias in aliases}}},
        }
    )


def ticking(start: float = 0.0, step: float = 1.0) -> Callable[[], float]:
    now = [start - step]

    def clock() -> float:
        now[0] += step
        return now[0]

    return clock


# --------------------------------------------------------------------------- the bounded wait


@pytest.mark.parametrize(
    ("answers", "expected", "asked"),
    [([True], True, 1), ([False, False, True], True, 3), ([False] * 10, False, 5)],
    ids=["at-once", "after-two-polls", "times-out"],
)
def test_wait_until(answers: list[bool], expected: bool, asked: int) -> None:
    given = iter(answers)
    calls = []
    slept: list[float] = []

    def done() -> bool:
        calls.append(1)
        return next(given)

    assert ops.wait_until(done, 5, poll=1, clock=ticking(), sleep=slept.append) is expected
    assert len(calls) == asked and slept == [1] * (asked - 1)


def test_wait_ready_returns_the_fresh_ready_status(tmp_path: Any) -> None:
    store = StateStore(tmp_path)
    status.write_status(store, agent_status(10.0))
    found = ops.wait_ready(store, "shop", None, 5, since=10.0, clock=ticking(), sleep=lambda s: None)
    assert found.time == 10.0


def test_wait_ready_ignores_a_stale_status_and_says_the_agent_may_not_run(tmp_path: Any) -> None:
    store = StateStore(tmp_path)
    status.write_status(store, agent_status(10.0))
    with pytest.raises(ops.NotDone, match="30s older than the definition") as info:
        ops.wait_ready(
            store, "shop", None, 5, since=40.0, report={"path": "p"}, clock=ticking(), sleep=lambda s: None
        )
    assert info.value.temporary
    assert info.value.details["path"] == "p" and info.value.details["status"]["tick"]["ok"] is True


def test_wait_ready_says_what_is_missing(tmp_path: Any) -> None:
    store = StateStore(tmp_path)
    status.write_status(store, agent_status(10.0, ready=False, aliases=("web",), error="boom"))
    with pytest.raises(ops.NotDone) as info:
        ops.wait_ready(store, "shop", ["web"], 5, since=None, clock=ticking(step=10), sleep=lambda s: None)
    message = str(info.value)
    assert "application 'shop' not ready after 5s: web: 1 healthy, 1 in LB, min 2" in message
    assert "its last tick failed: boom" in message
    assert "members seen: web: 1 member(s) [shop-web-1 healthy, in LB], 1 healthy, 1 in LB, min 2" in message


@pytest.mark.parametrize(
    ("written", "expected"),
    [(None, "no agent status after 5s"), ({"time": 1.0, "applications": {}}, "the agent does not report it")],
    ids=["no-status", "unknown-application"],
)
def test_wait_ready_without_a_view(tmp_path: Any, written: dict | None, expected: str) -> None:
    store = StateStore(tmp_path)
    if written is not None:
        status.write_status(store, status.AgentStatus.model_validate(written))
    with pytest.raises(ops.NotDone, match=expected) as info:
        ops.wait_ready(store, "shop", None, 5, since=None, clock=ticking(step=10), sleep=lambda s: None)
    assert info.value.details["status"] is None


def test_application_status_is_the_agents_view_with_its_age(tmp_path: Any) -> None:
    store = StateStore(tmp_path)
    assert ops.application_status(store, "shop") is None
    status.write_status(store, agent_status(100.0))
    view = ops.application_status(store, "shop", now=lambda: 112.34)
    assert view is not None and (view["time"], view["age"]) == (100.0, 12.3)
    assert set(view["subscriptions"]) == {"db", "web"}
    assert ops.application_status(store, "other") is None


# --------------------------------------------------------------------------- pin_release


def test_pin_releases_sets_and_clears_pins_on_the_model(shop: Application) -> None:
    pinned = ops.pin_releases(shop, {"web": "3f2c1a9"})
    artifact = pinned.subscription("web").artifact
    assert artifact is not None and artifact.pin == "3f2c1a9"
    assert shop.subscription("web").artifact.pin is None  # type: ignore[union-attr]
    cleared = ops.pin_releases(pinned, {"web": None})
    assert cleared.subscription("web").artifact.pin is None  # type: ignore[union-attr]
    assert ops.pin_releases(shop, None) is shop


@pytest.mark.parametrize(("pins", "expected"), list(BAD_PIN_RELEASES.values()), ids=list(BAD_PIN_RELEASES))
def test_pin_releases_refuses(shop: Application, pins: dict, expected: str) -> None:
    with pytest.raises(ValidationError) as info:
        ops.pin_releases(shop, pins)
    assert expected in str(info.value)


# --------------------------------------------------------------------------- apply_application


def test_apply_application_plans_without_writing_then_writes(
    platform: StateStore, shop: Application, pool: FakePool
) -> None:
    plan = ops.apply_application(platform, shop, pool=pool, wait=False)  # type: ignore[arg-type]
    assert plan.changed
    (change,) = plan.changes
    assert (change.label, change.action, change.before) == ("applications/shop.yml", "create", None)
    assert isinstance(change.after, str) and "alias: web" in change.after
    assert plan.report["path"] == str(platform.definition_path("Application", "shop"))
    assert plan.report["definition"]["name"] == "shop" and plan.report["status"] is None
    assert "load_balancers" not in plan.report  # no LB container runs: nothing to reload
    assert platform.read("Application", "shop") is None

    report = plan.apply()
    assert platform.read("Application", "shop") == change.after
    assert report["status"] is None
    again = ops.apply_application(platform, shop, pool=pool, wait=False, pins={})  # type: ignore[arg-type]
    assert not again.changed and again.changes[0].action == "none"


def test_apply_application_waits_for_a_status_written_after_the_definition(
    platform: StateStore, shop: Application, pool: FakePool
) -> None:
    status.write_status(platform, agent_status(1.0))  # stale: written before the definition

    def agent_ticks(seconds: float) -> None:
        status.write_status(platform, agent_status(time.time() + 1))

    plan = ops.apply_application(platform, shop, pool=pool, timeout=10, clock=ticking(), sleep=agent_ticks)  # type: ignore[arg-type]
    report = plan.apply()
    assert report["status"]["time"] > 1.0 and set(report["status"]["subscriptions"]) == {"db", "web"}


def test_apply_application_fails_after_the_timeout_with_what_it_saw(
    platform: StateStore, shop: Application, pool: FakePool
) -> None:
    plan = ops.apply_application(platform, shop, pool=pool, timeout=3, clock=ticking(), sleep=lambda s: None)  # type: ignore[arg-type]
    with pytest.raises(ops.NotDone, match="no agent status after 3s") as info:
        plan.apply()
    assert info.value.details["path"] == plan.report["path"] and info.value.details["status"] is None
    assert platform.read("Application", "shop") is not None  # the definition stays written


def test_apply_application_reloads_a_running_lb_whose_health_checks_follow_it(
    platform: StateStore, shop: Application, pool: FakePool
) -> None:
    ds = platform.load()
    lb: LbCluster = ds.lb_clusters["web"]
    np: NetworkPartition = ds.network_partitions["local"]
    spec, _ = haproxy.plan_lb_container(pool.client, lb, np, platform)  # type: ignore[arg-type]
    platform.lb_dir("web").mkdir(parents=True)
    (platform.lb_dir("web") / lbconfig.CONFIG_NAME).write_text(spec.config)  # without the app's checks
    pool.client.containers.items.append(FakeContainer(spec.name, spec.labels()))

    plan = ops.apply_application(platform, shop, pool=pool, wait=False)  # type: ignore[arg-type]
    definition, reload = plan.changes
    assert (reload.label, reload.action) == ("container/stratos-lb-web", "reload")
    assert isinstance(reload.after, str) and "/stratos-health" in reload.after
    assert plan.report["load_balancers"] == [
        {
            "name": "stratos-lb-web",
            "action": "reload",
            "reasons": ["configuration changed (not its listeners)"],
        }
    ]


def test_apply_application_refuses_a_bad_reference_and_writes_nothing(
    platform: StateStore, shop: Application, pool: FakePool
) -> None:
    broken = shop.model_copy(
        update={"subscriptions": [shop.subscriptions[0].model_copy(update={"cartridge": "nope"})]}
    )
    with pytest.raises(ValidationError, match="nope"):
        ops.apply_application(platform, broken, pool=pool)  # type: ignore[arg-type]
    assert platform.read("Application", "shop") is None


# --------------------------------------------------------------------------- remove_application


@pytest.fixture
def deployed(platform: StateStore, shop: Application, pool: FakePool) -> StateStore:
    ops.apply_application(platform, shop, pool=pool, wait=False).apply()  # type: ignore[arg-type]
    sid = dockerlib.state_id(platform.root)
    pool.client.volumes.add("stratos-shop-db-data", {dockerlib.APPLICATION: "shop", dockerlib.STATE_ID: sid})
    pool.client.volumes.add(
        "theirs", {dockerlib.APPLICATION: "shop", dockerlib.STATE_ID: "another-state-dir"}
    )
    platform.secret("shop", "db", "password")
    return platform


def test_remove_application_with_purge_plans_then_removes_the_data(
    deployed: StateStore, pool: FakePool
) -> None:
    plan = ops.remove_application(deployed, "shop", pool=pool, purge=True, sleep=lambda s: None)  # type: ignore[arg-type]
    definition, data = plan.changes
    assert (definition.action, definition.after) == ("remove", None)
    assert (data.label, data.action) == ("application-data/shop", "remove")
    purged = {"volumes": ["stratos-shop-db-data"], "paths": [str(deployed.root / "secrets" / "shop")]}
    assert plan.report["purged"] == purged and data.before == purged
    assert deployed.read("Application", "shop") is not None

    report = plan.apply()
    assert report["members"] == [] and report["purged"] == purged
    assert deployed.read("Application", "shop") is None and "shop" in deployed.removed_applications()
    assert pool.client.volumes.removed == ["stratos-shop-db-data"]
    assert not (deployed.root / "secrets" / "shop").exists()


def test_remove_application_keeps_the_data_while_members_are_left(
    deployed: StateStore, pool: FakePool
) -> None:
    member = FakeContainer(
        "stratos-shop-web-1",
        {
            dockerlib.ROLE: dockerlib.ROLE_MEMBER,
            dockerlib.STATE_ID: dockerlib.state_id(deployed.root),
            dockerlib.MEMBER_ID: "shop-web-1",
            dockerlib.APPLICATION: "shop",
        },
    )
    pool.client.containers.items.append(member)
    plan = ops.remove_application(
        deployed, "shop", pool=pool, purge=True, timeout=2, clock=ticking(), sleep=lambda s: None
    )  # type: ignore[arg-type]
    with pytest.raises(ops.NotDone, match="1 member\\(s\\) still exist: shop-web-1 \\(running\\)") as info:
        plan.apply()
    assert "its data is kept until they are gone" in str(info.value)
    assert (
        info.value.details["members"] == ["shop-web-1 (running)"] and info.value.details["lb_servers"] == []
    )
    assert pool.client.volumes.removed == [] and (deployed.root / "secrets" / "shop").exists()
    assert deployed.read("Application", "shop") is None  # the definition went first: the agent acts on that


def test_remove_application_without_wait_or_purge_does_not_look_at_docker(
    deployed: StateStore, pool: FakePool
) -> None:
    pool.asked.clear()
    plan = ops.remove_application(deployed, "shop", pool=pool, wait=False)  # type: ignore[arg-type]
    assert [c.action for c in plan.changes] == ["remove"] and "purged" not in plan.report
    report = plan.apply()
    assert "members" not in report and pool.asked == []
    absent = ops.remove_application(deployed, "shop", pool=pool, wait=False)  # type: ignore[arg-type]
    assert not absent.changed and absent.report["definition"] is None
