from __future__ import annotations

import json
from pathlib import Path

import pytest

from stratos import status
from stratos.agent.events import Event, EventStore
from stratos.planning.reconcile import MemberView, SubscriptionView
from stratos.store import StateStore


def test_events_round_trip_newest_last(tmp_path: Path) -> None:
    store = EventStore(tmp_path / "agent.db")
    store.record(Event(1.0, "shop", "web", "start", 0, 1, ("below min",), {"member": "m1"}))
    store.record(Event(2.0, "shop", "db", "start", 0, 1, ("below min",)))
    store.record(Event(3.0, "other", "web", "stop", 1, 0))
    events = store.events("shop")
    assert [(e.time, e.subscription, e.kind) for e in events] == [(1.0, "web", "start"), (2.0, "db", "start")]
    assert events[0].reasons == ["below min"]
    assert events[0].details == {"member": "m1"}
    assert [e.kind for e in store.events("shop", "web")] == ["start"]
    assert [e.time for e in store.events(limit=2)] == [2.0, 3.0]


def test_last_desired_is_the_latest_scale_event(tmp_path: Path) -> None:
    store = EventStore(tmp_path / "agent.db")
    store.record(Event(1.0, "shop", "web", "scale", 2, 4))
    store.record(Event(2.0, "shop", "web", "start", 2, 3))
    store.record(Event(3.0, "shop", "web", "scale", 4, 3))
    assert store.last_desired() == {("shop", "web"): 3}


def test_member_lifetimes_for_metering(tmp_path: Path) -> None:
    store = EventStore(tmp_path / "agent.db")
    store.member_started("m1", "shop", "web", "local/p1", 10.0)
    store.member_started("m1", "shop", "web", "local/p1", 99.0)  # adopted again: first start kept
    store.member_stopped("m1", 20.0)
    store.member_stopped("m1", 30.0)  # already stopped: kept
    assert list(store.members("shop")) == [("m1", "shop", "web", "local/p1", 10.0, 20.0)]


def view(ready: bool = True, alias: str = "web") -> SubscriptionView:
    return SubscriptionView(
        application="shop",
        subscription=alias,
        min=2,
        max=6,
        desired=2,
        healthy=2 if ready else 1,
        in_lb=2 if ready else 1,
        ready=ready,
        waiting_for=(),
        notes=(),
        members=(MemberView("m1", "local/p1", "healthy", True, "10.0.0.2", True),),
    )


def test_status_shape(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    status.write_status(store, status.build_status(5.0, [view()], seconds=0.25))
    data = json.loads(store.status_file.read_text())
    web = data["applications"]["shop"]["subscriptions"]["web"]
    assert (data["version"], data["time"], data["tick"]) == (
        1,
        5.0,
        {"ok": True, "error": None, "seconds": 0.25},
    )
    assert (web["min"], web["max"], web["desired"], web["healthy"], web["in_lb"], web["ready"]) == (
        2,
        6,
        2,
        2,
        2,
        True,
    )
    assert web["members"] == [
        {
            "id": "m1",
            "partition": "local/p1",
            "health": "healthy",
            "in_lb": True,
            "address": "10.0.0.2",
            "current_revision": True,
        }
    ]


@pytest.mark.parametrize(
    ("views", "aliases", "ready"),
    [
        ([view(), view(alias="db")], None, True),
        ([view(), view(False, alias="db")], None, False),
        ([view(), view(False, alias="db")], ["web"], True),
        ([], None, False),
    ],
    ids=["all-ready", "one-not-ready", "only-the-named-one", "unknown-application"],
)
def test_application_ready(views: list[SubscriptionView], aliases: list[str] | None, ready: bool) -> None:
    assert status.application_ready(status.build_status(1.0, views), "shop", aliases) is ready


def test_read_status_absent(tmp_path: Path) -> None:
    assert status.read_status(StateStore(tmp_path)) is None
