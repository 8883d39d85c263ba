"""Release extraction is safe on Pythons with and without tarfile's "data" filter (bookworm: 3.11.2)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from stratos import artifacts


def archive(*members: tuple[str, bytes | None, str | None]) -> tarfile.TarFile:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data, link in members:
            info = tarfile.TarInfo(name)
            if link is not None:
                info.type, info.linkname = tarfile.SYMTYPE, link
                tar.addfile(info)
            else:
                info.size = len(data or b"")
                tar.addfile(info, io.BytesIO(data or b""))
    buf.seek(0)
    return tarfile.open(fileobj=buf)


@pytest.fixture(params=["with-data-filter", "without-data-filter"])
def python_kind(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "without-data-filter" and hasattr(tarfile, "data_filter"):
        monkeypatch.delattr(tarfile, "data_filter")
    return str(request.param)


def test_a_normal_release_extracts(tmp_path: Path, python_kind: str) -> None:
    artifacts._extract_safely(archive(("index.php", b"<?php", None), ("lib/x.php", b"y", None)), tmp_path)
    assert (tmp_path / "lib" / "x.php").read_bytes() == b"y"


@pytest.mark.parametrize(
    "member",
    [("../evil", b"x", None), ("/abs", b"x", None), ("link", None, "/etc/passwd"), ("up", None, "../../x")],
    ids=["parent-path", "absolute-path", "absolute-link", "escaping-link"],
)
def test_escaping_members_are_refused(tmp_path: Path, python_kind: str, member: tuple) -> None:
    target = tmp_path / "release"
    target.mkdir()
    try:
        artifacts._extract_safely(archive(member), target)
    except Exception as exc:  # refused: fine, as long as it says why
        assert any(word in str(exc) for word in ("outside", "absolute", "link")), exc
    else:  # accepted only when the filter rewrote it to stay inside (e.g. "/abs" -> "abs")
        assert member[0] == "/abs" and (target / "abs").exists()
    assert not (tmp_path / "evil").exists() and not Path("/abs").exists()
