"""The agent's loop: read the clock once, observe, plan (pure), act, record. A thin shell.

One tick:

1. load the definitions from the state directory (an invalid set fails the tick: nothing is done);
2. observe: member containers by label on every Docker endpoint of the definitions, a health probe
   of each running member (in parallel), and each LB cluster's servers (``show servers state``);
3. releases (:mod:`stratos.agent.rollout`): fetch the artifacts that are due (``poll_interval``) or
   asked for (webhook, ``stratos sync``), try a new commit on a canary, switch ``current``, check
   every member, and switch back when the release fails its check;
4. measure (:mod:`stratos.agent.observe`: Docker stats read in the background, HAProxy ``show
   stat``) and, for subscriptions with an autoscaling policy whose evaluation is due, decide
   (:mod:`stratos.agent.autoscale`); a decision that changes something is recorded (``scale``);
5. plan with :func:`stratos.agent.reconcile.plan`, the decisions giving the desired counts;
6. act, each action on its own (one failing does not stop the others): take dead or unhealthy
   members out of the LB and remove them; start members, wait (bounded) until each is healthy and
   add it to its LB backends (``add server`` + ``enable health``); register healthy members missing
   from the LB; drain unwanted members, wait until they hold no session (bounded), delete them from
   HAProxy and stop them;
7. record every action with its reasons (SQLite), write ``status.json`` (with the figures) and
   keep the figures for ``/metrics`` (:attr:`Agent.recorder`).

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
from stratos.agent import autoscale, observe, reconcile, rollout, status, webhook
from stratos.agent import health as healthlib
from stratos.agent import metrics as metricslib
from stratos.agent.events import Event, EventStore
from stratos.drivers import docker as dockerlib
from stratos.drivers import haproxy, members
from stratos.errors import StratosError
from stratos.model import HealthCheck
from stratos.scaling.observations import Placement
from stratos.store import StateStore
from stratos.validation import DefinitionSet

log = logging.getLogger("stratos.agent")

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
        self.events = events
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
            store, docker=docker, record=self._record, git=git, clock=clock, sleep=sleep
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
        self.recorder = metricslib.Recorder()
        self.member_metrics: dict[str, observe.MemberMetrics] = {}
        self._lb_load: observe.LbLoad | None = None
        self._figures: list[metricslib.SubscriptionFigures] = []
        self._sampled: dict[tuple[str, str], float] = {}
        self._pruned = float("-inf")

    def close(self) -> None:
        """Stop the background stats reads (the Docker clients belong to the caller)."""
        self.sampler.close()

    def _recorded_or_min(self) -> reconcile.DesiredCount:
        return reconcile.recorded_or_min(self.events.last_desired() if self.events else {})

    def _desired_counts(self) -> reconcile.DesiredCount:
        """Autoscaled subscriptions: the last decision's count; the others: :attr:`desired`."""
        return self.autoscaler.desired_count(self.desired())

    # ------------------------------------------------------------------ the loop
    def run(self, once: bool = False, stop: threading.Event | None = None) -> int:
        """Tick every ``interval`` until ``stop`` is set (or once). Returns 0, or 1 if ``once`` failed."""
        stop = stop or threading.Event()
        while True:
            started = self.monotonic()
            result = self.tick()
            if once:
                return 0 if result.ok else 1
            # A webhook or ``stratos sync`` (a request file) ends the wait early.
            if self.rollouts.wait(stop, max(0.0, self.config.interval - (self.monotonic() - started))):
                log.info("stopping")
                return 0

    def tick(self) -> TickResult:
        began = self.monotonic()
        now = self.clock()
        try:
            result = self._tick(now)
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

    def _tick(self, now: float) -> TickResult:
        definitions = self.store.load()
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
        )
        result = TickResult(plan)
        if self.config.dry_run:
            for action in plan.actions:
                result.done.append(describe(action))
                log.info("dry run, would %s", describe(action))
            return result
        self._act(definitions, plan, observed, now, result)
        return result

    # ------------------------------------------------------------------ observing
    def _endpoints(self, definitions: DefinitionSet) -> list[str]:
        found = [dockerlib.DEFAULT_ENDPOINT]
        for np in definitions.network_partitions.values():
            if np.provider == "docker":
                found.extend(p.endpoint for p in np.partitions)
        return list(dict.fromkeys(found))

    def _observe_members(self, definitions: DefinitionSet) -> dict[str, members.ObservedMember]:
        observed: dict[str, members.ObservedMember] = {}
        for endpoint in self._endpoints(definitions):
            for member in members.list_members(self.docker.get(endpoint), self.state_id, endpoint):
                observed.setdefault(member.member_id, member)
        for gone in set(self.health) - set(observed):
            del self.health[gone]
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
        running = [m for m in observed if m.running]
        if not running:
            return

        def one(member: members.ObservedMember) -> tuple[members.ObservedMember, members.ProbeResult]:
            check, ports = self._check_of(definitions, member)
            return member, self.prober(member.address, check, ports)

        with ThreadPoolExecutor(max_workers=min(self.config.probe_workers, len(running))) as pool:
            for member, result in pool.map(one, running):
                check, _ = self._check_of(definitions, member)
                self.health[member.member_id] = healthlib.record(
                    self.health.get(member.member_id), result.ok, now, member.started_at, check, result.detail
                )

    def _verdict(
        self, definitions: DefinitionSet, member: members.ObservedMember, now: float
    ) -> healthlib.Health:
        check, _ = self._check_of(definitions, member)
        return healthlib.verdict(
            self.health.get(member.member_id),
            check,
            running=member.running,
            started_at=member.started_at,
            now=now,
        )

    def _lb_states(self, definitions: DefinitionSet) -> dict[str, reconcile.LbState]:
        states = {}
        for lb in definitions.lb_clusters.values():
            backends: dict[str, dict[str, reconcile.LbServer]] = {
                haproxy.backend_name(li.proxy_port): {} for li in lb.listeners
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
                health=self.rollouts.gate(m, self._verdict(definitions, m, now)),
                started_at=m.started_at,
                address=m.address,
                detail=self._detail(m),
            )
            for m in observed.values()
        )
        return reconcile.World(now, states, self._lb_states(definitions))

    def _detail(self, member: members.ObservedMember) -> str:
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
        try:
            for f in self._figures:
                if now - self._sampled.get(f.key, float("-inf")) < self.config.sample_interval:
                    continue
                self._sampled[f.key] = now
                figures = {
                    "cpu_percent": f.cpu_percent,
                    "memory_percent": f.memory_percent,
                    "requests_in_flight": f.requests_in_flight,
                    "queued": f.queued,
                    "factors": dict(f.factors),
                    "predictions": dict(f.predictions),
                }
                self.events.sample(now, *f.key, f.members, f.healthy, f.desired, figures)
            if now - self._pruned >= 3600.0:
                self._pruned = now
                self.events.prune_samples(now - self.config.sample_retention)
        except Exception:  # noqa: BLE001 - samples are a convenience
            log.exception("keeping samples failed")

    # ------------------------------------------------------------------ artifacts
    def _sync_artifacts(
        self, definitions: DefinitionSet, observed: Mapping[str, members.ObservedMember], now: float
    ) -> None:
        """Releases (:mod:`stratos.agent.rollout`), given each member's liveness verdict."""
        verdicts = [(m, self._verdict(definitions, m, now)) for m in observed.values()]
        self.rollouts.tick(definitions, verdicts, now)

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
        for action in plan.actions:
            try:
                if isinstance(action, reconcile.Start):
                    member = self._start(definitions, action, now, counts)
                    started.append((action, member))
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
            except Exception as exc:  # noqa: BLE001 - one failed action does not stop the others
                message = f"{describe(action)}: {type(exc).__name__}: {exc}"
                log.error("failed: %s", message)
                result.failed.append(message)
                app, alias = getattr(action, "application", ""), getattr(action, "subscription", "")
                self._record(now, app, alias, f"{action.kind}-failed", reasons=[*action.reasons, str(exc)])
        if started:
            self._await_started(definitions, started, now, result)

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
                artifacts.sync(self.store, app.name, sub.alias, sub.artifact, git=self.git)
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
                check, ports = checks[member_id]
                probe = self.prober(member.address, check, ports)
                at = self.clock()
                self.health[member_id] = healthlib.record(
                    self.health.get(member_id), probe.ok, at, member.started_at, check, probe.detail
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
        options = haproxy.server_options(lb)
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
            definitions = self.store.load()
            observed = self._observe_members(definitions)
            now = self.clock()
            world = self._world(definitions, observed, now)
            return reconcile.plan(
                definitions,
                world,
                desired=self._desired_counts(),
                revisions=self.rollouts.revisions(definitions),
            ).subscriptions
        except Exception:  # noqa: BLE001 - fall back to the views planned before acting
            log.exception("observing after acting failed")
            return plan.subscriptions


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
