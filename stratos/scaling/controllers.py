"""Scaling controllers the simulator can run: ours and two baselines, behind one small interface.

A controller is asked every metrics period (15 s in the simulator) with the observations of that
moment and answers ``None`` (not its turn, or nothing to say) or an :class:`Action`. Each keeps its
own state between calls; the simulator owns the clock.

- :class:`PredictiveController` runs :func:`stratos.scaling.decide.decide` unchanged.
- :class:`HpaController` follows the Kubernetes Horizontal Pod Autoscaler (the algorithm of
  ``pkg/controller/podautoscaler``, legacy defaults): every 15 s, per metric
  ``desired = ceil(current × metric / target)`` with the metric averaged over ready pods and a
  tolerance of 0.1; pods without metrics (still starting) count as 0 % when scaling up and 100 % when
  scaling down, and a change they would cancel is not made; the largest metric proposal wins; the
  highest recommendation of the last 300 s is used (scale-down stabilisation); scale-up is limited to
  ``max(2 × current, 4)`` per sync. Failed pods are replaced (the ReplicaSet's job).
- :class:`Stratos41Controller` follows the Apache Stratos 4.1 rule set (``scaling.drl`` and
  ``RuleTasksDelegator``): a 90 s monitor interval; per factor the CEP's one-minute window gives an
  average, a gradient from its first and last sample (per second) and a second derivative likewise;
  ``predicted = average + gradient·t + ½·second derivative·t²`` with ``t = 1`` (one *second*, though
  the method is called "next minute"); required members ``ceil(predicted rif / threshold)``, for load
  ``ceil(min × predicted / threshold)`` and for memory its linear range formula, the largest wins;
  scale up when active members < required, by ``required - non-terminated``; scale down when active
  > required, one member per run once three consecutive runs have asked for it (the counter resets
  only on a scale-up). One deliberate deviation: 4.1 loops ``while count != additional`` and so
  spawns without end when ``additional`` is negative; here a negative count starts nothing.

The same placement functions serve all three, so that only the scaling rule differs.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field
from typing import Protocol

from stratos.model import AutoscalingPolicy, DeploymentPolicy, Thresholds
from stratos.scaling.decide import (
    DEFAULT_STARTUP_TIMEOUT,
    ScalingState,
    classify_members,
    decide,
    member_value,
)
from stratos.scaling.observations import MemberObservation, Observations, Placement
from stratos.scaling.placement import choose_removals, place

_EPSILON = 1e-9


@dataclass(frozen=True)
class Action:
    """What a controller wants done now. ``predictions`` are per factor, in the threshold's unit
    (requests in flight: cluster total; load, memory: per member), for plots and reports."""

    add: tuple[Placement, ...] = ()
    remove: tuple[str, ...] = ()
    desired: int = 0
    rule: str = ""
    predictions: Mapping[str, float] = field(default_factory=dict)


class Controller(Protocol):
    """Anything the simulator can drive."""

    name: str

    def control(self, observations: Observations, now: float) -> Action | None: ...


def _due(last: float | None, now: float, interval: float) -> bool:
    return last is None or now - last >= interval - _EPSILON


# --------------------------------------------------------------------------- ours


@dataclass(eq=False)
class PredictiveController:
    """Our policy: :func:`decide` every ``evaluation_interval``, its state carried between calls."""

    policy: AutoscalingPolicy
    deployment: DeploymentPolicy
    _: KW_ONLY
    min_members: int
    max_members: int
    startup_timeout: float = DEFAULT_STARTUP_TIMEOUT
    name: str = "predictive"
    state: ScalingState = field(default_factory=ScalingState, init=False)
    last: float | None = field(default=None, init=False)
    decisions: int = field(default=0, init=False)

    def control(self, observations: Observations, now: float) -> Action | None:
        if not _due(self.last, now, self.policy.behaviour.evaluation_interval):
            return None
        self.last = now
        decision, self.state = decide(
            observations,
            self.policy,
            self.deployment,
            self.state,
            now,
            min_members=self.min_members,
            max_members=self.max_members,
            startup_timeout=self.startup_timeout,
        )
        self.decisions += 1
        return Action(
            add=decision.add,
            remove=decision.remove,
            desired=decision.desired,
            rule=decision.rule,
            predictions=decision.predictions,
        )


# --------------------------------------------------------------------------- Kubernetes HPA


def _targets(thresholds: Thresholds) -> list[tuple[str, float]]:
    pairs = [
        ("requests_in_flight", thresholds.requests_in_flight),
        ("load_average", thresholds.load_average),
        ("memory_consumption", thresholds.memory_consumption),
    ]
    return [(name, float(value)) for name, value in pairs if value is not None]


def _replace_failed(
    failed: Sequence[MemberObservation],
    live: Sequence[MemberObservation],
    pending: Sequence[Placement],
    deployment: DeploymentPolicy,
    count: int,
) -> list[Placement]:
    occupied = Counter(m.partition for m in live)
    occupied.update(pending)
    return place(count, deployment, occupied)


@dataclass(eq=False)
class _Baseline:
    """What the baseline controllers share: the policy's thresholds as targets, the deployment, the
    member bounds (``max_members`` capped by the deployment's capacity) and the time they last
    acted."""

    thresholds: Thresholds
    deployment: DeploymentPolicy
    _: KW_ONLY
    min_members: int
    max_members: int
    startup_timeout: float = DEFAULT_STARTUP_TIMEOUT
    targets: list[tuple[str, float]] = field(init=False)
    last: float | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.targets = _targets(self.thresholds)
        self.max_members = min(self.max_members, self.deployment.capacity())


@dataclass(eq=False)
class HpaController(_Baseline):
    """A faithful Kubernetes HPA (legacy defaults) on the policy's thresholds as per-pod targets."""

    _: KW_ONLY
    sync_period: float = 15.0
    tolerance: float = 0.1
    downscale_stabilisation: float = 300.0
    name: str = "hpa"
    recommendations: list[tuple[float, int]] = field(default_factory=list, init=False)

    def _metric_replicas(
        self, factor: str, target: float, ready: Sequence[MemberObservation], missing: int, current: int
    ) -> int:
        values = [v for m in ready if (v := member_value(factor, m)) is not None]
        if not values:
            return current
        missing += len(ready) - len(values)
        usage = sum(values) / len(values) / target
        if missing == 0:
            if abs(usage - 1.0) <= self.tolerance:
                return current
            return math.ceil(usage * len(values) - _EPSILON)
        # Pods without metrics: 0 % of target on scale-up, 100 % on scale-down.
        assumed = 0.0 if usage > 1.0 else target
        new_usage = (sum(values) + assumed * missing) / target / (len(values) + missing)
        if abs(new_usage - 1.0) <= self.tolerance or (usage > 1.0) != (new_usage > 1.0):
            return current
        return math.ceil(new_usage * (len(values) + missing) - _EPSILON)

    def control(self, observations: Observations, now: float) -> Action | None:
        if not _due(self.last, now, self.sync_period):
            return None
        self.last = now
        ready, starting, failed = classify_members(observations.members, now, self.startup_timeout)
        current = len(ready) + len(starting) + len(observations.pending)
        missing = len(starting) + len(observations.pending)
        proposals = [self._metric_replicas(f, t, ready, missing, current) for f, t in self.targets]
        recommendation = max(proposals) if proposals else current
        self.recommendations = [
            (t, n) for t, n in self.recommendations if t > now - self.downscale_stabilisation
        ]
        self.recommendations.append((now, recommendation))
        desired = max(n for _, n in self.recommendations)
        desired = min(desired, max(2 * current, 4))
        desired = max(self.min_members, min(self.max_members, desired))
        add: list[Placement] = []
        remove = [m.member_id for m in failed]
        if desired > current:
            add = _replace_failed(
                failed, [*ready, *starting], observations.pending, self.deployment, desired - current
            )
        elif desired < current:
            remove += choose_removals(current - desired, self.deployment, [*starting, *ready])
        rule = "scale-up" if desired > current else ("scale-down" if desired < current else "hold")
        return Action(add=tuple(add), remove=tuple(remove), desired=desired, rule=rule)


# --------------------------------------------------------------------------- Apache Stratos 4.1


@dataclass
class _Series:
    samples: list[tuple[float, float]] = field(default_factory=list)
    gradients: list[tuple[float, float]] = field(default_factory=list)

    def add(self, now: float, value: float, window: float) -> None:
        self.samples = [s for s in self.samples if s[0] > now - window]
        self.samples.append((now, value))
        self.gradients = [g for g in self.gradients if g[0] > now - window]
        self.gradients.append((now, _gradient(self.samples)))

    def predicted(self) -> float | None:
        """Stratos 4.1: average + gradient·t + ½·second derivative·t², t = 1."""
        if not self.samples:
            return None
        average = sum(v for _, v in self.samples) / len(self.samples)
        gradient = _gradient(self.samples)
        second = _gradient(self.gradients)
        return average + gradient + 0.5 * second


def _gradient(samples: Sequence[tuple[float, float]]) -> float:
    """First-vs-last sample, per second (the CEP gradient window processor)."""
    if len(samples) < 2 or samples[-1][0] == samples[0][0]:
        return 0.0
    return (samples[-1][1] - samples[0][1]) / (samples[-1][0] - samples[0][0])


@dataclass(eq=False)
class Stratos41Controller(_Baseline):
    """The Apache Stratos 4.1 autoscaler rules, fed the same observations."""

    _: KW_ONLY
    monitor_interval: float = 90.0
    stats_window: float = 60.0
    name: str = "stratos-4.1"
    series: dict[str, _Series] = field(default_factory=dict, init=False)
    scale_down_requests: int = field(default=0, init=False)

    def _observe(self, ready: Sequence[MemberObservation], observations: Observations, now: float) -> None:
        for factor, _ in self.targets:
            values = [v for m in ready if (v := member_value(factor, m)) is not None]
            if not values:
                continue
            if factor == "requests_in_flight":
                value = sum(values) + (observations.lb_queued or 0.0)
            else:
                value = sum(values) / len(values)
            self.series.setdefault(factor, _Series()).add(now, value, self.stats_window)

    def _required(self, factor: str, threshold: float, predicted: float) -> int:
        if factor == "requests_in_flight":
            return math.ceil(predicted / threshold - _EPSILON)
        if factor == "load_average":
            return math.ceil(self.min_members * predicted / threshold - _EPSILON)
        # memory: the linear range formula of RuleTasksDelegator
        if predicted < threshold:
            return self.min_members - 1
        instance_range = self.max_members - self.min_members
        additional = 0.0
        if instance_range != 0:
            additional = (predicted - threshold) / ((100.0 - threshold) / instance_range)
        return math.ceil(self.min_members + additional - _EPSILON)

    def control(self, observations: Observations, now: float) -> Action | None:
        ready, starting, failed = classify_members(observations.members, now, self.startup_timeout)
        self._observe(ready, observations, now)
        if not _due(self.last, now, self.monitor_interval):
            return None
        self.last = now
        non_terminated = len(ready) + len(starting) + len(observations.pending)
        live = [*ready, *starting]
        remove = [m.member_id for m in failed]
        add: list[Placement] = []
        predictions: dict[str, float] = {}
        required = 0
        for factor, threshold in self.targets:
            series = self.series.get(factor)
            predicted = series.predicted() if series is not None else None
            if predicted is None:
                continue
            predictions[factor] = predicted
            required = max(required, self._required(factor, threshold, predicted))
        rule = "hold"
        if non_terminated < self.min_members:
            # The separate "minimum" rule: keep min members, replacing failed ones.
            add = _replace_failed(
                failed, live, observations.pending, self.deployment, self.min_members - non_terminated
            )
            rule = "min"
        elif predictions and len(ready) < required:
            if non_terminated < self.max_members:
                additional = min(required, self.max_members) - non_terminated
                self.scale_down_requests = 0
                if additional > 0:
                    add = _replace_failed(failed, live, observations.pending, self.deployment, additional)
                    rule = "scale-up"
        elif predictions and len(ready) > required and non_terminated > self.min_members:
            if self.scale_down_requests > 2:
                remove += choose_removals(1, self.deployment, live)
                rule = "scale-down"
            else:
                self.scale_down_requests += 1
        return Action(
            add=tuple(add),
            remove=tuple(remove),
            desired=non_terminated + len(add),
            rule=rule,
            predictions=predictions,
        )
