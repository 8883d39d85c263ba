"""The agent's loop: read the clock once, observe, plan (pure), act, record. A thin shell.

One tick loads the definitions once and plans once:

1. load the definitions from the state directory (an invalid set, or a directory that is missing
   or holds no definition, fails the tick: nothing is done);
2. observe (:mod:`stratos.agent.observer`): members through the runtime
   (:class:`~stratos.drivers.runtime.MemberRuntime`) on every endpoint of the definitions (an
   endpoint that does not answer makes the subscriptions placed on it *blind*: degraded, no action
   for them this tick; the others go on), a health probe of each running member (in parallel; a
   probe that raises fails that member only), and each LB cluster's servers;
3. releases (:mod:`stratos.agent.rollout`), handed off to one worker per subscription (never on the
   reconcile path);
4. measure and, for subscriptions with an autoscaling policy whose evaluation is due, decide
   (:func:`stratos.agent.autoscale.scale`);
5. plan with :func:`stratos.planning.reconcile.plan`, the decisions giving the desired counts;
6. act (:mod:`stratos.agent.actor`: one handler per action type, each action on its own);
7. report (:mod:`stratos.agent.reporting`): every action with its reasons (SQLite, best-effort),
   ``status.json`` showing the world after acting (the plan's views with the outcome applied: no
   second load or plan), the figures for ``/metrics`` (:attr:`Agent.recorder`) and samples.

A failed tick is logged (and recorded in status.json) and the loop goes on; SIGTERM ends the loop
after the current tick. ``--once`` runs one tick; ``--dry-run`` plans and prints, changing nothing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from stratos import artifacts
from stratos.agent import autoscale, observe, rollout, webhook
from stratos.agent import metrics as metricslib
from stratos.agent.actor import Actor, Outcome, describe
from stratos.agent.config import AgentConfig
from stratos.agent.events import EventStore, SafeEventStore
from stratos.agent.observer import KILL_GRACE, Observer, Prober, RuntimeFactory, load_definitions
from stratos.agent.reporting import Reporter, views_after
from stratos.drivers import docker as dockerlib
from stratos.drivers import haproxy, members
from stratos.drivers.runtime import DockerEngine, EventWatch, MemberRuntime
from stratos.errors import StratosError
from stratos.planning import reconcile
from stratos.store import StateStore

log = logging.getLogger("stratos.agent")

__all__ = ["KILL_GRACE", "Agent", "AgentConfig", "TickResult", "describe"]


@dataclass
class TickResult:
    plan: reconcile.Plan | None
    done: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0
    #: The subscriptions after acting (the plan's views when nothing was done).
    views: tuple[reconcile.SubscriptionView, ...] = ()

    @property
    def ok(self) -> bool:
        return self.error is None and not self.failed


class Agent:
    """The reconcile loop over one state directory. Clients, clocks and the prober are passed in;
    members are reached only through ``runtime`` (by default the Docker Engines of ``docker``)."""

    def __init__(
        self,
        store: StateStore,
        *,
        docker: dockerlib.ClientPool | None = None,
        runtime: MemberRuntime | None = None,
        events: EventStore | None = None,
        runtime_for: RuntimeFactory | None = None,
        prober: Prober = members.probe,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        git: artifacts.Runner = artifacts.run_git,
        config: AgentConfig | None = None,
        desired: Callable[[], reconcile.DesiredCount] | None = None,
        stats: observe.StatsReader | None = None,
    ):
        self.store, self.clock, self.monotonic = store, clock, monotonic
        self.config = config or AgentConfig()
        #: The Docker clients (the caller's: it closes them) of the default runtime.
        self.docker = docker = docker or dockerlib.ClientPool()
        state_id = dockerlib.state_id(store.root)
        self.runtime = runtime or DockerEngine(docker, state_id)
        runtime_for = runtime_for or (lambda lb: haproxy.runtime(store, lb))
        # Recording is best-effort: a locked, full, read-only or corrupt agent.db never stops reconciling.
        if events is not None and not isinstance(events, SafeEventStore):
            events = SafeEventStore(events.path, monotonic=monotonic)
        self.events: SafeEventStore | None = events
        cfg = self.config
        self.reporter = Reporter(store, events, monotonic=monotonic, config=cfg)
        #: Releases of the subscriptions' artifacts (fetch, canary, switch, verify, roll back).
        self.rollouts = rollout.Rollouts(
            store, docker=docker, record=self.reporter.record, git=git, clock=clock, sleep=sleep, monotonic=monotonic,
            runtime=self.runtime,
        )  # fmt: skip
        sampler = observe.StatsSampler(
            stats or self.runtime.stats, monotonic, workers=cfg.stats_workers, max_age=cfg.stats_max_age
        )
        self.observer = Observer(
            self.runtime, runtime_for, self.rollouts, prober=prober, clock=clock, monotonic=monotonic,
            sampler=sampler, probe_workers=cfg.probe_workers,
        )  # fmt: skip
        self.actor = Actor(
            store, self.runtime, runtime_for, observer=self.observer, reporter=self.reporter, rollouts=self.rollouts,
            state_id=state_id, clock=clock, monotonic=monotonic, sleep=sleep, config=cfg,
        )  # fmt: skip
        #: Scaling decisions and their state (``<state>/agent/scaling.json``; read-only in a dry run).
        self.autoscaler = autoscale.Autoscaler(store.agent_dir / "scaling.json", persist=not cfg.dry_run)
        #: Called once per tick: how many members each subscription should have (clamped to
        #: min..max by the planner). By default the last count a scaling decision recorded, or min.
        self.desired = desired or (lambda: reconcile.recorded_or_min(events.last_desired() if events else {}))
        #: What the watchers call between ticks (see :mod:`stratos.agent.actor`).
        self.check_lbs, self.member_event = self.actor.check_lbs, self.actor.member_event
        self._watchers: list[EventWatch] = []
        self._watch_stop = threading.Event()

    @property
    def recorder(self) -> metricslib.LatestSnapshot:
        """The latest figures, read by the HTTP server's threads."""
        return self.reporter.recorder

    def close(self) -> None:
        """Stop the background reads and the watchers (the clients belong to the caller)."""
        self.stop_watchers()
        self.observer.sampler.close()

    # ------------------------------------------------------------------ reacting between ticks
    def start_watchers(self) -> None:
        """The LB restart watch and the runtime's event streams, in threads, until :meth:`stop_watchers`."""
        self.stop_watchers()
        self._watch_stop = stop = threading.Event()
        if self.config.lb_watch_interval > 0:
            threading.Thread(
                target=self._watch_lbs, args=(stop,), name="stratos-lb-watch", daemon=True
            ).start()
        if self.config.watch_events:
            try:
                endpoints = self.runtime.endpoints(load_definitions(self.store))
            except StratosError:
                endpoints = [dockerlib.DEFAULT_ENDPOINT]
            self._watchers = [self.runtime.watch_events(e, self.member_event, stop) for e in endpoints]

    def stop_watchers(self) -> None:
        self._watch_stop.set()
        for watcher in self._watchers:
            watcher.close()
        self._watchers = []

    def _watch_lbs(self, stop: threading.Event) -> None:
        while not stop.wait(self.config.lb_watch_interval):
            try:
                self.check_lbs()
            except Exception:  # noqa: BLE001 - the watch goes on; the tick re-registers anyway
                log.exception("checking the load balancers failed")

    # ------------------------------------------------------------------ the loop
    def run(self, once: bool = False, stop: threading.Event | None = None) -> int:
        """Tick every ``interval`` until ``stop`` is set (or once). Returns 0, or 1 if ``once`` failed."""
        stop = stop or threading.Event()
        self.actor.wait_for_releases = once
        if not once and not self.config.dry_run:
            self.start_watchers()
        try:
            while True:
                started = self.monotonic()
                result = self.tick()
                if once:
                    return 0 if result.ok else 1
                # A webhook, ``stratos sync`` or a watcher's event ends the wait early.
                if self.rollouts.wait(stop, max(0.0, self.config.interval - (self.monotonic() - started))):
                    log.info("stopping")
                    return 0
        finally:
            self.stop_watchers()

    def tick(self) -> TickResult:
        began, now = self.monotonic(), self.clock()
        try:
            result = self._tick(now)
        except Exception as exc:  # noqa: BLE001 - a failed tick is logged; the loop goes on
            if isinstance(exc, StratosError):  # a known condition: named, without a traceback
                log.error("tick failed: %s", exc)
            else:
                log.exception("tick failed")
            result = TickResult(None, error=f"{type(exc).__name__}: {exc}")
        result.seconds = self.monotonic() - began
        if not self.config.dry_run:
            error = result.error if result.plan is None else "; ".join(result.failed) or None
            self.reporter.write_status(
                now, plan=result.plan, views=result.views, ok=result.ok, error=error, seconds=result.seconds,
                member_metrics=self.observer.member_metrics, decisions=self.autoscaler.decisions,
                releases=self.rollouts.status(),
            )  # fmt: skip
        self.recorder.tick(
            now, result.seconds, result.ok, self.reporter.figures, self.observer.member_metrics
        )
        if not self.config.dry_run:
            self.reporter.write_metrics(now)
            if result.plan is not None:
                self.reporter.sample(now)
        return result

    def _tick(self, now: float) -> TickResult:
        dry = self.config.dry_run
        definitions = self.actor.definitions = load_definitions(self.store)
        if not dry:
            webhook.publish(self.store, definitions)  # what a separate HTTP process checks pushes against
        observed = self.observer.members(definitions)
        if not dry and self.observer.complete():
            self.reporter.meter(observed, self.clock())
        self.observer.probe(definitions, observed.values())
        if not dry:
            self.rollouts.hand_off(
                definitions, [(m, self.observer.verdict(definitions, m)) for m in observed.values()]
            )
            if self.actor.wait_for_releases:
                self.rollouts.join()
        world = self.observer.world(definitions, observed, now)
        evaluations = autoscale.scale(
            self.autoscaler, self.observer, self.reporter, definitions, world, observed, now, dry_run=dry
        )
        plan = reconcile.plan(
            definitions,
            world,
            desired=self.autoscaler.desired_count(self.desired()),
            scaling={e.key: e.hint() for e in evaluations if e.decision.changes},
            revisions=self.rollouts.revisions(definitions),
            removed=self.store.removed_applications(),
            blind=self.observer.blind(definitions),
        )
        self.reporter.note(plan)
        if dry:
            for action in plan.actions:
                log.info("dry run, would %s", describe(action))
            return TickResult(plan, done=[describe(a) for a in plan.actions], views=plan.subscriptions)
        outcome = self.actor.act(definitions, plan, world, observed, now) if plan.actions else Outcome()
        views = views_after(definitions, plan, world, outcome) if plan.actions else plan.subscriptions
        return TickResult(plan, outcome.done, outcome.failed, views=views)
