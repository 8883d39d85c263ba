"""Metering and samples in the event store: member-seconds per application, lifetimes closed for
members that went away unobserved, samples kept and pruned."""

from __future__ import annotations

from pathlib import Path

import pytest

from stratos.agent.events import EventStore


@pytest.fixture
def store(tmp_path: Path) -> EventStore:
    events = EventStore(tmp_path / "agent.db")
    events.member_started("shop-web-1", "shop", "web", "local/p1", 100.0)
    events.member_started("shop-web-2", "shop", "web", "local/p2", 110.0)
    events.member_started("shop-db-1", "shop", "db", "local/p1", 100.0)
    events.member_started("blog-web-1", "blog", "web", "local/p1", 150.0)
    events.member_stopped("shop-web-2", 130.0)
    return events


def test_member_seconds_per_application(store: EventStore) -> None:
    # web-1 100..200, web-2 110..130, db-1 100..200; blog 150..200
    assert store.member_seconds(200.0) == {"shop": 100.0 + 20.0 + 100.0, "blog": 50.0}
    assert store.member_seconds(200.0, "blog") == {"blog": 50.0}


def test_metering_per_subscription(store: EventStore) -> None:
    assert store.metering(200.0, "shop") == [
        ("shop", "db", 1, 100.0, 1),
        ("shop", "web", 2, 120.0, 1),
    ]


def test_a_restart_that_starts_a_member_twice_meters_it_once(store: EventStore) -> None:
    store.member_started("shop-web-1", "shop", "web", "local/p1", 180.0)
    assert store.metering(200.0, "shop")[1] == ("shop", "web", 2, 120.0, 1)


def test_members_gone_while_unobserved_are_closed(store: EventStore) -> None:
    closed = store.stopped_unless(["shop-web-1", "shop-db-1"], 160.0)
    assert closed == 1  # blog-web-1 (shop-web-2 was already stopped)
    assert store.member_seconds(200.0)["blog"] == 10.0
    assert store.stopped_unless([], 170.0) == 2


def test_samples_are_kept_then_pruned(store: EventStore) -> None:
    for t in (10.0, 20.0, 30.0):
        store.sample(t, "shop", "web", 2, 2, 3, {"requests_in_flight": t / 10})
    store.sample(25.0, "shop", "db", 1, 1, 1, {})
    rows = store.samples("shop", "web")
    assert [(t, figures["requests_in_flight"]) for t, _, _, _, _, figures in rows] == [
        (10.0, 1.0),
        (20.0, 2.0),
        (30.0, 3.0),
    ]
    assert len(store.samples("shop", since=20.0)) == 3
    assert store.prune_samples(before=25.0) == 2
    assert [r[0] for r in store.samples("shop")] == [25.0, 30.0]
