"""A deterministic cluster simulator driven by a simulated clock, for users and for the benchmark.

The model, every second (``tick``):

- demand ``d`` (requests per second) comes from the trace;
- a member becomes healthy ``warmup`` seconds after it is started and then serves up to
  ``capacity`` requests per second; healthy capacity ``C = healthy × capacity``;
- the cluster is *overloaded* while ``d > C``; those seconds are counted, and so are the requests
  above capacity (``unserved``, as if the load balancer's queue timed out);
- every member that exists, warming up or serving, costs one member-second per second.

Every ``metrics_period`` seconds the controller is shown observations averaged over the period, as
an agent would read them:

- requests in flight at the load balancer follow Little's law, ``L = λ·W``, with ``λ`` the demand
  and ``W = service_time`` (1 s by default, so that a member at full capacity holds ``capacity``
  requests and a policy's ``requests_in_flight`` threshold reads as requests per second per member).
  Waiting time in the queue is not added to ``W``: under overload the signal grows with demand, not
  faster. The part of ``L`` up to capacity is spread evenly over healthy members as
  ``requests_in_flight`` (round-robin balancing), the rest as ``queued``;
- CPU (load) is the utilisation ``min(1, d / C)`` in per cent; memory is
  ``idle_memory_percent + memory_per_load × CPU``;
- a member that has failed (``failures``: at each of these times the oldest healthy member stops
  serving) is reported not healthy, with no metrics, until the controller removes it.

The controller's answer is applied at once: new members start warming up, removed members stop
costing and serving (draining is not modelled). The initial cluster is healthy and sized to the
first demand at 80 % utilisation, within min and max.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

from stratos.model import DeploymentPolicy
from stratos.scaling.controllers import Action, Controller
from stratos.scaling.observations import MemberObservation, Observations, Placement
from stratos.scaling.placement import place
from stratos.scaling.traces import Trace


@dataclass(frozen=True)
class SimulationConfig:
    """The simulated cluster. Times in seconds, capacity in requests per second per member."""

    capacity: float = 100.0
    warmup: float = 60.0
    service_time: float = 1.0
    tick: float = 1.0
    metrics_period: float = 15.0
    min_members: int = 1
    max_members: int = 20
    initial_members: int | None = None
    failures: tuple[float, ...] = ()
    idle_memory_percent: float = 30.0
    memory_per_load: float = 0.5

    def __post_init__(self) -> None:
        for name in ("capacity", "service_time", "tick", "metrics_period"):
            if getattr(self, name) <= 0:
                raise ValueError(f"simulation: {name} ({getattr(self, name)}) must be positive")
        if self.warmup < 0:
            raise ValueError(f"simulation: warmup ({self.warmup}) must be at least 0")
        if not 0 <= self.min_members <= self.max_members:
            raise ValueError(
                f"simulation: min_members ({self.min_members}) must be between 0 and max_members ({self.max_members})"
            )


@dataclass
class SimulationResult:
    """Totals of one run and time series (one point per metrics period) for plotting."""

    controller: str
    trace: str
    duration: float
    overload_seconds: float = 0.0
    member_seconds: float = 0.0
    scaling_actions: int = 0
    members_started: int = 0
    members_stopped: int = 0
    unserved_requests: float = 0.0
    total_requests: float = 0.0
    peak_members: int = 0
    times: list[float] = field(default_factory=list)
    demand: list[float] = field(default_factory=list)
    predicted_demand: list[float | None] = field(default_factory=list)
    capacity: list[float] = field(default_factory=list)
    members: list[int] = field(default_factory=list)
    healthy: list[int] = field(default_factory=list)

    @property
    def unserved_fraction(self) -> float:
        return self.unserved_requests / self.total_requests if self.total_requests else 0.0

    @property
    def mean_members(self) -> float:
        return self.member_seconds / self.duration if self.duration else 0.0

    def summary(self) -> dict[str, float | int | str]:
        return {
            "controller": self.controller,
            "trace": self.trace,
            "duration_s": self.duration,
            "overload_s": round(self.overload_seconds, 3),
            "member_s": round(self.member_seconds, 3),
            "scaling_actions": self.scaling_actions,
            "members_started": self.members_started,
            "members_stopped": self.members_stopped,
            "unserved_fraction": round(self.unserved_fraction, 6),
            "peak_members": self.peak_members,
        }


@dataclass(slots=True, eq=False)
class _Member:
    member_id: str
    placement: Placement
    started_at: float
    ready_at: float
    healthy: bool = False
    failed: bool = False


class _Cluster:
    """The simulated members. ``healthy`` is kept by events: promote, fail, remove."""

    def __init__(self) -> None:
        self.members: dict[str, _Member] = {}
        self.starting: list[_Member] = []  # in order of ready_at: every member warms up as long
        self.healthy = 0
        self.serial = 0

    def start(self, placement: Placement, now: float, ready_at: float) -> None:
        self.serial += 1
        member = _Member(f"m{self.serial:05d}", placement, now, ready_at)
        self.members[member.member_id] = member
        self.starting.append(member)

    def promote(self, now: float) -> None:
        while self.starting and self.starting[0].ready_at <= now:
            member = self.starting.pop(0)
            member.healthy = True
            self.healthy += 1

    def fail_oldest(self) -> None:
        serving = [m for m in self.members.values() if m.healthy]
        if serving:
            victim = min(serving, key=lambda m: (m.started_at, m.member_id))
            victim.healthy = False
            victim.failed = True
            self.healthy -= 1

    def remove(self, member_id: str) -> None:
        member = self.members.pop(member_id, None)
        if member is None:
            return
        if member.healthy:
            self.healthy -= 1
        elif not member.failed:
            self.starting.remove(member)


def predicted_demand(action: Action, config: SimulationConfig, healthy: int) -> float | None:
    """A controller's prediction as requests per second, when it made one."""
    if "requests_in_flight" in action.predictions:
        return action.predictions["requests_in_flight"] / config.service_time
    if "load_average" in action.predictions and healthy:
        return action.predictions["load_average"] / 100.0 * healthy * config.capacity
    return None


def simulate(
    trace: Trace, controller: Controller, deployment: DeploymentPolicy, config: SimulationConfig
) -> SimulationResult:
    """Replay ``trace`` against a simulated cluster scaled by ``controller``."""
    tick = config.tick
    demand = trace.resample(tick)
    result = SimulationResult(controller=controller.name, trace=trace.name, duration=len(demand) * tick)
    cluster = _Cluster()
    initial = config.initial_members
    if initial is None:
        initial = math.ceil(demand[0] / (0.8 * config.capacity)) if demand else 0
    initial = max(config.min_members, min(config.max_members, initial))
    for placement in place(initial, deployment, Counter()):
        cluster.start(placement, -config.warmup, 0.0)
    cluster.promote(0.0)

    failures = sorted(config.failures)
    failure_index = 0
    steps_per_period = max(1, round(config.metrics_period / tick))
    capacity = config.capacity
    sum_demand = sum_served = sum_utilisation = 0.0
    utilisation_ticks = 0
    period_ticks = 0
    last_prediction: float | None = None
    overload = member_seconds = unserved = total = 0.0

    for i, d in enumerate(demand):
        now = i * tick
        cluster.promote(now)
        while failure_index < len(failures) and failures[failure_index] <= now:
            failure_index += 1
            cluster.fail_oldest()
        healthy = cluster.healthy
        cap = healthy * capacity
        served = d if d <= cap else cap
        if d > cap + 1e-9:
            overload += tick
            unserved += (d - cap) * tick
        total += d * tick
        member_seconds += len(cluster.members) * tick
        sum_demand += d
        sum_served += served
        if cap > 0:
            sum_utilisation += served / cap
            utilisation_ticks += 1
        period_ticks += 1

        if (i + 1) % steps_per_period:
            continue
        # -- observe, ask, act (at the end of the period, i.e. at now + tick)
        at = now + tick
        mean_demand = sum_demand / period_ticks
        mean_served = sum_served / period_ticks
        cpu = 100.0 * sum_utilisation / utilisation_ticks if utilisation_ticks else 0.0
        in_flight = mean_served * config.service_time
        queued = (mean_demand - mean_served) * config.service_time
        observed: list[MemberObservation] = []
        for m in cluster.members.values():
            if not m.healthy:
                observed.append(MemberObservation(m.member_id, m.placement, False, m.started_at))
            else:
                observed.append(
                    MemberObservation(
                        m.member_id,
                        m.placement,
                        True,
                        m.started_at,
                        cpu_percent=cpu,
                        memory_percent=config.idle_memory_percent + config.memory_per_load * cpu,
                        requests_in_flight=in_flight / healthy if healthy else 0.0,
                        queued=queued / healthy if healthy else 0.0,
                    )
                )
        observations = Observations(
            now=at,
            members=tuple(observed),
            lb_queued=mean_demand * config.service_time if not healthy else None,
        )
        action = controller.control(observations, at)
        if action is not None:
            last_prediction = predicted_demand(action, config, healthy)
            for member_id in action.remove:
                cluster.remove(member_id)
            for placement in action.add:
                cluster.start(placement, at, at + config.warmup)
            healthy = cluster.healthy
            if action.add or action.remove:
                result.scaling_actions += 1
                result.members_started += len(action.add)
                result.members_stopped += len(action.remove)
        result.times.append(at)
        result.demand.append(mean_demand)
        result.predicted_demand.append(last_prediction)
        result.capacity.append(healthy * capacity)
        result.members.append(len(cluster.members))
        result.healthy.append(healthy)
        result.peak_members = max(result.peak_members, len(cluster.members))
        sum_demand = sum_served = sum_utilisation = 0.0
        utilisation_ticks = period_ticks = 0

    result.overload_seconds = overload
    result.member_seconds = member_seconds
    result.unserved_requests = unserved
    result.total_requests = total
    return result
