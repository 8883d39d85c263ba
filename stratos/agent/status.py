"""``<state>/agent/status.json``: the agent's latest view, written atomically each tick.

Shape::

    {"version": 1, "time": <unix seconds>, "tick": {"ok": true, "error": null, "seconds": 0.4},
     "applications": {"<app>": {"subscriptions": {"<alias>": {
         "min": 2, "max": 6, "desired": 2, "healthy": 2, "in_lb": 2, "ready": true,
         "waiting_for": [], "notes": [],
         "members": [{"id": "shop-web-1a2b3c", "partition": "local/p1", "health": "healthy",
                      "in_lb": true, "address": "172.18.0.4", "current_revision": true}]}}}}}

``in_lb`` is ``null`` for a subscription behind no LB cluster. Front ends read it with
:func:`read_status` and wait with :func:`wait_ready` (the Ansible ``application`` module does).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from stratos.agent.reconcile import SubscriptionView
from stratos.errors import StratosError
from stratos.store import StateStore, write_atomic

VERSION = 1


def build_status(
    now: float,
    views: Iterable[SubscriptionView],
    *,
    ok: bool = True,
    error: str | None = None,
    seconds: float = 0.0,
) -> dict[str, Any]:
    applications: dict[str, Any] = {}
    for view in views:
        subs = applications.setdefault(view.application, {"subscriptions": {}})["subscriptions"]
        subs[view.subscription] = {
            "min": view.min,
            "max": view.max,
            "desired": view.desired,
            "healthy": view.healthy,
            "in_lb": view.in_lb,
            "ready": view.ready,
            "waiting_for": list(view.waiting_for),
            "notes": list(view.notes),
            "members": [
                {
                    "id": m.member_id,
                    "partition": m.partition,
                    "health": m.health,
                    "in_lb": m.in_lb,
                    "address": m.address,
                    "current_revision": m.current_revision,
                    **({"detail": m.detail} if m.detail and m.health != "healthy" else {}),
                }
                for m in view.members
            ],
        }
    return {
        "version": VERSION,
        "time": now,
        "tick": {"ok": ok, "error": error, "seconds": round(seconds, 3)},
        "applications": applications,
    }


def write_status(store: StateStore, status: dict[str, Any]) -> None:
    write_atomic(store.status_file, json.dumps(status, indent=2, sort_keys=True) + "\n", 0o644)


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


def as_plain(view: SubscriptionView) -> dict[str, Any]:
    return asdict(view)
