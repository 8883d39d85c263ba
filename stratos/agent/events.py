"""The agent's SQLite event store: every action with its reasons, and member lifetimes for metering.

Tables::

    events(time, application, subscription, kind, from_count, to_count, reasons json, details json)
    members(member_id, application, subscription, partition, started_at, stopped_at)

Times are Unix seconds (UTC). Details never hold a secret: callers pass ids, addresses and counts.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
