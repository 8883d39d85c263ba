from __future__ import annotations

import pytest

from stratos.model import HealthCheck
from stratos.planning.health import HealthRecord, record, startup_timeout, verdict

CHECK = HealthCheck(http="/h", interval=2, timeout=2, retries=3, start_period=10)
STARTED = 1000.0


def run(probes: list[tuple[float, bool]]) -> HealthRecord | None:
    """Feed probes (seconds after start, ok) through ``record``."""
    rec = None
    for at, ok in probes:
        rec = record(rec, ok, STARTED + at, STARTED, CHECK)
    return rec


@pytest.mark.parametrize(
    ("probes", "now", "expected"),
    [
        ([], 1, "starting"),
        ([(1, False), (3, False), (5, False), (7, False)], 8, "starting"),  # failures in start_period
        ([(1, False), (3, True)], 4, "healthy"),
        ([(1, True), (3, False), (5, False)], 6, "healthy"),  # fewer failures than retries
        ([(1, True), (3, False), (5, False), (7, False)], 8, "unhealthy"),
        ([(11, False), (13, False), (15, False)], 16, "unhealthy"),  # counted after start_period
        ([(1, True), (3, False), (5, False), (7, True)], 8, "healthy"),  # recovered
        ([(1, False)], 30, "unhealthy"),  # never passed within start_period + retries * interval + timeout
    ],
    ids=[
        "no-probe-yet",
        "failing-during-start-period",
        "first-success",
        "two-failures-after-success",
        "three-failures-after-success",
        "three-failures-after-start-period",
        "recovered",
        "never-healthy-in-time",
    ],
)
def test_verdict(probes: list[tuple[float, bool]], now: float, expected: str) -> None:
    assert verdict(run(probes), CHECK, running=True, started_at=STARTED, now=STARTED + now) == expected


def test_a_stopped_container_is_dead_whatever_its_probes() -> None:
    assert verdict(run([(1, True)]), CHECK, running=False, started_at=STARTED, now=STARTED + 2) == "dead"


def test_without_health_check_running_is_healthy() -> None:
    assert verdict(None, None, running=True, started_at=STARTED, now=STARTED) == "healthy"


def test_startup_timeout() -> None:
    assert startup_timeout(CHECK) == 10 + 3 * 2 + 2
    assert startup_timeout(None) == 0
