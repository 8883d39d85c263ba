"""Recording is best-effort: a corrupt, locked, read-only or full agent.db (real SQLite files) never
stops the agent from replacing a dead member, and a corrupt one is moved aside at start."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_loop import FakeDocker, FakeRuntime, make_setup

from stratos.agent import metrics
from stratos.agent.events import Event, EventStore, SafeEventStore
from stratos.agent.loop import Agent
from stratos.drivers import docker as dockerlib
from stratos.store import StateStore

Setup = tuple[Agent, FakeDocker, FakeRuntime, StateStore]


def kill_a_web_member(fake: FakeDocker) -> str:
    victim = next(c for c in fake.containers_by_name.values() if c.labels[dockerlib.SUBSCRIPTION] == "web")
    victim.status = "exited"
    return victim.name


def replaced(agent: Agent, fake: FakeDocker, victim: str) -> None:
    result = agent.tick()
    assert result.error is None, result.error
    assert victim in fake.removed
    web = [
        c
        for c in fake.containers_by_name.values()
        if c.labels[dockerlib.SUBSCRIPTION] == "web" and c.status == "running"
    ]
    assert len(web) == 2


@pytest.fixture
def setup(tmp_path: Path, definitions_yaml: str) -> Setup:
    agent, fake, runtime, store = make_setup(tmp_path, definitions_yaml)
    assert agent.tick().ok and agent.tick().ok
    return agent, fake, runtime, store


def test_a_corrupt_database_is_moved_aside_at_start(tmp_path: Path) -> None:
    path = tmp_path / "agent" / "agent.db"
    path.parent.mkdir()
    path.write_bytes(b"SQLite format 3\x00" + os.urandom(8192))
    with pytest.raises(sqlite3.DatabaseError):
        EventStore(path)  # what the agent used to do at start: a crash, every restart

    store = SafeEventStore(path)

    aside = list(path.parent.glob("agent.db.corrupt-*"))
    assert [p.name for p in store.moved_aside] == [p.name for p in aside] and len(aside) == 1
    store.record(Event(1.0, "shop", "web", "start"))
    assert [e.kind for e in EventStore(path).events("shop")] == ["start"]
    assert store.errors == {}


def test_a_database_corrupted_while_running_is_replaced(setup: Setup) -> None:
    agent, fake, _, store = setup
    store.database.write_bytes(b"\x00garbage" * 4096)
    for side in ("-wal", "-shm"):
        store.database.with_name(store.database.name + side).unlink(missing_ok=True)
    victim = kill_a_web_member(fake)
    replaced(agent, fake, victim)
    assert agent.events is not None
    agent.events._quiet_until = float("-inf")  # the back-off after the error, over
    kill_a_web_member(fake)
    agent.tick()
    assert list(store.agent_dir.glob("agent.db.corrupt-*"))
    kinds = [e.kind for e in EventStore(store.database).events("shop")]  # a fresh store, recording again
    assert "replace" in kinds and "start" in kinds


def test_a_locked_database_does_not_stop_a_replacement(setup: Setup) -> None:
    agent, fake, _, store = setup
    holder = sqlite3.connect(store.database, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        victim = kill_a_web_member(fake)
        replaced(agent, fake, victim)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert agent.events is not None and agent.events.errors["locked"] >= 1
    text = metrics.render(agent.recorder.snapshot())
    assert 'stratos_agent_record_errors_total{kind="locked"}' in text


@pytest.fixture
def small_mount(tmp_path: Path) -> Iterator[Path]:
    """A real 1 MiB tmpfs (root only: mount(2))."""
    if os.geteuid() != 0:
        if os.environ.get("CI", "").strip().lower() in ("true", "1", "yes"):
            pytest.fail("mounting a small tmpfs needs root (CI runs as root)", pytrace=False)
        pytest.skip("mounting a small tmpfs needs root")
    mount = tmp_path / "small"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


def test_a_full_disk_does_not_stop_a_replacement(small_mount: Path, setup: Setup) -> None:
    agent, fake, _, _ = setup
    events = SafeEventStore(small_mount / "agent.db", on_error=agent.recorder.count_record_error)
    agent.events = events
    assert events.errors == {}
    filler = (small_mount / "filler").open("wb", buffering=0)
    try:
        while True:
            filler.write(b"\x00" * 4096)
    except OSError:
        pass
    finally:
        filler.close()
    for i in range(2000):  # grow the database until the disk is full
        events._quiet_until = float("-inf")
        events.record(Event(float(i), "shop", "web", "filler", details={"pad": "x" * 2000}))
        if events.errors:
            break
    assert events.errors["full"] >= 1 or events.errors["io"] >= 1, events.errors
    victim = kill_a_web_member(fake)
    replaced(agent, fake, victim)


def test_a_read_only_directory_does_not_stop_the_agent(tmp_path: Path, setup: Setup) -> None:
    agent, fake, _, _ = setup
    directory = tmp_path / "ro"
    directory.mkdir()
    if os.geteuid() == 0:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(directory)], check=True)
    else:
        directory.chmod(0o500)
    try:
        events = SafeEventStore(directory / "agent.db")
        assert events.errors["read-only"] == 1
        agent.events = events
        victim = kill_a_web_member(fake)
        replaced(agent, fake, victim)
    finally:
        if os.geteuid() == 0:
            subprocess.run(["umount", "-l", str(directory)], check=True)
        directory.chmod(0o700)


def test_last_desired_survives_a_broken_database(tmp_path: Path) -> None:
    path = tmp_path / "agent.db"
    store = SafeEventStore(path, backoff=0.0)
    store.record(Event(1.0, "shop", "web", "scale", 2, 4))
    assert store.last_desired() == {("shop", "web"): 4}
    path.write_bytes(b"\x00garbage" * 4096)
    for side in ("-wal", "-shm"):
        path.with_name(path.name + side).unlink(missing_ok=True)
    assert store.last_desired() == {("shop", "web"): 4}  # the last answer, not min
    assert store.errors["corrupt"] == 1
    assert store.last_desired() == {("shop", "web"): 4}  # a fresh database knows nothing: still 4
    assert store.moved_aside


def test_the_agent_starts_on_a_corrupt_database(tmp_path: Path) -> None:
    """The real command: it used to end in a traceback at start, every restart (a crash loop)."""
    import sys

    state = tmp_path / "state"
    (state / "agent").mkdir(parents=True)
    (state / "agent" / "agent.db").write_bytes(b"not a database at all" * 512)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "stratos",
            "agent",
            "--state-dir",
            str(state),
            "--once",
            "--metrics-port",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "Traceback" not in done.stderr, done.stderr
    assert "is corrupt: moved aside to" in done.stderr
    assert list((state / "agent").glob("agent.db.corrupt-*"))
    assert "holds no definition" in done.stderr or "does not exist" in done.stderr  # the tick's own error
    assert [e.kind for e in EventStore(state / "agent" / "agent.db").events()] == []  # a fresh store
