"""Reading the agent's status file: what the front ends (Ansible, the CLI) need, without the agent.

The agent writes ``<state>/agent/status.json`` each tick (see :mod:`stratos.agent.status` for its
shape); front ends read it and wait on it with these functions.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from stratos.errors import StratosError
from stratos.fsutil import STATE, atomic_write_text
from stratos.store import StateStore


def write_status(store: StateStore, status: dict[str, Any]) -> None:
    atomic_write_text(store.status_file, json.dumps(status, indent=2, sort_keys=True) + "\n", STATE)


def read_status(store: StateStore) -> dict[str, Any] | None:
    try:
        data = json.loads(Path(store.status_file).read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise StratosError(f"agent status {store.status_file} cannot be read: {exc}") from exc
    return data if isinstance(data, dict) else None


def application_ready(status: dict[str, Any] | None, app: str, aliases: Iterable[str] | None = None) -> bool:
    """Whether every (or each named) subscription of ``app`` has ``min`` healthy members registered."""
    if not status:
        return False
    subs = ((status.get("applications") or {}).get(app) or {}).get("subscriptions") or {}
    names = list(aliases) if aliases is not None else list(subs)
    return bool(names) and all(bool((subs.get(name) or {}).get("ready")) for name in names)


def wait_ready(
    store: StateStore,
    app: str,
    aliases: Iterable[str] | None = None,
    *,
    timeout: float = 300.0,
    since: float | None = None,
    poll: float = 1.0,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Wait (bounded) until the agent reports ``app`` ready; return that status.

    ``since``: ignore status files written before this time (e.g. before the definitions changed).
    Raises StratosError (temporary) naming what is not ready when ``timeout`` passes.
    """
    names = list(aliases) if aliases is not None else None
    deadline = clock() + timeout
    status: dict[str, Any] | None = None
    while True:
        status = read_status(store)
        fresh = status is not None and (since is None or float(status.get("time", 0)) >= since)
        if fresh and application_ready(status, app, names):
            assert status is not None
            return status
        if clock() >= deadline:
            break
        sleep(poll)
    raise _NotReady(_describe(status, app, names, timeout))


class _NotReady(StratosError):
    temporary = True


def _describe(status: dict[str, Any] | None, app: str, names: list[str] | None, timeout: float) -> str:
    if status is None:
        return f"application '{app}': no agent status after {timeout:g}s (is the agent running?)"
    subs = ((status.get("applications") or {}).get(app) or {}).get("subscriptions") or {}
    if not subs:
        return f"application '{app}': the agent does not report it after {timeout:g}s"
    parts = []
    for alias, sub in sorted(subs.items()):
        if names is not None and alias not in names:
            continue
        if not sub.get("ready"):
            parts.append(
                f"{alias}: {sub.get('healthy', 0)} healthy, {sub.get('in_lb')} in LB, min {sub.get('min')}"
                + (f", waiting for {', '.join(sub['waiting_for'])}" if sub.get("waiting_for") else "")
                + (f" ({'; '.join(sub['notes'])})" if sub.get("notes") else "")
            )
    return f"application '{app}' not ready after {timeout:g}s: " + "; ".join(parts)
