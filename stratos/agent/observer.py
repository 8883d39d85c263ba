"""The agent's eyes: members through the runtime, their health, the LB clusters' servers, the figures.

One :class:`Observer` per agent keeps what outlives a tick: each member's health record, its start
on the monotonic clock (placed once, when first seen: grace periods and start-up timeouts are
measured on it, so a step of the wall clock neither extends nor ends them), what the engine
reported between ticks (kill, die, oom, unhealthy) and the endpoints that did not answer.
:meth:`Observer.world` turns one look into the planner's :class:`~stratos.planning.reconcile.World`.
Nothing here acts on a member or an LB.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor

from stratos.agent import observe
from stratos.agent.rollout import Rollouts
from stratos.drivers import haproxy
from stratos.drivers.members import ObservedMember, ProbeResult
from stratos.drivers.runtime import MemberRuntime
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

Prober = Callable[[str | None, HealthCheck | None, Iterable[int]], ProbeResult]
RuntimeFactory = Callable[[str], haproxy.Runtime]


def load_definitions(store: StateStore) -> DefinitionSet:
    """The definitions; a directory that is missing or holds none is an error (nothing changes).

    An unmounted volume or a wrong ``--state-dir`` must not read as "remove every member".
    """
    directory = store.definitions_dir
    if not directory.is_dir() or next(store.iter_files(), None) is None:
        what = "does not exist" if not directory.is_dir() else "holds no definition"
        raise StratosError(
            f"the definitions directory {directory} {what} (an unmounted volume or a wrong "
            "--state-dir?); nothing is changed"
        )
    return store.load()


class Observer:
    """Members, health, LB servers and figures, looked at once per tick (see the module doc)."""

    def __init__(
        self,
        runtime: MemberRuntime,
        runtime_for: RuntimeFactory,
        rollouts: Rollouts,
        *,
        prober: Prober,
        clock: Callable[[], float],
        monotonic: Callable[[], float],
        sampler: observe.StatsSampler,
        probe_workers: int = 8,
    ):
        self.runtime = runtime
        self.runtime_for = runtime_for
        self.rollouts = rollouts
        self.prober = prober
        self.clock = clock
        self.monotonic = monotonic
        self.sampler = sampler
        self.probe_workers = probe_workers
        self.health: dict[str, healthlib.HealthRecord] = {}
        #: Docker endpoints that did not answer this tick: endpoint -> why.
        self.endpoint_errors: dict[str, str] = {}
        self.member_metrics: dict[str, observe.MemberMetrics] = {}
        self.lb_load: observe.LbLoad | None = None
        self._born: dict[str, float] = {}
        #: Members the engine reported (kill, die, oom, unhealthy): member id -> (what, monotonic).
        self._reported: dict[str, tuple[str, float]] = {}

    # ------------------------------------------------------------------ members
    def members(self, definitions: DefinitionSet) -> dict[str, ObservedMember]:
        """Every member on every endpoint that answers; an endpoint that does not is remembered
        (:attr:`endpoint_errors`) and its members are unseen, not gone."""
        observed: dict[str, ObservedMember] = {}
        errors: dict[str, str] = {}
        for endpoint in self.runtime.endpoints(definitions):
            try:
                found = self.runtime.list_members(endpoint)
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
        if not errors:
            for table in (self.health, self._born, self._reported):
                for gone in set(table) - set(observed):
                    table.pop(gone, None)
        return observed

    def complete(self) -> bool:
        """Whether the last look saw every endpoint."""
        return not self.endpoint_errors

    def blind(self, definitions: DefinitionSet) -> dict[tuple[str, str], str]:
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

    def still_running(self, member: ObservedMember) -> bool:
        try:
            now = self.runtime.inspect_member(member.endpoint, member.container_id)
        except Exception:  # noqa: BLE001 - unreachable: not running as far as the wait goes
            return False
        return now is not None and now.status in ("running", "restarting")

    def report(self, member_id: str, action: str) -> None:
        """The engine reported ``action`` for a member (between ticks)."""
        self._reported[member_id] = (action, self.monotonic())

    # ------------------------------------------------------------------ health
    def ages(self, member: ObservedMember) -> tuple[float, float]:
        """(now, started) of a member on the monotonic clock (see the module doc)."""
        now = self.monotonic()
        born = self._born.get(member.member_id)
        if born is None:
            born = now - max(0.0, self.clock() - member.started_at)
            self._born[member.member_id] = born
        return now, born

    def check_of(
        self, definitions: DefinitionSet, member: ObservedMember
    ) -> tuple[HealthCheck | None, list[int]]:
        cartridge = definitions.cartridges.get(member.cartridge)
        if cartridge is None:
            return None, []
        return cartridge.health_check, [p.port for p in cartridge.ports]

    def probe(self, definitions: DefinitionSet, observed: Iterable[ObservedMember]) -> None:
        """Probe every running member in parallel and keep the results."""
        # A member the engine reported (killed, dead, unhealthy) is not probed: its verdict is known,
        # and a probe of an address that went away would hold the tick for the probe's timeout.
        running = [m for m in observed if m.running and m.member_id not in self._reported]
        if not running:
            return

        def one(member: ObservedMember) -> tuple[ObservedMember, ProbeResult]:
            return member, self.probe_one(definitions, member)

        with ThreadPoolExecutor(max_workers=min(self.probe_workers, len(running))) as pool:
            for member, result in pool.map(one, running):
                self.keep(definitions, member, result)

    def probe_one(self, definitions: DefinitionSet, member: ObservedMember) -> ProbeResult:
        """One member's probe; whatever goes wrong in it is that member's failed probe, never the tick's."""
        try:
            check, ports = self.check_of(definitions, member)
            return self.prober(member.address, check, ports)
        except Exception as exc:  # noqa: BLE001 - a broken probe fails that member only
            log.debug("probing %s failed", member.member_id, exc_info=True)
            return ProbeResult(False, f"the probe failed: {type(exc).__name__}: {exc}")

    def keep(self, definitions: DefinitionSet, member: ObservedMember, result: ProbeResult) -> None:
        """Add a probe's result to the member's health record."""
        check, _ = self.check_of(definitions, member)
        at, born = self.ages(member)
        self.health[member.member_id] = healthlib.record(
            self.health.get(member.member_id), result.ok, at, born, check, result.detail
        )

    def verdict(self, definitions: DefinitionSet, member: ObservedMember) -> healthlib.Health:
        check, _ = self.check_of(definitions, member)
        at, born = self.ages(member)
        return healthlib.verdict(
            self.health.get(member.member_id), check, running=member.running, started_at=born, now=at
        )

    def _reported_health(self, member: ObservedMember, health: healthlib.Health) -> healthlib.Health:
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

    def _detail(self, member: ObservedMember) -> str:
        reported = self._reported.get(member.member_id)
        if reported is not None and member.running:
            return f"the engine reported '{reported[0]}'"
        if not member.running:
            extra = ", out of memory" if member.oom_killed else ""
            return f"container {member.status} (exit code {member.exit_code}{extra})"
        rec = self.health.get(member.member_id)
        return rec.detail if rec else ""

    # ------------------------------------------------------------------ the world
    def lb_states(self, definitions: DefinitionSet) -> dict[str, reconcile.LbState]:
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

    def world(
        self, definitions: DefinitionSet, observed: Mapping[str, ObservedMember], now: float
    ) -> reconcile.World:
        states = tuple(
            reconcile.MemberState(
                member_id=m.member_id,
                application=m.application,
                subscription=m.subscription,
                placement=Placement(m.network_partition, m.partition),
                revision=m.revision,
                health=self._reported_health(m, self.rollouts.gate(m, self.verdict(definitions, m))),
                started_at=m.started_at,
                address=m.address,
                detail=self._detail(m),
            )
            for m in observed.values()
        )
        return reconcile.World(now, states, self.lb_states(definitions))

    # ------------------------------------------------------------------ figures
    def measure(self, definitions: DefinitionSet, observed: Mapping[str, ObservedMember]) -> None:
        """Each running member's figures: its latest resource read, its requests in HAProxy now."""
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
        self.lb_load = observe.lb_load(stats) if stats else None
        resources = self.sampler.latest()
        self.member_metrics = {
            m.member_id: observe.member_metrics(m.member_id, resources, self.lb_load) for m in running
        }
