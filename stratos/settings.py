"""Settings read from the environment, with defaults that suit a real user's machine."""

from __future__ import annotations

import os
from pathlib import Path

from stratos.errors import StratosError

#: The image cartridge builds start from. Real users have Docker Hub; tests set
#: STRATOS_BASE_IMAGE to the locally built ``stratos/debian:bookworm``.
DEFAULT_BASE_IMAGE = "debian:bookworm-slim"

#: Where the host keeps definitions, secrets, releases and the agent's database.
DEFAULT_STATE_DIR = "/var/lib/stratos"


def base_image() -> str:
    return os.environ.get("STRATOS_BASE_IMAGE", DEFAULT_BASE_IMAGE)


def state_dir() -> Path:
    return Path(os.environ.get("STRATOS_STATE_DIR", DEFAULT_STATE_DIR))


# --------------------------------------------------------------------------- git (artifacts)

#: Seconds one git command may take in all (STRATOS_GIT_TIMEOUT): the bound of last resort, for a
#: remote that accepts a connection and never answers (an https handshake has no other bound).
DEFAULT_GIT_TIMEOUT = 120.0
#: Seconds a transfer may stay under 1000 bytes/s before git gives up (STRATOS_GIT_LOW_SPEED_TIME).
DEFAULT_GIT_LOW_SPEED_TIME = 30
#: Seconds ssh may take to connect and exchange banners (STRATOS_GIT_CONNECT_TIMEOUT).
DEFAULT_GIT_CONNECT_TIMEOUT = 10


def git_file_root() -> Path | None:
    """The only directory ``file://`` artifact URLs may point into (STRATOS_GIT_FILE_ROOT); unset:
    the state directory's ``git/`` (:func:`stratos.artifacts.fetch` decides; whatever this says, never
    another part of the state directory: the mirrors of other applications are there)."""
    value = os.environ.get("STRATOS_GIT_FILE_ROOT", "")
    return Path(value) if value else None


def git_known_hosts() -> Path | None:
    """A known_hosts file for ssh remotes whose definition gives no ``ssh_known_hosts`` (STRATOS_GIT_KNOWN_HOSTS)."""
    value = os.environ.get("STRATOS_GIT_KNOWN_HOSTS", "")
    return Path(value) if value else None


def git_timeout() -> float:
    return _seconds("STRATOS_GIT_TIMEOUT", DEFAULT_GIT_TIMEOUT)


def git_low_speed_time() -> int:
    return int(_seconds("STRATOS_GIT_LOW_SPEED_TIME", DEFAULT_GIT_LOW_SPEED_TIME))


def git_connect_timeout() -> int:
    return int(_seconds("STRATOS_GIT_CONNECT_TIMEOUT", DEFAULT_GIT_CONNECT_TIMEOUT))


def _seconds(name: str, default: float) -> float:
    value = os.environ.get(name, "")
    if not value:
        return default
    try:
        seconds = float(value)
    except ValueError:
        seconds = float("nan")
    if not 1 <= seconds <= 86400:  # also refuses nan and inf
        raise StratosError(f"{name} ({value!r}): must be a number of seconds from 1 to 86400")
    return seconds


def files_root() -> Path | None:
    """A directory cartridge image files (``image.build.files[].src``) may also come from.

    Unset (the default): a ``src`` must stay inside its definition's directory. Set
    ``STRATOS_FILES_ROOT`` to name another directory whose files ``src`` may name by absolute path.
    """
    value = os.environ.get("STRATOS_FILES_ROOT", "").strip()
    return Path(value) if value else None
