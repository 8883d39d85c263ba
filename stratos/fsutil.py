"""Writing state files so that a crash or a full disk never leaves half of one.

:func:`atomic_write_bytes` writes to a temporary file in the target's directory (created with the
final mode, so the content is never readable by more than it should be), ``fsync`` s it, renames it
over the target and ``fsync`` s the directory: a reader, and the file system after a power cut, sees
the old content or the new, never a mix or an empty file. A failure at any step removes the
temporary file and leaves the target as it was.

Modes: :data:`SECRET` (0600) for secrets and the agent's database, :data:`STATE` (0640) for every
other state file (definitions, ``status.json``, ``rollout.json``, request files, the metrics
snapshot): the owner writes, the owner's group (an unprivileged reader such as the agent's HTTP
process) reads, others get nothing.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

SECRET = 0o600
STATE = 0o640


def fsync_dir(directory: str | Path) -> None:
    """Make a rename or a new file in ``directory`` durable (no-op where directories cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems refuse fsync on a directory; the rename is still atomic
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | Path, data: bytes, mode: int = STATE) -> None:
    """Replace ``path`` by ``data`` atomically and durably, with permission bits ``mode``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        try:
            os.fchmod(fd, mode)
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    fsync_dir(path.parent)


def atomic_write_text(path: str | Path, text: str, mode: int = STATE) -> None:
    """:func:`atomic_write_bytes` of ``text`` in UTF-8."""
    atomic_write_bytes(path, text.encode("utf-8"), mode)


def create_private(path: str | Path, mode: int = SECRET, companions: tuple[str, ...] = ()) -> None:
    """Create ``path`` empty with ``mode`` unless it exists; an existing file (and its
    ``companions``, names with these suffixes such as SQLite's ``-wal``) owned by us gets ``mode``.

    For files another library opens and writes, such as an SQLite database.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_RDONLY | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags, mode)
    try:
        _tighten(fd, mode)
    finally:
        os.close(fd)
    for suffix in companions:
        try:
            fd = os.open(f"{path}{suffix}", os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            continue
        try:
            _tighten(fd, mode)
        finally:
            os.close(fd)


def _tighten(fd: int, mode: int) -> None:
    st = os.fstat(fd)
    if stat.S_IMODE(st.st_mode) != mode and st.st_uid == os.geteuid():
        os.fchmod(fd, mode)
