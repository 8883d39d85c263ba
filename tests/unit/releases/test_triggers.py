"""The trigger protocol: request files written by front ends and the webhook, taken by the agent."""

from __future__ import annotations

import json
import os

import pytest

from stratos.releases import triggers
from stratos.releases.triggers import Request, Trigger
from stratos.store import StateStore

A = "a" * 40


def test_a_webhook_trigger_becomes_one_sync_request_per_subscription(store: StateStore) -> None:
    written = triggers.request_trigger(store, Trigger("shop", ("web", "api"), "webhook (github)", A))
    assert [p.name for p in written] == ["shop.web.sync", "shop.api.sync"]
    assert triggers.has_requests(store)
    taken = triggers.take_requests(store)
    assert taken[("shop", "web")] == [
        Request("shop", "web", "sync", "webhook (github)", A, taken[("shop", "web")][0].at)
    ]
    assert sorted(taken) == [("shop", "api"), ("shop", "web")]
    assert not triggers.has_requests(store)


def test_a_request_file_holds_source_sha_and_time(store: StateStore) -> None:
    path = triggers.request_rollback(store, "shop", "web", A, "stratos rollback")
    assert path == triggers.triggers_dir(store) / "shop.web.rollback"
    data = json.loads(path.read_text())
    assert (data["source"], data["sha"]) == ("stratos rollback", A)
    assert isinstance(data["at"], float)


def test_a_rollback_from_another_uid_is_refused(store: StateStore) -> None:
    triggers.request_rollback(store, "shop", "web", A, "forged")
    assert triggers.take_requests(store, owner=os.geteuid() + 1) == {}
    assert not triggers.has_requests(store)  # taken (and dropped) all the same


@pytest.mark.parametrize("name", ["shop.web.deploy", "Shop.web.sync", "shop.sync", ".shop.web.sync"])
def test_files_that_are_no_request_are_left_alone(store: StateStore, name: str) -> None:
    directory = triggers.triggers_dir(store)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_text("{}")
    assert not triggers.has_requests(store)
    assert triggers.take_requests(store) == {}
    assert (directory / name).exists()


def test_an_unreadable_request_is_removed(store: StateStore) -> None:
    directory = triggers.triggers_dir(store)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "shop.web.sync").write_text("{not json")
    assert triggers.take_requests(store) == {}
    assert not (directory / "shop.web.sync").exists()
