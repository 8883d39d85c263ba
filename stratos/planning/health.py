"""Member health from successive probes (pure): healthy, starting, unhealthy or dead.

Semantics follow Docker's HEALTHCHECK: failures during ``start_period`` do not count unless the
member already passed once; ``retries`` consecutive counted failures make it unhealthy; one success
makes it healthy. A member that never passes within ``start_period + retries * interval`` is
unhealthy too. A container that is not running is dead; without a health check, running is healthy.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from stratos.model import HealthCheck

Health = Literal["healthy", "starting", "unhealthy", "dead"]


@dataclass(frozen=True)
class HealthRecord:
    """What the probes said so far about one member."""

    successes: int = 0
    failures: int = 0
    passed_once: bool = False
    last_probe: float | None = None
    detail: str = ""


def record(
    previous: HealthRecord | None,
    ok: bool,
    now: float,
    started_at: float,
    check: HealthCheck | None,
    detail: str = "",
) -> HealthRecord:
    """The record after one more probe."""
    prev = previous or HealthRecord()
    if ok:
        return HealthRecord(prev.successes + 1, 0, True, now, detail)
    in_grace = check is not None and not prev.passed_once and now - started_at < check.start_period
    failures = prev.failures if in_grace else prev.failures + 1
    return replace(prev, successes=0, failures=failures, last_probe=now, detail=detail)


def verdict(
    rec: HealthRecord | None, check: HealthCheck | None, *, running: bool, started_at: float, now: float
) -> Health:
    if not running:
        return "dead"
    if check is None:
        return "healthy"
    rec = rec or HealthRecord()
    if rec.failures >= check.retries:
        return "unhealthy"
    if rec.passed_once:
        return "healthy"
    if now - started_at > startup_timeout(check):
        return "unhealthy"
    return "starting"


def startup_timeout(check: HealthCheck | None) -> float:
    """Seconds a new member may take to pass its first check."""
    if check is None:
        return 0.0
    return check.start_period + check.retries * check.interval + check.timeout
