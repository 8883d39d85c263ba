"""The agent's hands: carry out a plan's actions, one handler per action type, and react between ticks.

:meth:`Actor.act` runs each action of a :class:`~stratos.planning.reconcile.Plan` on its own (one
failing does not stop the others) through :attr:`Actor.handlers`, a table from action type to
handler:

- ``Start``: start a member through the runtime, then (after the other actions) wait, bounded,
  until each new member is healthy and add it to its LB backends (``add server`` + ``enable
  health``);
- ``Stop``: take a member out of its LB backends (drained first when asked: all drains side by
  side, each bounded), then stop it through the runtime;
- ``Register`` / ``Deregister``: add a healthy member missing from the LB, delete a server that
  belongs to no member.

Between ticks it reacts to what the watchers saw: an HAProxy that restarted gets the agent's
servers back at once (:meth:`Actor.check_lbs`), a member the engine reported killed, dead or
unhealthy leaves HAProxy at once (:meth:`Actor.member_event`). What it did is returned as an
:class:`Outcome` (from which the status after acting is drawn) and recorded through the reporter.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from stratos import artifacts
from stratos.agent.config import AgentConfig
from stratos.agent.observer import Observer, RuntimeFactory, load_definitions
from stratos.agent.rollout import Rollouts
from stratos.agent.watch import LbWatch
from stratos.drivers import members
from stratos.drivers.members import ObservedMember
from stratos.drivers.runtime import MemberRuntime
from stratos.errors import StratosError
from stratos.lb import config as lbconfig
from stratos.planning import health as healthlib
from stratos.planning import reconcile
from stratos.store import StateStore
from stratos.validation import DefinitionSet

if TYPE_CHECKING:
    from stratos.agent.reporting import Reporter

log = logging.getLogger("stratos.agent")

Counts = dict[tuple[str, str], int]


@dataclass
class Outcome:
    """What one :meth:`Actor.act` did."""

    #: Members started: (the action, the member, whether it became healthy within the wait).
    started: list[tuple[reconcile.Start, ObservedMember, bool]] = field(default_factory=list)
    #: Members stopped.
    stopped: set[str] = field(default_factory=set)
    #: Members the plan stops (stopped or not).
    leaving: set[str] = field(default_factory=set)
    #: Servers added to the LB: (member id, LB cluster, backend) -> (address, port).
    registered: dict[tuple[str, str, str], tuple[str, int]] = field(default_factory=dict)
    done: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    @property
    def registered_members(self) -> set[str]:
        return {member for member, _, _ in self.registered}


@dataclass(frozen=True)
class _Context:
    definitions: DefinitionSet
    observed: Mapping[str, ObservedMember]
    now: float
    counts: Counts
    outcome: Outcome


class NoReleaseYet(StratosError):
    """A member of a subscription whose artifact has no release yet: it starts once there is one."""


class Actor:
    """Carries out plans and reacts between ticks (see the module doc)."""

    def __init__(
        self,
        store: StateStore,
        runtime: MemberRuntime,
        runtime_for: RuntimeFactory,
        *,
        observer: Observer,
        reporter: Reporter,
        rollouts: Rollouts,
        state_id: str,
        clock: Callable[[], float],
        monotonic: Callable[[], float],
        sleep: Callable[[float], None],
        config: AgentConfig,
    ):
        self.store = store
        self.runtime = runtime
        self.runtime_for = runtime_for
        self.observer = observer
        self.reporter = reporter
        self.rollouts = rollouts
        self.state_id = state_id
        self.clock = clock
        self.monotonic = monotonic
        self.sleep = sleep
        self.config = config
        #: ``--once``: the release work is over when acting, so a missing release is a failure.
        self.wait_for_releases = False
        #: One handler per action type.
        self.handlers: dict[type, Callable[[Any, _Context], ObservedMember | None]] = {
            reconcile.Start: self._start,
            reconcile.Stop: self._stop,
            reconcile.Register: self._register_action,
            reconcile.Deregister: self._deregister,
        }
        self.lb_watch = LbWatch(runtime_for, monotonic)
        #: The latest definitions acted on (for the watchers' reactions between ticks).
        self.definitions: DefinitionSet | None = None
        #: The LB servers the agent's members should have: LB cluster -> (backend, member) -> address
        #: (what :meth:`check_lbs` puts back after an HAProxy restart).
        self._servers: dict[str, dict[tuple[str, str], tuple[str, int]]] = {}
        self._servers_lock = threading.Lock()
        self._counts_lock = threading.Lock()

    # ------------------------------------------------------------------ a plan
    def act(
        self,
        definitions: DefinitionSet,
        plan: reconcile.Plan,
        world: reconcile.World,
        observed: Mapping[str, ObservedMember],
        now: float,
    ) -> Outcome:
        outcome = Outcome(leaving={a.member_id for a in plan.actions if isinstance(a, reconcile.Stop)})
        counts = {(v.application, v.subscription): len(v.members) for v in plan.subscriptions}
        context = _Context(definitions, observed, now, counts, outcome)
        drains = [a for a in plan.actions if isinstance(a, reconcile.Stop) and a.drain]
        # Drains wait (bounded) for sessions to end: they run side by side, while the loop goes on.
        draining = []
        if drains:
            pool = ThreadPoolExecutor(
                max_workers=min(self.config.drain_workers, len(drains)), thread_name_prefix="stratos-drain"
            )
            draining = [pool.submit(self._act_one, a, context) for a in drains]
            pool.shutdown(wait=False)
        started = []
        for action in plan.actions:
            if action in drains:
                continue
            member = self._act_one(action, context)
            if member is not None and isinstance(action, reconcile.Start):
                started.append((action, member))
        if started:
            self._await_started(started, context)
        for future in draining:
            future.result()
        self._remember_servers(definitions, world, outcome)
        return outcome

    def _act_one(self, action: reconcile.Action, context: _Context) -> ObservedMember | None:
        """One action; a failure is recorded and reported, never raised (the others go on)."""
        member = None
        try:
            member = self.handlers[type(action)](action, context)
            context.outcome.done.append(describe(action))
            log.info("%s", describe(action))
        except NoReleaseYet as exc:
            if self.wait_for_releases:  # --once: the release work is over, and it gave no release
                context.outcome.failed.append(f"{describe(action)}: {exc}")
            log.info("%s: waits: %s", describe(action), exc)
        except Exception as exc:  # noqa: BLE001 - one failed action does not stop the others
            message = f"{describe(action)}: {type(exc).__name__}: {exc}"
            log.error("failed: %s", message)
            context.outcome.failed.append(message)
            app, alias = getattr(action, "application", ""), getattr(action, "subscription", "")
            self.reporter.record(
                context.now, app, alias, f"{action.kind}-failed", reasons=[*action.reasons, str(exc)]
            )
        return member

    # ------------------------------------------------------------------ the handlers
    def _start(self, action: reconcile.Start, context: _Context) -> ObservedMember:
        definitions, now = context.definitions, context.now
        app = definitions.applications[action.application]
        sub = app.subscription(action.subscription)
        np = definitions.network_partitions[action.placement.network_partition]
        partition = next(p for p in np.partitions if p.name == action.placement.partition)
        releases = self.store.releases_dir(app.name, sub.alias) if sub.artifact is not None else None
        revision = self.rollouts.revision(definitions, app, sub)
        spec = self.rollouts.new_member_spec(
            definitions, app, sub, np, partition.name, revision=revision, releases_dir=releases
        )
        if releases is not None and artifacts.current_release(self.store, app.name, sub.alias) is None:
            # The release worker fetches it (never git on the reconcile path); the next tick starts.
            raise NoReleaseYet(
                f"{app.name}/{sub.alias} has no release of its artifact yet (the first fetch is under way)"
            )
        member_id = spec.member_id
        spec = self.rollouts.member_spec(definitions, spec)
        member = self.runtime.start_member(spec, partition.endpoint)
        key = (app.name, sub.alias)
        with self._counts_lock:
            before = context.counts.get(key, 0)
            context.counts[key] = before + 1
        self.reporter.member_started(
            member_id, app.name, sub.alias, str(action.placement), member.started_at or now
        )
        self.reporter.record(
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

    def _stop(self, action: reconcile.Stop, context: _Context) -> None:
        member = context.observed.get(action.member_id)
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
            self.runtime.stop_member(member.endpoint, member.container_id, self.config.stop_grace)
        self.observer.health.pop(action.member_id, None)
        self.reporter.member_stopped(action.member_id, self.clock())
        key = (action.application, action.subscription)
        with self._counts_lock:
            before = context.counts.get(key, 0)
            after = max(0, before - 1)
            context.counts[key] = after
            context.outcome.stopped.add(action.member_id)
        self.reporter.record(
            context.now,
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

    def _register_action(self, action: reconcile.Register, context: _Context) -> None:
        self.register(
            context.definitions,
            action.lb_cluster,
            action.backend,
            action.member_id,
            action.address,
            action.port,
        )
        context.outcome.registered[(action.member_id, action.lb_cluster, action.backend)] = (
            action.address,
            action.port,
        )
        self.reporter.record(
            context.now,
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

    def _deregister(self, action: reconcile.Deregister, context: _Context) -> None:
        gone = self.runtime_for(action.lb_cluster).remove_member(action.backend, action.server, wait=False)
        if not gone:
            log.info(
                "%s/%s still has connections; in maintenance until the next tick",
                action.backend,
                action.server,
            )
        self.reporter.record(
            context.now,
            "",
            "",
            "deregister",
            reasons=action.reasons,
            details={"backend": f"{action.lb_cluster}/{action.backend}", "server": action.server},
        )

    # ------------------------------------------------------------------ new members
    def _await_started(
        self, started: list[tuple[reconcile.Start, ObservedMember]], context: _Context
    ) -> None:
        """Probe new members until each is healthy (then register it) or the bounded wait ends."""
        definitions = context.definitions
        pending = {member.member_id: (action, member) for action, member in started}
        checks = {mid: self.observer.check_of(definitions, m) for mid, (_, m) in pending.items()}
        limit = min(
            self.config.start_wait_cap, max(healthlib.startup_timeout(check) for check, _ in checks.values())
        )
        healthy: set[str] = set()
        begin = self.monotonic()
        rounds = 0
        while pending:
            for member_id in list(pending):
                action, member = pending[member_id]
                probe = self.observer.probe_one(definitions, member)
                at = self.clock()
                self.observer.keep(definitions, member, probe)
                if probe.ok and not self.rollouts.admit(definitions, member):
                    probe = members.ProbeResult(False, "the release check has not passed yet")
                if not probe.ok:
                    if rounds % 4 == 3 and not self.observer.still_running(member):
                        del pending[member_id]
                        log.warning("%s stopped while starting; the next tick replaces it", member_id)
                    continue
                del pending[member_id]
                healthy.add(member_id)
                waited = self.monotonic() - begin
                self.reporter.record(
                    at,
                    action.application,
                    action.subscription,
                    "healthy",
                    reasons=[probe.detail],
                    details={"member": member_id, "seconds": round(waited, 2)},
                )
                log.info("%s healthy after %.1fs", member_id, waited)
                self._register_new(definitions, action, member, at, context.outcome)
            if not pending or self.monotonic() - begin >= limit:
                break
            rounds += 1
            self.sleep(self.config.start_poll)
        for member_id in pending:
            log.warning("%s not healthy after %.0fs; the next ticks decide", member_id, limit)
        context.outcome.started.extend((a, m, m.member_id in healthy) for a, m in started)

    def _register_new(
        self,
        definitions: DefinitionSet,
        action: reconcile.Start,
        member: ObservedMember,
        at: float,
        outcome: Outcome,
    ) -> None:
        sub = definitions.applications[action.application].subscription(action.subscription)
        for target in reconcile.lb_targets(definitions, sub):
            if target.network_partition != action.placement.network_partition or member.address is None:
                continue
            where = f"{target.lb_cluster}/{target.backend}"
            try:
                self.register(
                    definitions,
                    target.lb_cluster,
                    target.backend,
                    member.member_id,
                    member.address,
                    target.port,
                )
            except StratosError as exc:
                outcome.failed.append(f"register {member.member_id} in {where}: {exc}")
                log.warning("register %s: %s (the next tick retries)", member.member_id, exc)
                continue
            outcome.registered[(member.member_id, target.lb_cluster, target.backend)] = (
                member.address,
                target.port,
            )
            self.reporter.record(
                at,
                action.application,
                action.subscription,
                "register",
                reasons=["new member is healthy"],
                details={
                    "member": member.member_id,
                    "backend": where,
                    "address": f"{member.address}:{target.port}",
                },
            )
            outcome.done.append(f"register {member.member_id} in {where}")

    def register(
        self, definitions: DefinitionSet, lb_name: str, backend: str, member_id: str, address: str, port: int
    ) -> None:
        lb = definitions.lb_clusters[lb_name]
        options = lbconfig.server_options(lb)
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

    def _remember_servers(self, definitions: DefinitionSet, world: reconcile.World, outcome: Outcome) -> None:
        """The servers the members should have in each LB after this tick (see :meth:`check_lbs`)."""
        servers: dict[str, dict[tuple[str, str], tuple[str, int]]] = {}
        for m in world.members:
            app = definitions.applications.get(m.application)
            if m.health != "healthy" or m.member_id in outcome.leaving or m.address is None or app is None:
                continue
            sub = next((s for s in app.subscriptions if s.alias == m.subscription), None)
            for target in reconcile.lb_targets(definitions, sub) if sub is not None else ():
                if target.network_partition == m.placement.network_partition:
                    servers.setdefault(target.lb_cluster, {})[(target.backend, m.member_id)] = (
                        m.address,
                        target.port,
                    )
        for (member_id, lb_name, backend), address in outcome.registered.items():
            servers.setdefault(lb_name, {})[(backend, member_id)] = address
        with self._servers_lock:
            self._servers = servers

    # ------------------------------------------------------------------ between ticks
    def check_lbs(self) -> list[str]:
        """LB clusters whose HAProxy restarted or reloaded since the last look: their members are
        put back at once (``add server``) and the loop is woken. Returns their names."""
        definitions = self.definitions
        if definitions is None or self.config.dry_run:
            return []
        restarted = self.lb_watch.restarted(sorted(definitions.lb_clusters))
        for name in restarted:
            self._reregister(definitions, name)
        if restarted:
            self.rollouts.wake()
        return restarted

    def _reregister(self, definitions: DefinitionSet, lb_name: str) -> None:
        try:
            present = {(s.backend, s.name) for s in self.runtime_for(lb_name).servers_state()}
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
                self.register(definitions, lb_name, backend, member_id, address, port)
                added.append(f"{backend}/{member_id}")
            except StratosError as exc:
                log.warning("putting %s back in %s/%s: %s", member_id, lb_name, backend, exc)
        log.warning(
            "LB cluster %s: HAProxy restarted or reloaded; %d server(s) put back at once", lb_name, len(added)
        )
        self.reporter.record(
            self.clock(),
            "",
            "",
            "lb_restarted",
            reasons=[
                f"HAProxy of LB cluster '{lb_name}' restarted or reloaded: servers added at run time are lost"
            ],
            details={"lb_cluster": lb_name, "added": added},
        )

    def member_event(self, member_id: str, action: str) -> None:
        """The engine reported ``action`` (kill, die, oom, health_status: unhealthy) for a member: out
        of its LB backends at once (maintenance: no new request, HAProxy redispatches queued ones),
        and the loop wakes to replace it."""
        self.observer.report(member_id, action)
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

    def _lb_servers_named(self, member_id: str) -> list[tuple[str, str]]:
        """Where a member is registered, asked of HAProxy (before the first tick knows it)."""
        try:
            definitions = self.definitions or load_definitions(self.store)
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


# --------------------------------------------------------------------------- describing actions


def _describe_start(a: reconcile.Start, why: str) -> str:
    return f"start {a.application}/{a.subscription} in {a.placement} ({why})"


def _describe_stop(a: reconcile.Stop, why: str) -> str:
    verb = "drain and remove" if a.drain else "remove"
    return f"{verb} {a.member_id} of {a.application}/{a.subscription} ({why})"


def _describe_register(a: reconcile.Register, why: str) -> str:
    return f"register {a.member_id} as {a.lb_cluster}/{a.backend} {a.address}:{a.port} ({why})"


def _describe_deregister(a: reconcile.Deregister, why: str) -> str:
    return f"deregister {a.lb_cluster}/{a.backend}/{a.server} ({why})"


_DESCRIBE: dict[type, Callable[[Any, str], str]] = {
    reconcile.Start: _describe_start,
    reconcile.Stop: _describe_stop,
    reconcile.Register: _describe_register,
    reconcile.Deregister: _describe_deregister,
}


def describe(action: reconcile.Action) -> str:
    """One line: what and why."""
    return _DESCRIBE[type(action)](action, "; ".join(action.reasons))
