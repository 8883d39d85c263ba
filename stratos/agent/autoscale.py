"""Autoscaling in the agent: :func:`stratos.scaling.decide` per subscription, and what it remembers.

For every subscription with an ``autoscaling_policy``, once per the policy's
``evaluation_interval``, the loop hands :meth:`Autoscaler.evaluate` the reconcile world (members
and their health) and each member's figures (:mod:`stratos.agent.observe`). Members that are
healthy or starting are observed; dead and unhealthy ones are not (the planner replaces them, and
counting them would scale up for members that will never serve). The decision's ``desired`` count
becomes the planner's desired count for the subscription (:meth:`Autoscaler.desired_count`) until
the next decision, and its placements and removals travel to the planner as a
:class:`~stratos.planning.reconcile.ScalingHint` for the tick in which it was taken.

``Observations.pending`` stays empty: the loop starts members within the tick that plans them
(and waits, bounded, for their health), so a start asked for is a container by the next decision,
counted as *starting*; a container left half-created by a killed agent is dead and replaced.

What a decision remembers (its :class:`~stratos.scaling.ScalingState`: sample windows,
recommendations, since when it decides) and the last desired count are kept in
``<state>/agent/scaling.json``, written atomically after every evaluation, so that a restarted
agent continues with the same windows and the same count instead of falling back to ``min`` (or
scaling down early because its stabilisation window started again).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stratos.agent import observe
from stratos.fsutil import STATE, atomic_write_text
from stratos.model import Application, Subscription
from stratos.planning import health as healthlib
from stratos.planning import reconcile
from stratos.scaling import DEFAULT_STARTUP_TIMEOUT, Decision, ScalingState, decide
from stratos.validation import DefinitionSet

if TYPE_CHECKING:
    from stratos.agent.observer import Observer
    from stratos.agent.reporting import Reporter
    from stratos.drivers.members import ObservedMember

log = logging.getLogger("stratos.agent.autoscale")

STATE_VERSION = 1

#: A decision is due when this share of the evaluation interval has passed (ticks jitter).
_DUE_SHARE = 0.9

Key = tuple[str, str]


@dataclass(frozen=True)
class Evaluation:
    """One decision for one subscription, and the desired count it replaces."""

    application: str
    subscription: str
    decision: Decision
    previous: int | None

    @property
    def key(self) -> Key:
        return (self.application, self.subscription)

    @property
    def changed(self) -> bool:
        """Whether it moves the desired count (a decision that only repeats the count it set before,
        because its members are still on their way or were lost, is not news)."""
        return self.previous != self.decision.desired

    @property
    def direction(self) -> str:
        d = self.decision
        if d.desired > d.current:
            return "up"
        if d.desired < d.current:
            return "down"
        return "replace" if d.remove else "hold"

    def hint(self) -> reconcile.ScalingHint:
        return reconcile.ScalingHint(
            add=self.decision.add, remove=self.decision.remove, reasons=(summary(self.decision),)
        )

    def reasons(self) -> list[str]:
        """The rules that fired, then one line per factor: what it measured, predicts and asks."""
        return [str(r) for r in self.decision.reasons] + [
            line for f in self.decision.factors if (line := factor_line(f.as_dict()))
        ]

    def details(self) -> dict[str, Any]:
        d = self.decision
        return {
            "rule": d.rule,
            "winning_factor": d.winning_factor,
            "healthy": d.healthy,
            "starting": d.starting,
            "recommendation": d.recommendation,
            "add": [str(p) for p in d.add],
            "remove": list(d.remove),
            "factors": {f.factor: _rounded(f.as_dict()) for f in d.factors},
        }


def summary(decision: Decision) -> str:
    """``scale-up 2 -> 4 (requests_in_flight)``: the decision in a few words."""
    why = f" ({decision.winning_factor})" if decision.winning_factor else ""
    return f"{decision.rule} {decision.current} -> {decision.desired}{why}"


def factor_line(factor: Mapping[str, Any]) -> str:
    """``requests_in_flight: measured 11.2, predicted 13.0 (threshold 4), 4 member(s)``."""
    if factor.get("measured") is None:
        return f"{factor['factor']}: no data"
    unit = "" if factor["factor"] == "requests_in_flight" else " %/member"
    text = (
        f"{factor['factor']}: measured {factor['measured']:.1f}{unit}, "
        f"predicted {factor['predicted']:.1f} (threshold {factor['threshold']:g})"
    )
    if factor.get("proposal") is not None:
        text += f", {factor['proposal']} member(s)"
    if factor.get("within_tolerance"):
        text += " within tolerance"
    return text


def _rounded(data: Mapping[str, Any]) -> dict[str, Any]:
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in data.items() if k != "factor"}


class Autoscaler:
    """The scaling state of every autoscaled subscription, kept in ``path`` (``None``: in memory)."""

    def __init__(self, path: Path | None = None, *, persist: bool = True):
        self.path = path
        self.persist = persist
        self.states: dict[Key, ScalingState] = {}
        self.desired: dict[Key, int] = {}
        self.evaluated: dict[Key, float] = {}
        self.decisions: dict[Key, Decision] = {}
        self._loaded = path is None

    # ------------------------------------------------------------ persistence
    def load(self) -> None:
        """Read the state file once (a missing or unreadable file means a fresh start)."""
        if self._loaded:
            return
        self._loaded = True
        assert self.path is not None
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            log.warning("%s cannot be read (%s); scaling starts afresh", self.path, exc)
            return
        for name, entry in (data.get("subscriptions") or {}).items():
            app, _, alias = str(name).partition("/")
            key = (app, alias)
            try:
                self.states[key] = ScalingState.from_dict(entry.get("state") or {})
                if entry.get("desired") is not None:
                    self.desired[key] = int(entry["desired"])
                if entry.get("evaluated_at") is not None:
                    self.evaluated[key] = float(entry["evaluated_at"])
            except (TypeError, ValueError, AttributeError) as exc:
                log.warning("%s: entry %s ignored: %s", self.path, name, exc)

    def save(self) -> None:
        if self.path is None or not self.persist:
            return
        subscriptions = {
            f"{app}/{alias}": {
                "state": self.states[(app, alias)].as_dict(),
                "desired": self.desired.get((app, alias)),
                "evaluated_at": self.evaluated.get((app, alias)),
                "decision": d.as_dict() if (d := self.decisions.get((app, alias))) else None,
            }
            for app, alias in sorted(self.states)
        }
        text = json.dumps({"version": STATE_VERSION, "subscriptions": subscriptions}, sort_keys=True)
        atomic_write_text(self.path, text + "\n", STATE)

    # ------------------------------------------------------------ deciding
    def due(self, key: Key, interval: float, now: float) -> bool:
        last = self.evaluated.get(key)
        return last is None or now - last >= interval * _DUE_SHARE or now < last

    def evaluate(
        self,
        definitions: DefinitionSet,
        world: reconcile.World,
        metrics: Mapping[str, observe.MemberMetrics],
        load: observe.LbLoad | None,
        now: float,
    ) -> list[Evaluation]:
        """Decide for every autoscaled subscription that is due; remember the results."""
        self.load()
        evaluations = []
        wanted: set[Key] = set()
        for app in sorted(definitions.applications.values(), key=lambda a: a.name):
            for sub in app.subscriptions:
                if sub.autoscaling_policy is None:
                    continue
                key = (app.name, sub.alias)
                wanted.add(key)
                policy = definitions.autoscaling_policies[sub.autoscaling_policy]
                if not self.due(key, policy.behaviour.evaluation_interval, now):
                    continue
                evaluations.append(self._decide(definitions, app, sub, world, metrics, load, now))
        self._forget(wanted)
        return evaluations

    def _decide(
        self,
        definitions: DefinitionSet,
        app: Application,
        sub: Subscription,
        world: reconcile.World,
        metrics: Mapping[str, observe.MemberMetrics],
        load: observe.LbLoad | None,
        now: float,
    ) -> Evaluation:
        key = (app.name, sub.alias)
        assert sub.autoscaling_policy is not None
        policy = definitions.autoscaling_policies[sub.autoscaling_policy]
        deployment = definitions.deployment_policies[sub.deployment_policy]
        cartridge = definitions.cartridges[sub.cartridge]
        members = [
            observe.Member(m.member_id, m.placement, m.health == "healthy", m.started_at)
            for m in world.members
            if (m.application, m.subscription) == key and m.health in ("healthy", "starting")
        ]
        targets = [(t.lb_cluster, t.backend) for t in reconcile.lb_targets(definitions, sub)]
        observations = observe.observations(
            now, members, metrics, lb_queued=load.queued(targets) if load is not None and targets else None
        )
        decision, state = decide(
            observations,
            policy,
            deployment,
            self.states.get(key, ScalingState()),
            now,
            min_members=sub.min,
            max_members=sub.max,
            startup_timeout=healthlib.startup_timeout(cartridge.health_check) or DEFAULT_STARTUP_TIMEOUT,
        )
        evaluation = Evaluation(app.name, sub.alias, decision, self.desired.get(key))
        self.states[key] = state
        self.desired[key] = decision.desired
        self.evaluated[key] = now
        self.decisions[key] = decision
        return evaluation

    def _forget(self, wanted: Iterable[Key]) -> None:
        keep = set(wanted)
        for table in (self.states, self.desired, self.evaluated, self.decisions):
            for key in [k for k in table if k not in keep]:
                del table[key]

    def desired_count(self, fallback: reconcile.DesiredCount) -> reconcile.DesiredCount:
        """The planner's hook: the last decision's count for autoscaled subscriptions, else ``fallback``."""

        self.load()

        def count(app: Application, sub: Subscription) -> int:
            key = (app.name, sub.alias)
            if sub.autoscaling_policy is not None and key in self.desired:
                return self.desired[key]
            return fallback(app, sub)

        return count


def scale(
    autoscaler: Autoscaler,
    observer: Observer,
    reporter: Reporter,
    definitions: DefinitionSet,
    world: reconcile.World,
    observed: Mapping[str, ObservedMember],
    now: float,
    *,
    dry_run: bool = False,
) -> list[Evaluation]:
    """One tick's measuring and deciding: the figures, a decision for the autoscaled subscriptions
    that are due, and what changes recorded (``scale``) and counted. Whatever fails here leaves the
    last desired counts in force."""
    try:
        observer.measure(definitions, observed)
        evaluations = autoscaler.evaluate(definitions, world, observer.member_metrics, observer.lb_load, now)
        if evaluations and not dry_run:
            autoscaler.save()
    except Exception:  # noqa: BLE001 - without a decision the last desired counts hold
        log.exception("measuring or deciding failed; the last desired counts hold")
        return []
    for e in evaluations:
        if not e.changed:
            continue
        log.info("%s/%s: %s", e.application, e.subscription, summary(e.decision))
        if not dry_run:
            reporter.record(
                now,
                e.application,
                e.subscription,
                "scale",
                e.decision.current,
                e.decision.desired,
                e.reasons(),
                e.details(),
            )
        if e.decision.changes:
            reporter.recorder.count_action(e.application, e.subscription, e.direction)
    return evaluations
