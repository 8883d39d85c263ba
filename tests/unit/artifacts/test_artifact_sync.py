from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest
from support import commit, git
from support import file_artifact as artifact

from stratos import artifacts
from stratos.errors import DriverError, StratosError
from stratos.store import StateStore


def ask(script: Path, prompt: str, env: Mapping[str, str]) -> str:
    """What the ``GIT_ASKPASS`` ``script`` answers git's ``prompt``, run as git runs it (with
    ``env`` over this process's environment)."""
    return subprocess.run(
        [str(script), prompt], env={**os.environ, **env}, capture_output=True, text=True, check=True
    ).stdout


def test_first_sync_checks_out_and_links_current(repo: Path, store: StateStore) -> None:
    head = git("rev-parse", "HEAD", cwd=repo)
    release = artifacts.sync(store, "shop", "web", artifact(repo))
    base = store.releases_dir("shop", "web")
    assert (release.sha, release.changed, release.previous) == (head, True, None)
    assert os.readlink(base / "current") == head  # relative: valid inside the member's mount
    assert (base / "current" / "index.php").read_text() == "v1"
    assert (base / "repo.git" / "HEAD").is_file()
    assert artifacts.current_release(store, "shop", "web") == head


def test_a_sync_without_new_commits_changes_nothing(repo: Path, store: StateStore) -> None:
    first = artifacts.sync(store, "shop", "web", artifact(repo))
    again = artifacts.sync(store, "shop", "web", artifact(repo))
    assert (again.sha, again.changed) == (first.sha, False)


def test_a_new_commit_switches_current(repo: Path, store: StateStore) -> None:
    first = artifacts.sync(store, "shop", "web", artifact(repo))
    second_sha = commit(repo, {"index.php": "v2"}, "v2")
    second = artifacts.sync(store, "shop", "web", artifact(repo))
    base = store.releases_dir("shop", "web")
    assert (second.sha, second.changed, second.previous) == (second_sha, True, first.sha)
    assert (base / "current" / "index.php").read_text() == "v2"
    assert (base / first.sha / "index.php").read_text() == "v1"  # kept for rollback


def test_old_releases_are_pruned_to_keep_releases(repo: Path, store: StateStore) -> None:
    shas = [artifacts.sync(store, "shop", "web", artifact(repo, keep_releases=2)).sha]
    for n in range(2, 5):
        commit(repo, {"index.php": f"v{n}"}, f"v{n}")
        shas.append(artifacts.sync(store, "shop", "web", artifact(repo, keep_releases=2)).sha)
    base = store.releases_dir("shop", "web")
    kept = sorted(p.name for p in base.iterdir() if len(p.name) == 40)
    assert kept == sorted(shas[-2:])


def test_a_missing_branch_is_a_permanent_error(repo: Path, store: StateStore) -> None:
    with pytest.raises(StratosError, match="branch 'release' does not exist"):
        artifacts.sync(store, "shop", "web", artifact(repo, branch="release"))


def test_an_unreachable_repository_is_a_driver_error(tmp_path: Path, store: StateStore) -> None:
    with pytest.raises(DriverError, match="git clone failed"):
        artifacts.sync(store, "shop", "web", artifact(tmp_path / "nowhere"))


def test_credentials_never_reach_a_command_line(repo: Path, store: StateStore, tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("t0ken-value\n")
    key = tmp_path / "key"
    key.write_text("not a real key")
    token.chmod(0o600)
    key.chmod(0o600)
    seen: list[tuple[list[str], dict[str, str]]] = []

    def recording(args: Sequence[str], env: Mapping[str, str]) -> bytes:
        seen.append((list(args), dict(env)))
        if "GIT_ASKPASS" in env and env["GIT_ASKPASS"] != "/bin/false":
            script = Path(env["GIT_ASKPASS"])
            assert script.stat().st_mode & 0o777 == 0o700
            assert ask(script, "Password for 'https://x@h': ", env) == "t0ken-value\n"
            assert ask(script, "Username for 'https://h': ", env) == "deploy\n"
        return artifacts.run_git(args, env)

    creds = {"username": "deploy", "token_file": str(token), "ssh_key_file": str(key)}
    artifacts.sync(store, "shop", "web", artifact(repo, credentials=creds), git=recording)
    clone_args, clone_env = seen[0]
    assert "clone" in clone_args and "credential.helper=" in clone_args
    assert all("t0ken-value" not in arg for args, _ in seen for arg in args)
    assert all("t0ken-value" not in value for _, env in seen for value in env.values())
    assert clone_env["GIT_TERMINAL_PROMPT"] == "0"
    assert clone_env["STRATOS_GIT_TOKEN_FILE"] == str(token)
    assert f"-i {key}" in clone_env["GIT_SSH_COMMAND"]
    assert "UserKnownHostsFile=" in clone_env["GIT_SSH_COMMAND"]
    assert not Path(clone_env["GIT_ASKPASS"]).exists()  # removed after the sync
