"""Where new members go and which members leave. Pure functions over a deployment policy.

Network partitions are used in the order the deployment policy lists them: the next one is used only
when every partition of the previous one is at its ``max`` (bursting). Within a network partition:

- ``round-robin``: the partition with the fewest members (the first listed on a tie);
- ``one-after-another``: the first listed partition that is below its ``max``.

Removal runs the other way: members outside the policy first, then the last network partition that
has members; within it, ``one-after-another`` empties the last used partition first and
``round-robin`` takes from the fullest partition (the last listed on a tie), so that both keep the
shape the placement gave them. Within a partition the least-loaded member leaves first (a starting
member serves nothing and so goes before any healthy one); ties go to the newest member.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

from stratos.model import DeploymentPolicy
from stratos.scaling.observations import MemberObservation, Placement


def slots(deployment: DeploymentPolicy) -> list[tuple[Placement, int]]:
    """Every partition of the policy with its ``max``, in policy order."""
    return [
        (Placement(np.name, p.name), p.max) for np in deployment.network_partitions for p in np.partitions
    ]


def occupancy(placements: Iterable[Placement]) -> Counter[Placement]:
    return Counter(placements)


def place(count: int, deployment: DeploymentPolicy, occupied: Mapping[Placement, int]) -> list[Placement]:
    """Placements for up to ``count`` new members; fewer when the policy's partitions are full."""
    used = Counter(occupied)
    chosen: list[Placement] = []
    for _ in range(max(0, count)):
        target = _next_slot(deployment, used)
        if target is None:
            break
        used[target] += 1
        chosen.append(target)
    return chosen


def _next_slot(deployment: DeploymentPolicy, used: Mapping[Placement, int]) -> Placement | None:
    for np in deployment.network_partitions:
        open_slots = [
            (index, Placement(np.name, p.name))
            for index, p in enumerate(np.partitions)
            if used.get(Placement(np.name, p.name), 0) < p.max
        ]
        if not open_slots:
            continue
        if np.algorithm == "round-robin":
            return min(open_slots, key=lambda item: (used.get(item[1], 0), item[0]))[1]
        return open_slots[0][1]
    return None


def member_load(member: MemberObservation) -> float:
    """How busy a member is, for choosing whom to remove: requests it holds, else its CPU."""
    if member.requests_in_flight is not None:
        return member.requests_in_flight + (member.queued or 0.0)
    if member.cpu_percent is not None:
        return member.cpu_percent
    return 0.0


def choose_removals(
    count: int, deployment: DeploymentPolicy, members: Sequence[MemberObservation]
) -> list[str]:
    """The ids of up to ``count`` members to remove, in the order they should go."""
    known = {placement for placement, _ in slots(deployment)}
    remaining = list(members)
    chosen: list[str] = []
    for _ in range(max(0, count)):
        if not remaining:
            break
        victim = _next_victim(deployment, known, remaining)
        remaining.remove(victim)
        chosen.append(victim.member_id)
    return chosen


def _removal_order(member: MemberObservation) -> tuple[int, float, float]:
    serving = 1 if member.healthy else 0
    return (serving, member_load(member), -member.started_at)


def _first_to_leave(members: Sequence[MemberObservation]) -> MemberObservation:
    """Starting before serving, least loaded, newest; on a full tie the highest id."""
    best = min(_removal_order(m) for m in members)
    return max((m for m in members if _removal_order(m) == best), key=lambda m: m.member_id)


def _next_victim(
    deployment: DeploymentPolicy, known: set[Placement], members: Sequence[MemberObservation]
) -> MemberObservation:
    orphans = [m for m in members if m.partition not in known]
    if orphans:
        return _first_to_leave(orphans)
    by_slot: dict[Placement, list[MemberObservation]] = {}
    for member in members:
        by_slot.setdefault(member.partition, []).append(member)
    for np in reversed(deployment.network_partitions):
        filled = [
            (index, Placement(np.name, p.name))
            for index, p in enumerate(np.partitions)
            if by_slot.get(Placement(np.name, p.name))
        ]
        if not filled:
            continue
        if np.algorithm == "round-robin":
            slot = max(filled, key=lambda item: (len(by_slot[item[1]]), item[0]))[1]
        else:
            slot = filled[-1][1]
        return _first_to_leave(by_slot[slot])
    raise AssertionError("members without a slot are orphans and handled above")
