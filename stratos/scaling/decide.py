"""The scaling decision: observations in, a decision with its reasons and the next state out.

:func:`decide` is pure. It reads no clock (``now`` is passed in), performs no I/O and mutates
nothing: the :class:`ScalingState` it is given is left as it was and the state for the next call is
returned beside the :class:`Decision`. The agent calls it once per ``evaluation_interval``; the
simulator calls the very same function.

How the desired member count is found
-------------------------------------

1. Members are sorted into *healthy*, *starting* (not healthy yet, started less than
   ``startup_timeout`` ago) and *failed* (not healthy for longer). ``current`` counts healthy,
   starting and pending members, so that nothing already on its way is started twice. Failed
   members are removed and, by the same count, replaced.
2. Per factor with a threshold in the policy, this tick's sample joins the factor's window (the
   last ``smoothing_window`` samples). Requests in flight are the cluster total seen by the load
   balancer; load and memory are kept as cluster totals too (average × healthy members), so that
   members joining or leaving are not mistaken for a change in load. The window is fitted by least
   squares (:mod:`stratos.scaling.predict`) and extrapolated ``prediction_horizon`` seconds ahead.
3. Members required per factor: requests in flight ``ceil(predicted total / threshold)``; load and
   memory ``ceil(healthy × predicted average / threshold)`` (the same thing written per member).
   Within the tolerance band (``|required / current - 1| <= tolerance``) a factor proposes no
   change. The largest proposal wins and is named in the decision.
4. A factor without data this tick, or with data from only some healthy members, makes the
   decision conservative: it may scale up, never down.
5. Scale-up is immediate (or the lowest recommendation over ``scale_up_stabilisation``) and adds at
   most ``max_step`` members. Scale-down uses the highest recommendation over the last
   ``scale_down_stabilisation`` seconds and waits until the state has seen a whole window.
6. ``min_members`` (it also replaces failed members even past ``max_step``), ``max_members`` and the
   deployment policy's capacity (sum of partition ``max``) bound the result; placement and removal
   follow :mod:`stratos.scaling.placement`.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from stratos.model import AutoscalingPolicy, DeploymentPolicy
from stratos.scaling.observations import MemberObservation, Observations, Placement
from stratos.scaling.placement import choose_removals, place
from stratos.scaling.predict import Sample, predict

#: The factors in the order they are reported; on a tie the first one wins.
FACTORS = ("requests_in_flight", "load_average", "memory_consumption")

#: A member that has not become healthy this long after it was started is treated as failed.
DEFAULT_STARTUP_TIMEOUT = 300.0

#: Samples older than this many evaluation intervals times the window are forgotten (a restarted
#: or stalled agent does not fit a trend across a hole).
_STALE_WINDOWS = 2.0

#: Tolerance for floating-point noise in ``ceil`` (4.0000000001 members is 4 members).
_EPSILON = 1e-9


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class FactorReport:
    """One factor's figures for one decision.

    ``measured`` (this tick's sample), ``smoothed`` (the fitted value now), ``predicted`` (at now +
    the prediction horizon), ``slope`` (u, per second) and ``acceleration`` (a, per second²) are per
    cluster for requests in flight and per healthy member for load and memory, i.e. in the unit of
    the policy's threshold. ``required`` is the exact number of members the prediction asks for,
    ``proposal`` that number rounded up, or ``current`` when within the tolerance band.
    """

    factor: str
    threshold: float
    status: str  # "measured" | "partial" (some healthy members did not report) | "missing"
    measured: float | None = None
    smoothed: float | None = None
    predicted: float | None = None
    slope: float = 0.0
    acceleration: float = 0.0
    samples: int = 0
    required: float | None = None
    proposal: int | None = None
    within_tolerance: bool = False

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Reason:
    """A rule that fired, in words and as a code."""

    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.message}"


@dataclass(frozen=True)
class Decision:
    """What to do now and why. ``add`` and ``remove`` are complete: the shell performs them as given."""

    now: float
    desired: int
    current: int
    healthy: int
    starting: int
    pending: int
    recommendation: int
    rule: str
    winning_factor: str | None
    add: tuple[Placement, ...] = ()
    remove: tuple[str, ...] = ()
    factors: tuple[FactorReport, ...] = ()
    reasons: tuple[Reason, ...] = ()

    @property
    def predictions(self) -> dict[str, float]:
        """Predicted value per measured factor, in the unit of its threshold."""
        return {f.factor: f.predicted for f in self.factors if f.predicted is not None}

    @property
    def changes(self) -> bool:
        return bool(self.add or self.remove)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready record of the decision, for the event store and ``stratos status``."""
        return {
            "now": self.now,
            "desired": self.desired,
            "current": self.current,
            "healthy": self.healthy,
            "starting": self.starting,
            "pending": self.pending,
            "recommendation": self.recommendation,
            "rule": self.rule,
            "winning_factor": self.winning_factor,
            "add": [str(p) for p in self.add],
            "remove": list(self.remove),
            "factors": [f.as_dict() for f in self.factors],
            "reasons": [{"rule": r.rule, "message": r.message} for r in self.reasons],
        }


@dataclass(frozen=True)
class ScalingState:
    """What one subscription's decisions remember between calls. Never mutated; replaced.

    - ``series``: per factor, the last samples ``(t, value)`` (values as stored: cluster totals);
    - ``recommendations``: ``(t, members)`` recommendations within the longest stabilisation window;
    - ``since``: when the first decision was taken (a scale-down waits for a whole window).
    """

    series: tuple[tuple[str, tuple[Sample, ...]], ...] = ()
    recommendations: tuple[tuple[float, int], ...] = ()
    since: float | None = None

    def samples(self, factor: str) -> tuple[Sample, ...]:
        for name, samples in self.series:
            if name == factor:
                return samples
        return ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "series": {name: [list(s) for s in samples] for name, samples in self.series},
            "recommendations": [list(r) for r in self.recommendations],
            "since": self.since,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ScalingState:
        series = tuple(
            (str(name), tuple((float(t), float(v)) for t, v in samples))
            for name, samples in dict(data.get("series", {})).items()
        )
        recommendations = tuple((float(t), int(n)) for t, n in data.get("recommendations", []))
        since = data.get("since")
        return cls(
            series=series, recommendations=recommendations, since=None if since is None else float(since)
        )


# --------------------------------------------------------------------------- decide


@dataclass
class _Notes:
    reasons: list[Reason] = field(default_factory=list)

    def add(self, rule: str, message: str) -> None:
        self.reasons.append(Reason(rule, message))


def decide(
    observations: Observations,
    policy: AutoscalingPolicy,
    deployment: DeploymentPolicy,
    state: ScalingState,
    now: float,
    *,
    min_members: int,
    max_members: int,
    startup_timeout: float = DEFAULT_STARTUP_TIMEOUT,
) -> tuple[Decision, ScalingState]:
    """Decide how many members the subscription needs and which to start or stop."""
    if min_members < 0 or max_members < min_members:
        raise ValueError(
            f"min_members ({min_members}) and max_members ({max_members}) must satisfy 0 <= min <= max"
        )
    behaviour = policy.behaviour
    notes = _Notes()

    healthy, starting, failed = classify_members(observations.members, now, startup_timeout)
    pending = len(observations.pending)
    current = len(healthy) + len(starting) + pending
    since = state.since if state.since is not None else now
    capacity = min(max_members, deployment.capacity())

    # -- per factor: sample, fit, predict, required members
    series: list[tuple[str, tuple[Sample, ...]]] = []
    reports: list[FactorReport] = []
    max_age = behaviour.smoothing_window * behaviour.evaluation_interval * _STALE_WINDOWS
    for factor, threshold in _thresholds(policy):
        measured, status = _measure(factor, healthy, observations)
        history = [s for s in state.samples(factor) if now - max_age <= s[0] < now]
        if measured is not None:
            history.append((now, measured))
        history = history[-behaviour.smoothing_window :]
        series.append((factor, tuple(history)))
        if measured is None:
            reports.append(FactorReport(factor=factor, threshold=threshold, status="missing"))
            notes.add("missing-data", f"no {factor} reported by any healthy member")
            continue
        reports.append(
            _report(factor, threshold, status, measured, history, now, behaviour, len(healthy), current)
        )
        if status == "partial":
            notes.add("missing-data", f"{factor} reported by only some healthy members")

    # -- the recommendation: the largest proposal
    proposals = [r for r in reports if r.proposal is not None]
    winning: FactorReport | None = None
    if proposals:
        winning = proposals[0]
        for report in proposals[1:]:
            if (
                report.proposal is not None
                and winning.proposal is not None
                and report.proposal > winning.proposal
            ):
                winning = report
        assert winning.proposal is not None
        recommendation = winning.proposal
        rule = (
            "hold"
            if recommendation == current
            else ("scale-up" if recommendation > current else "scale-down")
        )
        if winning.within_tolerance:
            notes.add("tolerance", f"{winning.factor} within ±{behaviour.tolerance:g} of {current} members")
    else:
        recommendation = current
        rule = "no-data"
        notes.add("no-data", "no factor could be measured; holding")
    conservative = any(r.status != "measured" for r in reports)
    if conservative and recommendation < current:
        notes.add("hold-missing-data", f"would scale down to {recommendation} but data is missing")
        recommendation = current
        rule = "hold-missing-data"
    if recommendation > capacity:
        rule = "max" if capacity == max_members else "capacity"
        notes.add(rule, f"{recommendation} recommended, capped at {capacity} members")
        recommendation = capacity
    if recommendation < min_members:
        rule = "min"
        notes.add("min", f"{recommendation} recommended, raised to the minimum of {min_members}")
        recommendation = min_members

    # -- stabilisation, step limits
    window = max(behaviour.scale_down_stabilisation, behaviour.scale_up_stabilisation)
    history_recs = tuple((t, n) for t, n in state.recommendations if now - window <= t < now) + (
        (now, recommendation),
    )
    desired = recommendation
    if desired < current:
        within = [n for t, n in history_recs if t >= now - behaviour.scale_down_stabilisation]
        stabilised = max(within)
        if now - since < behaviour.scale_down_stabilisation:
            stabilised = max(stabilised, current)
        if stabilised > desired:
            desired = min(current, stabilised)
            if desired == current:
                rule = "hold-stabilisation"
                notes.add(
                    "hold-stabilisation",
                    f"{recommendation} recommended, highest over the last "
                    f"{behaviour.scale_down_stabilisation:g} s is {stabilised}",
                )
            else:
                notes.add("stabilisation", f"scale-down limited to {desired} by the last window")
    elif desired > current:
        if behaviour.scale_up_stabilisation > 0:
            within = [n for t, n in history_recs if t >= now - behaviour.scale_up_stabilisation]
            stabilised = max(current, min(within))
            if stabilised < desired:
                desired = stabilised
                rule = "hold-stabilisation" if desired == current else rule
                notes.add("stabilisation", f"scale-up limited to {desired} by the last window")
        if desired > current + behaviour.max_step:
            desired = current + behaviour.max_step
            rule = "max-step"
            notes.add("max-step", f"{recommendation} recommended, at most {behaviour.max_step} added at once")
    if desired < min_members:
        desired = min_members
        rule = "min"
        notes.add("min", f"below the minimum of {min_members} members")
    if desired > capacity:
        rule = "max" if capacity == max_members else "capacity"
        notes.add(rule, f"capped at {capacity} members")
        desired = capacity
    if failed:
        ids = ", ".join(m.member_id for m in failed)
        notes.add("replace-failed", f"{len(failed)} failed member(s) removed: {ids}")
        if rule in ("hold", "scale-up", "min", "hold-stabilisation", "hold-missing-data", "no-data") and (
            desired > current and desired <= current + len(failed)
        ):
            rule = "replace-failed"

    # -- placement and removal
    add: list[Placement] = []
    remove: list[str] = [m.member_id for m in failed]
    if desired > current:
        occupied = Counter(m.partition for m in (*healthy, *starting))
        occupied.update(observations.pending)
        add = place(desired - current, deployment, occupied)
        if len(add) < desired - current:
            notes.add("capacity", f"partitions full: {len(add)} of {desired - current} members placed")
            rule = "capacity"
    elif desired < current:
        remove += choose_removals(current - desired, deployment, (*starting, *healthy))
    final = current + len(add) - (len(remove) - len(failed))

    decision = Decision(
        now=now,
        desired=final,
        current=current,
        healthy=len(healthy),
        starting=len(starting),
        pending=pending,
        recommendation=recommendation,
        rule=rule,
        winning_factor=winning.factor if winning is not None else None,
        add=tuple(add),
        remove=tuple(remove),
        factors=tuple(reports),
        reasons=tuple(notes.reasons),
    )
    next_state = ScalingState(series=tuple(series), recommendations=history_recs, since=since)
    return decision, next_state


# --------------------------------------------------------------------------- helpers


def classify_members(
    members: Iterable[MemberObservation], now: float, startup_timeout: float
) -> tuple[list[MemberObservation], list[MemberObservation], list[MemberObservation]]:
    healthy: list[MemberObservation] = []
    starting: list[MemberObservation] = []
    failed: list[MemberObservation] = []
    for member in members:
        if member.healthy:
            healthy.append(member)
        elif now - member.started_at < startup_timeout:
            starting.append(member)
        else:
            failed.append(member)
    return healthy, starting, failed


def _thresholds(policy: AutoscalingPolicy) -> list[tuple[str, float]]:
    thresholds = policy.thresholds
    values = {
        "requests_in_flight": thresholds.requests_in_flight,
        "load_average": thresholds.load_average,
        "memory_consumption": thresholds.memory_consumption,
    }
    return [(name, float(value)) for name in FACTORS if (value := values[name]) is not None]


def member_value(factor: str, member: MemberObservation) -> float | None:
    if factor == "requests_in_flight":
        if member.requests_in_flight is None:
            return None
        return member.requests_in_flight + (member.queued or 0.0)
    if factor == "load_average":
        return member.cpu_percent
    return member.memory_percent


def _measure(
    factor: str, healthy: list[MemberObservation], observations: Observations
) -> tuple[float | None, str]:
    """This tick's cluster total for a factor, and whether every healthy member reported it.

    Members that did not report are assumed to carry the average of those that did.
    """
    values = [v for m in healthy if (v := member_value(factor, m)) is not None]
    extra = observations.lb_queued if factor == "requests_in_flight" else None
    if not values:
        if extra is not None and not healthy:
            # Nobody serves; the load balancer's queue is all there is to go by.
            return extra, "measured"
        return None, "missing"
    total = sum(values) * len(healthy) / len(values) + (extra or 0.0)
    return total, "measured" if len(values) == len(healthy) else "partial"


def _report(
    factor: str,
    threshold: float,
    status: str,
    measured: float,
    history: list[Sample],
    now: float,
    behaviour: Any,
    healthy: int,
    current: int,
) -> FactorReport:
    prediction = predict(history, now, behaviour.prediction_horizon)
    required = prediction.predicted / threshold
    if current > 0 and abs(required / current - 1.0) <= behaviour.tolerance:
        proposal, within = current, True
    else:
        proposal, within = math.ceil(required - _EPSILON), False
    # Reported in the threshold's unit: per cluster for requests, per healthy member otherwise.
    per = 1.0 if factor == "requests_in_flight" else float(max(healthy, 1))
    return FactorReport(
        factor=factor,
        threshold=threshold,
        status=status,
        measured=measured / per,
        smoothed=prediction.smoothed / per,
        predicted=prediction.predicted / per,
        slope=prediction.trend.slope / per,
        acceleration=prediction.trend.acceleration / per,
        samples=prediction.trend.samples,
        required=required,
        proposal=max(0, proposal),
        within_tolerance=within,
    )
