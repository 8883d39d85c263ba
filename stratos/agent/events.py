"""The agent's SQLite event store: every action with its reasons, and member lifetimes for metering.

Tables::

    events(time, application, subscription, kind, from_count, to_count, reasons json, details json)
    members(member_id, application, subscription, partition, started_at, stopped_at)
    samples(time, application, subscription, members, healthy, desired, figures json)

``samples`` holds a subscription's figures now and then (CPU, memory, requests, the factors of the
last scaling decision), for looking back at what the scaling saw; old samples are pruned.
Times are Unix seconds (UTC). Details never hold a secret: callers pass ids, addresses and counts.

The agent records through :class:`SafeEventStore`: recording is best-effort and never stops
reconciling. A lock is waited for a bounded time (:data:`LOCK_TIMEOUT`), an error (locked, full
disk, read-only, corrupt) is logged once per kind and counted (:attr:`SafeEventStore.errors`, the
``stratos_agent_record_errors_total`` metric), and after an error the store is left alone for
:data:`BACKOFF` seconds so that a stuck database costs a tick at most one timeout. A corrupt file
(at start, or found corrupt later) is moved aside as ``agent.db.corrupt-<unix time>`` and a fresh
one is created.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stratos import fsutil

log = logging.getLogger("stratos.agent.events")

#: Seconds the agent waits for a lock another connection holds on agent.db.
LOCK_TIMEOUT = 0.5
#: Seconds the agent leaves the store alone after an error.
BACKOFF = 5.0

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time REAL NOT NULL,
    application TEXT NOT NULL,
    subscription TEXT NOT NULL,
    kind TEXT NOT NULL,
    from_count INTEGER,
    to_count INTEGER,
    reasons TEXT NOT NULL DEFAULT '[]',
    details TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS events_by_subscription ON events (application, subscription, time);
CREATE TABLE IF NOT EXISTS members (
    member_id TEXT PRIMARY KEY,
    application TEXT NOT NULL,
    subscription TEXT NOT NULL,
    partition TEXT NOT NULL,
    started_at REAL NOT NULL,
    stopped_at REAL
);
CREATE INDEX IF NOT EXISTS members_by_subscription ON members (application, subscription);
CREATE TABLE IF NOT EXISTS samples (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time REAL NOT NULL,
    application TEXT NOT NULL,
    subscription TEXT NOT NULL,
    members INTEGER NOT NULL,
    healthy INTEGER NOT NULL,
    desired INTEGER NOT NULL,
    figures TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS samples_by_subscription ON samples (application, subscription, time);
"""


@dataclass(frozen=True)
class Event:
    time: float
    application: str
    subscription: str
    kind: str
    from_count: int | None = None
    to_count: int | None = None
    reasons: Sequence[str] = ()
    details: dict[str, Any] = field(default_factory=dict)


class EventStore:
    """A small wrapper over one SQLite file; each call is its own transaction."""

    def __init__(self, path: str | Path, timeout: float = 10.0):
        self.path = Path(path)
        self.timeout = timeout
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # 0600 before SQLite opens it: its -wal and -shm files take the database's mode.
        fsutil.create_private(self.path, fsutil.SECRET, companions=("-wal", "-shm"))
        with closing(self._connect()) as db:
            db.executescript(SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=self.timeout)
        db.execute("PRAGMA journal_mode=WAL")
        return db

    def record(self, event: Event) -> None:
        with closing(self._connect()) as db, db:
            db.execute(
                "INSERT INTO events (time, application, subscription, kind, from_count, to_count, reasons, details)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    event.time,
                    event.application,
                    event.subscription,
                    event.kind,
                    event.from_count,
                    event.to_count,
                    json.dumps(list(event.reasons)),
                    json.dumps(event.details, sort_keys=True, default=str),
                ),
            )

    def events(
        self, application: str | None = None, subscription: str | None = None, limit: int = 50
    ) -> list[Event]:
        """The most recent events, newest last."""
        query = (
            "SELECT time, application, subscription, kind, from_count, to_count, reasons, details FROM events"
        )
        where, args = [], []
        if application is not None:
            where.append("application = ?")
            args.append(application)
        if subscription is not None:
            where.append("subscription = ?")
            args.append(subscription)
        if where:
            query += " WHERE " + " AND ".join(where)
        query += " ORDER BY id DESC LIMIT ?"
        with closing(self._connect()) as db:
            rows = db.execute(query, (*args, limit)).fetchall()
        return [
            Event(row[0], row[1], row[2], row[3], row[4], row[5], json.loads(row[6]), json.loads(row[7]))
            for row in reversed(rows)
        ]

    def last_desired(self) -> dict[tuple[str, str], int]:
        """The last member count a scaling decision recorded per subscription (events of kind 'scale')."""
        query = (
            "SELECT application, subscription, to_count FROM events WHERE id IN "
            "(SELECT MAX(id) FROM events WHERE kind = 'scale' AND to_count IS NOT NULL "
            "GROUP BY application, subscription)"
        )
        with closing(self._connect()) as db:
            return {(app, sub): int(count) for app, sub, count in db.execute(query)}

    # ------------------------------------------------------------ metering
    def member_started(
        self, member_id: str, application: str, subscription: str, partition: str, at: float
    ) -> None:
        with closing(self._connect()) as db, db:
            db.execute(
                "INSERT OR IGNORE INTO members (member_id, application, subscription, partition, started_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (member_id, application, subscription, partition, at),
            )

    def member_stopped(self, member_id: str, at: float) -> None:
        with closing(self._connect()) as db, db:
            db.execute(
                "UPDATE members SET stopped_at = ? WHERE member_id = ? AND stopped_at IS NULL",
                (at, member_id),
            )

    def members(
        self, application: str | None = None
    ) -> Iterator[tuple[str, str, str, str, float, float | None]]:
        query = "SELECT member_id, application, subscription, partition, started_at, stopped_at FROM members"
        args: tuple[str, ...] = ()
        if application is not None:
            query += " WHERE application = ?"
            args = (application,)
        with closing(self._connect()) as db:
            yield from db.execute(query + " ORDER BY started_at", args).fetchall()

    def stopped_unless(self, member_ids: Iterable[str], at: float) -> int:
        """Close the lifetime of every running member not in ``member_ids`` (gone while unobserved)."""
        ids = list(member_ids)
        marks = ",".join("?" * len(ids))
        query = "UPDATE members SET stopped_at = ? WHERE stopped_at IS NULL"
        if ids:
            query += f" AND member_id NOT IN ({marks})"
        with closing(self._connect()) as db, db:
            return db.execute(query, (at, *ids)).rowcount

    def member_seconds(self, now: float, application: str | None = None) -> dict[str, float]:
        """Metering: seconds members have run per application (running members count up to ``now``)."""
        totals: dict[str, float] = {}
        for app, _, _, seconds, _ in self.metering(now, application):
            totals[app] = totals.get(app, 0.0) + seconds
        return totals

    def metering(self, now: float, application: str | None = None) -> list[tuple[str, str, int, float, int]]:
        """Per subscription: (application, alias, members ever, member-seconds, running now)."""
        query = (
            "SELECT application, subscription, COUNT(*), SUM(MAX(0, COALESCE(stopped_at, ?) - started_at)),"
            " SUM(stopped_at IS NULL) FROM members"
        )
        args: tuple[Any, ...] = (now,)
        if application is not None:
            query += " WHERE application = ?"
            args += (application,)
        query += " GROUP BY application, subscription ORDER BY application, subscription"
        with closing(self._connect()) as db:
            rows = db.execute(query, args).fetchall()
        return [
            (app, sub, int(n), float(seconds or 0.0), int(running or 0))
            for app, sub, n, seconds, running in rows
        ]

    # ------------------------------------------------------------ samples
    def sample(
        self,
        at: float,
        application: str,
        subscription: str,
        members: int,
        healthy: int,
        desired: int,
        figures: dict[str, Any],
    ) -> None:
        with closing(self._connect()) as db, db:
            db.execute(
                "INSERT INTO samples (time, application, subscription, members, healthy, desired, figures)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    at,
                    application,
                    subscription,
                    members,
                    healthy,
                    desired,
                    json.dumps(figures, sort_keys=True),
                ),
            )

    def samples(
        self, application: str, subscription: str | None = None, since: float = 0.0, limit: int = 1000
    ) -> list[tuple[float, str, int, int, int, dict[str, Any]]]:
        """(time, alias, members, healthy, desired, figures), oldest first."""
        query = (
            "SELECT time, subscription, members, healthy, desired, figures FROM samples WHERE application = ?"
        )
        args: list[Any] = [application]
        if subscription is not None:
            query += " AND subscription = ?"
            args.append(subscription)
        query += " AND time >= ? ORDER BY time DESC, id DESC LIMIT ?"
        args += [since, limit]
        with closing(self._connect()) as db:
            rows = db.execute(query, args).fetchall()
        return [(t, sub, m, h, d, json.loads(f)) for t, sub, m, h, d, f in reversed(rows)]

    def prune_samples(self, before: float) -> int:
        with closing(self._connect()) as db, db:
            return db.execute("DELETE FROM samples WHERE time < ?", (before,)).rowcount


# --------------------------------------------------------------------------- best-effort recording


def error_kind(exc: BaseException) -> str:
    """A short name for what went wrong with the database: locked, full, read-only, corrupt..."""
    text = str(exc).lower()
    if "locked" in text or "busy" in text:
        return "locked"
    if "full" in text:
        return "full"
    if "readonly" in text or "read-only" in text or "unable to open" in text or "permission" in text:
        return "read-only"
    if "not a database" in text or "malformed" in text or "corrupt" in text:
        return "corrupt"
    if isinstance(exc, OSError) or "i/o" in text:
        return "io"
    return type(exc).__name__


def is_corrupt(path: Path, timeout: float = LOCK_TIMEOUT) -> bool:
    """Whether ``path`` exists and is not a sound SQLite database (``PRAGMA quick_check``).

    A database that cannot be checked now (locked, unreadable) is not called corrupt.
    """
    if not path.exists():
        return False
    try:
        with closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=timeout)) as db:
            rows = db.execute("PRAGMA quick_check").fetchall()
    except sqlite3.DatabaseError as exc:
        return error_kind(exc) == "corrupt"
    return rows != [("ok",)]


def move_aside(path: Path, now: float) -> Path:
    """Rename a corrupt database (and its WAL files) to ``<name>.corrupt-<unix time>``."""
    target = path.with_name(f"{path.name}.corrupt-{int(now)}")
    os.replace(path, target)
    for suffix in ("-wal", "-shm"):
        side = path.with_name(path.name + suffix)
        if side.exists():
            os.replace(side, target.with_name(target.name + suffix))
    return target


class SafeEventStore(EventStore):
    """An :class:`EventStore` whose calls never raise and never wait long (see the module doc).

    Writes that fail are dropped; reads that fail give an empty answer, except
    :meth:`last_desired`, which gives the last answer that worked (so a broken database does not
    scale anything back to ``min``).
    """

    def __init__(
        self,
        path: str | Path,
        timeout: float = LOCK_TIMEOUT,
        *,
        backoff: float = BACKOFF,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        on_error: Callable[[str], None] | None = None,
    ):
        self.path = Path(path)
        self.timeout = timeout
        self.backoff = backoff
        self.clock = clock
        self.monotonic = monotonic
        self.on_error = on_error
        #: Failed calls by kind of error, since the start.
        self.errors: Counter[str] = Counter()
        self.moved_aside: list[Path] = []
        self._lock = threading.Lock()
        self._logged: set[tuple[str, str]] = set()
        self._ready = False
        self._quiet_until = float("-inf")
        self._desired: dict[tuple[str, str], int] = {}
        self._open()

    def _open(self) -> bool:
        """Create the schema (moving a corrupt file aside first); False when that failed."""
        if self._ready:
            return True
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if is_corrupt(self.path, self.timeout):
                target = move_aside(self.path, self.clock())
                self.moved_aside.append(target)
                log.error("%s is corrupt: moved aside to %s; a fresh one is created", self.path, target)
            # 0600 before SQLite opens it, as EventStore does: its -wal and -shm take its mode.
            fsutil.create_private(self.path, fsutil.SECRET, companions=("-wal", "-shm"))
            with closing(self._connect()) as db:
                db.executescript(SCHEMA)
        except Exception as exc:  # noqa: BLE001 - the agent goes on without recording
            self._failed("open", exc)
            return False
        self._ready = True
        return True

    def _failed(self, operation: str, exc: BaseException) -> None:
        kind = error_kind(exc)
        with self._lock:
            self.errors[kind] += 1
            first = (operation, kind) not in self._logged
            self._logged.add((operation, kind))
            self._quiet_until = self.monotonic() + self.backoff
            if kind == "corrupt":
                self._ready = False  # checked (and moved aside) on the next call
        if first:
            log.error(
                "recording (%s) in %s failed (%s: %s); the agent goes on without it (logged once per kind)",
                operation,
                self.path,
                kind,
                exc,
            )
        if self.on_error is not None:
            try:
                self.on_error(kind)
            except Exception:  # noqa: BLE001 - counting must not break anything either
                pass

    def _safe(self, operation: str, default: Any, call: Callable[[], Any]) -> Any:
        if self.monotonic() < self._quiet_until:
            self.errors["skipped"] += 1
            return default
        if not self._open():
            return default
        try:
            return call()
        except Exception as exc:  # noqa: BLE001 - recording is best-effort
            self._failed(operation, exc)
            return default

    def record(self, event: Event) -> None:
        self._safe("record", None, lambda: super(SafeEventStore, self).record(event))

    def events(
        self, application: str | None = None, subscription: str | None = None, limit: int = 50
    ) -> list[Event]:
        result: list[Event] = self._safe(
            "events", [], lambda: super(SafeEventStore, self).events(application, subscription, limit)
        )
        return result

    def last_desired(self) -> dict[tuple[str, str], int]:
        found = self._safe("last_desired", None, lambda: super(SafeEventStore, self).last_desired())
        if found is not None:
            # Merged: a fresh database (after a corrupt one) does not send everything back to min.
            self._desired.update(found)
        return dict(self._desired)

    def member_started(
        self, member_id: str, application: str, subscription: str, partition: str, at: float
    ) -> None:
        self._safe(
            "member_started",
            None,
            lambda: super(SafeEventStore, self).member_started(
                member_id, application, subscription, partition, at
            ),
        )

    def member_stopped(self, member_id: str, at: float) -> None:
        self._safe("member_stopped", None, lambda: super(SafeEventStore, self).member_stopped(member_id, at))

    def members(
        self, application: str | None = None
    ) -> Iterator[tuple[str, str, str, str, float, float | None]]:
        rows: list[tuple[str, str, str, str, float, float | None]] = self._safe(
            "members", [], lambda: list(super(SafeEventStore, self).members(application))
        )
        return iter(rows)

    def stopped_unless(self, member_ids: Iterable[str], at: float) -> int:
        ids = list(member_ids)
        count: int = self._safe(
            "stopped_unless", 0, lambda: super(SafeEventStore, self).stopped_unless(ids, at)
        )
        return count

    def metering(self, now: float, application: str | None = None) -> list[tuple[str, str, int, float, int]]:
        rows: list[tuple[str, str, int, float, int]] = self._safe(
            "metering", [], lambda: super(SafeEventStore, self).metering(now, application)
        )
        return rows

    def sample(
        self,
        at: float,
        application: str,
        subscription: str,
        members: int,
        healthy: int,
        desired: int,
        figures: dict[str, Any],
    ) -> None:
        self._safe(
            "sample",
            None,
            lambda: super(SafeEventStore, self).sample(
                at, application, subscription, members, healthy, desired, figures
            ),
        )

    def samples(
        self, application: str, subscription: str | None = None, since: float = 0.0, limit: int = 1000
    ) -> list[tuple[float, str, int, int, int, dict[str, Any]]]:
        rows: list[tuple[float, str, int, int, int, dict[str, Any]]] = self._safe(
            "samples",
            [],
            lambda: super(SafeEventStore, self).samples(application, subscription, since, limit),
        )
        return rows

    def prune_samples(self, before: float) -> int:
        count: int = self._safe("prune_samples", 0, lambda: super(SafeEventStore, self).prune_samples(before))
        return count
