"""A subscription's release state (pure, plus its file): what went live, what failed, what holds.

The state of each subscription with an artifact (last good release, failed commits, a rollback's
hold, the release being verified, the releases that went live) is kept in
``<state>/releases/<app>/<alias>/rollout.json`` (:func:`load_state`, :func:`save_state`) so that a
restarted agent neither retries a failed commit nor forgets what it was verifying. The functions
that change it (:func:`with_failed`, :func:`with_good`, :func:`apply_rollback`) return a new state.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from stratos.fsutil import STATE, atomic_write_text
from stratos.store import StateStore

log = logging.getLogger("stratos.releases")

#: How many failed commits and live releases the state remembers.
MEMORY = 20


@dataclass(frozen=True)
class Pending:
    """A release that went live (``none``) or is being rolled out (``restart``), not yet verified."""

    sha: str
    previous: str | None
    since: float
    source: str = "poll"


@dataclass(frozen=True)
class Hold:
    """``stratos rollback``: serve ``sha`` while the branch head stays ``head``."""

    sha: str
    head: str | None
    reason: str


@dataclass(frozen=True)
class RolloutState:
    head: str | None = None
    good: str | None = None
    pending: Pending | None = None
    failed: Mapping[str, str] = field(default_factory=dict)
    hold: Hold | None = None
    degraded: str | None = None
    #: Releases that passed their check, oldest first (what ``stratos rollback`` goes back to).
    history: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {
            "head": self.head,
            "good": self.good,
            "pending": None if self.pending is None else vars(self.pending),
            "failed": dict(self.failed),
            "hold": None if self.hold is None else vars(self.hold),
            "degraded": self.degraded,
            "history": list(self.history),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RolloutState:
        pending = data.get("pending")
        hold = data.get("hold")
        return cls(
            head=data.get("head"),
            good=data.get("good"),
            pending=Pending(**pending) if isinstance(pending, dict) else None,
            failed=dict(data.get("failed") or {}),
            hold=Hold(**hold) if isinstance(hold, dict) else None,
            degraded=data.get("degraded"),
            history=tuple(data.get("history") or ()),
        )


def with_failed(state: RolloutState, sha: str, why: str) -> RolloutState:
    failed = {k: v for k, v in state.failed.items() if k != sha}
    failed[sha] = why
    return replace(
        state,
        failed=dict(list(failed.items())[-MEMORY:]),
        pending=None,
        degraded=f"release {sha[:12]} failed health",
    )


def with_good(state: RolloutState, sha: str) -> RolloutState:
    history = tuple(s for s in state.history if s != sha) + (sha,)
    degraded = state.degraded if state.head in state.failed and state.head != sha else None
    return replace(state, good=sha, pending=None, history=history[-MEMORY:], degraded=degraded)


def apply_rollback(state: RolloutState, to: str, reason: str) -> RolloutState:
    """Hold ``to`` until the branch moves; an operator's choice clears that commit's failure."""
    failed = {k: v for k, v in state.failed.items() if k != to}
    return replace(state, hold=Hold(to, state.head, reason), failed=failed, degraded=None)


def rollback_target(state: RolloutState, current: str | None) -> str | None:
    """The release ``stratos rollback`` goes back to: the newest good release that is not current."""
    for sha in reversed(state.history):
        if sha != current and sha not in state.failed:
            return sha
    return None


def _state_file(store: StateStore, app: str, alias: str) -> Path:
    return store.releases_dir(app, alias) / "rollout.json"


def load_state(store: StateStore, app: str, alias: str) -> RolloutState:
    """The saved state; an empty one when there is none or it cannot be read (logged)."""
    path = _state_file(store, app, alias)
    try:
        return RolloutState.from_json(json.loads(path.read_text()))
    except FileNotFoundError:
        return RolloutState()
    except (OSError, ValueError, TypeError) as exc:
        log.warning("%s unreadable (%s); starting from an empty rollout state", path, exc)
        return RolloutState()


def save_state(store: StateStore, app: str, alias: str, state: RolloutState) -> None:
    path = _state_file(store, app, alias)
    atomic_write_text(path, json.dumps(state.as_json(), indent=2, sort_keys=True) + "\n", STATE)
