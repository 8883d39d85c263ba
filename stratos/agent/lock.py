"""One agent per state directory: an exclusive ``flock`` on ``<state>/agent/agent.lock``, held for
the process lifetime (the kernel releases it when the process ends, however it ends).

Two agents acting on one state directory would both start members (two database members of a
``max: 1`` subscription) and fight over HAProxy; the second one therefore exits, naming the pid of
the one that holds the lock.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from stratos.errors import StratosError


class AlreadyRunning(StratosError):
    """Another agent holds the state directory's lock."""

    def __init__(self, path: Path, holder: int | None):
        self.path = path
        self.holder = holder
        who = f"pid {holder}" if holder else "another process"
        super().__init__(
            f"another agent ({who}) runs on this state directory: {path} is locked; "
            "one agent per state directory"
        )


class StateLock:
    """The held lock; :meth:`release` (or the end of the process) frees it."""

    def __init__(self, path: Path, fd: int):
        self.path = path
        self._fd: int | None = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> StateLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def holder(path: Path) -> int | None:
    """The pid written in the lock file, if any."""
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def acquire(path: Path) -> StateLock:
    """Take the lock or raise :class:`AlreadyRunning` at once (never waits)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise AlreadyRunning(path, holder(path)) from None
    except BaseException:
        os.close(fd)
        raise
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return StateLock(path, fd)
