"""``stratos sync`` and ``stratos rollback``: the requests they write and the errors they name."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import support

from stratos import artifacts, cli
from stratos.agent import rollout
from stratos.releases import triggers
from stratos.store import StateStore
from stratos.validation import parse_definition


@pytest.fixture
def store(tmp_path: Path) -> StateStore:
    repo = tmp_path / "app"
    support.new_repository(repo, {"index.php": "v1"}, "v1")
    s = StateStore(tmp_path / "state")
    s.ensure()
    sub: dict[str, Any] = {
        "cartridge": "php",
        "deployment_policy": "one",
        "artifact": {"url": f"file://{repo}"},
    }
    docs: list[dict[str, Any]] = [
        {"kind": "Cartridge", "name": "php", "image": {"ref": "stratos/cartridge-php:8.2"}},
        {"kind": "NetworkPartition", "name": "local", "partitions": [{"name": "p1"}]},
        {
            "kind": "DeploymentPolicy",
            "name": "one",
            "network_partitions": [{"name": "local", "partitions": [{"name": "p1", "max": 4}]}],
        },
        {"kind": "Application", "name": "shop", "subscriptions": [{"alias": "web", **sub}]},
        {
            "kind": "Application",
            "name": "two",
            "subscriptions": [{"alias": "a", **sub}, {"alias": "b", **sub}],
        },
    ]
    for doc in docs:
        s.apply(s.plan_put(parse_definition(doc)))
    return s


def stratos(store: StateStore, *args: str) -> int:
    return cli.main([*args, "--state-dir", str(store.root)])


def test_sync_writes_a_request_and_now_fetches_first(
    store: StateStore, capsys: pytest.CaptureFixture[str]
) -> None:
    assert stratos(store, "sync", "shop") == 0
    assert list(triggers.take_requests(store)) == [("shop", "web")]
    assert artifacts.releases(store, "shop", "web") == []
    assert stratos(store, "sync", "shop", "--now") == 0
    (head,) = artifacts.releases(store, "shop", "web")  # checked out, not switched
    assert artifacts.current_release(store, "shop", "web") is None
    assert f"branch head {head[:12]}" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("sync", "nope"), "application 'nope' is not defined"),
        (("sync", "shop", "--alias", "api"), "application 'shop' has no subscription 'api' with an artifact"),
        (("rollback", "two"), "several subscriptions with an artifact (a, b): name one with --alias"),
        (
            ("rollback", "shop", "--wait", "0"),
            "shop/web: no earlier good release to roll back to (give --to SHA)",
        ),
    ],
    ids=["unknown-application", "unknown-alias", "ambiguous", "nothing-to-go-back-to"],
)
def test_errors_name_what_is_wrong(
    store: StateStore, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], message: str
) -> None:
    assert stratos(store, *args) == 1
    assert message in capsys.readouterr().err
    assert not triggers.has_requests(store)


def test_rollback_to_a_commit_writes_the_full_id(store: StateStore) -> None:
    head = rollout.sync_now(store, store.load(), "shop", "web")
    assert stratos(store, "rollback", "shop", "--to", head[:8], "--wait", "0") == 0
    ((request,),) = triggers.take_requests(store).values()
    assert (request.kind, request.sha) == ("rollback", head)


def test_a_request_written_by_root_is_given_to_the_agent_directorys_owner(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The agent runs as uid 10001 and must read and remove what ``stratos sync`` (root) writes."""
    store = StateStore(tmp_path / "state")
    store.ensure()
    chowned: list[tuple[str, int, int]] = []
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(os, "chown", lambda path, uid, gid: chowned.append((str(path), uid, gid)))
    owner = store.agent_dir.stat()
    [path] = triggers.request_sync(store, "shop", ["web"], "cli")
    rollback = triggers.request_rollback(store, "shop", "web", "a" * 40, "cli")
    assert chowned == [
        (str(path.parent), owner.st_uid, owner.st_gid),
        (str(path), owner.st_uid, owner.st_gid),
        (str(rollback.parent), owner.st_uid, owner.st_gid),
        (str(rollback), owner.st_uid, owner.st_gid),
    ]
    chowned.clear()
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    triggers.request_sync(store, "shop", ["web"], "cli")
    assert chowned == []


def test_a_rollback_request_from_another_uid_is_refused_a_sync_is_taken(
    store: StateStore, caplog: pytest.LogCaptureFixture
) -> None:
    """The HTTP side (uid 10002) writes into triggers/ too: it may ask for a sync, never a rollback."""
    triggers.request_sync(store, "shop", ["web"], "webhook (github)")
    triggers.request_rollback(store, "shop", "web", "a" * 40, "forged")
    other = os.geteuid() + 1  # the agent, seen from a file written by someone else
    requests = triggers.take_requests(store, owner=other)
    assert [(r.kind, r.source) for r in requests[("shop", "web")]] == [("sync", "webhook (github)")]
    assert "shop.web.rollback refused: a rollback written by uid" in caplog.text
    assert not triggers.has_requests(store)  # the refused one is removed too
    # Written by the agent's own uid, a rollback is taken.
    triggers.request_rollback(store, "shop", "web", "a" * 40, "stratos rollback")
    ((request,),) = triggers.take_requests(store).values()
    assert request.kind == "rollback"
