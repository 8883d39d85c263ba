"""Settings read from the environment, with defaults that suit a real user's machine."""

from __future__ import annotations

import os
from pathlib import Path

#: The image cartridge builds start from. Real users have Docker Hub; tests set
#: STRATOS_BASE_IMAGE to the locally built ``stratos/debian:bookworm``.
DEFAULT_BASE_IMAGE = "debian:bookworm-slim"

#: Where the host keeps definitions, secrets, releases and the agent's database.
DEFAULT_STATE_DIR = "/var/lib/stratos"


def base_image() -> str:
    return os.environ.get("STRATOS_BASE_IMAGE", DEFAULT_BASE_IMAGE)


def state_dir() -> Path:
    return Path(os.environ.get("STRATOS_STATE_DIR", DEFAULT_STATE_DIR))


def files_root() -> Path | None:
    """A directory cartridge image files (``image.build.files[].src``) may also come from.

    Unset (the default): a ``src`` must stay inside its definition's directory. Set
    ``STRATOS_FILES_ROOT`` to name another directory whose files ``src`` may name by absolute path.
    """
    value = os.environ.get("STRATOS_FILES_ROOT", "").strip()
    return Path(value) if value else None
