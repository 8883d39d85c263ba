"""One agent per state directory: two real agent processes on one state directory, the second exits
naming the first's pid (no Docker needed: a state directory without definitions makes the ticks
fail before they touch Docker)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from stratos.agent import lock


def agent(state: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "stratos", "agent", "--state-dir", str(state), "--interval", "1"]
        + ["--metrics-port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_holder(path: Path, pid: int, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while lock.holder(path) != pid:
        if proc.poll() is not None:
            pytest.fail(f"the agent exited ({proc.returncode}): {proc.communicate()[1]}")
        if time.monotonic() > deadline:
            pytest.fail(f"{path} never named pid {pid}")
        time.sleep(0.05)


def test_a_second_agent_on_the_same_state_directory_exits_naming_the_first(tmp_path: Path) -> None:
    state = tmp_path / "state"
    path = state / "agent" / "agent.lock"
    first = agent(state)
    try:
        wait_holder(path, first.pid, first)
        second = agent(state)
        try:
            _, err = second.communicate(timeout=60)
        finally:
            if second.poll() is None:
                second.kill()
                second.communicate()
        assert second.returncode == 1
        assert f"another agent (pid {first.pid}) runs on this state directory" in err
        assert first.poll() is None  # the first one goes on
    finally:
        first.terminate()
        first.communicate(timeout=60)
    # Once the holder is gone, the next agent takes the lock.
    (state / "agent" / "status.json").unlink()
    third = agent(state)
    try:
        wait_holder(path, third.pid, third)
        deadline = time.monotonic() + 60  # its first tick (failed: no definitions): SIGTERM is handled
        while not (state / "agent" / "status.json").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        third.terminate()
        third.communicate(timeout=60)
    assert third.returncode == 0


def test_the_lock_is_exclusive_and_freed_on_release(tmp_path: Path) -> None:
    path = tmp_path / "agent.lock"
    held = lock.acquire(path)
    with pytest.raises(lock.AlreadyRunning, match=r"pid \d+"):
        lock.acquire(path)
    held.release()
    with lock.acquire(path):
        pass
