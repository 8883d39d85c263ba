"""Seed-demo deployment benchmark: prints a table, asserts nothing.

- cold deploy: playbooks/demo.yml from nothing (images already built, data purged), the baseline
  of the deploy rows;
- no-op playbook: the same playbook again with everything in place (every task a no-op), the
  median of --repeat runs;
- no-op `make demo`: `make demo` run again after a first one (the collection installed, the images
  built, the demo running), the median of --repeat runs, and the part of it that is make's own
  prerequisites (deps, venv, collection, images);
- Ansible's floor: a play of one debug task, what no playbook run can go below;
- requests/s with the same load tool (wrk) in the same run, through HAProxy and directly to one
  member, on the application page (PHP + a MySQL write) and on the static health endpoint.

Usage: .venv/bin/python bench/deploy.py [--port 18580] [--seconds 10] [--connections 16] [--repeat 3]
Needs: `make collection images` (ANSIBLE_COLLECTIONS_PATH=.build/collections), wrk, Docker.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# The helpers the tests share (tests/support.py).
sys.path[:0] = [str(REPO / "tests")]

from support import local_playbook  # noqa: E402


def environment() -> dict[str, str]:
    return {
        **os.environ,
        "ANSIBLE_COLLECTIONS_PATH": os.environ.get(
            "ANSIBLE_COLLECTIONS_PATH", str(REPO / ".build/collections")
        ),
        "STRATOS_BASE_IMAGE": os.environ.get("STRATOS_BASE_IMAGE", "stratos/debian:bookworm"),
    }


def timed(command: list[str], what: str) -> float:
    """Seconds `command` took, run from the repository (so that its ansible.cfg applies)."""
    started = time.monotonic()
    proc = subprocess.run(command, cwd=REPO, env=environment(), capture_output=True, text=True, timeout=900)
    elapsed = time.monotonic() - started
    if proc.returncode != 0:
        sys.exit(f"{what} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}")
    return elapsed


def make(state_dir: Path, port: int, *targets: str) -> float:
    """Seconds one `make <targets>` took for the demo on `port` with its state in `state_dir`."""
    return timed(
        ["make", "--no-print-directory", f"DEMO_PORT={port}", f"DEMO_STATE_DIR={state_dir}", *targets],
        "make " + " ".join(targets),
    )


def floor() -> float:
    """Seconds ansible-playbook takes for one debug task: start-up, inventory, one fork."""
    with tempfile.TemporaryDirectory(prefix="stratos-bench-") as work:
        play = Path(work) / "floor.yml"
        play.write_text(
            "- hosts: all\n  gather_facts: false\n  tasks:\n    - ansible.builtin.debug: {msg: floor}\n"
        )
        return timed(local_playbook(play, f"ansible_python_interpreter={sys.executable}"), "the floor play")


def playbook(name: str, state_dir: Path, port: int, **extra: object) -> float:
    variables = {
        "stratos_state_dir": str(state_dir),
        "demo_port": port,
        "ansible_python_interpreter": sys.executable,
        **extra,
    }
    return timed(local_playbook(REPO / "playbooks" / name, json.dumps(variables)), name)


def wrk(url: str, seconds: int, connections: int) -> tuple[float, int]:
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", url],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
    ).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    failed = (int(bad.group(1)) if bad else 0) + (sum(int(g) for g in errors.groups()) if errors else 0)
    return rate, failed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=18580)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each no-op, the median counts")
    parser.add_argument("--keep", action="store_true", help="leave the demo running afterwards")
    args = parser.parse_args()

    state_dir = Path(tempfile.mkdtemp(prefix="stratos-bench-")) / "state"
    playbook("demo-down.yml", state_dir, args.port, demo_purge_data=True)  # from nothing
    try:
        cold = playbook("demo.yml", state_dir, args.port)
        noop = statistics.median(playbook("demo.yml", state_dir, args.port) for _ in range(args.repeat))
        make(state_dir, args.port, "demo")  # the first make demo: whatever make itself had to do
        noop_make = statistics.median(make(state_dir, args.port, "demo") for _ in range(args.repeat))
        prerequisites = statistics.median(
            make(state_dir, args.port, "deps", "venv", "collection", "images") for _ in range(args.repeat)
        )
        least = statistics.median(floor() for _ in range(args.repeat))

        status = json.loads((state_dir / "agent" / "status.json").read_text())
        member = status["applications"]["shop"]["subscriptions"]["web"]["members"][0]["address"]
        rows = [
            ("deploy", "cold (images built, no data)", f"{cold:.1f} s", "baseline"),
            ("deploy", "no-op playbook (aim < 10 s)", f"{noop:.1f} s", f"{noop / cold:.2f} of cold"),
            (
                "deploy",
                "no-op make demo (aim < 15 s)",
                f"{noop_make:.1f} s",
                f"{noop_make / cold:.2f} of cold",
            ),
            (
                "deploy",
                "  of which make's prerequisites",
                f"{prerequisites:.1f} s",
                f"{prerequisites / cold:.2f} of cold",
            ),
            ("deploy", "Ansible's floor (one debug task)", f"{least:.1f} s", f"{least / cold:.2f} of cold"),
        ]
        for label, path in (
            ("app page (PHP + MySQL write)", "/"),
            ("health endpoint (static)", "/stratos-health"),
        ):
            lb_rate, lb_failed = wrk(f"http://127.0.0.1:{args.port}{path}", args.seconds, args.connections)
            direct_rate, direct_failed = wrk(f"http://{member}:80{path}", args.seconds, args.connections)
            rows.append(
                (
                    label,
                    f"through HAProxy ({lb_failed} failed)",
                    f"{lb_rate:.0f} req/s",
                    f"{lb_rate / direct_rate:.2f} of direct",
                )
            )
            rows.append(
                (
                    label,
                    f"directly to one member ({direct_failed} failed)",
                    f"{direct_rate:.0f} req/s",
                    "baseline",
                )
            )
    finally:
        # Also after a failure: the demo uses fixed container names that other runs need.
        if not args.keep:
            playbook("demo-down.yml", state_dir, args.port, demo_purge_data=True)

    print(
        f"seed demo benchmark: wrk -t2 -c{args.connections} -d{args.seconds}s, {os.cpu_count()} cores,"
        f" no-op figures the median of {args.repeat} runs"
    )
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    header = ("what", "how", "figure", "ratio")
    widths = [max(w, len(h)) for w, h in zip(widths, header, strict=True)]
    for row in (header, tuple("-" * w for w in widths), *rows):
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
