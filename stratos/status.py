"""Reading the agent's status file: what the front ends (Ansible, the CLI) need, without the agent.

The agent writes ``<state>/agent/status.json`` each tick (see :mod:`stratos.agent.status` for its
shape); front ends read it with these functions and wait on it with
:func:`stratos.operations.application.wait_ready`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
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
