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
