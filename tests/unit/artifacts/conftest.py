"""The artifact tests fetch from local repositories under their tmp_path: allow file:// there only."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def git_file_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("STRATOS_GIT_FILE_ROOT", str(tmp_path))
    return tmp_path
