"""What the agent measures per member: CPU and memory (Docker stats API), requests (HAProxy).

- **CPU** (the policy's ``load_average``): the share of the member's CPU limit it used between two
  samples, ``cpu delta / system delta × online cpus / (limit cpus or online cpus) × 100``, so 100 %
  is a member using all it may. A full stats read (``stream=False``) carries the previous sample
  (``precpu_stats``, about a second earlier); when it does not (a one-shot read, or an engine that
  leaves it empty), the previous read of the same container kept by :class:`StatsSampler` is used.
- **Memory** (``memory_consumption``): ``(usage - inactive file pages) / limit × 100``, the page
  cache the kernel reclaims at will left out, as ``docker stats`` does (cgroup v1
  ``total_inactive_file``, cgroup v2 ``inactive_file``, older engines ``cache``).
- **Requests in flight and queued** (``requests_in_flight``): HAProxy ``show stat`` ``scur`` and
  ``qcur`` of the member's server rows, summed over the backends it is registered in; the backend
  rows' ``qcur`` (requests waiting for any server) is the cluster's ``lb_queued``.

Values that cannot be read are ``None``, never 0: the decision treats missing data as such.

A stats read costs the engine about a second (it samples twice), so :class:`StatsSampler` reads in
a small thread pool, in the background of the loop: each tick asks for fresh reads of the members
not already being read and takes the newest result of each, if it is younger than ``max_age``. A
slow engine thus makes figures missing, never a tick slow.

The functions that turn raw figures into percentages and observations are pure.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from stratos.drivers.haproxy import StatRow
from stratos.scaling.observations import MemberObservation, Observations, Placement

log = logging.getLogger("stratos.agent.observe")

#: Memory statistics that hold reclaimable page cache, in order of preference.
_CACHE_KEYS = ("total_inactive_file", "inactive_file", "cache")


# --------------------------------------------------------------------------- the maths (pure)


def _number(data: Mapping[str, Any] | None, *path: str) -> float | None:
    value: Any = data
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def online_cpus(cpu_stats: Mapping[str, Any]) -> float | None:
    online = _number(cpu_stats, "online_cpus")
    if online:
        return online
    percpu = (cpu_stats.get("cpu_usage") or {}).get("percpu_usage")
    return float(len(percpu)) if percpu else None


def cpu_percent(
    stats: Mapping[str, Any],
    previous: Mapping[str, Any] | None = None,
    limit_cpus: float | None = None,
) -> float | None:
    """CPU used between two samples, in % of the member's CPU limit (of the host's CPUs if none).

    The earlier sample is ``stats['precpu_stats']`` when it has a system time, else
    ``previous['cpu_stats']`` (the caller's earlier read). ``None`` when neither gives a delta.
    """
    now = stats.get("cpu_stats") or {}
    before = stats.get("precpu_stats") or {}
    if _number(before, "system_cpu_usage") is None and previous is not None:
        before = previous.get("cpu_stats") or {}
    total, total_before = (
        _number(now, "cpu_usage", "total_usage"),
        _number(before, "cpu_usage", "total_usage"),
    )
    system, system_before = _number(now, "system_cpu_usage"), _number(before, "system_cpu_usage")
    cpus = online_cpus(now)
    if None in (total, total_before, system, system_before) or not cpus:
        return None
    assert total is not None and total_before is not None and system is not None and system_before is not None
    cpu_delta, system_delta = total - total_before, system - system_before
    if system_delta <= 0 or cpu_delta < 0:
        return None
    share = limit_cpus if limit_cpus and limit_cpus > 0 else cpus
    return cpu_delta / system_delta * cpus / share * 100.0


def memory_percent(stats: Mapping[str, Any]) -> float | None:
    """Memory in use without reclaimable page cache, in % of the member's limit."""
    memory = stats.get("memory_stats") or {}
    usage, limit = _number(memory, "usage"), _number(memory, "limit")
    if usage is None or not limit:
        return None
    details = memory.get("stats") or {}
    for key in _CACHE_KEYS:
        cache = _number(details, key)
        if cache is not None and cache <= usage:
            usage -= cache
            break
    return usage / limit * 100.0


@dataclass(frozen=True)
class LbLoad:
    """Requests per member and in the backend queues, from one or more ``show stat`` answers.

    ``servers``: member id -> (in flight, queued), summed over the backends it is in;
    ``backends``: (LB cluster, backend) -> requests queued for no server in particular.
    """

    servers: Mapping[str, tuple[int, int]]
    backends: Mapping[tuple[str, str], int]

    def of(self, member_id: str) -> tuple[int, int] | None:
        return self.servers.get(member_id)

    def queued(self, targets: Iterable[tuple[str, str]]) -> float | None:
        values = [self.backends[t] for t in targets if t in self.backends]
        return float(sum(values)) if values else None


def lb_load(stats: Mapping[str, Sequence[StatRow]]) -> LbLoad:
    """``stats``: LB cluster -> its ``show stat`` rows (clusters that did not answer left out)."""
    servers: dict[str, tuple[int, int]] = {}
    backends: dict[tuple[str, str], int] = {}
    for lb_name, rows in stats.items():
        for row in rows:
            if row.type == "server":
                scur, qcur = servers.get(row.name, (0, 0))
                servers[row.name] = (scur + row.current_sessions, qcur + row.queued)
            elif row.type == "backend":
                backends[(lb_name, row.proxy)] = row.queued
    return LbLoad(servers, backends)


@dataclass(frozen=True)
class MemberMetrics:
    """One member's figures; ``None`` where unknown."""

    cpu_percent: float | None = None
    memory_percent: float | None = None
    requests_in_flight: float | None = None
    queued: float | None = None


@dataclass(frozen=True)
class Member:
    """What :func:`observations` needs of a member (from the reconcile world)."""

    member_id: str
    placement: Placement
    healthy: bool
    started_at: float


def member_metrics(
    member_id: str,
    resources: Mapping[str, tuple[float | None, float | None]],
    load: LbLoad | None,
) -> MemberMetrics:
    """Combine a member's (cpu %, memory %) and its LB counters; no LB row means unknown."""
    cpu, memory = resources.get(member_id, (None, None))
    counters = load.of(member_id) if load is not None else None
    return MemberMetrics(
        cpu_percent=cpu,
        memory_percent=memory,
        requests_in_flight=None if counters is None else float(counters[0]),
        queued=None if counters is None else float(counters[1]),
    )


def observations(
    now: float,
    members: Iterable[Member],
    metrics: Mapping[str, MemberMetrics],
    *,
    lb_queued: float | None = None,
    pending: Sequence[Placement] = (),
) -> Observations:
    """The scaling core's view of one subscription."""
    observed = []
    for member in members:
        m = metrics.get(member.member_id, MemberMetrics())
        observed.append(
            MemberObservation(
                member_id=member.member_id,
                partition=member.placement,
                healthy=member.healthy,
                started_at=member.started_at,
                cpu_percent=m.cpu_percent,
                memory_percent=m.memory_percent,
                requests_in_flight=m.requests_in_flight,
                queued=m.queued,
            )
        )
    return Observations(now=now, members=tuple(observed), pending=tuple(pending), lb_queued=lb_queued)


# --------------------------------------------------------------------------- reading Docker (I/O)

StatsReader = Callable[[str, str], Mapping[str, Any]]
"""``(endpoint, container id) -> stats JSON`` (one read, ``stream=False``)."""


@dataclass(frozen=True)
class StatsJob:
    member_id: str
    endpoint: str
    container_id: str
    limit_cpus: float | None = None


@dataclass(frozen=True)
class _Result:
    at: float
    cpu_percent: float | None
    memory_percent: float | None


class StatsSampler:
    """Docker stats of many members, read concurrently in the background (see the module doc).

    ``read`` does one stats read; ``clock`` stamps results (monotonic seconds). Call :meth:`close`
    at the end (threads still reading are not waited for).
    """

    def __init__(
        self,
        read: StatsReader,
        clock: Callable[[], float],
        *,
        workers: int = 4,
        max_age: float = 10.0,
    ):
        self._read = read
        self._clock = clock
        self.max_age = max_age
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="stratos-stats")
        self._lock = threading.Lock()
        self._results: dict[str, _Result] = {}
        self._raw: dict[str, Mapping[str, Any]] = {}  # container id -> its last read
        self._running: dict[str, Future[None]] = {}
        self._closed = False

    def request(self, jobs: Iterable[StatsJob]) -> None:
        """Start a read of each member not already being read; forget members not asked for."""
        jobs = list(jobs)
        wanted = {job.member_id for job in jobs}
        with self._lock:
            if self._closed:
                return
            for gone in set(self._results) - wanted:
                del self._results[gone]
            live = {job.container_id for job in jobs}
            for gone in set(self._raw) - live:
                del self._raw[gone]
            for job in jobs:
                running = self._running.get(job.member_id)
                if running is not None and not running.done():
                    continue
                self._running[job.member_id] = self._pool.submit(self._one, job)

    def _one(self, job: StatsJob) -> None:
        try:
            stats = self._read(job.endpoint, job.container_id)
        except Exception as exc:  # noqa: BLE001 - a member without figures is reported as such
            log.debug("stats of %s: %s", job.member_id, exc)
            return
        with self._lock:
            previous = self._raw.get(job.container_id)
            self._raw[job.container_id] = stats
            self._results[job.member_id] = _Result(
                self._clock(), cpu_percent(stats, previous, job.limit_cpus), memory_percent(stats)
            )

    def latest(self) -> dict[str, tuple[float | None, float | None]]:
        """member id -> (cpu %, memory %) of its newest read younger than ``max_age``."""
        now = self._clock()
        with self._lock:
            return {
                member_id: (r.cpu_percent, r.memory_percent)
                for member_id, r in self._results.items()
                if now - r.at <= self.max_age
            }

    def wait(self, timeout: float) -> None:
        """Wait (bounded) for the reads under way: for tests and ``--once``."""
        with self._lock:
            running = list(self._running.values())
        from concurrent.futures import wait

        wait(running, timeout=timeout)

    def close(self) -> None:
        with self._lock:
            self._closed = True
        self._pool.shutdown(wait=False, cancel_futures=True)
