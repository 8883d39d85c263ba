"""Failed requests per ``docker kill`` of a member under full-rate load, on the real Docker Engine.

Set-up (``tests/integration/autoscale_platform.py``): the PHP cartridge behind HAProxy on the local
engine, a page that answers at once (``member: <hostname>``), min = max = 3 members over two
partitions, the agent as a process (``python -m stratos agent --interval 5``, its default tick).

A kill: ``wrk -t2 -c12 --timeout 2s`` drives the load at full rate (closed loop) for ``--seconds``,
and beside it 4 closed-loop client connections of this script count every request they send:
*failed* (a socket error or a non-2xx answer) or *slow* (no answer within 2 s: the client gives
up, reconnects and goes on). After ``--kill-at`` seconds one serving member is killed (``docker
kill``: SIGKILL). Then the bench waits until 3 members serve again. wrk's own figures are shown
too; note that wrk counts a request stuck past its timeout once per 2 s it stays stuck, so its
"timeout" column overstates the number of requests; the counter's columns are per request.

Two reactions, measured in the same run, kill after kill:

- ``events``: the agent follows the engine's events (``die``/``kill``) and takes the member out of
  HAProxy at once (``set server .. state maint``), then replaces it;
- ``tick-only`` (the baseline, the old behaviour): ``--no-engine-events``: the member leaves
  HAProxy when HAProxy's own health check fails it or the next tick sees it dead.

A ``no kill`` run of each reaction shows what the load costs without a fault.

Run: ``python bench/kill.py [--kills 3] [--output bench/results/kill.txt]``.
"""

from __future__ import annotations

import argparse
import http.client
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# The test platform (tests/integration), the helpers the tests share (tests/support.py), the core.
sys.path[:0] = [str(REPO / "tests" / "integration"), str(REPO / "tests"), str(REPO)]

import docker  # noqa: E402
from autoscale_platform import Platform, build_images  # noqa: E402
from support import wait_for  # noqa: E402

from stratos.errors import DriverError  # noqa: E402

BASE = "stratos/debian:bookworm"
MEMBERS = 3
FAST_PAGE = """<?php
header('Content-Type: text/plain');
header('Cache-Control: no-store');
echo 'member: ' . gethostname() . "\\n";
"""
MODES = {"events": (), "tick-only": ("--no-engine-events",)}


@dataclass
class Run:
    mode: str
    killed: bool
    requests: int  # wrk
    failed: int  # wrk: socket errors + non-2xx
    slow: int  # wrk: timeouts (counted once per 2 s a request stays stuck)
    rps: float  # wrk
    counted: int  # the per-request counter
    counted_failed: int
    counted_slow: int
    back: float | None  # seconds from the kill until 3 members serve again


class Counter:
    """Closed-loop GETs on ``connections`` keep-alive connections, each request accounted for."""

    def __init__(self, port: int, connections: int = 4, timeout: float = 2.0):
        self.port, self.timeout = port, timeout
        self.ok = self.failed = self.slow = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(connections)]

    def start(self) -> Counter:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)

    def _run(self) -> None:
        conn = None
        while not self._stop.is_set():
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            began = time.monotonic()
            try:
                conn.request("GET", "/")
                response = conn.getresponse()
                body = response.read()
                took = time.monotonic() - began
                outcome = "ok" if response.status == 200 and body.startswith(b"member: ") else "failed"
                if outcome == "ok" and took > self.timeout:
                    outcome = "slow"
            except TimeoutError:
                outcome = "slow"
            except (OSError, http.client.HTTPException):
                outcome = "failed"
            if outcome != "ok":
                conn.close()
                conn = None
            with self._lock:
                setattr(self, outcome, getattr(self, outcome) + 1)


def wrk(port: int, seconds: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        ["wrk", "-t2", "-c12", f"-d{seconds}s", "--timeout", "2s", f"http://127.0.0.1:{port}/"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def parse(out: str) -> tuple[int, int, int, float]:
    """(requests, failed, slower than the timeout, requests/s) from wrk's report."""
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    failed = slow = 0
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if errors:
        failed += int(errors.group(1)) + int(errors.group(2)) + int(errors.group(3))
        slow = int(errors.group(4))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        failed += int(non2xx.group(1))
    return requests, failed, slow, rps


def ready(platform: Platform) -> bool:
    return len(platform.serving()) == MEMBERS and len(platform.members()) == MEMBERS


def one(
    platform: Platform, client: docker.DockerClient, mode: str, kill: bool, seconds: int, at: float
) -> Run:
    wait_for("3 members serving", lambda: ready(platform), timeout=120)
    time.sleep(1.0)
    load = wrk(platform.port, seconds)
    counter = Counter(platform.port).start()
    back: float | None = None
    try:
        time.sleep(at)
        if kill:
            victim = random.choice(sorted(platform.serving()))
            container = next(c for c in platform.containers(running_only=True) if c.member_id == victim)
            began = time.monotonic()
            client.api.kill(container.id)

            def replaced() -> bool:
                serving = platform.serving()
                return len(serving) == MEMBERS and victim not in serving

            wait_for("a replacement serving", replaced, timeout=120)
            back = time.monotonic() - began
        out, _ = load.communicate(timeout=seconds + 60)
    finally:
        counter.stop()
        if load.poll() is None:
            load.kill()
    requests, failed, slow, rps = parse(out)
    counted = counter.ok + counter.failed + counter.slow
    return Run(mode, kill, requests, failed, slow, rps, counted, counter.failed, counter.slow, back)


def table(runs: list[Run], kills: int, seconds: int) -> str:
    lines = [
        "Failed requests per docker kill of a member under full-rate load (PHP behind HAProxy, real engine)",
        f"load: wrk -t2 -c12 --timeout 2s + 4 counted connections, {seconds}s per run, {MEMBERS} members,",
        "agent --interval 5. counted: every request of the 4 counted connections (failed: socket error or",
        "non-2xx; >2s: no answer within 2 s). wrk: its socket errors + non-2xx, and its timeouts (a stuck",
        "request counted once per 2 s)",
        "",
        f"{'reaction':<11}{'run':<9}{'counted':>8}{'failed':>7}{'>2s':>5}"
        f"{'wrk req':>9}{'req/s':>7}{'failed':>7}{'timeouts':>9}{'back in s':>10}",
    ]
    for r in runs:
        what = "kill" if r.killed else "no kill"
        back = "-" if r.back is None else f"{r.back:.1f}"
        lines.append(
            f"{r.mode:<11}{what:<9}{r.counted:>8}{r.counted_failed:>7}{r.counted_slow:>5}"
            f"{r.requests:>9}{r.rps:>7.0f}{r.failed:>7}{r.slow:>9}{back:>10}"
        )
    lines.append("")
    lines.append(
        f"{'reaction':<11}{'kills':>6}{'failed or >2s per kill (counted)':>34}{'wrk failed+timeouts/kill':>26}"
        f"{'median back s':>15}"
    )
    summary = {}
    for mode in MODES:
        mine = [r for r in runs if r.mode == mode and r.killed]
        if not mine:
            continue
        counted = sum(r.counted_failed + r.counted_slow for r in mine) / len(mine)
        by_wrk = sum(r.failed + r.slow for r in mine) / len(mine)
        median_back = statistics.median(r.back for r in mine if r.back is not None)
        summary[mode] = counted
        lines.append(f"{mode:<11}{len(mine):>6}{counted:>34.1f}{by_wrk:>26.1f}{median_back:>15.1f}")
    if summary.get("tick-only"):
        lines.append("")
        lines.append(
            f"ratio events / tick-only (baseline, same run), counted: {summary['events'] / summary['tick-only']:.2f}"
        )
    lines += [
        "",
        "back in s: from docker kill until 3 members serve again (the replacement started, healthy, registered)",
    ]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kills", type=int, default=3, help="kills per reaction")
    parser.add_argument("--seconds", type=int, default=12, help="seconds of load per run")
    parser.add_argument("--kill-at", type=float, default=3.0, help="seconds into the load of the kill")
    parser.add_argument("--output", type=Path, help="also write the table to this file")
    args = parser.parse_args()
    client = docker.from_env(timeout=120)
    build_images(client, BASE)
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="stratos-kill-") as tmp:
        platform = None
        for attempt in range(5):
            try:
                platform = Platform.create(
                    client,
                    Path(tmp) / str(attempt),
                    page=FAST_PAGE,
                    port_start=random.randrange(20000, 40000, 10),
                    min_members=MEMBERS,
                    max_members=MEMBERS,
                )
                break
            except DriverError as exc:
                if "already allocated" not in str(exc):
                    raise
        assert platform is not None, "no free port for the LB"
        try:
            plan = [(mode, False) for mode in MODES] + [
                (mode, True) for _ in range(args.kills) for mode in MODES
            ]
            current = None
            for mode, kill in plan:
                if mode != current:
                    if platform.agent is not None and platform.agent.poll() is None:
                        platform.stop_agent()
                    started = time.time()
                    platform.start_agent(5.0, *MODES[mode])
                    current = mode
                    wait_for(
                        "the agent's first tick",
                        lambda started=started: float(platform.status().get("time", 0)) >= started,
                        timeout=60,
                    )
                runs.append(one(platform, client, mode, kill, args.seconds, args.kill_at))
                print(f"{runs[-1]}", file=sys.stderr)
        finally:
            if platform.agent is not None and platform.agent.poll() is None:
                platform.stop_agent()
            platform.destroy()
    text = table(runs, args.kills, args.seconds)
    print(text, end="")
    if args.output:
        args.output.write_text(text)
    return 0


if __name__ == "__main__":
    threading.excepthook = lambda hook: None
    sys.exit(main())
