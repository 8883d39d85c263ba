"""What the agent tells the world each tick: events (SQLite), ``status.json``, the metrics snapshot,
figure samples and metering. Beside the loop, never in its way: every write here is best-effort
(a locked, full, read-only or corrupt ``agent.db``, or a status that cannot be written, is logged
and counted, and the tick goes on).

The status a tick writes shows the world *after* acting, without loading or planning again:
:func:`views_after` applies what the actor did (:class:`~stratos.agent.actor.Outcome`) to the
views the plan made before acting.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from stratos.agent import metrics as metricslib
from stratos.agent import rollout
from stratos.agent.actor import Outcome
from stratos.agent.config import AgentConfig
from stratos.agent.events import Event, SafeEventStore
from stratos.agent.observe import MemberMetrics
from stratos.drivers.members import ObservedMember
from stratos.planning import reconcile
from stratos.scaling import Decision
from stratos.status import AgentStatus, build_status, failed_tick, write_status
from stratos.store import StateStore
from stratos.validation import DefinitionSet

log = logging.getLogger("stratos.agent")


class Reporter:
    """Events, status, metrics and samples of one agent (see the module doc)."""

    def __init__(
        self,
        store: StateStore,
        events: SafeEventStore | None,
        *,
        monotonic: Callable[[], float],
        config: AgentConfig,
    ):
        self.store = store
        self.events = events
        self.monotonic = monotonic
        self.sample_interval = config.sample_interval
        self.sample_retention = config.sample_retention
        #: The latest figures, read by the HTTP server's threads.
        self.recorder = metricslib.LatestSnapshot()
        if events is not None:
            events.on_error = self.recorder.count_record_error
        self.figures: list[metricslib.SubscriptionFigures] = []
        self.last_status: AgentStatus | None = None
        self._metered: set[str] = set()
        self._noted: set[str] = set()
        self._sampled: dict[tuple[str, str], float] = {}
        self._pruned = float("-inf")

    # ------------------------------------------------------------------ events
    def record(
        self,
        now: float,
        application: str,
        subscription: str,
        kind: str,
        from_count: int | None = None,
        to_count: int | None = None,
        reasons: Iterable[str] = (),
        details: dict[str, Any] | None = None,
    ) -> None:
        if self.events is None:
            return
        try:
            self.events.record(
                Event(
                    now, application, subscription, kind, from_count, to_count, tuple(reasons), details or {}
                )
            )
        except Exception:  # noqa: BLE001 - recording must not break acting
            log.exception("recording an event failed")

    def member_started(self, member_id: str, app: str, alias: str, placement: str, at: float) -> None:
        if self.events is not None:
            self.events.member_started(member_id, app, alias, placement, at)

    def member_stopped(self, member_id: str, at: float) -> None:
        if self.events is not None:
            self.events.member_stopped(member_id, at)

    def meter(self, observed: Mapping[str, ObservedMember], now: float) -> None:
        """Members started by an earlier agent are metered from their start; members that went away
        while no agent watched (or by another hand) stop being metered."""
        if self.events is None:
            return
        for member in observed.values():
            if member.member_id not in self._metered:
                placement = f"{member.network_partition}/{member.partition}"
                self.member_started(
                    member.member_id, member.application, member.subscription, placement, member.started_at
                )
                self._metered.add(member.member_id)
        self.events.stopped_unless(observed, now)

    def note(self, plan: reconcile.Plan) -> None:
        """Log the plan's notes once each (while they hold)."""
        for note in plan.notes:
            if note not in self._noted:
                log.warning("%s", note)
        self._noted = set(plan.notes)

    # ------------------------------------------------------------------ status and metrics
    def write_status(
        self,
        now: float,
        *,
        plan: reconcile.Plan | None,
        views: Iterable[reconcile.SubscriptionView],
        ok: bool,
        error: str | None,
        seconds: float,
        member_metrics: Mapping[str, MemberMetrics],
        decisions: Mapping[tuple[str, str], Decision],
        releases: Mapping[tuple[str, str], Mapping[str, Any]],
    ) -> None:
        try:
            if plan is None:
                status = failed_tick(self.last_status, now, error, seconds)
            else:
                views = tuple(views)
                status = build_status(now, views, ok=ok, error=error, seconds=seconds)
                status.notes = list(plan.notes)
                self.figures = metricslib.subscription_figures(views, member_metrics, decisions)
                metricslib.annotate_status(status, self.figures, member_metrics)
                rollout.annotate_status(status, releases)
                self.last_status = status
            write_status(self.store, status)
        except Exception:  # noqa: BLE001 - a status that cannot be written is logged, not fatal
            log.exception("writing %s failed", self.store.status_file)

    def write_metrics(self, now: float) -> None:
        """The exposition for an HTTP server in another process (``stratos agent-http``)."""
        try:
            metering = self.events.member_seconds(now) if self.events is not None else None
        except Exception:  # noqa: BLE001 - metrics go out without metering rather than not at all
            log.exception("metering for the metrics snapshot failed")
            metering = None
        try:
            metricslib.write_snapshot(self.store, self.recorder.snapshot(), metering)
        except Exception:  # noqa: BLE001 - a snapshot that cannot be written is logged, not fatal
            log.exception("writing the metrics snapshot failed")

    def sample(self, now: float) -> None:
        """Keep each subscription's figures in the samples table every ``sample_interval``."""
        if self.events is None:
            return
        mono = self.monotonic()  # intervals on the monotonic clock; ``now`` stamps the sample
        try:
            for f in self.figures:
                if mono - self._sampled.get(f.key, float("-inf")) < self.sample_interval:
                    continue
                self._sampled[f.key] = mono
                figures = {
                    "cpu_percent": f.cpu_percent,
                    "memory_percent": f.memory_percent,
                    "requests_in_flight": f.requests_in_flight,
                    "queued": f.queued,
                    "factors": dict(f.factors),
                    "predictions": dict(f.predictions),
                }
                self.events.sample(now, *f.key, f.members, f.healthy, f.desired, figures)
            if mono - self._pruned >= 3600.0:
                self._pruned = mono
                self.events.prune_samples(now - self.sample_retention)
        except Exception:  # noqa: BLE001 - samples are a convenience
            log.exception("keeping samples failed")


# --------------------------------------------------------------------------- the views after acting (pure)


def views_after(
    definitions: DefinitionSet, plan: reconcile.Plan, world: reconcile.World, outcome: Outcome
) -> tuple[reconcile.SubscriptionView, ...]:
    """The plan's views with what the actor did applied: stopped members gone, started ones in
    (healthy or starting), registrations counted, readiness and the dependencies waited for
    recomputed. A subscription nothing happened to, whose dependencies did not change, keeps the
    plan's view as it is."""
    ready: dict[tuple[str, str], bool] = {}
    views = []
    for view in plan.subscriptions:
        key = (view.application, view.subscription)
        app = definitions.applications.get(view.application)
        started = [(a, m, ok) for a, m, ok in outcome.started if (a.application, a.subscription) == key]
        touched = started or any(
            m.member_id in outcome.stopped | outcome.registered_members for m in view.members
        )
        waiting = view.waiting_for
        if app is not None:
            waiting = tuple(
                d
                for d in reconcile.dependencies(app, view.subscription)
                if not ready.get((app.name, d), False)
            )
        if app is None or (not touched and waiting == view.waiting_for):
            views.append(view)
            ready[key] = view.ready
            continue
        targets = reconcile.lb_targets(definitions, app.subscription(view.subscription))

        members = [
            replace(m, in_lb=_in_lb_after(world, outcome, targets, m.member_id, m.in_lb))
            for m in view.members
            if m.member_id not in outcome.stopped
        ]
        members += [
            reconcile.MemberView(
                member.member_id,
                str(action.placement),
                "healthy" if healthy else "starting",
                _in_lb_after(world, outcome, targets, member.member_id, False),
                member.address,
                True,
            )
            for action, member, healthy in started
        ]
        staying = [m for m in members if m.health == "healthy" and m.member_id not in outcome.leaving]
        serving = sum(1 for m in staying if m.in_lb) if targets else len(staying)
        notes = view.notes if waiting else tuple(n for n in view.notes if not n.startswith("waiting for "))
        after = replace(
            view,
            healthy=sum(1 for m in members if m.health == "healthy"),
            in_lb=sum(1 for m in members if m.in_lb) if targets else None,
            ready=len(staying) >= view.min and serving >= view.min,
            waiting_for=waiting,
            notes=notes,
            members=tuple(members),
        )
        views.append(after)
        ready[key] = after.ready
    return tuple(views)


def _in_lb_after(
    world: reconcile.World,
    outcome: Outcome,
    targets: Sequence[reconcile.Target],
    member_id: str,
    before: bool | None,
) -> bool | None:
    """In every LB backend of its subscription: before acting, or registered since in an LB that
    answered this tick (``None``: behind no LB)."""
    if not targets:
        return None
    return bool(before) or all(
        _observed(world, t)
        and ((member_id, t.lb_cluster, t.backend) in outcome.registered or _serving(world, t, member_id))
        for t in targets
    )


def _observed(world: reconcile.World, target: reconcile.Target) -> bool:
    """Whether the LB cluster answered this tick: an addition to one that did not is unconfirmed."""
    lb = world.lbs.get(target.lb_cluster)
    return lb is not None and lb.available


def _serving(world: reconcile.World, target: reconcile.Target, member_id: str) -> bool:
    lb = world.lbs.get(target.lb_cluster)
    server = lb.backends.get(target.backend, {}).get(member_id) if lb is not None and lb.available else None
    return server is not None and server.in_service
