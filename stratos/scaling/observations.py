"""What the scaling core is told about a cluster at one instant. Plain frozen data, no behaviour.

The agent (or the simulator) fills these from Docker, HAProxy and the health checks; the pure
functions in :mod:`stratos.scaling.decide` read them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Placement:
    """Where a member runs: a partition of a network partition, as named in the deployment policy."""

    network_partition: str
    partition: str

    def __str__(self) -> str:
        return f"{self.network_partition}/{self.partition}"


@dataclass(frozen=True)
class MemberObservation:
    """One member as observed now.

    ``healthy`` is the health check's verdict. A member that is not healthy yet was started less than
    the start-up timeout ago is *starting* (counted, not measured); one older than that has *failed*
    and is replaced. Metrics are ``None`` when they could not be read.

    - ``cpu_percent``: load, 0-100 % of the member's CPU limit (the policy's ``load_average``).
    - ``memory_percent``: 0-100 % of the member's memory limit.
    - ``requests_in_flight``: requests the load balancer has sent to this member and not yet seen
      answered (HAProxy ``scur``).
    - ``queued``: requests the load balancer holds for this member (HAProxy ``qcur``).
    """

    member_id: str
    partition: Placement
    healthy: bool
    started_at: float
    cpu_percent: float | None = None
    memory_percent: float | None = None
    requests_in_flight: float | None = None
    queued: float | None = None


@dataclass(frozen=True)
class Observations:
    """A cluster at ``now``.

    - ``members``: every member that exists, healthy or not.
    - ``pending``: starts already asked for whose member does not exist yet (so that a slow start is
      not asked for twice).
    - ``lb_queued``: requests the load balancer holds in the backend queue for no member in
      particular (HAProxy backend ``qcur``); ``None`` when unknown.
    """

    now: float
    members: tuple[MemberObservation, ...] = ()
    pending: tuple[Placement, ...] = ()
    lb_queued: float | None = None
