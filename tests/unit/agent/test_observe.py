"""What the agent measures: CPU and memory percentages from recorded Docker stats answers (Docker
Engine 20.10, cgroup v1: a busy loop under a 0.5 CPU limit, an idle PHP member; plus hand-written
cgroup v2 and stopped-container answers), HAProxy counters per member, and the background sampler."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from stratos.agent import observe
from stratos.drivers.haproxy import StatRow, parse_stat
from stratos.scaling.observations import Placement

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "docker-stats"


def recorded(name: str) -> dict[str, Any]:
    return dict(json.loads((FIXTURES / f"{name}.json").read_text()))


BUSY = recorded("busy-half-cpu-limit-cgroup-v1")
IDLE = recorded("idle-php-cgroup-v1")

CGROUP_V2 = {
    "cpu_stats": {
        "cpu_usage": {"total_usage": 3_000_000_000},
        "system_cpu_usage": 20_000_000_000,
        "online_cpus": 4,
    },
    "precpu_stats": {
        "cpu_usage": {"total_usage": 1_000_000_000},
        "system_cpu_usage": 12_000_000_000,
        "online_cpus": 4,
    },
    "memory_stats": {
        "usage": 300 << 20,
        "limit": 1 << 30,
        "stats": {"anon": 200 << 20, "file": 100 << 20, "inactive_file": 44 << 20, "active_file": 56 << 20},
    },
}

STOPPED = {
    "cpu_stats": {"cpu_usage": {"total_usage": 0}, "throttling_data": {}},
    "precpu_stats": {"cpu_usage": {"total_usage": 0}, "throttling_data": {}},
    "memory_stats": {},
}


@pytest.mark.parametrize(
    ("stats", "previous", "limit", "expected"),
    [
        (BUSY["full"], None, 0.5, 99.35),
        (BUSY["one_shot_2"], BUSY["one_shot_1"], 0.5, 101.43),
        (BUSY["full"], None, None, 24.84),  # no limit: the share of both host CPUs
        (IDLE["full"], None, 1.0, 0.005639),
        (CGROUP_V2, None, 2.0, 50.0),  # 2 s of CPU in 8 s of 4 CPUs' time: one CPU, half the limit
        (CGROUP_V2, None, None, 25.0),
        (IDLE["one_shot"], None, 1.0, None),  # one-shot read without an earlier one: no delta
        (STOPPED, None, 1.0, None),
        ({}, None, None, None),
    ],
    ids=[
        "busy-full-read",
        "busy-two-one-shot-reads",
        "busy-no-limit",
        "idle-php",
        "cgroup-v2",
        "cgroup-v2-no-limit",
        "one-shot-alone",
        "stopped",
        "empty",
    ],
)
def test_cpu_percent(
    stats: Mapping[str, Any], previous: Mapping[str, Any] | None, limit: float | None, expected: float | None
) -> None:
    value = observe.cpu_percent(stats, previous, limit)
    if expected is None:
        assert value is None
    else:
        assert value == pytest.approx(expected, rel=1e-3)


def test_cpu_percent_ignores_a_counter_that_went_back() -> None:
    restarted = {**CGROUP_V2, "precpu_stats": {"cpu_usage": {"total_usage": 9e9}, "system_cpu_usage": 1e10}}
    assert observe.cpu_percent(restarted) is None


@pytest.mark.parametrize(
    ("stats", "expected"),
    [
        # 52 MB used, of which 52 MB a file the loop wrote (page cache): 0.58 % of 128 MiB.
        (BUSY["full"], 0.5798),
        (IDLE["full"], (36139008 - 20668416) / 268435456 * 100),
        (CGROUP_V2, (300 - 44) / 1024 * 100),
        ({"memory_stats": {"usage": 100, "limit": 400, "stats": {"cache": 20}}}, 20.0),
        ({"memory_stats": {"usage": 100, "limit": 400}}, 25.0),
        ({"memory_stats": {"usage": 100, "limit": 400, "stats": {"total_inactive_file": 500}}}, 25.0),
        (STOPPED, None),
        ({"memory_stats": {"usage": 100, "limit": 0}}, None),
    ],
    ids=[
        "busy-page-cache-left-out",
        "idle-php",
        "cgroup-v2",
        "old-engine-cache",
        "no-details",
        "cache-larger-than-usage",
        "stopped",
        "no-limit",
    ],
)
def test_memory_percent(stats: Mapping[str, Any], expected: float | None) -> None:
    value = observe.memory_percent(stats)
    if expected is None:
        assert value is None
    else:
        assert value == pytest.approx(expected, rel=1e-3)


SHOW_STAT = """\
# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate
fe_8080,FRONTEND,,,12,20,4096,300,0,0,0,0,0,,,,,OPEN,,,,,,,,,1,2,0,,,,0,10
be_8080,shop-web-aaaaaa,1,2,5,8,,100,0,0,,0,,0,0,0,0,UP,1,1,0,0,0,10,0,,1,3,1,,100,,2,5
be_8080,shop-web-bbbbbb,0,0,6,8,,100,0,0,,0,,0,0,0,0,UP,1,1,0,0,0,10,0,,1,3,2,,100,,2,5
be_8080,BACKEND,3,4,11,16,410,200,0,0,0,0,,0,0,0,0,UP,2,2,0,,0,10,0,,1,3,0,,200,,1,10
be_3307,shop-web-aaaaaa,0,0,2,2,,10,0,0,,0,,0,0,0,0,UP,1,1,0,0,0,10,0,,1,4,1,,10,,2,1
be_3307,BACKEND,0,0,2,2,410,10,0,0,0,0,,0,0,0,0,UP,1,1,0,,0,10,0,,1,4,0,,10,,1,1
"""


def test_lb_load_sums_a_member_over_its_backends() -> None:
    load = observe.lb_load({"web": parse_stat(SHOW_STAT)})
    assert load.of("shop-web-aaaaaa") == (7, 1)
    assert load.of("shop-web-bbbbbb") == (6, 0)
    assert load.of("shop-web-cccccc") is None
    assert load.queued([("web", "be_8080")]) == 3.0
    assert load.queued([("web", "be_8080"), ("web", "be_3307")]) == 3.0
    assert load.queued([("other", "be_8080")]) is None


def test_member_metrics_and_observations() -> None:
    load = observe.lb_load({"web": parse_stat(SHOW_STAT)})
    resources = {"shop-web-aaaaaa": (40.0, 20.0)}
    metrics = {
        m: observe.member_metrics(m, resources, load)
        for m in ("shop-web-aaaaaa", "shop-web-bbbbbb", "shop-web-new")
    }
    assert metrics["shop-web-aaaaaa"] == observe.MemberMetrics(40.0, 20.0, 7.0, 1.0)
    assert metrics["shop-web-bbbbbb"] == observe.MemberMetrics(None, None, 6.0, 0.0)
    assert metrics["shop-web-new"] == observe.MemberMetrics()
    members = [
        observe.Member("shop-web-aaaaaa", Placement("local", "p1"), True, 10.0),
        observe.Member("shop-web-new", Placement("local", "p2"), False, 90.0),
    ]
    obs = observe.observations(100.0, members, metrics, lb_queued=3.0)
    assert obs.now == 100.0 and obs.lb_queued == 3.0 and obs.pending == ()
    first, new = obs.members
    assert (first.cpu_percent, first.memory_percent, first.requests_in_flight, first.queued) == (
        40.0,
        20.0,
        7.0,
        1.0,
    )
    assert (new.healthy, new.partition, new.requests_in_flight) == (False, Placement("local", "p2"), None)


def test_lb_load_without_answers() -> None:
    load = observe.lb_load({"web": [StatRow("fe", "FRONTEND", "frontend", "OPEN", 1, 0, 0, 0, 0, "", "")]})
    assert load.servers == {} and load.backends == {}


# --------------------------------------------------------------------------- the sampler


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_sampler_reads_in_the_background_and_forgets_old_reads() -> None:
    clock = FakeClock()
    calls: list[str] = []

    def read(endpoint: str, container_id: str) -> Mapping[str, Any]:
        calls.append(container_id)
        if container_id == "broken":
            raise OSError("engine said no")
        return BUSY["full"]

    sampler = observe.StatsSampler(read, clock, workers=2, max_age=5.0)
    try:
        jobs = [observe.StatsJob("m1", "unix://x", "c1", 0.5), observe.StatsJob("m2", "unix://x", "broken")]
        sampler.request(jobs)
        sampler.wait(5)
        latest = sampler.latest()
        assert set(latest) == {"m1"}
        assert latest["m1"][0] == pytest.approx(99.35, rel=1e-3)
        clock.now = 6.0
        assert sampler.latest() == {}
        sampler.request(jobs[:1])
        sampler.wait(5)
        assert set(sampler.latest()) == {"m1"}
        sampler.request([])  # members gone: forgotten
        assert sampler.latest() == {}
    finally:
        sampler.close()
    assert sorted(calls) == ["broken", "c1", "c1"]


def test_sampler_does_not_pile_up_reads_of_a_slow_member() -> None:
    release = threading.Event()
    started: list[str] = []

    def read(endpoint: str, container_id: str) -> Mapping[str, Any]:
        started.append(container_id)
        release.wait(5)
        return IDLE["full"]

    sampler = observe.StatsSampler(read, FakeClock(), workers=2)
    try:
        job = observe.StatsJob("m1", "unix://x", "c1", 1.0)
        for _ in range(5):
            sampler.request([job])
        assert sampler.latest() == {}
        release.set()
        sampler.wait(5)
        assert started == ["c1"]
        assert set(sampler.latest()) == {"m1"}
    finally:
        sampler.close()


def test_sampler_computes_cpu_from_its_previous_read_when_the_engine_gives_none() -> None:
    reads = iter([BUSY["one_shot_1"], BUSY["one_shot_2"]])
    sampler = observe.StatsSampler(lambda e, c: next(reads), FakeClock())
    try:
        job = observe.StatsJob("m1", "unix://x", "c1", 0.5)
        sampler.request([job])
        sampler.wait(5)
        assert sampler.latest()["m1"][0] is None
        sampler.request([job])
        sampler.wait(5)
        assert sampler.latest()["m1"][0] == pytest.approx(101.43, rel=1e-3)
    finally:
        sampler.close()
