"""The trigger protocol: how a front end or a webhook asks the agent for a release step.

A request is a file ``<state>/agent/triggers/<app>.<alias>.<kind>`` holding ``{"source", "sha",
"at"}`` (JSON): ``sync`` (fetch the branch now; written by the webhook and by ``stratos sync``) or
``rollback`` (serve ``sha`` until the branch moves; written by ``stratos rollback``). The agent
takes them each tick (:func:`take_requests`, which removes them) and wakes for them
(:func:`has_requests`). A ``rollback`` counts only from a file owned by the agent's uid (root's
``stratos rollback`` gives its file to the agent): the HTTP side, another uid, may ask for a sync
and nothing else (docs/security.md). A verified webhook delivery becomes a :class:`Trigger`.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from stratos.fsutil import STATE, atomic_write_text
from stratos.store import StateStore

log = logging.getLogger("stratos.releases")

Key = tuple[str, str]


@dataclass(frozen=True)
class Trigger:
    """Fetch these subscriptions of ``application`` now; ``sha`` is what the sender says the head is."""

    application: str
    subscriptions: tuple[str, ...]
    source: str
    sha: str | None = None


_REQUEST = re.compile(r"^(?P<app>[a-z0-9-]+)\.(?P<alias>[a-z0-9-]+)\.(?P<kind>sync|rollback)$")


@dataclass(frozen=True)
class Request:
    """One request taken from the triggers directory."""

    application: str
    subscription: str
    kind: Literal["sync", "rollback"]
    source: str = "sync"
    sha: str | None = None
    at: float = 0.0


def triggers_dir(store: StateStore) -> Path:
    """Where requests wait: a directory the HTTP side may write to (docs/security.md)."""
    return store.agent_dir / "triggers"


def request_sync(
    store: StateStore, app: str, aliases: Iterable[str], source: str, sha: str | None = None
) -> list[Path]:
    """Ask the agent to fetch these subscriptions' branches on its next tick (it wakes for it)."""
    return [_write_request(store, app, alias, "sync", source, sha) for alias in aliases]


def _write_request(store: StateStore, app: str, alias: str, kind: str, source: str, sha: str | None) -> Path:
    path = triggers_dir(store) / f"{app}.{alias}.{kind}"
    atomic_write_text(path, json.dumps({"source": source, "sha": sha, "at": time.time()}) + "\n", STATE)
    _give_to_agent(store, path)
    return path


def _give_to_agent(store: StateStore, path: Path) -> None:
    """A request written by root (``stratos sync`` on the host) belongs to the agent directory's
    owner, the agent's uid, which must read and remove it (docs/security.md)."""
    if os.geteuid() != 0:
        return
    owner = store.agent_dir.stat()
    for item in (path.parent, path):
        os.chown(item, owner.st_uid, owner.st_gid)


def request_rollback(store: StateStore, app: str, alias: str, to: str, reason: str) -> Path:
    """Ask the agent to serve ``to`` until the branch moves (``stratos rollback``)."""
    return _write_request(store, app, alias, "rollback", reason, to)


def has_requests(store: StateStore) -> bool:
    """Whether a request waits (the agent's loop wakes for it)."""
    try:
        return any(_REQUEST.match(name) for name in os.listdir(triggers_dir(store)))
    except OSError:
        return False


def take_requests(store: StateStore, owner: int | None = None) -> dict[Key, list[Request]]:
    """The requests waiting, removed from the directory.

    A ``rollback`` is taken only from a file owned by ``owner`` (default: this process's uid; root's
    ``stratos rollback`` gives its file to the agent): the HTTP side, another uid, may ask for a sync
    and nothing else (docs/security.md)."""
    owner = os.geteuid() if owner is None else owner
    found: dict[Key, list[Request]] = {}
    directory = triggers_dir(store)
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return found
    for name in names:
        match = _REQUEST.match(name)
        if match is None:
            continue
        path = directory / name
        try:
            written_by = path.stat().st_uid
            data = json.loads(path.read_text())
            path.unlink()
        except (OSError, ValueError) as exc:
            log.warning("request %s unreadable (%s); removed", name, exc)
            path.unlink(missing_ok=True)
            continue
        kind: Literal["sync", "rollback"] = "sync" if match["kind"] == "sync" else "rollback"
        if kind == "rollback" and written_by != owner:
            log.warning("request %s refused: a rollback written by uid %d, not the agent's", name, written_by)
            continue
        sha = data.get("sha") if isinstance(data.get("sha"), str) else None
        found.setdefault((match["app"], match["alias"]), []).append(
            Request(
                match["app"],
                match["alias"],
                kind,
                str(data.get("source") or kind),
                sha,
                float(data.get("at", 0)),
            )
        )
    return found


def request_trigger(store: StateStore, trigger: Trigger) -> list[Path]:
    """The ``sync`` requests of a verified webhook delivery."""
    return request_sync(store, trigger.application, trigger.subscriptions, trigger.source, trigger.sha)
