"""The agent's status (``<state>/agent/status.json``) as a typed model, and how front ends read it.

The agent is its one writer (each tick, atomically); the CLI (``stratos status``), the agent's HTTP
side, the release commands and the operations read it, all through :func:`read_status`, so
that one model says what the file holds. It lives in the core so that readers need not import
the agent. Shape on disk (unchanged since version 1)::

    {"version": 1, "time": <unix seconds>, "tick": {"ok": true, "error": null, "seconds": 0.4},
     "notes": [],
     "applications": {"<app>": {"subscriptions": {"<alias>": {
         "min": 2, "max": 6, "desired": 2, "healthy": 2, "in_lb": 2, "ready": true,
         "waiting_for": [], "notes": [],
         "cpu_percent": 12.5, "memory_percent": 30.1, "requests_in_flight": 3, "queued": 0,
         "autoscaling": {"rule": ..., "decided_at": ..., "factors": {}, "predictions": {},
                         "thresholds": {}},
         "release": "<sha>", "release_message": "...", "degraded": null,
         "members": [{"id": "shop-web-1a2b3c", "partition": "local/p1", "health": "healthy",
                      "in_lb": true, "address": "172.18.0.4", "current_revision": true,
                      "cpu_percent": 10.0, "memory_percent": 28.0, "requests_in_flight": 1}]}}}}}

``in_lb`` is ``null`` for a subscription behind no LB cluster. Keys the writer did not set (a
member's ``detail`` when it is healthy, the figures before the first measurement, the release
fields of a subscription without an artifact) are left out of the file, as before the model: a
model dumps only the fields that were given (:meth:`AgentStatus.as_json`), so a file read and
written again keeps its shape.

Front ends wait on it with :func:`stratos.operations.application.wait_ready`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from stratos.errors import StratosError
from stratos.fsutil import STATE, atomic_write_text
from stratos.store import StateStore

if TYPE_CHECKING:  # the planner's views; readers of the file need not import the planner
    from stratos.planning.reconcile import MemberView, SubscriptionView

VERSION = 1


class _Status(BaseModel):
    # Unknown keys (a newer agent's) are kept, so that a reader that writes the file back loses none.
    model_config = ConfigDict(extra="allow")


class MemberStatus(_Status):
    """One member of a subscription as the agent last saw it."""

    id: str
    partition: str = ""
    health: str = "unknown"
    in_lb: bool | None = None
    address: str | None = None
    current_revision: bool = True
    #: Why a member that is not healthy is not (absent for a healthy one).
    detail: str | None = None
    cpu_percent: float | None = None
    memory_percent: float | None = None
    requests_in_flight: float | None = None


class AutoscalingStatus(_Status):
    """The last scaling decision's figures, per factor, in the unit of its threshold."""

    rule: str
    decided_at: float | None = None
    factors: dict[str, float | None] = Field(default_factory=dict)
    predictions: dict[str, float | None] = Field(default_factory=dict)
    thresholds: dict[str, float] = Field(default_factory=dict)


class SubscriptionStatus(_Status):
    """One subscription: its counts, readiness, figures and release."""

    min: int = 0
    max: int = 0
    desired: int = 0
    healthy: int = 0
    in_lb: int | None = None
    ready: bool = False
    waiting_for: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    members: list[MemberStatus] = Field(default_factory=list)
    # The figures (:func:`stratos.agent.metrics.annotate_status`).
    cpu_percent: float | None = None
    memory_percent: float | None = None
    requests_in_flight: float | None = None
    queued: float | None = None
    autoscaling: AutoscalingStatus | None = None
    # The release of its artifact (:func:`stratos.agent.rollout.annotate_status`).
    release: str | None = None
    release_message: str | None = None
    degraded: str | None = None


class ApplicationStatus(_Status):
    subscriptions: dict[str, SubscriptionStatus] = Field(default_factory=dict)


class TickStatus(_Status):
    ok: bool = False
    error: str | None = None
    seconds: float = 0.0


class AgentStatus(_Status):
    """The whole file."""

    version: int = VERSION
    #: When the tick that wrote it began (unix seconds).
    time: float = 0.0
    tick: TickStatus = Field(default_factory=TickStatus)
    #: What the plan chose not to do and why.
    notes: list[str] = Field(default_factory=list)
    applications: dict[str, ApplicationStatus] = Field(default_factory=dict)

    def subscription(self, app: str, alias: str) -> SubscriptionStatus | None:
        application = self.applications.get(app)
        return application.subscriptions.get(alias) if application is not None else None

    def subscriptions_of(self, app: str) -> dict[str, SubscriptionStatus]:
        application = self.applications.get(app)
        return dict(application.subscriptions) if application is not None else {}

    def as_json(self) -> dict[str, Any]:
        """The JSON document: only the fields that were given (see the module doc)."""
        return self.model_dump(mode="json", exclude_unset=True)


# --------------------------------------------------------------------------- building it (pure)


def member_status(m: MemberView) -> MemberStatus:
    extra = {"detail": m.detail} if m.detail and m.health != "healthy" else {}
    return MemberStatus(
        id=m.member_id,
        partition=m.partition,
        health=m.health,
        in_lb=m.in_lb,
        address=m.address,
        current_revision=m.current_revision,
        **extra,
    )


def subscription_status(view: SubscriptionView) -> SubscriptionStatus:
    return SubscriptionStatus(
        min=view.min,
        max=view.max,
        desired=view.desired,
        healthy=view.healthy,
        in_lb=view.in_lb,
        ready=view.ready,
        waiting_for=list(view.waiting_for),
        notes=list(view.notes),
        members=[member_status(m) for m in view.members],
    )


def build_status(
    now: float,
    views: Iterable[SubscriptionView],
    *,
    ok: bool = True,
    error: str | None = None,
    seconds: float = 0.0,
) -> AgentStatus:
    """The status of a tick that planned: one entry per subscription view."""
    applications: dict[str, ApplicationStatus] = {}
    for view in views:
        app = applications.setdefault(view.application, ApplicationStatus(subscriptions={}))
        app.subscriptions[view.subscription] = subscription_status(view)
    return AgentStatus(
        version=VERSION,
        time=now,
        tick=TickStatus(ok=ok, error=error, seconds=round(seconds, 3)),
        applications=applications,
    )


def failed_tick(previous: AgentStatus | None, now: float, error: str | None, seconds: float) -> AgentStatus:
    """A tick that could not plan: the last view stays, stamped with the failure."""
    base = previous or AgentStatus(version=VERSION, applications={})
    return base.model_copy(
        update={"time": now, "tick": TickStatus(ok=False, error=error, seconds=seconds)}, deep=True
    )


# --------------------------------------------------------------------------- the file (I/O)


def write_status(store: StateStore, status: AgentStatus) -> None:
    text = json.dumps(status.as_json(), indent=2, sort_keys=True) + "\n"
    atomic_write_text(store.status_file, text, STATE)


def read_status(store: StateStore) -> AgentStatus | None:
    """The agent's latest status; ``None`` before the first tick wrote one."""
    try:
        data = json.loads(Path(store.status_file).read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise StratosError(f"agent status {store.status_file} cannot be read: {exc}") from exc
    if not isinstance(data, dict):
        return None
    try:
        return AgentStatus.model_validate(data)
    except ValidationError as exc:
        raise StratosError(f"agent status {store.status_file} is not a status: {exc}") from exc


# --------------------------------------------------------------------------- waiting on it


def application_ready(status: AgentStatus | None, app: str, aliases: Iterable[str] | None = None) -> bool:
    """Whether every (or each named) subscription of ``app`` has ``min`` healthy members registered."""
    if status is None:
        return False
    subs = status.subscriptions_of(app)
    names = list(aliases) if aliases is not None else list(subs)
    return bool(names) and all(name in subs and subs[name].ready for name in names)
