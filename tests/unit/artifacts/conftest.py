"""The artifact tests fetch from local repositories under their tmp_path (allow file:// there only),
most of them from :func:`repo`."""

from __future__ import annotations

from pathlib import Path

import pytest
import support


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository ``tmp_path/app`` with one commit: ``index.php`` saying ``v1``, its subject
    ``says v1``."""
    support.new_repository(tmp_path / "app", {"index.php": "v1"}, "says v1")
    return tmp_path / "app"


@pytest.fixture(autouse=True)
def git_file_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("STRATOS_GIT_FILE_ROOT", str(tmp_path))
    return tmp_path
