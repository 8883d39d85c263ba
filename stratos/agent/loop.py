"""The agent's loop: read the clock once, observe, plan (pure), act, record. A thin shell.

One tick:

1. load the definitions from the state directory (an invalid set, or a directory that is missing
   or holds no definition, fails the tick: nothing is done);
2. observe: member containers by label on every Docker endpoint of the definitions (an endpoint
   that does not answer makes the subscriptions placed on it *blind*: degraded, no action for them
   this tick; the others go on), a health probe of each running member (in parallel; a probe that
   raises fails that member only), and each LB cluster's servers (``show servers state``);
3. releases (:mod:`stratos.agent.rollout`), handed off to one worker per subscription (never on the
   reconcile path): fetch the artifacts that are due (``poll_interval``) or asked for (webhook,
   ``stratos sync``), try a new commit on a canary, switch ``current``, check every member, and
   switch back when the release fails its check;
4. measure (:mod:`stratos.agent.observe`: Docker stats read in the background, HAProxy ``show
   stat``) and, for subscriptions with an autoscaling policy whose evaluation is due, decide
   (:mod:`stratos.agent.autoscale`); a decision that changes something is recorded (``scale``);
5. plan with :func:`stratos.planning.reconcile.plan`, the decisions giving the desired counts;
6. act, each action on its own (one failing does not stop the others): take dead or unhealthy
   members out of the LB and remove them; start members, wait (bounded) until each is healthy and
   add it to its LB backends (``add server`` + ``enable health``); register healthy members missing
   from the LB; drain unwanted members, wait until they hold no session (bounded, all drains side
   by side), delete them from HAProxy and stop them;
7. record every action with its reasons (SQLite), write ``status.json`` (with the figures) and
   keep the figures for ``/metrics`` (:attr:`Agent.recorder`).

Health grace periods and start-up timeouts are measured on the monotonic clock (a member's start
is placed on it once, when first seen); the wall clock only stamps what is recorded. Recording
(:class:`~stratos.agent.events.SafeEventStore`) is best-effort and never stops a tick.

A failed tick is logged (and recorded in status.json) and the loop goes on; SIGTERM ends the loop
after the current tick. ``--once`` runs one tick; ``--dry-run`` plans and prints, changing nothing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from stratos import artifacts
from stratos import endpoints as endpointslib
from stratos.agent import autoscale, observe, rollout, status, watch, webhook
from stratos.agent import metrics as metricslib
from stratos.agent.events import Event, EventStore, SafeEventStore
from stratos.drivers import docker as dockerlib
from stratos.drivers import haproxy, members
from stratos.errors import StratosError
from stratos.lb import config as lbconfig
from stratos.model import HealthCheck
from stratos.planning import health as healthlib
from stratos.planning import reconcile
from stratos.scaling.observations import Placement
from stratos.store import StateStore
from stratos.validation import DefinitionSet

log = logging.getLogger("stratos.agent")

#: Seconds a member the engine reported killed stays out of the LB while it may still be running.
KILL_GRACE = 10.0

Prober = Callable[[str | None, HealthCheck | None, Iterable[int]], members.ProbeResult]
RuntimeFactory = Callable[[str], haproxy.Runtime]


@dataclass
class AgentConfig:
    """Knobs of the loop. Times are seconds."""

    interval: float = 5.0
    dry_run: bool = False
    #: How long a removed member may keep sessions in HAProxy before it is deleted anyway.
    drain_timeout: float = 30.0
    #: Upper bound of the wait for new members to become healthy within one tick.
    start_wait_cap: float = 120.0
    #: How often new members are probed while waiting for them.
    start_poll: float = 0.25
    stop_grace: float = members.STOP_GRACE
    probe_workers: int = 8
    #: Members drained (and removed) at once.
    drain_workers: int = 8
    #: React to the Docker engine's events (kill, die, oom, unhealthy) by taking the member out of
    #: HAProxy at once (``False``: the tick alone notices, as before; the kill benchmark's baseline).
    watch_events: bool = True
    #: How often each LB cluster's HAProxy is asked whether it restarted (0: never between ticks).
    lb_watch_interval: float = 0.5
    #: Docker stats reads at once, and how old a read may be to count.
    stats_workers: int = 4
    stats_max_age: float = 10.0
    #: How often each subscription's figures are kept in the samples table, and for how long.
    sample_interval: float = 60.0
    sample_retention: float = 7 * 86400.0


@dataclass
class TickResult:
    plan: reconcile.Plan | None
    done: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None and not self.failed


class Agent:
    """The reconcile loop over one state directory. Clients, clocks and the prober are passed in."""

    def __init__(
        self,
        store: StateStore,
        *,
        docker: dockerlib.ClientPool,
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
        self.store = store
        self.docker = docker
        #: Recording is best-effort (:class:`SafeEventStore`): a locked, full, read-only or corrupt
        #: agent.db never stops reconciling.
        if events is not None and not isinstance(events, SafeEventStore):
            events = SafeEventStore(events.path, monotonic=monotonic)
        self.events: SafeEventStore | None = events
        self.runtime_for = runtime_for or (lambda lb: haproxy.runtime(store, lb))
        self.prober = prober
        self.clock = clock
        self.monotonic = monotonic
        self.sleep = sleep
        self.git = git
        self.config = config or AgentConfig()
        #: Called once per tick: how many members each subscription should have (clamped to
        #: min..max by the planner). By default the last count a scaling decision recorded, or min;
        #: the scaling engine replaces it.
        self.desired = desired or self._recorded_or_min
        self.state_id = dockerlib.state_id(store.root)
        self.health: dict[str, healthlib.HealthRecord] = {}
        #: Releases of the subscriptions' artifacts (fetch, canary, switch, verify, roll back).
        self.rollouts = rollout.Rollouts(
            store, docker=docker, record=self._record, git=git, clock=clock, sleep=sleep, monotonic=monotonic
        )
        self._metered: set[str] = set()
        self._last_status: dict[str, Any] | None = None
        #: Scaling decisions and their state (``<state>/agent/scaling.json``; read-only in a dry run).
        self.autoscaler = autoscale.Autoscaler(
            store.agent_dir / "scaling.json", persist=not self.config.dry_run
        )
        self.sampler = observe.StatsSampler(
            stats or observe.docker_stats_reader(docker.get),
            monotonic,
            workers=self.config.stats_workers,
            max_age=self.config.stats_max_age,
        )
        #: The latest figures, read by the HTTP server's threads.
        self.recorder = metricslib.LatestSnapshot()
        if self.events is not None:
            self.events.on_error = self.recorder.count_record_error
        self.member_metrics: dict[str, observe.MemberMetrics] = {}
        self._lb_load: observe.LbLoad | None = None
        self._figures: list[metricslib.SubscriptionFigures] = []
        self._sampled: dict[tuple[str, str], float] = {}
        self._pruned = float("-inf")
        self._noted: set[str] = set()
        #: Docker endpoints that did not answer this tick: endpoint -> why.
        self.endpoint_errors: dict[str, str] = {}
        #: Each member's start on the monotonic clock (estimated once, when first seen).
        self._born: dict[str, float] = {}
        #: ``--once``: wait for the release workers before planning.
        self.wait_for_releases = False
        #: The LB servers the agent's members should have: LB cluster -> (backend, member) -> address
        #: (what :meth:`check_lbs` puts back after an HAProxy restart).
        self._servers: dict[str, dict[tuple[str, str], tuple[str, int]]] = {}
        self._servers_lock = threading.Lock()
        self._registered_now: list[tuple[str, str, str, str, int]] = []
        self._definitions: DefinitionSet | None = None
        #: Members the engine reported (kill, die, oom, unhealthy): member id -> (what, monotonic).
        self._reported: dict[str, tuple[str, float]] = {}
        self.lb_watch = watch.LbWatch(self.runtime_for, monotonic)
        self._watchers: list[watch.EngineEvents] = []
        self._watch_stop = threading.Event()
        self._counts_lock = threading.Lock()

    def close(self) -> None:
        """Stop the background stats reads and the watchers (the Docker clients belong to the caller)."""
        self.stop_watchers()
        self.sampler.close()

    def stop_watchers(self) -> None:
        self._watch_stop.set()
        for watcher in self._watchers:
            watcher.close()
        self._watchers = []

    # ------------------------------------------------------------------ reacting between ticks
    def start_watchers(self) -> None:
        """The LB restart watch and the engine event streams, in threads, until :meth:`stop_watchers`."""
        self.stop_watchers()
        self._watch_stop = threading.Event()
        if self.config.lb_watch_interval > 0:
            threading.Thread(
                target=self._watch_lbs, args=(self._watch_stop,), name="stratos-lb-watch", daemon=True
            ).start()
        if self.config.watch_events:
            try:
                endpoints = self._endpoints(self._load())
            except StratosError:
                endpoints = [dockerlib.DEFAULT_ENDPOINT]
            for endpoint in endpoints:
                watcher = watch.EngineEvents(
                    lambda endpoint=endpoint: self.docker.get(endpoint),  # type: ignore[misc]
                    self.state_id,
                    self.member_event,
                    self._watch_stop,
                    endpoint=endpoint,
                )
                self._watchers.append(watcher.start())

    def _watch_lbs(self, stop: threading.Event) -> None:
        while not stop.wait(self.config.lb_watch_interval):
            try:
                self.check_lbs()
            except Exception:  # noqa: BLE001 - the watch goes on; the tick re-registers anyway
                log.exception("checking the load balancers failed")

    def check_lbs(self) -> list[str]:
        """LB clusters whose HAProxy restarted or reloaded since the last look: their members are
        put back at once (``add server``) and the loop is woken. Returns their names."""
        definitions = self._definitions
        if definitions is None or self.config.dry_run:
            return []
        restarted = self.lb_watch.restarted(sorted(definitions.lb_clusters))
        for name in restarted:
            self._reregister(definitions, name)
        if restarted:
            self.rollouts.wake()
        return restarted

    def _reregister(self, definitions: DefinitionSet, lb_name: str) -> None:
        rt = self.runtime_for(lb_name)
        try:
            present = {(s.backend, s.name) for s in rt.servers_state()}
        except StratosError as exc:
            log.warning(
                "LB cluster %s restarted but does not answer: %s (the next tick registers)", lb_name, exc
            )
            return
        with self._servers_lock:
            wanted = dict(self._servers.get(lb_name, {}))
        added = []
        for (backend, member_id), (address, port) in sorted(wanted.items()):
            if (backend, member_id) in present:
                continue
            try:
                self._register(definitions, lb_name, backend, member_id, address, port)
                added.append(f"{backend}/{member_id}")
            except StratosError as exc:
                log.warning("putting %s back in %s/%s: %s", member_id, lb_name, backend, exc)
        log.warning(
            "LB cluster %s: HAProxy restarted or reloaded; %d server(s) put back at once", lb_name, len(added)
        )
        self._record(
            self.clock(),
            "",
            "",
            "lb_restarted",
            reasons=[
                f"HAProxy of LB cluster '{lb_name}' restarted or reloaded: servers added at run time are lost"
            ],
            details={"lb_cluster": lb_name, "added": added},
        )

    def _lb_servers_named(self, member_id: str) -> list[tuple[str, str]]:
        """Where a member is registered, asked of HAProxy (before the first tick knows it)."""
        try:
            definitions = self._definitions or self._load()
        except StratosError:
            return []
        found = []
        for lb_name in sorted(definitions.lb_clusters):
            try:
                servers = self.runtime_for(lb_name).servers_state()
            except StratosError:
                continue
            found += [(lb_name, s.backend) for s in servers if s.name == member_id]
        return found

    def member_event(self, member_id: str, action: str) -> None:
        """The engine reported ``action`` (kill, die, oom, health_status: unhealthy) for a member: out
        of its LB backends at once (maintenance: no new request, HAProxy redispatches queued ones),
        and the loop wakes to replace it."""
        self._reported[member_id] = (action, self.monotonic())
        with self._servers_lock:
            targets = [
                (lb, backend)
                for lb, entries in self._servers.items()
                for backend, member in list(entries)
                if member == member_id
            ]
            for lb, backend in targets:
                self._servers[lb].pop((backend, member_id), None)
        if not targets:
            targets = self._lb_servers_named(member_id)
        for lb, backend in targets:
            try:
                self.runtime_for(lb).execute(f"set server {backend}/{member_id} state maint")
            except StratosError as exc:
                log.debug("taking %s out of %s/%s: %s", member_id, lb, backend, exc)
        if targets:
            log.info(
                "%s: the engine reported '%s'; out of %s at once",
                member_id,
                action,
                ", ".join(f"{lb}/{be}" for lb, be in targets),
            )
        self.rollouts.wake()

    def _recorded_or_min(self) -> reconcile.DesiredCount:
        return reconcile.recorded_or_min(self.events.last_desired() if self.events else {})

    def _desired_counts(self) -> reconcile.DesiredCount:
        """Autoscaled subscriptions: the last decision's count; the others: :attr:`desired`."""
        return self.autoscaler.desired_count(self.desired())

    # ------------------------------------------------------------------ the loop
    def run(self, once: bool = False, stop: threading.Event | None = None) -> int:
        """Tick every ``interval`` until ``stop`` is set (or once). Returns 0, or 1 if ``once`` failed."""
        stop = stop or threading.Event()
        self.wait_for_releases = once
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
        began = self.monotonic()
        now = self.clock()
        try:
            result = self._tick(now)
        except StratosError as exc:  # a known condition: named, without a traceback
            log.error("tick failed: %s", exc)
            result = TickResult(None, error=f"{type(exc).__name__}: {exc}")
        except Exception as exc:  # noqa: BLE001 - a failed tick is logged; the loop goes on
            log.exception("tick failed")
            result = TickResult(None, error=f"{type(exc).__name__}: {exc}")
        result.seconds = self.monotonic() - began
        if not self.config.dry_run:
            self._write_status(now, result)
        self.recorder.tick(now, result.seconds, result.ok, self._figures, self.member_metrics)
        if not self.config.dry_run:
            self._write_metrics(now)
        if not self.config.dry_run and result.plan is not None:
            self._sample(now)
        return result

    def _load(self) -> DefinitionSet:
        """The definitions; a directory that is missing or holds none is an error (nothing changes).

        An unmounted volume or a wrong ``--state-dir`` must not read as "remove every member".
        """
        directory = self.store.definitions_dir
        if not directory.is_dir():
            raise StratosError(
                f"the definitions directory {directory} does not exist (an unmounted volume or a wrong "
                "--state-dir?); nothing is changed"
            )
        if next(self.store.iter_files(), None) is None:
            raise StratosError(
                f"the definitions directory {directory} holds no definition (an unmounted volume or a "
                "wrong --state-dir?); nothing is changed"
            )
        return self.store.load()

    def _tick(self, now: float) -> TickResult:
        definitions = self._load()
        self._definitions = definitions
        if not self.config.dry_run:
            webhook.publish(self.store, definitions)  # what a separate HTTP process checks pushes against
        observed = self._observe_members(definitions)
        self._probe(definitions, observed.values(), now)
        if not self.config.dry_run:
            self._sync_artifacts(definitions, observed, now)
        world = self._world(definitions, observed, now)
        evaluations = self._autoscale(definitions, world, observed, now)
        hints = {e.key: e.hint() for e in evaluations if e.decision.changes}
        plan = reconcile.plan(
            definitions,
            world,
            desired=self._desired_counts(),
            scaling=hints,
            revisions=self.rollouts.revisions(definitions),
            removed=self.store.removed_applications(),
            blind=self._blind(definitions),
        )
        for note in plan.notes:
            if note not in self._noted:
                log.warning("%s", note)
        self._noted = set(plan.notes)
        result = TickResult(plan)
        if self.config.dry_run:
            for action in plan.actions:
                result.done.append(describe(action))
                log.info("dry run, would %s", describe(action))
            return result
        self._registered_now = []
        self._act(definitions, plan, observed, now, result)
        self._remember_servers(definitions, world, plan)
        return result

    def _remember_servers(
        self, definitions: DefinitionSet, world: reconcile.World, plan: reconcile.Plan
    ) -> None:
        """The servers the members should have in each LB after this tick (see :meth:`check_lbs`)."""
        stopped = {a.member_id for a in plan.actions if isinstance(a, reconcile.Stop)}
        servers: dict[str, dict[tuple[str, str], tuple[str, int]]] = {}
        for m in world.members:
            app = definitions.applications.get(m.application)
            if m.health != "healthy" or m.member_id in stopped or m.address is None or app is None:
                continue
            sub = next((s for s in app.subscriptions if s.alias == m.subscription), None)
            for target in reconcile.lb_targets(definitions, sub) if sub is not None else ():
                if target.network_partition == m.placement.network_partition:
                    servers.setdefault(target.lb_cluster, {})[(target.backend, m.member_id)] = (
                        m.address,
                        target.port,
                    )
        for lb_name, backend, member_id, address, port in self._registered_now:
            servers.setdefault(lb_name, {})[(backend, member_id)] = (address, port)
        with self._servers_lock:
            self._servers = servers

    # ------------------------------------------------------------------ observing
    def _endpoints(self, definitions: DefinitionSet) -> list[str]:
        return endpointslib.of_definitions(definitions, always_local=True)

    def _observe_members(self, definitions: DefinitionSet) -> dict[str, members.ObservedMember]:
        observed: dict[str, members.ObservedMember] = {}
        errors: dict[str, str] = {}
        for endpoint in self._endpoints(definitions):
            try:
                found = members.list_members(self.docker.get(endpoint), self.state_id, endpoint)
            except Exception as exc:  # noqa: BLE001 - one endpoint down degrades its subscriptions only
                errors[endpoint] = (
                    str(exc) if isinstance(exc, StratosError) else f"{type(exc).__name__}: {exc}"
                )
                if self.endpoint_errors.get(endpoint) != errors[endpoint]:
                    log.error(
                        "Docker endpoint %s: %s; its subscriptions are degraded", endpoint, errors[endpoint]
                    )
                continue
            for member in found:
                observed.setdefault(member.member_id, member)
        for endpoint in set(self.endpoint_errors) - set(errors):
            log.info("Docker endpoint %s answers again", endpoint)
        self.endpoint_errors = errors
        if errors:
            # Members on an endpoint that did not answer are unseen, not gone: keep what is known.
            return observed
        for gone in set(self.health) - set(observed):
            del self.health[gone]
        for gone in set(self._born) - set(observed):
            del self._born[gone]
        for gone in set(self._reported) - set(observed):
            self._reported.pop(gone, None)
        if self.events is not None and not self.config.dry_run:
            for member in observed.values():
                if member.member_id not in self._metered:
                    # Members started by an earlier agent are metered from their Docker start time.
                    placement = f"{member.network_partition}/{member.partition}"
                    self.events.member_started(
                        member.member_id,
                        member.application,
                        member.subscription,
                        placement,
                        member.started_at,
                    )
                    self._metered.add(member.member_id)
            # Members that went away while no agent watched (or by another hand) stop being metered.
            self.events.stopped_unless(observed, self.clock())
        return observed

    def _blind(self, definitions: DefinitionSet) -> dict[tuple[str, str], str]:
        """Subscriptions placed on a Docker endpoint that did not answer this tick, with the reason."""
        if not self.endpoint_errors:
            return {}
        found: dict[tuple[str, str], str] = {}
        for app in definitions.applications.values():
            for sub in app.subscriptions:
                dp = definitions.deployment_policies.get(sub.deployment_policy)
                for ref in dp.network_partitions if dp is not None else ():
                    np = definitions.network_partitions.get(ref.name)
                    if np is None or np.provider != "docker":
                        continue
                    for partition in np.partitions:
                        error = self.endpoint_errors.get(partition.endpoint)
                        if error is not None:
                            found.setdefault(
                                (app.name, sub.alias), f"Docker endpoint {partition.endpoint}: {error}"
                            )
        return found

    def _ages(self, member: members.ObservedMember) -> tuple[float, float]:
        """(now, started) of a member on the monotonic clock: health grace periods and start-up
        timeouts are measured on it, so a step of the wall clock neither extends nor ends them."""
        now = self.monotonic()
        born = self._born.get(member.member_id)
        if born is None:
            born = now - max(0.0, self.clock() - member.started_at)
            self._born[member.member_id] = born
        return now, born

    def _check_of(
        self, definitions: DefinitionSet, member: members.ObservedMember
    ) -> tuple[HealthCheck | None, list[int]]:
        cartridge = definitions.cartridges.get(member.cartridge)
        if cartridge is None:
            return None, []
        return cartridge.health_check, [p.port for p in cartridge.ports]

    def _probe(
        self, definitions: DefinitionSet, observed: Iterable[members.ObservedMember], now: float
    ) -> None:
        # A member the engine reported (killed, dead, unhealthy) is not probed: its verdict is known,
        # and a probe of an address that went away would hold the tick for the probe's timeout.
        running = [m for m in observed if m.running and m.member_id not in self._reported]
        if not running:
            return

        def one(member: members.ObservedMember) -> tuple[members.ObservedMember, members.ProbeResult]:
            return member, self._probe_one(definitions, member)

        with ThreadPoolExecutor(max_workers=min(self.config.probe_workers, len(running))) as pool:
            for member, result in pool.map(one, running):
                check, _ = self._check_of(definitions, member)
                at, born = self._ages(member)
                self.health[member.member_id] = healthlib.record(
                    self.health.get(member.member_id), result.ok, at, born, check, result.detail
                )

    def _probe_one(self, definitions: DefinitionSet, member: members.ObservedMember) -> members.ProbeResult:
        """One member's probe; whatever goes wrong in it is that member's failed probe, never the tick's."""
        try:
            check, ports = self._check_of(definitions, member)
            return self.prober(member.address, check, ports)
        except Exception as exc:  # noqa: BLE001 - a broken probe fails that member only
            log.debug("probing %s failed", member.member_id, exc_info=True)
            return members.ProbeResult(False, f"the probe failed: {type(exc).__name__}: {exc}")

    def _verdict(
        self, definitions: DefinitionSet, member: members.ObservedMember, now: float
    ) -> healthlib.Health:
        check, _ = self._check_of(definitions, member)
        at, born = self._ages(member)
        return healthlib.verdict(
            self.health.get(member.member_id),
            check,
            running=member.running,
            started_at=born,
            now=at,
        )

    def _lb_states(self, definitions: DefinitionSet) -> dict[str, reconcile.LbState]:
        states = {}
        for lb in definitions.lb_clusters.values():
            backends: dict[str, dict[str, reconcile.LbServer]] = {
                lbconfig.backend_name(li.proxy_port): {} for li in lb.listeners
            }
            try:
                servers = self.runtime_for(lb.name).servers_state()
            except StratosError as exc:
                log.debug("LB cluster %s not reachable: %s", lb.name, exc)
                states[lb.name] = reconcile.LbState(lb.name, False)
                continue
            for server in servers:
                backends.setdefault(server.backend, {})[server.name] = reconcile.LbServer(
                    server.name, server.addr, server.port, server.up, server.draining, server.in_maintenance
                )
            states[lb.name] = reconcile.LbState(lb.name, True, backends)
        return states

    def _world(
        self, definitions: DefinitionSet, observed: Mapping[str, members.ObservedMember], now: float
    ) -> reconcile.World:
        states = tuple(
            reconcile.MemberState(
                member_id=m.member_id,
                application=m.application,
                subscription=m.subscription,
                placement=Placement(m.network_partition, m.partition),
                revision=m.revision,
                health=self._reported_health(m, self.rollouts.gate(m, self._verdict(definitions, m, now))),
                started_at=m.started_at,
                address=m.address,
                detail=self._detail(m),
            )
            for m in observed.values()
        )
        return reconcile.World(now, states, self._lb_states(definitions))

    def _reported_health(self, member: members.ObservedMember, health: healthlib.Health) -> healthlib.Health:
        """The verdict, given what the engine reported: a member it reported dead, out of memory or
        unhealthy is replaced even if it still looks alive; one it reported killed is kept out of
        the LB (*starting*) for :data:`KILL_GRACE` seconds, until the engine reports it dead."""
        reported = self._reported.get(member.member_id)
        if reported is None or health == "dead":
            return health
        action, at = reported
        if action != "kill":
            return "unhealthy"
        if self.monotonic() - at < KILL_GRACE:
            return "starting" if health == "healthy" else health
        del self._reported[member.member_id]  # a signal it survived: back to its own verdict
        return health

    def _detail(self, member: members.ObservedMember) -> str:
        reported = self._reported.get(member.member_id)
        if reported is not None and member.running:
            return f"the engine reported '{reported[0]}'"
        if not member.running:
            extra = ", out of memory" if member.oom_killed else ""
            return f"container {member.status} (exit code {member.exit_code}{extra})"
        rec = self.health.get(member.member_id)
        return rec.detail if rec else ""

    # ------------------------------------------------------------------ measuring and deciding
    def _measure(self, definitions: DefinitionSet, observed: Mapping[str, members.ObservedMember]) -> None:
        """Each running member's figures: its latest Docker stats, its requests in HAProxy now."""
        running = [m for m in observed.values() if m.running]
        jobs = []
        for member in running:
            cartridge = definitions.cartridges.get(member.cartridge)
            cpus = cartridge.limits.cpus if cartridge is not None else None
            jobs.append(observe.StatsJob(member.member_id, member.endpoint, member.container_id, cpus))
        first = not self.sampler.latest()
        self.sampler.request(jobs)
        if first and jobs:
            # The first tick waits (bounded) for one read, so that its decision and status have figures.
            self.sampler.wait(timeout=3.0)
        stats = {}
        for lb in definitions.lb_clusters.values():
            try:
                stats[lb.name] = self.runtime_for(lb.name).stat()
            except StratosError as exc:
                log.debug("LB cluster %s: no stats: %s", lb.name, exc)
        self._lb_load = observe.lb_load(stats) if stats else None
        resources = self.sampler.latest()
        self.member_metrics = {
            m.member_id: observe.member_metrics(m.member_id, resources, self._lb_load) for m in running
        }

    def _autoscale(
        self,
        definitions: DefinitionSet,
        world: reconcile.World,
        observed: Mapping[str, members.ObservedMember],
        now: float,
    ) -> list[autoscale.Evaluation]:
        """Measure; decide for the autoscaled subscriptions that are due; record what changes."""
        try:
            self._measure(definitions, observed)
            evaluations = self.autoscaler.evaluate(
                definitions, world, self.member_metrics, self._lb_load, now
            )
            if evaluations and not self.config.dry_run:
                self.autoscaler.save()
        except Exception:  # noqa: BLE001 - without a decision the last desired counts hold
            log.exception("measuring or deciding failed; the last desired counts hold")
            return []
        for e in evaluations:
            if not e.changed:
                continue
            log.info("%s/%s: %s", e.application, e.subscription, autoscale.summary(e.decision))
            if not self.config.dry_run:
                self._record(
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
                self.recorder.count_action(e.application, e.subscription, e.direction)
        return evaluations

    def _sample(self, now: float) -> None:
        """Keep each subscription's figures in the samples table every ``sample_interval``."""
        if self.events is None:
            return
        mono = self.monotonic()  # intervals on the monotonic clock; ``now`` stamps the sample
        try:
            for f in self._figures:
                if mono - self._sampled.get(f.key, float("-inf")) < self.config.sample_interval:
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
                self.events.prune_samples(now - self.config.sample_retention)
        except Exception:  # noqa: BLE001 - samples are a convenience
            log.exception("keeping samples failed")

    # ------------------------------------------------------------------ artifacts
    def _sync_artifacts(
        self, definitions: DefinitionSet, observed: Mapping[str, members.ObservedMember], now: float
    ) -> None:
        """Releases (:mod:`stratos.agent.rollout`), given each member's liveness verdict."""
        verdicts = [(m, self._verdict(definitions, m, now)) for m in observed.values()]
        self.rollouts.hand_off(definitions, verdicts)
        if self.wait_for_releases:
            self.rollouts.join()

    # ------------------------------------------------------------------ acting
    def _act(
        self,
        definitions: DefinitionSet,
        plan: reconcile.Plan,
        observed: dict[str, members.ObservedMember],
        now: float,
        result: TickResult,
    ) -> None:
        counts = _member_counts(plan)
        started: list[tuple[reconcile.Start, members.ObservedMember]] = []
        drains = [a for a in plan.actions if isinstance(a, reconcile.Stop) and a.drain]
        # Drains wait (bounded) for sessions to end: they run side by side, while the loop goes on.
        draining = []
        if drains:
            pool = ThreadPoolExecutor(
                max_workers=min(self.config.drain_workers, len(drains)), thread_name_prefix="stratos-drain"
            )
            draining = [
                pool.submit(self._act_one, definitions, a, observed, now, counts, result) for a in drains
            ]
            pool.shutdown(wait=False)
        for action in plan.actions:
            if action in drains:
                continue
            member = self._act_one(definitions, action, observed, now, counts, result)
            if member is not None and isinstance(action, reconcile.Start):
                started.append((action, member))
        if started:
            self._await_started(definitions, started, now, result)
        for future in draining:
            future.result()

    def _act_one(
        self,
        definitions: DefinitionSet,
        action: reconcile.Action,
        observed: Mapping[str, members.ObservedMember],
        now: float,
        counts: dict[tuple[str, str], int],
        result: TickResult,
    ) -> members.ObservedMember | None:
        """One action; a failure is recorded and reported, never raised (the others go on)."""
        member = None
        try:
            if isinstance(action, reconcile.Start):
                member = self._start(definitions, action, now, counts)
            elif isinstance(action, reconcile.Stop):
                self._stop(action, observed.get(action.member_id), now, counts)
            elif isinstance(action, reconcile.Register):
                self._register(
                    definitions,
                    action.lb_cluster,
                    action.backend,
                    action.member_id,
                    action.address,
                    action.port,
                )
                self._record(
                    now,
                    action.application,
                    action.subscription,
                    "register",
                    reasons=action.reasons,
                    details={
                        "member": action.member_id,
                        "backend": f"{action.lb_cluster}/{action.backend}",
                        "address": f"{action.address}:{action.port}",
                    },
                )
            elif isinstance(action, reconcile.Deregister):
                gone = self.runtime_for(action.lb_cluster).remove_member(
                    action.backend, action.server, wait=False
                )
                if not gone:
                    log.info(
                        "%s/%s still has connections; in maintenance until the next tick",
                        action.backend,
                        action.server,
                    )
                self._record(
                    now,
                    "",
                    "",
                    "deregister",
                    reasons=action.reasons,
                    details={"backend": f"{action.lb_cluster}/{action.backend}", "server": action.server},
                )
            result.done.append(describe(action))
            log.info("%s", describe(action))
        except _NoReleaseYet as exc:
            if self.wait_for_releases:  # --once: the release work is over, and it gave no release
                result.failed.append(f"{describe(action)}: {exc}")
            log.info("%s: waits: %s", describe(action), exc)
        except Exception as exc:  # noqa: BLE001 - one failed action does not stop the others
            message = f"{describe(action)}: {type(exc).__name__}: {exc}"
            log.error("failed: %s", message)
            result.failed.append(message)
            app, alias = getattr(action, "application", ""), getattr(action, "subscription", "")
            self._record(now, app, alias, f"{action.kind}-failed", reasons=[*action.reasons, str(exc)])
        return member

    def _start(
        self,
        definitions: DefinitionSet,
        action: reconcile.Start,
        now: float,
        counts: dict[tuple[str, str], int],
    ) -> members.ObservedMember:
        app = definitions.applications[action.application]
        sub = app.subscription(action.subscription)
        cartridge = definitions.cartridges[sub.cartridge]
        np = definitions.network_partitions[action.placement.network_partition]
        partition = next(p for p in np.partitions if p.name == action.placement.partition)
        secrets_dir = members.prepare_secrets(self.store, app, sub, cartridge)
        links = members.prepare_links(self.store, definitions, app, sub)
        if links:
            secrets_dir = self.store.secrets_dir(app.name, sub.alias)
        releases = None
        if sub.artifact is not None:
            releases = self.store.releases_dir(app.name, sub.alias)
            if artifacts.current_release(self.store, app.name, sub.alias) is None:
                # The release worker fetches it (never git on the reconcile path); the next tick starts.
                raise _NoReleaseYet(
                    f"{app.name}/{sub.alias} has no release of its artifact yet (the first fetch is under way)"
                )
        member_id = members.member_id(app.name, sub.alias)
        spec = members.member_spec(
            app=app,
            sub=sub,
            cartridge=cartridge,
            np=np,
            partition=partition.name,
            member=member_id,
            state_id=self.state_id,
            revision=self.rollouts.revision(definitions, app, sub),
            secrets_dir=secrets_dir,
            releases_dir=releases,
            links=links,
        )
        spec = self.rollouts.member_spec(definitions, spec)
        member = members.start_member(self.docker.get(partition.endpoint), spec, partition.endpoint)
        key = (app.name, sub.alias)
        before = counts.get(key, 0)
        counts[key] = before + 1
        if self.events:
            self.events.member_started(
                member_id, app.name, sub.alias, str(action.placement), member.started_at or now
            )
        self._record(
            now,
            app.name,
            sub.alias,
            "start",
            before,
            before + 1,
            action.reasons,
            {
                "member": member_id,
                "partition": str(action.placement),
                "address": member.address,
                "image": spec.image,
            },
        )
        return member

    def _await_started(
        self,
        definitions: DefinitionSet,
        started: list[tuple[reconcile.Start, members.ObservedMember]],
        now: float,
        result: TickResult,
    ) -> None:
        """Probe new members until each is healthy (then register it) or the bounded wait ends."""
        pending = {member.member_id: (action, member) for action, member in started}
        checks = {mid: self._check_of(definitions, m) for mid, (_, m) in pending.items()}
        limit = min(
            self.config.start_wait_cap,
            max(healthlib.startup_timeout(check) for check, _ in checks.values()),
        )
        begin = self.monotonic()
        rounds = 0
        while pending:
            for member_id in list(pending):
                action, member = pending[member_id]
                check, _ = checks[member_id]
                probe = self._probe_one(definitions, member)
                at = self.clock()
                mono, born = self._ages(member)
                self.health[member_id] = healthlib.record(
                    self.health.get(member_id), probe.ok, mono, born, check, probe.detail
                )
                if probe.ok and not self.rollouts.admit(definitions, member):
                    probe = members.ProbeResult(False, "the release check has not passed yet")
                if not probe.ok:
                    if rounds % 4 == 3 and not self._still_running(member):
                        del pending[member_id]
                        log.warning("%s stopped while starting; the next tick replaces it", member_id)
                    continue
                del pending[member_id]
                waited = self.monotonic() - begin
                self._record(
                    at,
                    action.application,
                    action.subscription,
                    "healthy",
                    reasons=[probe.detail],
                    details={"member": member_id, "seconds": round(waited, 2)},
                )
                log.info("%s healthy after %.1fs", member_id, waited)
                self._register_new(definitions, action, member, at, result)
            if not pending or self.monotonic() - begin >= limit:
                break
            rounds += 1
            self.sleep(self.config.start_poll)
        for member_id in pending:
            log.warning("%s not healthy after %.0fs; the next ticks decide", member_id, limit)

    def _still_running(self, member: members.ObservedMember) -> bool:
        try:
            container = self.docker.get(member.endpoint).containers.get(member.container_id)
            return bool(container.status in ("running", "restarting"))
        except Exception:  # noqa: BLE001 - gone or unreachable: not running as far as the wait goes
            return False

    def _register_new(
        self,
        definitions: DefinitionSet,
        action: reconcile.Start,
        member: members.ObservedMember,
        at: float,
        result: TickResult,
    ) -> None:
        sub = definitions.applications[action.application].subscription(action.subscription)
        for target in reconcile.lb_targets(definitions, sub):
            if target.network_partition != action.placement.network_partition or member.address is None:
                continue
            try:
                self._register(
                    definitions,
                    target.lb_cluster,
                    target.backend,
                    member.member_id,
                    member.address,
                    target.port,
                )
            except StratosError as exc:
                result.failed.append(
                    f"register {member.member_id} in {target.lb_cluster}/{target.backend}: {exc}"
                )
                log.warning("register %s: %s (the next tick retries)", member.member_id, exc)
                continue
            self._record(
                at,
                action.application,
                action.subscription,
                "register",
                reasons=["new member is healthy"],
                details={
                    "member": member.member_id,
                    "backend": f"{target.lb_cluster}/{target.backend}",
                    "address": f"{member.address}:{target.port}",
                },
            )
            result.done.append(f"register {member.member_id} in {target.lb_cluster}/{target.backend}")

    def _register(
        self, definitions: DefinitionSet, lb_name: str, backend: str, member_id: str, address: str, port: int
    ) -> None:
        lb = definitions.lb_clusters[lb_name]
        options = lbconfig.server_options(lb)
        self._registered_now.append((lb_name, backend, member_id, address, port))
        self.runtime_for(lb_name).add_member(
            backend,
            member_id,
            address,
            port,
            check=bool(options["check"]),
            inter=float(options["inter"]),
            fall=int(options["fall"]),
            rise=int(options["rise"]),
            sticky=lb.sticky.enabled,
        )

    def _stop(
        self,
        action: reconcile.Stop,
        member: members.ObservedMember | None,
        now: float,
        counts: dict[tuple[str, str], int],
    ) -> None:
        drained = True
        with self._servers_lock:
            for lb_name, backend in action.backends:
                self._servers.get(lb_name, {}).pop((backend, action.member_id), None)
        for lb_name, backend in action.backends:
            rt = self.runtime_for(lb_name)
            if action.drain:
                rt.drain_member(backend, action.member_id)
                drained = rt.wait_drained(backend, action.member_id, self.config.drain_timeout) and drained
                rt.remove_member(backend, action.member_id)
            else:
                # A dead or failing member: out of service at once; if requests still hang on it,
                # HAProxy redispatches them and a later tick deletes the server (an orphan then).
                rt.remove_member(backend, action.member_id, wait=False)
        if member is not None:
            members.stop_member(self.docker.get(member.endpoint), member.container_id, self.config.stop_grace)
        self.health.pop(action.member_id, None)
        if self.events:
            self.events.member_stopped(action.member_id, self.clock())
        key = (action.application, action.subscription)
        with self._counts_lock:
            before = counts.get(key, 0)
            after = max(0, before - 1)
            counts[key] = after
        self._record(
            now,
            action.application,
            action.subscription,
            "stop" if action.kind == "remove" else "replace",
            before,
            after,
            action.reasons,
            {
                "member": action.member_id,
                "drained": drained if action.drain else None,
                "backends": [f"{lb}/{be}" for lb, be in action.backends],
            },
        )

    # ------------------------------------------------------------------ recording
    def _record(
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

    def _write_status(self, now: float, result: TickResult) -> None:
        try:
            if result.plan is None:
                previous = self._last_status or {"version": status.VERSION, "applications": {}}
                data = {
                    **previous,
                    "time": now,
                    "tick": {"ok": False, "error": result.error, "seconds": result.seconds},
                }
            else:
                views = self._fresh_views(result.plan)
                data = status.build_status(
                    now, views, ok=result.ok, error="; ".join(result.failed) or None, seconds=result.seconds
                )
                self._figures = metricslib.subscription_figures(
                    views, self.member_metrics, self.autoscaler.decisions
                )
                data["notes"] = list(result.plan.notes)
                metricslib.annotate_status(data, self._figures, self.member_metrics)
                rollout.annotate_status(data, self.rollouts.status())
                self._last_status = data
            status.write_status(self.store, data)
        except Exception:  # noqa: BLE001 - a status that cannot be written is logged, not fatal
            log.exception("writing %s failed", self.store.status_file)

    def _write_metrics(self, now: float) -> None:
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

    def _fresh_views(self, plan: reconcile.Plan) -> tuple[reconcile.SubscriptionView, ...]:
        """The views after acting: observed again (no new probes; health from this tick's probes)."""
        if not plan.actions:
            return plan.subscriptions
        try:
            definitions = self._load()
            observed = self._observe_members(definitions)
            now = self.clock()
            world = self._world(definitions, observed, now)
            return reconcile.plan(
                definitions,
                world,
                desired=self._desired_counts(),
                revisions=self.rollouts.revisions(definitions),
                removed=self.store.removed_applications(),
                blind=self._blind(definitions),
            ).subscriptions
        except Exception:  # noqa: BLE001 - fall back to the views planned before acting
            log.exception("observing after acting failed")
            return plan.subscriptions


class _NoReleaseYet(StratosError):
    """A member of a subscription whose artifact has no release yet: it starts once there is one."""


def _member_counts(plan: reconcile.Plan) -> dict[tuple[str, str], int]:
    """Members (in any state) per subscription before acting: the from/to counts of events."""
    return {(view.application, view.subscription): len(view.members) for view in plan.subscriptions}


def describe(action: reconcile.Action) -> str:
    """One line: what and why."""
    why = "; ".join(action.reasons)
    if isinstance(action, reconcile.Start):
        return f"start {action.application}/{action.subscription} in {action.placement} ({why})"
    if isinstance(action, reconcile.Stop):
        verb = "drain and remove" if action.drain else "remove"
        return f"{verb} {action.member_id} of {action.application}/{action.subscription} ({why})"
    if isinstance(action, reconcile.Register):
        return (
            f"register {action.member_id} as {action.lb_cluster}/{action.backend} "
            f"{action.address}:{action.port} ({why})"
        )
    return f"deregister {action.lb_cluster}/{action.backend}/{action.server} ({why})"
