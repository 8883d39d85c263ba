"""Application artifacts: a git branch checked out into release directories, ``current`` switched atomically.

Layout, under ``<state>/releases/<app>/<alias>/`` (mounted read-only into members at /srv/stratos/app)::

    repo.git/        a mirror of the repository (``git clone --mirror``, then ``git fetch``)
    <sha>/           one directory per release: the tree of that commit (``git archive``, untarred)
    current -> <sha> a relative symlink, replaced by rename (readers see the old or the new release)

Credentials never appear on a command line: a token file is read by a 0700 ``GIT_ASKPASS`` script
given its path in the environment; an SSH key file is named in ``GIT_SSH_COMMAND``. URLs are
redacted in error messages. This is the first form; polling intervals, webhooks and rollback of a
release that fails its health check come later.
"""

from __future__ import annotations

import io
import os
import re
import secrets
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from stratos.errors import DriverError, StratosError
from stratos.model import Artifact
from stratos.store import StateStore

#: Seconds one git command may take.
GIT_TIMEOUT = 300.0

_SHA = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")

Runner = Callable[[Sequence[str], Mapping[str, str]], bytes]


def run_git(args: Sequence[str], env: Mapping[str, str]) -> bytes:
    """Run git, return its standard output; a failure raises DriverError with its standard error."""
    try:
        done = subprocess.run(
            ["git", *args],
            env={**os.environ, **env},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=GIT_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DriverError(f"git {args[0] if args else ''}: {exc}") from exc
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip().splitlines()
        raise DriverError(f"git {_redact(' '.join(args[:1]))} failed: {_redact(' '.join(message[-3:]))}")
    return done.stdout


@dataclass(frozen=True)
class Release:
    """The release ``current`` points to after a sync; ``changed`` when this sync switched it."""

    sha: str
    path: Path
    changed: bool
    previous: str | None = None


def current_release(store: StateStore, app: str, alias: str) -> str | None:
    link = store.releases_dir(app, alias) / "current"
    try:
        target = os.readlink(link)
    except OSError:
        return None
    return target if _SHA.match(target) else None


def sync(
    store: StateStore,
    app: str,
    alias: str,
    artifact: Artifact,
    *,
    git: Runner = run_git,
) -> Release:
    """Fetch the branch, check its head out into ``<sha>/`` if new, and point ``current`` at it."""
    base = store.releases_dir(app, alias)
    base.mkdir(parents=True, exist_ok=True)
    os.chmod(base, 0o755)
    repo = base / "repo.git"
    with _credentials(artifact) as env:
        if not (repo / "HEAD").is_file():
            shutil.rmtree(repo, ignore_errors=True)
            git(["clone", "--mirror", "--quiet", artifact.url, str(repo)], env)
        else:
            git(["--git-dir", str(repo), "fetch", "--prune", "--quiet", "origin"], env)
    sha = _head(git, repo, artifact.branch)
    target = base / sha
    if not target.is_dir():
        _checkout(git, repo, sha, base)
    previous = current_release(store, app, alias)
    changed = previous != sha
    if changed:
        _switch(base, sha)
    _prune(base, keep=artifact.keep_releases, current=sha)
    return Release(sha, target, changed, previous)


def _head(git: Runner, repo: Path, branch: str) -> str:
    try:
        out = git(["--git-dir", str(repo), "rev-parse", "--verify", f"refs/heads/{branch}^{{commit}}"], {})
    except DriverError as exc:
        raise StratosError(f"artifact: branch '{branch}' does not exist in the repository") from exc
    sha = out.decode().strip()
    if not _SHA.match(sha):
        raise DriverError(f"artifact: git answered {sha!r} for the head of '{branch}'")
    return sha


def _checkout(git: Runner, repo: Path, sha: str, base: Path) -> None:
    """``git archive`` of the commit, extracted (no process but git) into a temporary dir, renamed."""
    data = git(["--git-dir", str(repo), "archive", "--format=tar", sha], {})
    tmp = Path(tempfile.mkdtemp(dir=base, prefix=f".{sha[:12]}."))
    try:
        with tarfile.open(fileobj=io.BytesIO(data)) as archive:
            archive.extractall(tmp, filter="data")
        os.chmod(tmp, 0o755)
        os.rename(tmp, base / sha)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _switch(base: Path, sha: str) -> None:
    tmp = base / f".current.{secrets.token_hex(4)}"
    os.symlink(sha, tmp)
    os.replace(tmp, base / "current")


def _prune(base: Path, keep: int, current: str) -> None:
    releases = [p for p in base.iterdir() if p.is_dir() and _SHA.match(p.name) and p.name != current]
    releases.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    for old in releases[max(0, keep - 1) :]:
        shutil.rmtree(old, ignore_errors=True)


_ASKPASS = """#!/bin/sh
# Written by stratos.artifacts: answers git's prompts from files, so no secret is on a command line.
case "$1" in
    Username*) printf '%s\\n' "${STRATOS_GIT_USERNAME:-x-access-token}" ;;
    *) cat "$STRATOS_GIT_TOKEN_FILE" ;;
esac
"""


@contextmanager
def _credentials(artifact: Artifact) -> Iterator[dict[str, str]]:
    """Environment for git: never prompt; a token through GIT_ASKPASS, a key through GIT_SSH_COMMAND."""
    env = {"GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "/bin/false", "SSH_ASKPASS": "/bin/false"}
    creds = artifact.credentials
    if creds is None:
        yield env
        return
    workdir = Path(tempfile.mkdtemp(prefix="stratos-git-"))
    try:
        os.chmod(workdir, 0o700)
        if creds.token_file:
            script = workdir / "askpass"
            fd = os.open(script, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o700)
            with os.fdopen(fd, "w") as handle:
                handle.write(_ASKPASS)
            env.update(
                GIT_ASKPASS=str(script),
                STRATOS_GIT_TOKEN_FILE=creds.token_file,
                STRATOS_GIT_USERNAME=creds.username or "x-access-token",
            )
        if creds.ssh_key_file:
            env["GIT_SSH_COMMAND"] = (
                f"ssh -i '{creds.ssh_key_file}' -o IdentitiesOnly=yes -o BatchMode=yes "
                "-o StrictHostKeyChecking=accept-new"
            )
        yield env
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _redact(text: str) -> str:
    return re.sub(r"//([^/@:\s]+):[^/@\s]+@", r"//\1:***@", text)
