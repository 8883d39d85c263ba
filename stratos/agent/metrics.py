"""The agent's figures: per subscription and per member, for ``/metrics``, ``/status`` and ``stratos status``.

:func:`subscription_figures` (pure) sums up a tick: members, health, desired count, the members'
CPU, memory and requests, and the last scaling decision's factors and predictions.
:class:`LatestSnapshot` holds the latest figures for the HTTP server's threads (replaced whole under a
lock, never mutated) with the counters of scaling actions. :func:`exposition` turns them into the
Prometheus text format (0.0.4) with the official client library (a :class:`SnapshotCollector` in a
``CollectorRegistry``, ``generate_latest``); :func:`write_snapshot` leaves that text in
``<state>/agent/metrics.prom`` each tick for an HTTP server running in another process;
:func:`annotate_status` gives the status model (:mod:`stratos.status`) its figures.

Metric names (labels ``application``, ``subscription``)::

    stratos_members, stratos_healthy_members, stratos_desired_members,
    stratos_min_members, stratos_max_members                            gauges
    stratos_cpu_percent, stratos_memory_percent                          mean over members
    stratos_requests_in_flight, stratos_requests_queued                  sums over members
    stratos_factor_value{factor}, stratos_factor_prediction{factor},
    stratos_factor_threshold{factor}                                     the last decision's
    stratos_scaling_actions_total{direction="up"|"down"|"replace"}      counter
    stratos_member_seconds_total{application}                            metering (counter)
    stratos_tick_seconds, stratos_last_tick_timestamp_seconds,
    stratos_ticks_total{result="ok"|"failed"}                            the loop
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from stratos.agent.observe import MemberMetrics
from stratos.fsutil import STATE, atomic_write_bytes
from stratos.planning.reconcile import SubscriptionView
from stratos.scaling import Decision
from stratos.status import AgentStatus, AutoscalingStatus
from stratos.store import StateStore


@dataclass(frozen=True)
class SubscriptionFigures:
    application: str
    subscription: str
    members: int
    healthy: int
    desired: int
    min: int
    max: int
    cpu_percent: float | None = None
    memory_percent: float | None = None
    requests_in_flight: float | None = None
    queued: float | None = None
    #: The last decision's figures per factor, in the unit of its threshold.
    factors: Mapping[str, float] = field(default_factory=dict)
    predictions: Mapping[str, float] = field(default_factory=dict)
    thresholds: Mapping[str, float] = field(default_factory=dict)
    rule: str | None = None
    decided_at: float | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.application, self.subscription)


def _mean(values: Iterable[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known else None


def _sum(values: Iterable[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return float(sum(known)) if known else None


def subscription_figures(
    views: Iterable[SubscriptionView],
    metrics: Mapping[str, MemberMetrics],
    decisions: Mapping[tuple[str, str], Decision],
) -> list[SubscriptionFigures]:
    figures = []
    for view in views:
        mine = [metrics[m.member_id] for m in view.members if m.member_id in metrics]
        decision = decisions.get((view.application, view.subscription))
        factors = decision.factors if decision is not None else ()
        figures.append(
            SubscriptionFigures(
                application=view.application,
                subscription=view.subscription,
                members=len(view.members),
                healthy=view.healthy,
                desired=view.desired,
                min=view.min,
                max=view.max,
                cpu_percent=_mean(m.cpu_percent for m in mine),
                memory_percent=_mean(m.memory_percent for m in mine),
                requests_in_flight=_sum(m.requests_in_flight for m in mine),
                queued=_sum(m.queued for m in mine),
                factors={f.factor: f.measured for f in factors if f.measured is not None},
                predictions={f.factor: f.predicted for f in factors if f.predicted is not None},
                thresholds={f.factor: f.threshold for f in factors},
                rule=decision.rule if decision is not None else None,
                decided_at=decision.now if decision is not None else None,
            )
        )
    return figures


@dataclass(frozen=True)
class Snapshot:
    time: float | None = None
    subscriptions: tuple[SubscriptionFigures, ...] = ()
    members: Mapping[str, MemberMetrics] = field(default_factory=dict)
    actions: Mapping[tuple[str, str, str], int] = field(default_factory=dict)
    ticks: Mapping[str, int] = field(default_factory=dict)
    tick_seconds: float | None = None
    #: Failed writes and reads of the event store, by kind (locked, full, read-only, corrupt...).
    record_errors: Mapping[str, int] = field(default_factory=dict)


class LatestSnapshot:
    """The latest :class:`Snapshot`, safe to read from other threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._snapshot = Snapshot()

    def snapshot(self) -> Snapshot:
        with self._lock:
            return self._snapshot

    def tick(
        self,
        time: float,
        seconds: float,
        ok: bool,
        subscriptions: Iterable[SubscriptionFigures] | None = None,
        members: Mapping[str, MemberMetrics] | None = None,
    ) -> None:
        with self._lock:
            s = self._snapshot
            ticks = dict(s.ticks)
            result = "ok" if ok else "failed"
            ticks[result] = ticks.get(result, 0) + 1
            self._snapshot = replace(
                s,
                time=time,
                tick_seconds=seconds,
                ticks=ticks,
                subscriptions=tuple(subscriptions) if subscriptions is not None else s.subscriptions,
                members=dict(members) if members is not None else s.members,
            )

    def count_record_error(self, kind: str) -> None:
        with self._lock:
            errors = dict(self._snapshot.record_errors)
            errors[kind] = errors.get(kind, 0) + 1
            self._snapshot = replace(self._snapshot, record_errors=errors)

    def count_action(self, application: str, subscription: str, direction: str, n: int = 1) -> None:
        with self._lock:
            actions = dict(self._snapshot.actions)
            key = (application, subscription, direction)
            actions[key] = actions.get(key, 0) + n
            self._snapshot = replace(self._snapshot, actions=actions)


# --------------------------------------------------------------------------- Prometheus exposition

#: (name, type, help, what) of every family; ``what``: a :class:`SubscriptionFigures` attribute
#: (per subscription), ``factor:<attribute>`` (per factor) or a name handled in :class:`SnapshotCollector`.
FAMILIES: tuple[tuple[str, str, str, str], ...] = (
    ("stratos_members", "gauge", "Members of the subscription, in any state.", "members"),
    ("stratos_healthy_members", "gauge", "Members that pass their health check.", "healthy"),
    ("stratos_desired_members", "gauge", "Members the agent wants (scaling decision or min).", "desired"),
    ("stratos_min_members", "gauge", "The subscription's min.", "min"),
    ("stratos_max_members", "gauge", "The subscription's max.", "max"),
    (
        "stratos_cpu_percent",
        "gauge",
        "Mean CPU use of the members, in percent of each member's CPU limit.",
        "cpu_percent",
    ),
    (
        "stratos_memory_percent",
        "gauge",
        "Mean memory use of the members without page cache, in percent of each member's limit.",
        "memory_percent",
    ),
    (
        "stratos_requests_in_flight",
        "gauge",
        "Requests the load balancer has sent to the members and not yet seen answered.",
        "requests_in_flight",
    ),
    (
        "stratos_requests_queued",
        "gauge",
        "Requests the load balancer holds in the members' queues.",
        "queued",
    ),
    (
        "stratos_factor_value",
        "gauge",
        "A scaling factor as the last decision measured it (unit of its threshold).",
        "factor:factors",
    ),
    (
        "stratos_factor_prediction",
        "gauge",
        "A scaling factor as the last decision predicted it at the prediction horizon.",
        "factor:predictions",
    ),
    (
        "stratos_factor_threshold",
        "gauge",
        "A scaling factor's threshold in the autoscaling policy.",
        "factor:thresholds",
    ),
    (
        "stratos_scaling_actions_total",
        "counter",
        "Scaling decisions that started or stopped members, by direction, since the agent started.",
        "actions",
    ),
    (
        "stratos_member_seconds_total",
        "counter",
        "Seconds members of the application have run (metering, from the event store).",
        "metering",
    ),
    ("stratos_tick_seconds", "gauge", "How long the last tick took.", "tick_seconds"),
    ("stratos_last_tick_timestamp_seconds", "gauge", "When the last tick began (Unix time).", "time"),
    ("stratos_ticks_total", "counter", "Ticks of the loop since the agent started, by result.", "ticks"),
    (
        "stratos_agent_record_errors_total",
        "counter",
        "Event store (agent.db) calls that failed, by kind; recording is best-effort.",
        "record_errors",
    ),
)

_SUB = ("application", "subscription")


class SnapshotCollector(Collector):
    """A Prometheus collector of one :class:`Snapshot` (and member-seconds per application).

    The figures are the loop's, computed once per tick, so the collector turns the snapshot it is
    given into metric families instead of keeping client-side Gauge objects in step with it.
    """

    def __init__(self, snapshot: Snapshot, metering: Mapping[str, float] | None = None):
        self.snapshot = snapshot
        self.metering = metering

    def collect(self) -> Iterator[Metric]:
        s = self.snapshot
        subs = sorted(s.subscriptions, key=lambda f: f.key)
        for name, kind, help_text, what in FAMILIES:
            family: GaugeMetricFamily | CounterMetricFamily
            if what == "metering":
                if self.metering is None:
                    continue
                family = CounterMetricFamily(name, help_text, labels=["application"])
                for app, seconds in sorted(self.metering.items()):
                    family.add_metric([app], seconds)
            elif what == "actions":
                family = CounterMetricFamily(name, help_text, labels=[*_SUB, "direction"])
                for (app, alias, direction), n in sorted(s.actions.items()):
                    family.add_metric([app, alias, direction], float(n))
            elif what == "ticks":
                family = CounterMetricFamily(name, help_text, labels=["result"])
                for result, n in sorted(s.ticks.items()):
                    family.add_metric([result], float(n))
            elif what == "record_errors":
                family = CounterMetricFamily(name, help_text, labels=["kind"])
                for kind_name, n in sorted(s.record_errors.items()):
                    family.add_metric([kind_name], float(n))
            elif what in ("tick_seconds", "time"):
                family = GaugeMetricFamily(name, help_text, labels=[])
                value = getattr(s, what)
                if value is not None:
                    family.add_metric([], value)
            elif what.startswith("factor:"):
                family = GaugeMetricFamily(name, help_text, labels=[*_SUB, "factor"])
                attr = what.removeprefix("factor:")
                for f in subs:
                    for factor, value in sorted(getattr(f, attr).items()):
                        family.add_metric([f.application, f.subscription, factor], value)
            else:
                family = GaugeMetricFamily(name, help_text, labels=list(_SUB))
                for f in subs:
                    value = getattr(f, what)
                    if value is not None:
                        family.add_metric([f.application, f.subscription], value)
            assert kind == ("counter" if isinstance(family, CounterMetricFamily) else "gauge")
            yield family


def registry(snapshot: Snapshot, metering: Mapping[str, float] | None = None) -> CollectorRegistry:
    """A registry (without the client's process and platform collectors) holding the snapshot."""
    reg = CollectorRegistry(auto_describe=False)
    reg.register(SnapshotCollector(snapshot, metering))
    return reg


#: The content type of :func:`exposition`: ``generate_latest`` writes the text format 0.0.4 (newer
#: clients announce 1.0.0 for the same text when names are legacy ones, as ours are).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def exposition(snapshot: Snapshot, metering: Mapping[str, float] | None = None) -> bytes:
    """The snapshot in the Prometheus text format, by ``prometheus_client.generate_latest``."""
    return generate_latest(registry(snapshot, metering))


def render(snapshot: Snapshot, metering: Mapping[str, float] | None = None) -> str:
    """:func:`exposition` as text."""
    return exposition(snapshot, metering).decode("utf-8")


def snapshot_file(store: StateStore) -> Path:
    """Where the agent leaves its latest exposition for an HTTP server in another process."""
    return store.agent_dir / "metrics.prom"


def write_snapshot(store: StateStore, snapshot: Snapshot, metering: Mapping[str, float] | None) -> None:
    """Write the exposition atomically (0640) to :func:`snapshot_file`."""
    atomic_write_bytes(snapshot_file(store), exposition(snapshot, metering), STATE)


# --------------------------------------------------------------------------- status.json


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


def annotate_status(
    data: AgentStatus,
    figures: Iterable[SubscriptionFigures],
    members: Mapping[str, MemberMetrics],
) -> AgentStatus:
    """Give the status its figures (typed fields; in place, returned for convenience)."""
    for f in figures:
        sub = data.subscription(f.application, f.subscription)
        if sub is None:
            continue
        sub.cpu_percent = _round(f.cpu_percent)
        sub.memory_percent = _round(f.memory_percent)
        sub.requests_in_flight = _round(f.requests_in_flight)
        sub.queued = _round(f.queued)
        if f.rule is not None:
            sub.autoscaling = AutoscalingStatus(
                rule=f.rule,
                decided_at=f.decided_at,
                factors={k: _round(v, 3) for k, v in f.factors.items()},
                predictions={k: _round(v, 3) for k, v in f.predictions.items()},
                thresholds=dict(f.thresholds),
            )
        for member in sub.members:
            m = members.get(member.id, MemberMetrics())
            member.cpu_percent = _round(m.cpu_percent)
            member.memory_percent = _round(m.memory_percent)
            member.requests_in_flight = m.requests_in_flight
    return data
