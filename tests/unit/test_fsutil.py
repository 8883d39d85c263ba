"""State files are written atomically and durably (temporary file, fsync, rename, fsync of the
directory) with 0600 (secrets, agent.db) or 0640 (other state) modes, at every place that writes one."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from stratos import fsutil
from stratos.agent import metrics
from stratos.agent.autoscale import Autoscaler
from stratos.agent.events import EventStore, SafeEventStore
from stratos.releases import state as releasestate
from stratos.releases import triggers
from stratos.status import AgentStatus, write_status
from stratos.store import StateStore
from stratos.validation import parse_definition


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith("."))


@pytest.mark.parametrize("wanted", [fsutil.SECRET, fsutil.STATE], ids=["secret", "state"])
def test_the_mode_is_set_whatever_the_umask_and_the_old_file(tmp_path: Path, wanted: int) -> None:
    path = tmp_path / "f"
    path.write_text("old")
    path.chmod(0o666)
    old = os.umask(0)
    try:
        fsutil.atomic_write_text(path, "new", wanted)
    finally:
        os.umask(old)
    assert (path.read_text(), mode(path)) == ("new", wanted)
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("failing", ["write", "fsync", "replace"])
def test_a_crash_mid_write_leaves_the_old_content_and_no_partial_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    store = StateStore(tmp_path / "state")
    store.ensure()
    write_status(store, AgentStatus.model_validate({"version": 1, "n": 1}))
    real: Callable[..., Any] = getattr(os, failing)

    def crash(*args: Any) -> Any:
        if failing == "write":
            real(args[0], bytes(args[1])[:5])  # half of it reached the disk
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, failing, crash)
    with pytest.raises(OSError, match="No space left"):
        write_status(store, AgentStatus.model_validate({"version": 1, "n": 2, "padding": "x" * 10000}))
    monkeypatch.undo()
    assert json.loads(store.status_file.read_text()) == {"version": 1, "n": 1}
    assert leftovers(store.agent_dir) == []


def test_the_file_and_its_directory_are_fsynced_before_and_after_the_rename(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        calls.append("fsync dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "fsync file")
        real_fsync(fd)

    def replace(src: Any, dst: Any) -> None:
        calls.append("rename")
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    store = StateStore(tmp_path / "state")
    store.ensure()
    write_status(store, AgentStatus(version=1))
    assert calls == ["fsync file", "rename", "fsync dir"]


def test_every_state_file_gets_its_mode(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state")
    store.ensure()
    cartridge = parse_definition({"kind": "Cartridge", "name": "php", "image": {"ref": "x/php:1"}})
    store.apply(store.plan_put(cartridge))
    write_status(store, AgentStatus(version=1))
    releasestate.save_state(store, "shop", "web", releasestate.RolloutState())
    (sync,) = triggers.request_sync(store, "shop", ["web"], "test")
    back = triggers.request_rollback(store, "shop", "web", "a" * 40, "test")
    metrics.write_snapshot(store, metrics.Snapshot(), None)
    scaling = Autoscaler(store.agent_dir / "scaling.json")
    scaling.save()
    EventStore(store.database)
    found = {
        "definition": mode(store.definition_path("Cartridge", "php")),
        "status.json": mode(store.status_file),
        "rollout.json": mode(store.releases_dir("shop", "web") / "rollout.json"),
        "sync request": mode(sync),
        "rollback request": mode(back),
        "metrics snapshot": mode(metrics.snapshot_file(store)),
        "scaling.json": mode(store.agent_dir / "scaling.json"),
        "secret": mode(store.secrets_dir("shop", "web") / "password")
        if store.secret("shop", "web", "password")
        else 0,
        "agent.db": mode(store.database),
    }
    assert found == {
        "definition": 0o640,
        "status.json": 0o640,
        "rollout.json": 0o640,
        "sync request": 0o640,
        "rollback request": 0o640,
        "metrics snapshot": 0o640,
        "scaling.json": 0o640,
        "secret": 0o600,
        "agent.db": 0o600,
    }


@pytest.mark.parametrize("store_class", [EventStore, SafeEventStore], ids=["plain", "safe"])
def test_agent_db_and_its_wal_are_0600_even_when_they_existed_open(
    tmp_path: Path, store_class: type[EventStore]
) -> None:
    """The agent runs the best-effort SafeEventStore: it creates the file 0600 as EventStore does."""
    db = tmp_path / "agent" / "agent.db"
    old = os.umask(0o022)
    try:
        store_class(db).member_started("m", "shop", "web", "local/p1", 1.0)
        assert mode(db) == 0o600  # created so
        db.chmod(0o644)
        # another connection (a crashed agent's, a reader's) keeps the -wal and -shm files
        with closing(sqlite3.connect(db)) as held:
            held.execute("PRAGMA journal_mode=WAL")
            held.execute(
                "INSERT INTO members (member_id, application, subscription, partition, started_at)"
                " VALUES ('x', 'shop', 'web', 'local/p1', 3.0)"
            )
            held.commit()
            for suffix in ("-wal", "-shm"):
                Path(f"{db}{suffix}").chmod(0o644)
            store_class(db)  # the agent starts again
            assert {p.name: mode(p) for p in db.parent.iterdir()} == {
                "agent.db": 0o600,
                "agent.db-wal": 0o600,
                "agent.db-shm": 0o600,
            }
    finally:
        os.umask(old)
