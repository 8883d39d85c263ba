from __future__ import annotations

import os
import re
import subprocess
import threading
from collections.abc import Callable, Iterator

import pytest
from support import stratos_command

from stratos.store import StateStore


@pytest.fixture
def far_platform_yaml() -> str:
    """A network partition ``far`` whose one partition ``f1`` is a remote Docker endpoint (at a
    documentation address, so it never answers) and a deployment policy ``far-only`` over it: the
    standard definitions plus this hold a subscription on an endpoint that fails."""
    return """
---
kind: NetworkPartition
name: far
partitions:
  - {name: f1, endpoint: "tcp://192.0.2.1:2376"}
network: {name: stratos-far}
---
kind: DeploymentPolicy
name: far-only
network_partitions:
  - name: far
    partitions:
      - {name: f1, max: 2}
"""


@pytest.fixture
def spawn_agent_http() -> Iterator[Callable[..., tuple[subprocess.Popen[str], tuple[str, int]]]]:
    """Start ``stratos agent-http`` on an ephemeral loopback port (killed at the end if still running)."""
    started: list[subprocess.Popen[str]] = []

    def start(store: StateStore, *extra: str) -> tuple[subprocess.Popen[str], tuple[str, int]]:
        proc = subprocess.Popen(
            stratos_command("agent-http", "--state-dir", str(store.root), "--port", "0", *extra),
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        assert proc.stderr is not None
        for line in proc.stderr:
            match = re.search(r"on http://(127\.0\.0\.1):(\d+)", line)
            if match:
                # keep reading its log so that the pipe never fills
                threading.Thread(target=proc.stderr.read, daemon=True).start()
                return proc, (match[1], int(match[2]))
        proc.kill()
        raise AssertionError(f"stratos agent-http did not start (exit {proc.wait()})")

    def spawn(store: StateStore, *extra: str) -> tuple[subprocess.Popen[str], tuple[str, int]]:
        proc, address = start(store, *extra)
        started.append(proc)
        return proc, address

    yield spawn
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
