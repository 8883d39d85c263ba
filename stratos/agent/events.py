"""The agent's SQLite event store: every action with its reasons, and member lifetimes for metering.

Tables::

    events(time, application, subscription, kind, from_count, to_count, reasons json, details json)
    members(member_id, application, subscription, partition, started_at, stopped_at)
    samples(time, application, subscription, members, healthy, desired, figures json)

``samples`` holds a subscription's figures now and then (CPU, memory, requests, the factors of the
last scaling decision), for looking back at what the scaling saw; old samples are pruned.
Times are Unix seconds (UTC). Details never hold a secret: callers pass ids, addresses and counts.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stratos import fsutil

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

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # 0600 before SQLite opens it: its -wal and -shm files take the database's mode.
        fsutil.create_private(self.path, fsutil.SECRET, companions=("-wal", "-shm"))
        with closing(self._connect()) as db:
            db.executescript(SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=10)
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
