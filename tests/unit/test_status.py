"""The status model: the file keeps its shape, readers get typed fields."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stratos import status
from stratos.errors import StratosError
from stratos.store import StateStore

FILE = {
    "version": 1,
    "time": 12.5,
    "tick": {"ok": True, "error": None, "seconds": 0.4},
    "notes": [],
    "applications": {
        "shop": {
            "subscriptions": {
                "web": {
                    "min": 2,
                    "max": 6,
                    "desired": 2,
                    "healthy": 1,
                    "in_lb": 1,
                    "ready": False,
                    "waiting_for": [],
                    "notes": ["n"],
                    "cpu_percent": 12.5,
                    "memory_percent": None,
                    "requests_in_flight": 3.0,
                    "queued": 0.0,
                    "autoscaling": {
                        "rule": "scale-up",
                        "decided_at": 10.0,
                        "factors": {"load_average": 0.5},
                        "predictions": {},
                        "thresholds": {"load_average": 0.8},
                    },
                    "release": "abc",
                    "release_message": "fix",
                    "degraded": None,
                    "members": [
                        {
                            "id": "m1",
                            "partition": "local/p1",
                            "health": "starting",
                            "in_lb": False,
                            "address": None,
                            "current_revision": True,
                            "detail": "GET /: 503",
                        },
                        {
                            "id": "m2",
                            "partition": "local/p2",
                            "health": "healthy",
                            "in_lb": True,
                            "address": "10.0.0.2",
                            "current_revision": True,
                        },
                    ],
                },
                "db": {
                    "min": 1,
                    "max": 1,
                    "desired": 1,
                    "healthy": 1,
                    "in_lb": None,
                    "ready": True,
                    "waiting_for": [],
                    "notes": [],
                    "members": [],
                },
            }
        }
    },
}


def write(tmp_path: Path, data: object) -> StateStore:
    store = StateStore(tmp_path)
    store.status_file.parent.mkdir(parents=True, exist_ok=True)
    store.status_file.write_text(json.dumps(data))
    return store


def test_a_file_read_and_written_again_keeps_its_shape(tmp_path: Path) -> None:
    store = write(tmp_path, FILE)
    read = status.read_status(store)
    assert read is not None
    status.write_status(store, read)
    assert json.loads(store.status_file.read_text()) == FILE


def test_readers_get_typed_fields(tmp_path: Path) -> None:
    read = status.read_status(write(tmp_path, FILE))
    assert read is not None
    web = read.subscription("shop", "web")
    assert web is not None and web.autoscaling is not None
    assert (web.healthy, web.in_lb, web.release, web.autoscaling.rule) == (1, 1, "abc", "scale-up")
    assert [m.detail for m in web.members] == ["GET /: 503", None]
    assert read.subscription("shop", "nope") is None and read.subscriptions_of("other") == {}


def test_keys_of_a_newer_agent_are_kept(tmp_path: Path) -> None:
    store = write(tmp_path, {**FILE, "future": {"x": 1}})
    read = status.read_status(store)
    assert read is not None
    assert read.as_json()["future"] == {"x": 1}


@pytest.mark.parametrize(
    ("text", "outcome"),
    [("[1, 2]", None), ("{not json", "cannot be read"), ('{"applications": 3}', "is not a status")],
    ids=["not-an-object", "not-json", "wrong-shape"],
)
def test_unreadable_files(tmp_path: Path, text: str, outcome: str | None) -> None:
    store = StateStore(tmp_path)
    store.status_file.parent.mkdir(parents=True, exist_ok=True)
    store.status_file.write_text(text)
    if outcome is None:
        assert status.read_status(store) is None
    else:
        with pytest.raises(StratosError, match=outcome):
            status.read_status(store)


def test_a_failed_tick_keeps_the_last_view_and_says_why() -> None:
    last = status.AgentStatus.model_validate(FILE)
    failed = status.failed_tick(last, 20.0, "StratosError: no definitions", 0.01)
    assert failed.time == 20.0 and failed.tick == status.TickStatus(
        ok=False, error="StratosError: no definitions", seconds=0.01
    )
    assert failed.applications == last.applications
    assert last.tick.ok is True  # the last view itself is left as it was
    first = status.failed_tick(None, 1.0, "boom", 0.0).as_json()
    assert first == {
        "version": 1,
        "time": 1.0,
        "tick": {"ok": False, "error": "boom", "seconds": 0.0},
        "applications": {},
    }


def test_a_status_without_figures_leaves_their_keys_out() -> None:
    data = status.build_status(1.0, []).as_json()
    assert data == {
        "version": 1,
        "time": 1.0,
        "tick": {"ok": True, "error": None, "seconds": 0.0},
        "applications": {},
    }
