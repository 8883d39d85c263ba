"""A commit cannot write outside its release: hostile trees crafted with git plumbing, run through the
real fetch / prepare / rollout code, on this Python and as if it had no ``tarfile.data_filter``
(Debian bookworm's 3.11.2, the agent image's Python).

The escape: a chain of links ``a -> .``, ``a/b -> .``, ... each beside a directory of the same name, so
that ``a/b/c/d/e/f/up`` is really ``up`` at the top of the release, and ``up -> ../../../../..``
(lexically inside, five levels deep) leads out of it to this test's tmp_path, where ``pwned`` would
land.
"""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest
from test_rollout_executor import (
    Clock,
    FakePool,
    Recorded,
    Site,
    definitions,
    git,
    healthy,
    member,
    repo_and_store,
)

from stratos import artifacts
from stratos.agent import rollout
from stratos.drivers import members
from stratos.errors import DriverError, StratosError
from stratos.model import Artifact
from stratos.store import StateStore

CHAIN = ["a", "b", "c", "d", "e", "f"]


@pytest.fixture(params=["this-python", "without-data-filter"])
def python_kind(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The fix must not depend on tarfile's "data" filter."""
    if request.param == "without-data-filter" and hasattr(tarfile, "data_filter"):
        monkeypatch.delattr(tarfile, "data_filter")
    return str(request.param)


#: Fixed dates: the same commit made in two repositories has the same id.
DATES = {"GIT_AUTHOR_DATE": "1700000000 +0000", "GIT_COMMITTER_DATE": "1700000000 +0000"}


def plumb(repo: Path, *args: str, data: bytes = b"") -> str:
    env = {**os.environ, **DATES}
    done = subprocess.run(
        ["git", "--git-dir", str(repo), *args], input=data, env=env, capture_output=True, check=True
    )
    return done.stdout.decode().strip()


def blob(repo: Path, data: bytes) -> str:
    return plumb(repo, "hash-object", "-w", "--stdin", data=data)


def tree(repo: Path, *entries: tuple[str, str, str]) -> str:
    """A tree object with exactly these entries (mode, name, id) in this order: no check, no sort."""
    raw = b"".join(f"{mode} {name}".encode() + b"\0" + bytes.fromhex(sha) for mode, name, sha in entries)
    return plumb(repo, "hash-object", "-t", "tree", "-w", "--literally", "--stdin", data=raw)


def escape_tree(repo: Path, levels: int = 5) -> str:
    """``a -> .`` + ``a/`` ... ``f -> .`` + ``f/``, then ``up -> ../ x levels`` + ``up/pwned``."""
    dot = blob(repo, b".")
    inner = tree(repo, ("100644", "pwned", blob(repo, b"written outside the release\n")))
    level = tree(repo, ("120000", "up", blob(repo, b"/".join([b".."] * levels))), ("40000", "up", inner))
    for name in reversed(CHAIN):
        level = tree(repo, ("120000", name, dot), ("40000", name, level))
    return level


def commit_tree(repo: Path, tree_id: str, message: str, parent: str | None = None) -> str:
    args = ["-c", "user.name=t", "-c", "user.email=t@t", "commit-tree", tree_id, "-m", message]
    if parent:
        args += ["-p", parent]
    return plumb(repo, *args)


def bare_with(tmp_path: Path, tree_of: Any, name: str = "hostile.git") -> tuple[Path, str]:
    repo = tmp_path / name
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(repo)], check=True)
    sha = commit_tree(repo, tree_of(repo), "hostile")
    plumb(repo, "update-ref", "refs/heads/main", sha)
    return repo, sha


def outside_untouched(tmp_path: Path) -> None:
    """No ``pwned`` anywhere but inside a release directory (none is left when it is refused)."""
    found = [p for p in tmp_path.rglob("pwned")]
    assert found == [], found
    assert not (tmp_path / "pwned").exists()


def test_the_old_extraction_would_escape_here(tmp_path: Path, store: StateStore) -> None:
    """The crafted tree does reach tmp_path when ``git archive``'s output is extracted without a
    check made at extraction time (what the old code did once its up-front check passed): the
    other tests are not vacuous."""
    repo, sha = bare_with(tmp_path, escape_tree)
    release = store.releases_dir("shop", "web") / ".extract"
    release.mkdir(parents=True)
    data = subprocess.run(
        ["git", "--git-dir", str(repo), "archive", sha], capture_output=True, check=True
    ).stdout
    trusting = {"filter": "fully_trusted"} if hasattr(tarfile, "fully_trusted_filter") else {}
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        archive.extractall(release, **trusting)  # type: ignore[arg-type] # noqa: S202 - the point
    assert (tmp_path / "pwned").is_file()


def test_a_hostile_commit_is_refused_at_fetch(tmp_path: Path, store: StateStore, python_kind: str) -> None:
    repo, _ = bare_with(tmp_path, escape_tree)
    with pytest.raises(StratosError, match="duplicateEntries"):
        artifacts.sync(store, "shop", "web", Artifact(url=f"file://{repo}"))
    outside_untouched(tmp_path)
    assert artifacts.current_release(store, "shop", "web") is None
    assert artifacts.releases(store, "shop", "web") == []


def mirror_holding(tmp_path: Path, store: StateStore, tree_of: Any) -> tuple[Path, str]:
    """A mirror that already holds a hostile commit (fetched before objects were checked, or put
    there by anything but a fetch): the checkout must refuse it on its own."""
    good, _ = bare_with(tmp_path, lambda r: tree(r, ("100644", "index.php", blob(r, b"v1"))), "good.git")
    artifacts.sync(store, "shop", "web", Artifact(url=f"file://{good}"))
    mirror = store.releases_dir("shop", "web") / "repo.git"
    sha = commit_tree(mirror, tree_of(mirror), "hostile")
    return mirror, sha


def test_a_hostile_tree_in_the_mirror_is_refused_at_checkout(
    tmp_path: Path, store: StateStore, python_kind: str
) -> None:
    _, sha = mirror_holding(tmp_path, store, escape_tree)
    with pytest.raises(artifacts.RefusedTree, match="two entries 'a' .a symbolic link and a directory."):
        artifacts.prepare(store, "shop", "web", sha)
    outside_untouched(tmp_path)
    base = store.releases_dir("shop", "web")
    assert sha not in artifacts.releases(store, "shop", "web")
    assert sorted(p.name for p in base.iterdir() if p.name.startswith(".")) == [".lock"]  # no leftovers


@pytest.mark.parametrize(
    ("entries", "why"),
    [
        (
            lambda r: [("120000", "link", blob(r, b"/etc/passwd"))],
            "link 'link' -> '/etc/passwd' points outside",
        ),
        (lambda r: [("120000", "up", blob(r, b"../../x"))], "link 'up' -> '../../x' points outside"),
        (lambda r: [("100644", "..", blob(r, b"x"))], "git refused"),
        (lambda r: [("100644", ".git", blob(r, b"x"))], "git refused"),
        (lambda r: [("100644", "x", blob(r, b"1")), ("100644", "x", blob(r, b"2"))], "two entries 'x'"),
    ],
    ids=["absolute-link", "escaping-link", "parent-name", "dot-git", "duplicate-files"],
)
def test_other_escaping_entries_are_refused(
    tmp_path: Path, store: StateStore, python_kind: str, entries: Any, why: str
) -> None:
    _, sha = mirror_holding(tmp_path, store, lambda r: tree(r, *entries(r)))
    with pytest.raises(artifacts.RefusedTree, match=why):
        artifacts.prepare(store, "shop", "web", sha)
    assert sha not in artifacts.releases(store, "shop", "web")
    assert not (tmp_path / "x").exists() and not (tmp_path / "state" / "releases" / "x").exists()


def test_a_normal_tree_with_inner_links_is_checked_out(
    tmp_path: Path, store: StateStore, python_kind: str
) -> None:
    def normal(r: Path) -> str:
        lib = tree(r, ("100755", "run.sh", blob(r, b"#!/bin/sh\n")), ("100644", "x.php", blob(r, b"y")))
        return tree(
            r,
            ("100644", "index.php", blob(r, b"<?php")),
            ("40000", "lib", lib),
            ("120000", "shared", blob(r, b"lib")),
            ("120000", "self", blob(r, b"./lib/../index.php")),
        )

    _, sha = mirror_holding(tmp_path, store, normal)
    path = artifacts.prepare(store, "shop", "web", sha)
    assert (path / "shared" / "x.php").read_text() == "y"
    assert (path / "self").read_text() == "<?php"
    assert (path / "lib" / "run.sh").stat().st_mode & 0o777 == 0o755
    assert (path / "index.php").stat().st_mode & 0o777 == 0o644


# --------------------------------------------------------------------------- through the agent's rollout


@pytest.fixture
def world(tmp_path: Path) -> tuple[StateStore, Path, Clock, Recorded, rollout.Rollouts]:
    repo, store = repo_and_store(tmp_path)
    clock = Clock()
    recorded = Recorded()
    rollouts = rollout.Rollouts(
        store,
        docker=FakePool(),  # type: ignore[arg-type]
        record=recorded,
        clock=clock,
        sleep=clock.sleep,
        probe=Site(store),
        member_probe=lambda address, check, ports, timeout=None: members.ProbeResult(True, "ok"),
    )
    return store, repo, clock, recorded, rollouts


def test_the_agent_records_a_refused_tree_as_a_failed_release(
    world: Any, tmp_path: Path, python_kind: str
) -> None:
    store, repo, clock, recorded, rollouts = world
    ds = definitions(store, repo)
    rollouts.tick(ds, healthy(member(1)), clock())
    good = artifacts.current_release(store, "shop", "web")
    assert good is not None
    # The hostile commit is in the remote and already in the mirror (so no object is fetched and
    # checked): only the checkout stands between it and the host.
    mirror = store.releases_dir("shop", "web") / "repo.git"
    for target in (repo / ".git", mirror):
        bad = commit_tree(target, escape_tree(target), "hostile", parent=good)
    git("update-ref", "refs/heads/main", bad, cwd=repo)
    clock.t += 20
    rollouts.tick(ds, healthy(member(1)), clock())
    outside_untouched(tmp_path)
    assert artifacts.current_release(store, "shop", "web") == good
    assert recorded.kinds()[-1] == "release_failed"
    kind, details, reasons = recorded.events[-1]
    assert details["sha"] == bad and "two entries 'a'" in details["why"]
    assert "refused" in reasons[0]
    status = rollouts.status()[("shop", "web")]
    assert status["release"] == good and "refused" in status["degraded"]
    clock.t += 20  # the same commit is not tried again
    rollouts.tick(ds, healthy(member(1)), clock())
    assert recorded.kinds().count("release_failed") == 1


def test_a_checkout_failing_for_the_hosts_reasons_is_not_a_refused_tree(
    tmp_path: Path, store: StateStore
) -> None:
    """A full disk or a timeout is tried again later; only the tree's own faults refuse a commit."""
    _, sha = mirror_holding(tmp_path, store, lambda r: tree(r, ("100644", "index.php", blob(r, b"v2"))))

    def full_disk(args: Any, env: Any) -> bytes:
        if "checkout-index" in args:
            raise DriverError("git checkout-index failed: error: unable to write: No space left on device")
        return artifacts.run_git(args, env)

    with pytest.raises(DriverError, match="No space left") as caught:
        artifacts.prepare(store, "shop", "web", sha, git=full_disk)
    assert not isinstance(caught.value, artifacts.RefusedTree)
    assert (artifacts.prepare(store, "shop", "web", sha) / "index.php").read_text() == "v2"
