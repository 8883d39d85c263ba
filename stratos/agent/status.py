"""``<state>/agent/status.json``: the agent's latest view, written atomically each tick.

Shape::

    {"version": 1, "time": <unix seconds>, "tick": {"ok": true, "error": null, "seconds": 0.4},
     "applications": {"<app>": {"subscriptions": {"<alias>": {
         "min": 2, "max": 6, "desired": 2, "healthy": 2, "in_lb": 2, "ready": true,
         "waiting_for": [], "notes": [],
         "members": [{"id": "shop-web-1a2b3c", "partition": "local/p1", "health": "healthy",
                      "in_lb": true, "address": "172.18.0.4", "current_revision": true}]}}}}}

``in_lb`` is ``null`` for a subscription behind no LB cluster. Front ends read it with
:func:`read_status` and wait with :func:`stratos.operations.application.wait_ready` (the Ansible
``application`` module does).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from stratos.planning.reconcile import SubscriptionView

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


# The reading side lives in the core so front ends need not import the agent.
from stratos.status import (  # noqa: E402,F401
    application_ready,
    read_status,
    write_status,
)
