"""Reaction on the real Docker Engine: from a load step to the first new member serving through the LB.

Set-up (``tests/integration/autoscale_platform.py``): the PHP cartridge behind HAProxy on the local
engine, a page that takes 200 ms, min 1 / max 6 over two partitions (max 2 each), autoscaling on
requests in flight (4 per member; CPU 90 %), ``evaluation_interval`` 1 s, ``prediction_horizon``
2 s, ``max_step`` 2, a 5 s scale-down stabilisation (so that a trial returns to min quickly); the
agent runs as ``python -m stratos agent --interval 1``.

A trial: with the subscription settled at min (1 member) and idle, ``wrk -c 12`` starts (12
requests in flight at once: 3 members wanted). Measured from that instant:

- ``decision``: the first recorded scale-up decision (the clock of its tick, read when the tick
  begins, before it measures; so it can precede the step by a fraction of a tick);
- ``healthy``: the first new member passed the agent's health probe;
- ``serving``: the first new member has answered a request through the LB (its HAProxy ``stot``
  becomes non-zero; ``show stat`` polled every 20 ms).

Baseline, measured in the same run, interleaved with the trials: ``docker run`` of the same image
(same network, same CPU and memory limits) until its health URL (``/stratos-health``) first answers
200, probed every 20 ms from the host. The ratio ``serving / docker run -> healthy`` is how much the
whole loop (measure, decide, start, health-check, register, first request) costs over the bare
start of the container.

Run: ``python bench/reaction.py [--trials 5] [--output bench/results/reaction.txt]``.
"""

from __future__ import annotations

import argparse
import http.client
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# The test platform (tests/integration), the helpers the tests share (tests/support.py), the core.
sys.path[:0] = [str(REPO / "tests" / "integration"), str(REPO / "tests"), str(REPO)]

import docker  # noqa: E402
import yaml  # noqa: E402
from autoscale_platform import TEST_BEHAVIOUR, Platform, Wrk, build_images  # noqa: E402
from support import wait_for  # noqa: E402

from stratos import builtin  # noqa: E402
from stratos.agent.events import EventStore  # noqa: E402
from stratos.model import Cartridge  # noqa: E402

BASE = "stratos/debian:bookworm"
BEHAVIOUR = {**TEST_BEHAVIOUR, "scale_down_stabilisation": 5}


@dataclass
class Trial:
    decision: float
    healthy: float | None
    serving: float
    baseline: float


def first_served(platform: Platform, before: set[str], t0: float, timeout: float = 60) -> float:
    deadline = t0 + timeout
    rt = platform.runtime()
    while time.monotonic() < deadline:
        for row in rt.stat():
            if row.type == "server" and row.name not in before and row.total_sessions > 0:
                return time.monotonic() - t0
        time.sleep(0.02)
    raise TimeoutError("no new member served through the LB")


def docker_run_to_healthy(client: docker.DockerClient, platform: Platform, cartridge: Cartridge) -> float:
    name = f"stratos-test-reaction-{uuid.uuid4().hex[:8]}"
    limits = cartridge.limits
    began = time.monotonic()
    container = client.containers.run(
        cartridge.image_tag(),
        name=name,
        detach=True,
        network=platform.network,
        nano_cpus=int((limits.cpus or 1) * 1e9),
        mem_limit=limits.memory,
    )
    try:
        container.reload()
        address = next(iter(container.attrs["NetworkSettings"]["Networks"].values()))["IPAddress"]
        assert cartridge.health_check is not None and cartridge.health_check.http
        while time.monotonic() - began < 60:
            conn = http.client.HTTPConnection(address, 80, timeout=1)
            try:
                conn.request("GET", cartridge.health_check.http)
                if conn.getresponse().status == 200:
                    return time.monotonic() - began
            except OSError:
                pass
            finally:
                conn.close()
            time.sleep(0.02)
        raise TimeoutError("the container did not become healthy")
    finally:
        container.remove(force=True)


def at_min(platform: Platform) -> bool:
    return (
        len(platform.containers()) == 1
        and len(platform.serving()) == 1
        and platform.sub().get("desired") == 1
    )


def settle(platform: Platform, seconds: float = 3.0) -> None:
    """Wait until the subscription has stayed at min for ``seconds``."""
    since = None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if at_min(platform):
            since = since or time.monotonic()
            if time.monotonic() - since >= seconds:
                return
        else:
            since = None
        time.sleep(0.2)
    raise TimeoutError("the subscription did not settle at min")


def trial(client: docker.DockerClient, platform: Platform, cartridge: Cartridge) -> Trial:
    settle(platform)
    before = platform.serving()
    events = EventStore(platform.store.database)
    last_id = len(events.events(platform.app, limit=100000))
    wall0, t0 = time.time(), time.monotonic()
    load = Wrk(platform.port, connections=12)
    try:
        serving = first_served(platform, before, t0)
    finally:
        load.stop()
    new = events.events(platform.app, limit=100000)[last_id:]
    decision = next(e.time for e in new if e.kind == "scale" and (e.to_count or 0) > 1) - wall0
    healthy = next((e.time for e in new if e.kind == "healthy"), None)
    baseline = docker_run_to_healthy(client, platform, cartridge)
    return Trial(decision, None if healthy is None else healthy - wall0, serving, baseline)


def table(trials: list[Trial]) -> str:
    lines = [
        "Reaction to a load step on the real Docker Engine (PHP cartridge behind HAProxy, 2 cores)",
        "load step: wrk -c 12 against a 200 ms page, 1 member at min, 4 requests in flight per member",
        "",
        f"{'trial':<8}{'decision s':>11}{'healthy s':>11}{'serving s':>11}{'docker run->healthy s':>23}{'ratio':>7}",
    ]
    for i, t in enumerate(trials, 1):
        healthy = "-" if t.healthy is None else f"{t.healthy:.2f}"
        lines.append(
            f"{i:<8}{t.decision:>11.2f}{healthy:>11}{t.serving:>11.2f}{t.baseline:>23.2f}{t.serving / t.baseline:>7.2f}"
        )
    med = {
        "decision": statistics.median(t.decision for t in trials),
        "serving": statistics.median(t.serving for t in trials),
        "baseline": statistics.median(t.baseline for t in trials),
    }
    lines.append(
        f"{'median':<8}{med['decision']:>11.2f}{'':>11}{med['serving']:>11.2f}{med['baseline']:>23.2f}"
        f"{med['serving'] / med['baseline']:>7.2f}"
    )
    lines += [
        "",
        "decision: the tick that took the first scale-up decision began (its clock is read once, before",
        "measuring); healthy: the first new member passed its health probe;",
        "serving: first new member answered through the LB (HAProxy stot > 0); ratio: serving / docker run->healthy",
    ]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--output", type=Path, help="also write the table to this file")
    args = parser.parse_args()
    client = docker.from_env(timeout=120)
    build_images(client, BASE)
    cartridge = Cartridge.model_validate(yaml.safe_load(builtin.cartridge_file("php").read_text()))
    with tempfile.TemporaryDirectory(prefix="stratos-reaction-") as tmp:
        platform = Platform.create(client, Path(tmp), behaviour=BEHAVIOUR)
        try:
            platform.start_agent(interval=1.0)
            wait_for("the first member serving", lambda: len(platform.serving()) == 1, 120)
            trials = []
            for i in range(args.trials):
                trials.append(trial(client, platform, cartridge))
                print(f"trial {i + 1}: {trials[-1]}", file=sys.stderr)
        finally:
            if platform.agent is not None and platform.agent.poll() is None:
                platform.stop_agent()
            platform.destroy()
    text = table(trials)
    print(text, end="")
    if args.output:
        args.output.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
