"""The agent's figures: per subscription and per member, for ``/metrics``, ``/status`` and ``stratos status``.

:func:`subscription_figures` (pure) sums up a tick: members, health, desired count, the members'
CPU, memory and requests, and the last scaling decision's factors and predictions.
:class:`Recorder` holds the latest figures for the HTTP server's threads (replaced whole under a
lock, never mutated) with the counters of scaling actions. :func:`render` writes them in the
Prometheus text exposition format (version 0.0.4) by hand; :func:`annotate_status` adds them to
``status.json``.

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

import math
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from stratos.agent.observe import MemberMetrics
from stratos.agent.reconcile import SubscriptionView
from stratos.scaling import Decision


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


class Recorder:
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


# --------------------------------------------------------------------------- Prometheus text format


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: Mapping[str, str]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape(str(v))}"' for k, v in labels.items()) + "}"


def _value(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(
        self, name: str, kind: str, help_text: str, samples: Iterable[tuple[Mapping[str, str], float | None]]
    ) -> None:
        self.lines.append(f"# HELP {name} {help_text}")
        self.lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            if value is not None:
                self.lines.append(f"{name}{_labels(labels)} {_value(value)}")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def render(snapshot: Snapshot, metering: Mapping[str, float] | None = None) -> str:
    """The snapshot (and member-seconds per application) in the Prometheus text format."""
    w = _Writer()
    subs = sorted(snapshot.subscriptions, key=lambda f: f.key)

    def per_sub(attr: str) -> list[tuple[Mapping[str, str], float | None]]:
        return [
            ({"application": f.application, "subscription": f.subscription}, getattr(f, attr)) for f in subs
        ]

    def per_factor(attr: str) -> list[tuple[Mapping[str, str], float | None]]:
        return [
            ({"application": f.application, "subscription": f.subscription, "factor": name}, value)
            for f in subs
            for name, value in sorted(getattr(f, attr).items())
        ]

    w.family("stratos_members", "gauge", "Members of the subscription, in any state.", per_sub("members"))
    w.family("stratos_healthy_members", "gauge", "Members that pass their health check.", per_sub("healthy"))
    w.family(
        "stratos_desired_members",
        "gauge",
        "Members the agent wants (scaling decision or min).",
        per_sub("desired"),
    )
    w.family("stratos_min_members", "gauge", "The subscription's min.", per_sub("min"))
    w.family("stratos_max_members", "gauge", "The subscription's max.", per_sub("max"))
    w.family(
        "stratos_cpu_percent",
        "gauge",
        "Mean CPU use of the members, in percent of each member's CPU limit.",
        per_sub("cpu_percent"),
    )
    w.family(
        "stratos_memory_percent",
        "gauge",
        "Mean memory use of the members without page cache, in percent of each member's limit.",
        per_sub("memory_percent"),
    )
    w.family(
        "stratos_requests_in_flight",
        "gauge",
        "Requests the load balancer has sent to the members and not yet seen answered.",
        per_sub("requests_in_flight"),
    )
    w.family(
        "stratos_requests_queued",
        "gauge",
        "Requests the load balancer holds in the members' queues.",
        per_sub("queued"),
    )
    w.family(
        "stratos_factor_value",
        "gauge",
        "A scaling factor as the last decision measured it (unit of its threshold).",
        per_factor("factors"),
    )
    w.family(
        "stratos_factor_prediction",
        "gauge",
        "A scaling factor as the last decision predicted it at the prediction horizon.",
        per_factor("predictions"),
    )
    w.family(
        "stratos_factor_threshold",
        "gauge",
        "A scaling factor's threshold in the autoscaling policy.",
        per_factor("thresholds"),
    )
    w.family(
        "stratos_scaling_actions_total",
        "counter",
        "Scaling decisions that started or stopped members, by direction, since the agent started.",
        [
            ({"application": app, "subscription": alias, "direction": direction}, float(n))
            for (app, alias, direction), n in sorted(snapshot.actions.items())
        ],
    )
    if metering is not None:
        w.family(
            "stratos_member_seconds_total",
            "counter",
            "Seconds members of the application have run (metering, from the event store).",
            [({"application": app}, seconds) for app, seconds in sorted(metering.items())],
        )
    w.family("stratos_tick_seconds", "gauge", "How long the last tick took.", [({}, snapshot.tick_seconds)])
    w.family(
        "stratos_last_tick_timestamp_seconds",
        "gauge",
        "When the last tick began (Unix time).",
        [({}, snapshot.time)],
    )
    w.family(
        "stratos_ticks_total",
        "counter",
        "Ticks of the loop since the agent started, by result.",
        [({"result": result}, float(n)) for result, n in sorted(snapshot.ticks.items())],
    )
    w.family(
        "stratos_agent_record_errors_total",
        "counter",
        "Event store (agent.db) calls that failed, by kind; recording is best-effort.",
        [({"kind": kind}, float(n)) for kind, n in sorted(snapshot.record_errors.items())],
    )
    return w.text()


# --------------------------------------------------------------------------- status.json


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


def annotate_status(
    data: dict[str, Any],
    figures: Iterable[SubscriptionFigures],
    members: Mapping[str, MemberMetrics],
) -> dict[str, Any]:
    """Add the figures to a ``status.json`` document (in place; returned for convenience)."""
    apps = data.get("applications") or {}
    for f in figures:
        sub = ((apps.get(f.application) or {}).get("subscriptions") or {}).get(f.subscription)
        if sub is None:
            continue
        sub["cpu_percent"] = _round(f.cpu_percent)
        sub["memory_percent"] = _round(f.memory_percent)
        sub["requests_in_flight"] = _round(f.requests_in_flight)
        sub["queued"] = _round(f.queued)
        if f.rule is not None:
            sub["autoscaling"] = {
                "rule": f.rule,
                "decided_at": f.decided_at,
                "factors": {k: _round(v, 3) for k, v in f.factors.items()},
                "predictions": {k: _round(v, 3) for k, v in f.predictions.items()},
                "thresholds": dict(f.thresholds),
            }
        for member in sub.get("members") or []:
            m = members.get(member.get("id", ""), MemberMetrics())
            member["cpu_percent"] = _round(m.cpu_percent)
            member["memory_percent"] = _round(m.memory_percent)
            member["requests_in_flight"] = m.requests_in_flight
    return data
