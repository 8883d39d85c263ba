"""The separate steps of a release (fetch, resolve, prepare, switch, prune) on a real local git repository."""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path

import pytest
import support
from support import file_artifact as artifact
from support import git

from stratos import artifacts
from stratos.errors import StratosError
from stratos.model import Artifact
from stratos.store import StateStore


def commit(repo: Path, text: str, message: str) -> str:
    return support.commit(repo, {"index.php": text}, message)


def test_fetch_prepare_switch_are_separate_steps(repo: Path, store: StateStore) -> None:
    head = artifacts.fetch(store, "shop", "web", artifact(repo))
    assert artifacts.current_release(store, "shop", "web") is None  # fetching switches nothing
    path = artifacts.prepare(store, "shop", "web", head)
    assert (path / "index.php").read_text() == "v1"
    assert artifacts.switch(store, "shop", "web", head) is None
    assert artifacts.current_release(store, "shop", "web") == head
    assert artifacts.commit_subject(store, "shop", "web", head) == "says v1"


def test_switching_to_a_release_that_is_not_checked_out_is_refused(repo: Path, store: StateStore) -> None:
    artifacts.fetch(store, "shop", "web", artifact(repo))
    with pytest.raises(StratosError, match="is not checked out"):
        artifacts.switch(store, "shop", "web", "a" * 40)


def test_resolve_accepts_an_abbreviated_commit_id(repo: Path, store: StateStore) -> None:
    first = git("rev-parse", "HEAD", cwd=repo)
    commit(repo, "v2", "second")
    artifacts.fetch(store, "shop", "web", artifact(repo))
    assert artifacts.resolve(store, "shop", "web", first[:8]) == first
    with pytest.raises(StratosError, match="commit 0000000 is not in the repository"):
        artifacts.resolve(store, "shop", "web", "0000000")
    with pytest.raises(StratosError, match="is not a commit id"):
        artifacts.resolve(store, "shop", "web", "HEAD~1")


def test_prune_keeps_the_newest_and_every_protected_release(repo: Path, store: StateStore) -> None:
    shas = []
    for n in range(1, 6):
        if n > 1:
            commit(repo, f"v{n}", f"v{n}")
        sha = artifacts.fetch(store, "shop", "web", artifact(repo))
        artifacts.prepare(store, "shop", "web", sha)
        artifacts.switch(store, "shop", "web", sha)
        shas.append(sha)
    removed = artifacts.prune(store, "shop", "web", keep=3, protect=[shas[0]])
    # current (v5) and the protected v1 count towards keep=3, which leaves room for one more: v4.
    assert sorted(artifacts.releases(store, "shop", "web")) == sorted([shas[0], shas[3], shas[4]])
    assert sorted(removed) == sorted([shas[1], shas[2]])
    # Protected releases are kept even beyond keep.
    artifacts.prune(store, "shop", "web", keep=1, protect=[shas[0], shas[3]])
    assert sorted(artifacts.releases(store, "shop", "web")) == sorted([shas[0], shas[3], shas[4]])


def test_a_switch_makes_a_release_the_newest_for_pruning(repo: Path, store: StateStore) -> None:
    first = artifacts.fetch(store, "shop", "web", artifact(repo))
    artifacts.prepare(store, "shop", "web", first)
    commit(repo, "v2", "v2")
    second = artifacts.fetch(store, "shop", "web", artifact(repo))
    artifacts.prepare(store, "shop", "web", second)
    artifacts.switch(store, "shop", "web", first)
    assert artifacts.releases(store, "shop", "web")[0] == first


def test_a_changed_url_is_followed(repo: Path, store: StateStore, tmp_path: Path) -> None:
    artifacts.fetch(store, "shop", "web", artifact(repo))
    other = tmp_path / "other"
    subprocess.run(["git", "clone", "-q", str(repo), str(other)], check=True)
    moved = commit(other, "moved", "moved")
    assert artifacts.fetch(store, "shop", "web", artifact(other)) == moved


@pytest.mark.parametrize(
    ("mode", "message"),
    [(0o644, "0644"), (0o640, "0640")],
    ids=["world-readable", "group-readable"],
)
def test_credential_files_must_be_private(
    repo: Path, store: StateStore, tmp_path: Path, mode: int, message: str
) -> None:
    token = tmp_path / "token"
    token.write_text("t0ken\n")
    token.chmod(mode)
    with pytest.raises(
        StratosError,
        match=rf"credentials.token_file \({token}\) must be readable by its owner only \(mode 0600\), not {message}",
    ):
        artifacts.fetch(store, "shop", "web", artifact(repo, credentials={"token_file": str(token)}))


def test_a_missing_credential_file_is_named(repo: Path, store: StateStore, tmp_path: Path) -> None:
    with pytest.raises(StratosError, match=r"credentials.ssh_key_file \(/nonexistent/key\) cannot be read"):
        artifacts.fetch(
            store, "shop", "web", artifact(repo, credentials={"ssh_key_file": "/nonexistent/key"})
        )


def test_the_token_is_scrubbed_from_git_errors(store: StateStore, tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("s3cret-t0ken\n")
    token.chmod(0o600)

    def failing(args: object, env: object) -> bytes:
        raise artifacts.DriverError("git clone failed: remote said s3cret-t0ken is wrong")

    with pytest.raises(artifacts.DriverError) as caught:
        artifacts.fetch(
            store,
            "shop",
            "web",
            Artifact.model_validate({"url": "https://h/r.git", "credentials": {"token_file": str(token)}}),
            git=failing,
        )
    assert "s3cret-t0ken" not in str(caught.value)
    assert "***" in str(caught.value)


def test_the_lock_serialises_two_users(repo: Path, store: StateStore) -> None:
    order: list[str] = []
    entered = threading.Event()

    def second() -> None:
        entered.wait(5)
        with artifacts.lock(store, "shop", "web"):
            order.append("second")

    thread = threading.Thread(target=second)
    thread.start()
    with artifacts.lock(store, "shop", "web"):
        entered.set()
        thread.join(0.2)
        order.append("first")
    thread.join(5)
    assert order == ["first", "second"]
