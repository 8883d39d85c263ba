"""Seed-demo deployment benchmark: prints a table, asserts nothing.

- cold deploy: playbooks/demo.yml from nothing (images already built, data purged);
- warm rerun: the same playbook again (every task a no-op);
- requests/s with the same load tool (wrk) in the same run, through HAProxy and directly to one
  member, on the application page (PHP + a MySQL write) and on the static health endpoint.

Usage: .venv/bin/python bench/deploy.py [--port 18580] [--seconds 10] [--connections 16]
Needs: `make collection images` (ANSIBLE_COLLECTIONS_PATH=.build/collections), wrk, Docker.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def playbook(name: str, state_dir: Path, port: int, **extra: object) -> float:
    env = {
        **os.environ,
        "ANSIBLE_COLLECTIONS_PATH": os.environ.get(
            "ANSIBLE_COLLECTIONS_PATH", str(REPO / ".build/collections")
        ),
        "STRATOS_BASE_IMAGE": os.environ.get("STRATOS_BASE_IMAGE", "stratos/debian:bookworm"),
    }
    variables = {
        "stratos_state_dir": str(state_dir),
        "demo_port": port,
        "ansible_python_interpreter": sys.executable,
        **extra,
    }
    started = time.monotonic()
    proc = subprocess.run(
        [
            str(BIN / "ansible-playbook"),
            "-i",
            "localhost,",
            "-c",
            "local",
            "-e",
            json.dumps(variables),
            str(REPO / "playbooks" / name),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    elapsed = time.monotonic() - started
    if proc.returncode != 0:
        sys.exit(f"{name} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}")
    return elapsed


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
    parser.add_argument("--keep", action="store_true", help="leave the demo running afterwards")
    args = parser.parse_args()

    state_dir = Path(tempfile.mkdtemp(prefix="stratos-bench-")) / "state"
    playbook("demo-down.yml", state_dir, args.port, demo_purge_data=True)  # from nothing
    cold = playbook("demo.yml", state_dir, args.port)
    warm = playbook("demo.yml", state_dir, args.port)

    status = json.loads((state_dir / "agent" / "status.json").read_text())
    member = status["applications"]["shop"]["subscriptions"]["web"]["members"][0]["address"]
    rows = [
        ("deploy", "cold (images built, no data)", f"{cold:.1f} s", ""),
        ("deploy", "warm rerun (no change)", f"{warm:.1f} s", f"{warm / cold:.2f} of cold"),
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
    if not args.keep:
        playbook("demo-down.yml", state_dir, args.port, demo_purge_data=True)

    print(f"seed demo benchmark: wrk -t2 -c{args.connections} -d{args.seconds}s, {os.cpu_count()} cores")
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    header = ("what", "how", "figure", "ratio")
    widths = [max(w, len(h)) for w, h in zip(widths, header, strict=True)]
    for row in (header, tuple("-" * w for w in widths), *rows):
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
