"""Autoscaling on the real Docker Engine: load makes the PHP subscription grow and shrink.

One platform for the module (:mod:`autoscale_platform`): a PHP application whose page takes 200 ms,
min 1 / max 6, deployment policy ``spread`` over two partitions of the local engine (``p1`` and
``p2``, max 2 each, so the policy's capacity of 4 binds before the subscription's max), autoscaling
on requests in flight (4 per member) and CPU (90 %), decisions every second, a 15 s scale-down
stabilisation, at most 2 members added at once. The agent runs as ``python -m stratos agent``.

The tests run in order: growth under ``wrk`` (20 connections: 20 requests in flight, 5 members
needed, 4 allowed); partition placement; shrink back to min under a fixed-rate load (10 req/s,
about 2 in flight) without one failed request; metrics, status and events; the agent killed in the
middle of a scale-out and restarted. Figures are printed, never asserted.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from autoscale_platform import FixedRate, Platform, Wrk  # noqa: E402
from support import wait_for  # noqa: E402

from stratos.agent.events import EventStore  # noqa: E402
from stratos.drivers import docker as dockerlib  # noqa: E402

if TYPE_CHECKING:
    import docker

    from stratos.images import ImageResult

pytestmark = [pytest.mark.docker, pytest.mark.scenario, pytest.mark.timeout(600)]

MIN, CAPACITY = 1, 4
PARTITION_MAX = {"p1": 2, "p2": 2}


@pytest.fixture(scope="module")
def platform(
    docker_client: docker.DockerClient,
    php_image: ImageResult,
    haproxy_image: ImageResult,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Platform]:
    if shutil.which("wrk") is None:
        pytest.fail("wrk is required (apt-get install wrk)", pytrace=False)
    p = Platform.create(docker_client, tmp_path_factory.mktemp("autoscale"), partitions=PARTITION_MAX)
    try:
        p.start_agent(interval=1.0)
        wait_for("the first member serving", lambda: len(p.serving()) == MIN, timeout=90)
        wait_for("the page through the LB", lambda: p.get()[0] == 200, timeout=30)
        yield p
    finally:
        if p.agent is not None and p.agent.poll() is None:
            p.stop_agent()
        print(f"\nagent log tail:\n{p.log()[-3000:]}")
        p.destroy()
        if p.figures:
            print("autoscale figures: " + json.dumps(p.figures, indent=1))


@pytest.fixture(scope="module")
def history() -> dict[str, list[Counter[str]]]:
    """Partition counts seen while the platform grew (filled by the growth test)."""
    return {"samples": []}


def test_load_grows_the_subscription_from_min_to_capacity(
    platform: Platform, history: dict[str, list[Counter[str]]]
) -> None:
    load = Wrk(platform.port, connections=20)
    began = time.monotonic()
    try:

        def at_least(n: int) -> bool:
            history["samples"].append(platform.partition_counts())
            return len(platform.serving()) >= n

        wait_for(f"{MIN + 2} members serving", lambda: at_least(MIN + 2), timeout=60, every=0.1)
        platform.figures["load step -> min+2 members serving in the LB, s"] = (
            f"{time.monotonic() - began:.1f}"
        )
        wait_for(f"{CAPACITY} members serving", lambda: at_least(CAPACITY), timeout=60, every=0.1)
        platform.figures["load step -> 4 members (capacity) serving, s"] = f"{time.monotonic() - began:.1f}"
        # Held at capacity while the load lasts: 5 members are wanted, the policy allows 4.
        rules = set()
        end = time.monotonic() + 5
        while time.monotonic() < end:
            history["samples"].append(platform.partition_counts())
            assert len(platform.members()) <= CAPACITY
            rules.add((platform.sub().get("autoscaling") or {}).get("rule"))
            time.sleep(0.2)
    finally:
        out = load.stop()
    rps = next((line.split()[1] for line in out.splitlines() if line.startswith("Requests/sec")), "?")
    platform.figures["wrk 20 connections, requests/s during growth"] = rps
    assert "capacity" in rules, rules
    events = EventStore(platform.store.database).events(platform.app, "web", limit=200)
    scale = [e for e in events if e.kind == "scale" and e.from_count]  # the first (0 -> min) left out
    steps = [(e.from_count, e.to_count) for e in scale]
    assert steps[-1][1] == CAPACITY, steps
    assert all(0 < b - a <= 2 for a, b in steps), steps  # up only, max_step 2
    assert scale[-1].details["factors"]["requests_in_flight"]["measured"] > 4 * steps[-1][0]
    assert any(r.startswith("requests_in_flight: measured") for r in scale[-1].reasons)


def test_partition_placement_and_per_partition_max(
    platform: Platform, history: dict[str, list[Counter[str]]]
) -> None:
    samples = history["samples"]
    assert samples, "the growth test must run first"
    for counts in samples:
        assert all(counts[p] <= n for p, n in PARTITION_MAX.items()), counts
        assert set(counts) <= set(PARTITION_MAX), counts
    assert samples[-1] == Counter(PARTITION_MAX)  # round-robin filled both
    for seen in platform.containers(running_only=True):
        container = platform.client.containers.get(seen.id)
        env = dict(item.split("=", 1) for item in container.attrs["Config"]["Env"])
        assert env["STRATOS_PARTITION"] == f"local/{container.labels[dockerlib.PARTITION]}"
    listed = {m["id"]: m["partition"] for m in platform.sub()["members"]}
    assert listed == {k: f"local/{v}" for k, v in platform.members().items()}


def test_shrink_back_to_min_under_fixed_rate_load_loses_no_request(platform: Platform) -> None:
    load = FixedRate(platform.port, rate=10).start()
    began = time.monotonic()
    try:
        wait_for(
            "back to min",
            lambda: len(platform.containers()) == MIN and len(platform.serving()) == MIN,
            timeout=120,
            every=0.2,
        )
        platform.figures["load drop -> back to min (stabilisation 15 s), s"] = (
            f"{time.monotonic() - began:.1f}"
        )
        time.sleep(2)
    finally:
        load.stop()
    platform.figures["fixed-rate 10 req/s during scale-in: ok / failed"] = f"{load.ok} / {len(load.failed)}"
    assert load.failed == []
    assert len(load.served_by) >= 2, "the load must have met more than the last member"
    events = EventStore(platform.store.database).events(platform.app, "web", limit=300)
    stops = [e for e in events if e.kind == "stop"]
    assert len(stops) >= CAPACITY - MIN
    assert all(e.details["drained"] is True for e in stops[-(CAPACITY - MIN) :])
    down = [e for e in events if e.kind == "scale" and e.to_count is not None and e.from_count is not None]
    assert down[-1].to_count == MIN and down[-1].from_count > MIN


def test_metrics_status_and_events(platform: Platform) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(platform.metrics())
        for s in family.samples
    }

    def sample(name: str, **extra: str) -> float | None:
        labels = {"application": platform.app, "subscription": "web", **extra}
        return samples.get((name, tuple(sorted(labels.items()))))

    assert sample("stratos_members") == MIN
    assert sample("stratos_desired_members") == MIN
    assert sample("stratos_factor_value", factor="requests_in_flight") is not None
    assert sample("stratos_factor_prediction", factor="requests_in_flight") is not None
    assert sample("stratos_scaling_actions_total", direction="up") is not None
    assert sample("stratos_scaling_actions_total", direction="down") is not None
    assert samples.get(("stratos_member_seconds_total", (("application", platform.app),))) is not None
    assert ("stratos_tick_seconds", ()) in samples

    table = platform.stratos("status")
    assert table.returncode == 0, table.stderr
    header, *rows = table.stdout.splitlines()
    assert (
        header.split()[:12] == "APPLICATION SUBSCRIPTION MEMBERS HEALTHY IN LB CPU % MEM % IN FLIGHT".split()
    )
    row = next(r.split() for r in rows if r.startswith(platform.app))
    assert row[:4] == [platform.app, "web", str(MIN), str(MIN)]
    assert row[5] != "-" and row[6] != "-"  # CPU and memory were measured
    sub = platform.sub()
    assert sub["cpu_percent"] is not None and sub["memory_percent"] is not None

    events = platform.stratos("events", platform.app, "--limit", "200")
    assert events.returncode == 0, events.stderr
    assert "scale " in events.stdout and "requests_in_flight: measured" in events.stdout
    assert "metering:" in events.stdout
    metering = platform.stratos("metering", platform.app)
    assert metering.returncode == 0 and platform.app in metering.stdout
    seconds = EventStore(platform.store.database).member_seconds(time.time(), platform.app)[platform.app]
    platform.figures["metering so far, member-seconds"] = f"{seconds:.0f}"


def test_an_agent_killed_mid_scale_out_leaves_exactly_the_desired_members(platform: Platform) -> None:
    load = Wrk(platform.port, connections=20)
    try:

        def mid_scale_out() -> bool:
            # A member container exists that the LB does not serve yet: the agent is waiting for it.
            started = {c.member_id for c in platform.containers()}
            return len(started) > MIN and not started <= platform.serving()

        wait_for("a scale-out under way", mid_scale_out, timeout=60, every=0.02)
        platform.kill_agent()
        at_kill = (len(platform.containers()), len(platform.serving()))
        platform.figures["at SIGKILL: member containers / serving in the LB"] = f"{at_kill[0]} / {at_kill[1]}"
        restarted = time.time()
        platform.start_agent(interval=1.0)

        def settled() -> bool:
            status = platform.status()
            if float(status.get("time", 0)) <= restarted:
                return False
            desired = platform.sub().get("desired")
            containers = {c.member_id: c.state for c in platform.containers()}
            servers = platform.lb_servers()
            return (
                len(containers) == desired
                and all(state == "running" for state in containers.values())
                and set(containers) == set(servers) == platform.serving()
            )

        began = time.monotonic()
        wait_for("the restarted agent settled", settled, timeout=90, every=0.2)
        platform.figures["restart -> settled (desired = containers = LB servers), s"] = (
            f"{time.monotonic() - began:.1f}"
        )
        time.sleep(3)
        assert settled(), "settled, then changed again while the load stayed the same"
        containers = platform.containers()
        ids = [c.member_id for c in containers]
        assert len(ids) == len(set(ids)) == platform.sub()["desired"]
        assert all(n <= PARTITION_MAX[p] for p, n in platform.partition_counts().items())
        names = [c.name for c in containers]
        assert len(names) == len(set(names))
    finally:
        load.stop()
    code, log = platform.stop_agent()
    assert code == 0, log[-2000:]
    assert "stopping" in log
