"""Helpers of the tables of hostile definitions (tests/unit/test_hostile_definitions.py and
tests/unit/test_image_rules.py): a valid image build, and a copy of a document with one field changed."""

from __future__ import annotations

import copy
from typing import Any

#: A cartridge's image build that sets every field reaching the Dockerfile (its one ``src`` is
#: ``files/start.sh`` beside the definition): what the hostile definitions change one field of.
IMAGE_BUILD: dict[str, Any] = {
    "base": "stratos/debian:bookworm",
    "packages": ["curl"],
    "files": [{"path": "/usr/local/bin/start", "src": "files/start.sh", "mode": "0755"}],
    "run": ["true"],
    "workdir": "/app",
    "env": {"A": "1"},
    "entrypoint": ["/usr/local/bin/start"],
    "command": ["serve"],
    "expose": [80],
}


def with_value(document: Any, dotted: str, value: Any) -> Any:
    """A deep copy of ``document`` with ``dotted`` (``a.b[0].c``) set to ``value``: how the tables
    of hostile definitions change one field of a valid one."""
    changed = copy.deepcopy(document)
    target: Any = changed
    parts = dotted.replace("[", ".[").split(".")
    for part in parts[:-1]:
        target = target[int(part[1:-1])] if part.startswith("[") else target[part]
    last = parts[-1]
    if last.startswith("["):
        target[int(last[1:-1])] = value
    else:
        target[last] = value
    return changed
