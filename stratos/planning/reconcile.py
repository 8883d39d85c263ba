"""The reconcile planner (pure): definitions + what exists + ``now`` -> actions, each with its reasons.

Per application subscription, in startup order:

1. members no definition wants are drained and removed: those of a subscription the application's
   definition no longer has, and those of an application whose definition was removed explicitly
   (``removed``: the store's tombstones). Members of an application that is simply absent (no
   tombstone: a file lost by hand, a partial copy) are kept and noted, never removed;
2. dead or unhealthy members are taken out of the LB and removed (they are replaced by step 3);
3. while fewer members are alive (healthy or starting) than desired, new ones are started, placed
   by :func:`stratos.scaling.placement.place` (round-robin or one-after-another over the deployment
   policy's partitions, honouring each partition's ``max``); a subscription waits (starts nothing)
   until every subscription it links to or follows in ``startup_order`` is ready;
4. once no member is starting: healthy members beyond the desired count are drained and removed
   (members of an old revision or outside the policy first, then as
   :func:`stratos.scaling.placement.choose_removals` says); with none beyond it, one member of an old
   revision is replaced by starting its successor first (a rolling replacement, one at a time);
5. healthy members missing from their LB backends are registered; LB servers that belong to no
   member are removed.

A subscription whose members could not all be observed (``blind``: a Docker endpoint of its
deployment policy did not answer) gets no action at all this tick, and the LB servers of the
backends it is registered in are left alone: what cannot be seen is neither replaced nor removed.

A subscription is *ready* when at least ``min`` members are healthy and, if it is behind an LB
cluster, registered there. The desired count comes from a function (:data:`DesiredCount`), by
default ``min``, or the last count a scaling decision recorded (:func:`recorded_or_min`). A scaling
decision taken this tick may also say where its new members go and which members leave first
(:class:`ScalingHint`); the planner follows it where the deployment policy still allows.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

from stratos.lb.config import backend_name
from stratos.model import Application, DeploymentPolicy, Subscription
from stratos.planning.health import Health
from stratos.planning.revision import revision as member_revision
from stratos.scaling.observations import MemberObservation, Placement
from stratos.scaling.placement import choose_removals, place, slots
from stratos.validation import DefinitionSet, startup_order

DesiredCount = Callable[[Application, Subscription], int]


def minimum(app: Application, sub: Subscription) -> int:
    return sub.min


def recorded_or_min(records: Mapping[tuple[str, str], int]) -> DesiredCount:
    """The last count a scaling decision recorded for the subscription, else its ``min``."""

    def desired(app: Application, sub: Subscription) -> int:
        return records.get((app.name, sub.alias), sub.min)

    return desired


@dataclass(frozen=True)
class ScalingHint:
    """A scaling decision's choices for one subscription: placements of new members (in order),
    members to remove first, and the decision's reasons (carried by the actions)."""

    add: tuple[Placement, ...] = ()
    remove: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()


# --------------------------------------------------------------------------- what is observed


@dataclass(frozen=True)
class MemberState:
    """A member as observed, with the health verdict of :mod:`stratos.planning.health`."""

    member_id: str
    application: str
    subscription: str
    placement: Placement
    revision: str
    health: Health
    started_at: float
    address: str | None = None
    detail: str = ""


@dataclass(frozen=True)
class LbServer:
    name: str
    addr: str
    port: int
    up: bool = True
    draining: bool = False
    maintenance: bool = False

    @property
    def in_service(self) -> bool:
        """Registered and taking new requests (when its checks pass)."""
        return not self.draining and not self.maintenance


@dataclass(frozen=True)
class LbState:
    """One LB cluster's HAProxy as observed: backend -> server name -> server."""

    name: str
    available: bool
    backends: Mapping[str, Mapping[str, LbServer]] = field(default_factory=dict)


@dataclass(frozen=True)
class World:
    now: float
    members: tuple[MemberState, ...] = ()
    lbs: Mapping[str, LbState] = field(default_factory=dict)


# --------------------------------------------------------------------------- what to do


@dataclass(frozen=True)
class SubscriptionAction:
    """The fields every action on a subscription's members starts with (which subscription)."""

    application: str
    subscription: str


@dataclass(frozen=True)
class Start(SubscriptionAction):
    placement: Placement
    reasons: tuple[str, ...]
    kind: Literal["start"] = "start"


@dataclass(frozen=True)
class Register(SubscriptionAction):
    member_id: str
    lb_cluster: str
    backend: str
    address: str
    port: int
    reasons: tuple[str, ...]
    kind: Literal["register"] = "register"


@dataclass(frozen=True)
class Stop(SubscriptionAction):
    """Take a member out of its LB backends (draining first when ``drain``), then stop it."""

    member_id: str
    drain: bool
    reasons: tuple[str, ...]
    backends: tuple[tuple[str, str], ...] = ()
    kind: Literal["replace", "remove"] = "remove"


@dataclass(frozen=True)
class Deregister:
    lb_cluster: str
    backend: str
    server: str
    reasons: tuple[str, ...]
    kind: Literal["deregister"] = "deregister"


Action = Start | Register | Stop | Deregister


@dataclass(frozen=True)
class MemberView:
    member_id: str
    partition: str
    health: Health
    in_lb: bool | None
    address: str | None
    current_revision: bool
    detail: str = ""


@dataclass(frozen=True)
class SubscriptionView:
    application: str
    subscription: str
    min: int
    max: int
    desired: int
    healthy: int
    in_lb: int | None
    ready: bool
    waiting_for: tuple[str, ...]
    notes: tuple[str, ...]
    members: tuple[MemberView, ...]


@dataclass(frozen=True)
class Plan:
    now: float
    actions: tuple[Action, ...]
    subscriptions: tuple[SubscriptionView, ...]
    #: What the plan chose not to do and why (e.g. members of an application absent without a
    #: tombstone, kept).
    notes: tuple[str, ...] = ()

    def by_kind(self, kind: str) -> list[Action]:
        return [a for a in self.actions if a.kind == kind]


# --------------------------------------------------------------------------- planning


@dataclass(frozen=True)
class Target:
    """Where a subscription's members are registered: an LB backend and the member port."""

    lb_cluster: str
    network_partition: str
    backend: str
    port: int
    sticky: bool = False


def lb_targets(definitions: DefinitionSet, sub: Subscription) -> list[Target]:
    if sub.lb_cluster is None or sub.lb_cluster not in definitions.lb_clusters:
        return []
    lb = definitions.lb_clusters[sub.lb_cluster]
    cartridge = definitions.cartridges[sub.cartridge]
    listeners = {li.proxy_port: li for li in lb.listeners}
    targets = []
    for port in cartridge.ports:
        if port.proxy_port is not None and port.proxy_port in listeners:
            targets.append(
                Target(
                    lb.name,
                    lb.network_partition,
                    backend_name(port.proxy_port),
                    port.port,
                    lb.sticky.enabled,
                )
            )
    return targets


def dependencies(app: Application, alias: str) -> list[str]:
    """Subscriptions that must be ready before ``alias`` starts: its links and its startup_order."""
    sub = app.subscription(alias)
    deps = list(sub.links)
    for chain in app.dependencies.startup_order:
        if alias in chain:
            deps.extend(chain[: chain.index(alias)])
    return list(dict.fromkeys(d for d in deps if d != alias))


def plan(
    definitions: DefinitionSet,
    world: World,
    *,
    desired: DesiredCount = minimum,
    revisions: Mapping[tuple[str, str], str] | None = None,
    scaling: Mapping[tuple[str, str], ScalingHint] | None = None,
    removed: Collection[str] = frozenset(),
    blind: Mapping[tuple[str, str], str] | None = None,
) -> Plan:
    """Every action that brings the world closer to the definitions, and a view per subscription.

    ``removed``: applications whose definition was removed explicitly (tombstones); ``blind``:
    subscriptions not fully observed this tick, with the reason (no action for them).
    """
    blind = blind or {}
    notes: list[str] = []
    groups: dict[tuple[str, str], list[MemberState]] = defaultdict(list)
    for member in sorted(world.members, key=lambda m: (m.started_at, m.member_id)):
        groups[(member.application, member.subscription)].append(member)

    first: list[Action] = []  # replacements of dead/unhealthy members, orphan LB servers
    starts: list[Action] = []
    registers: list[Action] = []
    removals: list[Action] = []
    views: list[SubscriptionView] = []
    ready: dict[tuple[str, str], bool] = {}
    expected: dict[tuple[str, str], set[str]] = defaultdict(set)  # (lb, backend) -> member ids
    untouchable: set[tuple[str, str]] = set()  # (lb, backend) of blind subscriptions
    kept: set[str] = set()  # members of applications absent without a tombstone

    wanted = {(app.name, sub.alias) for app in definitions.applications.values() for sub in app.subscriptions}
    for key in sorted(set(groups) - wanted):
        app_name, alias = key
        if app_name not in definitions.applications and app_name not in removed:
            notes.append(
                f"{len(groups[key])} member(s) of {app_name}/{alias} kept: application '{app_name}' is "
                "not defined but was not removed explicitly (no tombstone)"
            )
            kept.update(m.member_id for m in groups[key])
            continue
        why = (
            f"application '{app_name}' was removed"
            if app_name not in definitions.applications
            else f"application '{app_name}' has no subscription '{alias}'"
        )
        for member in groups[key]:
            removals.append(
                Stop(
                    app_name,
                    alias,
                    member.member_id,
                    drain=member.health == "healthy",
                    reasons=(f"no definition wants it: {why}",),
                    backends=_backends_of(world, member.member_id),
                )
            )

    for app in sorted(definitions.applications.values(), key=lambda a: a.name):
        for alias in startup_order(app):
            sub = app.subscription(alias)
            key = (app.name, alias)
            current = (revisions or {}).get(key) or member_revision(definitions, app, sub)
            result = _plan_subscription(
                definitions,
                world,
                app,
                sub,
                groups.get(key, []),
                desired,
                current,
                ready,
                (scaling or {}).get(key),
            )
            if key in blind:
                # Not fully observed: no action (the unseen members would look missing).
                view = replace(result.view, notes=(*result.view.notes, f"degraded: {blind[key]}"))
                views.append(view)
                ready[key] = view.ready
                for target in lb_targets(definitions, sub):
                    untouchable.add((target.lb_cluster, target.backend))
                continue
            first.extend(result.replacements)
            starts.extend(result.starts)
            registers.extend(result.registers)
            removals.extend(result.removals)
            views.append(result.view)
            ready[key] = result.view.ready
            for target in lb_targets(definitions, sub):
                expected[(target.lb_cluster, target.backend)].update(
                    m.member_id for m in groups.get(key, []) if m.health in ("healthy", "starting")
                )

    stopped = {a.member_id for a in [*first, *removals] if isinstance(a, Stop)}
    for lb_name in sorted(world.lbs):
        lb = world.lbs[lb_name]
        if not lb.available:
            continue
        for backend in sorted(lb.backends):
            if (lb_name, backend) in untouchable:
                continue
            for server in sorted(lb.backends[backend]):
                if server in stopped or server in kept or server in expected.get((lb_name, backend), set()):
                    continue
                first.append(
                    Deregister(
                        lb_name, backend, server, (f"server '{server}' belongs to no member of this backend",)
                    )
                )

    return Plan(
        world.now, tuple(first + starts + registers + removals), tuple(views), tuple(dict.fromkeys(notes))
    )


@dataclass
class _SubscriptionPlan:
    replacements: list[Action]
    starts: list[Action]
    registers: list[Action]
    removals: list[Action]
    view: SubscriptionView


def _plan_subscription(
    definitions: DefinitionSet,
    world: World,
    app: Application,
    sub: Subscription,
    members: list[MemberState],
    desired: DesiredCount,
    current_revision: str,
    ready: Mapping[tuple[str, str], bool],
    hint: ScalingHint | None = None,
) -> _SubscriptionPlan:
    replacements: list[Action] = []
    starts: list[Action] = []
    registers: list[Action] = []
    removals: list[Action] = []
    notes: list[str] = []
    dp = definitions.deployment_policies[sub.deployment_policy]
    known = {placement for placement, _ in slots(dp)}
    targets = lb_targets(definitions, sub)
    want = max(sub.min, min(sub.max, desired(app, sub)))

    for member in members:
        if member.health in ("dead", "unhealthy"):
            what = "exited" if member.health == "dead" else "is unhealthy"
            replacements.append(
                Stop(
                    app.name,
                    sub.alias,
                    member.member_id,
                    drain=False,
                    reasons=(f"member {what}{': ' + member.detail if member.detail else ''}",),
                    backends=_backends_of(world, member.member_id),
                    kind="replace",
                )
            )
    live = [m for m in members if m.health in ("healthy", "starting")]
    healthy = [m for m in live if m.health == "healthy"]
    starting = [m for m in live if m.health == "starting"]
    stale = [m for m in healthy if m.revision != current_revision or m.placement not in known]
    waiting = tuple(d for d in dependencies(app, sub.alias) if not ready.get((app.name, d), False))
    leaving: set[str] = set()

    if len(live) < want:
        missing = want - len(live)
        if waiting:
            notes.append(f"waiting for {', '.join(waiting)} before starting {missing} member(s)")
        else:
            occupied = Counter(m.placement for m in live if m.placement in known)
            placements = _hinted_placements(hint, dp, occupied, missing)
            placements += place(missing - len(placements), dp, occupied + Counter(placements))
            for placement in placements:
                starts.append(
                    Start(
                        app.name,
                        sub.alias,
                        placement,
                        (
                            f"{len(live)} live member(s), {want} desired (min {sub.min}, max {sub.max})",
                            *(hint.reasons if hint else ()),
                        ),
                    )
                )
            if len(placements) < missing:
                notes.append(
                    f"deployment policy '{dp.name}' is full: {missing - len(placements)} member(s) not placed"
                )
    elif not starting:
        excess = len(healthy) - want
        if excess > 0:
            victims = [m.member_id for m in stale[:excess]]
            if hint is not None:
                chosen = [m for m in hint.remove if m in {h.member_id for h in healthy} and m not in victims]
                victims += chosen[: excess - len(victims)]
            if len(victims) < excess:
                rest = [_observation(m) for m in healthy if m.member_id not in victims]
                victims += choose_removals(excess - len(victims), dp, rest)
            for victim in victims:
                member = next(m for m in healthy if m.member_id == victim)
                reason = (
                    f"replaced by a member of revision {current_revision}"
                    if member in stale
                    else f"{len(healthy)} healthy member(s), {want} desired"
                )
                leaving.add(victim)
                removals.append(
                    Stop(
                        app.name,
                        sub.alias,
                        victim,
                        drain=True,
                        reasons=(reason, *(hint.reasons if hint and member not in stale else ())),
                        backends=_backends_of(world, victim),
                    )
                )
        elif stale and not waiting:
            old = stale[0]
            occupied = Counter(m.placement for m in live if m.placement in known)
            # Place the successor as if its predecessor had left (so the shape stays), unless
            # that overfills a partition while both run; then wherever there is room.
            without_old = occupied - Counter([old.placement])
            placements = place(1, dp, without_old)
            if placements and occupied[placements[0]] >= _max_of(dp, placements[0]):
                placements = place(1, dp, occupied)
            why = (
                f"revision {old.revision} is not {current_revision}"
                if old.revision != current_revision
                else f"partition {old.placement} is not in deployment policy '{dp.name}'"
            )
            if placements:
                starts.append(
                    Start(
                        app.name,
                        sub.alias,
                        placements[0],
                        (f"rolling replacement of {old.member_id}: {why}",),
                    )
                )
            else:
                leaving.add(old.member_id)
                removals.append(
                    Stop(
                        app.name,
                        sub.alias,
                        old.member_id,
                        drain=True,
                        reasons=(
                            f"rolling replacement of {old.member_id} ({why}); no free partition, removed first",
                        ),
                        backends=_backends_of(world, old.member_id),
                    )
                )

    registered: dict[str, bool] = {}
    for member in healthy:
        ok = True
        for target in targets:
            lb = world.lbs.get(target.lb_cluster)
            if lb is None or not lb.available:
                ok = False
                continue
            if member.placement.network_partition != target.network_partition or member.address is None:
                ok = False
                continue
            server = lb.backends.get(target.backend, {}).get(member.member_id)
            fine = (
                server is not None
                and server.in_service
                and server.addr == member.address
                and server.port == target.port
            )
            if not fine and member.member_id not in leaving:
                registers.append(
                    Register(
                        app.name,
                        sub.alias,
                        member.member_id,
                        target.lb_cluster,
                        target.backend,
                        member.address,
                        target.port,
                        (
                            "healthy and not in service in the LB"
                            if server is None or not server.in_service
                            else "registered with another address",
                        ),
                    )
                )
            elif not fine:
                ok = False
        registered[member.member_id] = ok
    for target in targets:
        lb = world.lbs.get(target.lb_cluster)
        if lb is None or not lb.available:
            notes.append(f"LB cluster '{target.lb_cluster}' is not reachable; members are not registered")

    staying = [m for m in healthy if m.member_id not in leaving]
    in_lb_now = {m.member_id: _in_lb(world, targets, m) for m in members} if targets else {}
    serving = sum(1 for m in staying if registered.get(m.member_id)) if targets else len(staying)
    view = SubscriptionView(
        application=app.name,
        subscription=sub.alias,
        min=sub.min,
        max=sub.max,
        desired=want,
        healthy=len(healthy),
        in_lb=sum(1 for m in members if in_lb_now.get(m.member_id)) if targets else None,
        ready=len(staying) >= sub.min and serving >= sub.min,
        waiting_for=waiting,
        notes=tuple(dict.fromkeys(notes)),
        members=tuple(
            MemberView(
                m.member_id,
                str(m.placement),
                m.health,
                in_lb_now.get(m.member_id) if targets else None,
                m.address,
                m.revision == current_revision,
                m.detail,
            )
            for m in members
        ),
    )
    return _SubscriptionPlan(replacements, starts, registers, removals, view)


def _in_lb(world: World, targets: Iterable[Target], member: MemberState) -> bool:
    for target in targets:
        lb = world.lbs.get(target.lb_cluster)
        server = lb.backends.get(target.backend, {}).get(member.member_id) if lb and lb.available else None
        if server is None or not server.in_service:
            return False
    return True


def _backends_of(world: World, member_id: str) -> tuple[tuple[str, str], ...]:
    found = []
    for lb_name in sorted(world.lbs):
        lb = world.lbs[lb_name]
        for backend in sorted(lb.backends):
            if member_id in lb.backends[backend]:
                found.append((lb_name, backend))
    return tuple(found)


def _observation(member: MemberState) -> MemberObservation:
    return MemberObservation(
        member_id=member.member_id,
        partition=member.placement,
        healthy=member.health == "healthy",
        started_at=member.started_at,
    )


def _max_of(dp: DeploymentPolicy, placement: Placement) -> int:
    return dict(slots(dp)).get(placement, 0)


def _hinted_placements(
    hint: ScalingHint | None, dp: DeploymentPolicy, occupied: Counter[Placement], count: int
) -> list[Placement]:
    """The hint's placements, in order, as far as each partition's ``max`` still allows."""
    chosen: list[Placement] = []
    used = Counter(occupied)
    for placement in hint.add if hint else ():
        if len(chosen) >= count:
            break
        if used[placement] < _max_of(dp, placement):
            used[placement] += 1
            chosen.append(placement)
    return chosen
