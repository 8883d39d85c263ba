"""Application artifacts: a git branch checked out into release directories, ``current`` switched atomically.

Layout, under ``<state>/releases/<app>/<alias>/`` (mounted read-only into members at /srv/stratos/app)::

    repo.git/        a mirror of the repository (``git clone --mirror``, then ``git fetch``)
    <sha>/           one directory per release: the tree of that commit (``git archive``, untarred)
    current -> <sha> a relative symlink, replaced by rename (readers see the old or the new release)
    rollout.json     the agent's rollout state (see :mod:`stratos.agent.rollout`)
    known_hosts      SSH host keys of the remote, trusted on first use, for this subscription only
    .lock            held (``flock``) while git or a switch works here: the agent and the CLI share it

The steps are separate so the agent can check a release before it goes live: :func:`fetch` (the
branch head), :func:`prepare` (the release directory), :func:`switch` (``current``), :func:`prune`
(old releases, never the protected ones). :func:`sync` does all four, for a first release.

Credentials never appear on a command line: a token file is read by a 0700 ``GIT_ASKPASS`` script
given its path in the environment; an SSH key file is named in ``GIT_SSH_COMMAND``; credential
helpers are switched off so git stores nothing. Both files must be readable by their owner only.
URLs (and the token, should git ever print it) are redacted in error messages.
"""

from __future__ import annotations

import fcntl
import io
import os
import re
import secrets
import shlex
import shutil
import stat
import subprocess
import tarfile
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from stratos.errors import DriverError, StratosError
from stratos.model import Artifact, Credentials
from stratos.store import StateStore

#: Seconds one git command may take.
GIT_TIMEOUT = 300.0

_SHA = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")
_REV = re.compile(r"^[0-9a-f]{4,64}$")

Runner = Callable[[Sequence[str], Mapping[str, str]], bytes]

#: Options every network git command gets: no credential helper may store or offer a secret.
_NO_HELPERS = ("-c", "credential.helper=")


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
        raise DriverError(f"git {_verb(args)}: {exc}") from exc
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip().splitlines()
        raise DriverError(f"git {_verb(args)} failed: {_redact(' '.join(message[-3:]))}")
    return done.stdout


def _verb(args: Sequence[str]) -> str:
    """The git sub-command, skipping ``-c`` options and ``--git-dir``."""
    rest = list(args)
    while rest and rest[0] in ("-c", "--git-dir"):
        rest = rest[2:]
    return _redact(rest[0]) if rest else ""


@dataclass(frozen=True)
class Release:
    """The release ``current`` points to after a sync; ``changed`` when this sync switched it."""

    sha: str
    path: Path
    changed: bool
    previous: str | None = None


def is_sha(text: str) -> bool:
    return bool(_SHA.match(text))


def current_release(store: StateStore, app: str, alias: str) -> str | None:
    link = store.releases_dir(app, alias) / "current"
    try:
        target = os.readlink(link)
    except OSError:
        return None
    return target if _SHA.match(target) else None


def release_dir(store: StateStore, app: str, alias: str, sha: str) -> Path:
    if not _SHA.match(sha):
        raise StratosError(f"artifact: {sha!r} is not a full commit id")
    return store.releases_dir(app, alias) / sha


def releases(store: StateStore, app: str, alias: str) -> list[str]:
    """The releases checked out on the host, most recently switched to or prepared first."""
    base = store.releases_dir(app, alias)
    if not base.is_dir():
        return []
    found = [p for p in base.iterdir() if p.is_dir() and not p.is_symlink() and _SHA.match(p.name)]
    found.sort(key=lambda p: (p.stat().st_mtime, p.name), reverse=True)
    return [p.name for p in found]


@contextmanager
def lock(store: StateStore, app: str, alias: str) -> Iterator[None]:
    """Exclusive use of a subscription's releases directory (the agent and ``stratos sync --now``)."""
    base = _base(store, app, alias)
    fd = os.open(base / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _base(store: StateStore, app: str, alias: str) -> Path:
    base = store.releases_dir(app, alias)
    base.mkdir(parents=True, exist_ok=True)
    os.chmod(base, 0o755)
    return base


# --------------------------------------------------------------------------- the steps


def fetch(store: StateStore, app: str, alias: str, artifact: Artifact, *, git: Runner = run_git) -> str:
    """Bring the mirror up to date (clone it the first time); return the branch head's commit id."""
    base = _base(store, app, alias)
    repo = base / "repo.git"
    with _credentials(artifact, base / "known_hosts") as (env, scrub):
        try:
            if not (repo / "HEAD").is_file():
                shutil.rmtree(repo, ignore_errors=True)
                git([*_NO_HELPERS, "clone", "--mirror", "--quiet", artifact.url, str(repo)], env)
            else:
                if _origin(git, repo) != artifact.url:
                    git(["--git-dir", str(repo), "remote", "set-url", "origin", artifact.url], {})
                git([*_NO_HELPERS, "--git-dir", str(repo), "fetch", "--prune", "--quiet", "origin"], env)
        except DriverError as exc:
            raise DriverError(scrub(str(exc))) from None
    return _head(git, repo, artifact.branch)


def resolve(store: StateStore, app: str, alias: str, rev: str, *, git: Runner = run_git) -> str:
    """The full commit id of ``rev`` (a commit id, possibly abbreviated) in the mirror."""
    repo = store.releases_dir(app, alias) / "repo.git"
    if not _REV.match(rev):
        raise StratosError(f"artifact: {rev!r} is not a commit id")
    if _SHA.match(rev) and (store.releases_dir(app, alias) / rev).is_dir():
        return rev
    if not (repo / "HEAD").is_file():
        raise StratosError(f"artifact of {app}/{alias}: no repository fetched yet to find commit {rev}")
    try:
        out = git(["--git-dir", str(repo), "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"], {})
    except DriverError as exc:
        raise StratosError(f"artifact of {app}/{alias}: commit {rev} is not in the repository") from exc
    return out.decode().strip()


def prepare(store: StateStore, app: str, alias: str, sha: str, *, git: Runner = run_git) -> Path:
    """The release directory of ``sha``, checked out from the mirror if it is not there yet."""
    base = _base(store, app, alias)
    target = release_dir(store, app, alias, sha)
    if not target.is_dir():
        _checkout(git, base / "repo.git", sha, base)
    return target


def switch(store: StateStore, app: str, alias: str, sha: str) -> str | None:
    """Point ``current`` at the release ``sha`` (atomically); return the release it pointed at."""
    base = _base(store, app, alias)
    target = release_dir(store, app, alias, sha)
    if not target.is_dir():
        raise StratosError(f"artifact of {app}/{alias}: release {sha[:12]} is not checked out")
    previous = current_release(store, app, alias)
    if previous != sha:
        tmp = base / f".current.{secrets.token_hex(4)}"
        os.symlink(sha, tmp)
        os.replace(tmp, base / "current")
    os.utime(target)  # the newest in the ranking prune keeps by
    return previous


def prune(store: StateStore, app: str, alias: str, keep: int, protect: Iterable[str] = ()) -> list[str]:
    """Remove releases beyond the ``keep`` most recent; ``current`` and ``protect`` always stay."""
    base = store.releases_dir(app, alias)
    kept = {current_release(store, app, alias), *protect}
    listed = releases(store, app, alias)
    budget = max(0, keep - len({sha for sha in kept if sha in listed}))
    removed = []
    for sha in listed:
        if sha in kept:
            continue
        if budget > 0:
            budget -= 1
            continue
        shutil.rmtree(base / sha, ignore_errors=True)
        removed.append(sha)
    return removed


def commit_subject(store: StateStore, app: str, alias: str, sha: str, *, git: Runner = run_git) -> str:
    """The first line of the commit's message (at most 200 characters), or '' if unknown."""
    repo = store.releases_dir(app, alias) / "repo.git"
    try:
        out = git(["--git-dir", str(repo), "log", "-1", "--format=%s", sha], {})
    except DriverError:
        return ""
    return out.decode(errors="replace").strip()[:200]


def sync(
    store: StateStore,
    app: str,
    alias: str,
    artifact: Artifact,
    *,
    git: Runner = run_git,
) -> Release:
    """Fetch the branch, check its head out into ``<sha>/`` if new, and point ``current`` at it."""
    with lock(store, app, alias):
        sha = fetch(store, app, alias, artifact, git=git)
        if artifact.pin:
            sha = resolve(store, app, alias, artifact.pin, git=git)
        path = prepare(store, app, alias, sha, git=git)
        previous = switch(store, app, alias, sha)
        prune(store, app, alias, artifact.keep_releases)
    return Release(sha, path, previous != sha, previous)


# --------------------------------------------------------------------------- git details


def _origin(git: Runner, repo: Path) -> str:
    try:
        return git(["--git-dir", str(repo), "config", "--get", "remote.origin.url"], {}).decode().strip()
    except DriverError:
        return ""


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
            _extract_safely(archive, tmp)
        os.chmod(tmp, 0o755)
        os.rename(tmp, base / sha)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _extract_safely(archive: tarfile.TarFile, target: Path) -> None:
    """Extract with the "data" filter where this Python has it (3.11.4+); else refuse the same
    dangerous members by hand (Debian bookworm ships 3.11.2, the agent image's Python)."""
    if hasattr(tarfile, "data_filter"):
        archive.extractall(target, filter="data")
        return
    root = target.resolve()
    for member in archive.getmembers():
        dest = (target / member.name).resolve()
        if dest != root and root not in dest.parents:
            raise DriverError(f"artifact: archive member {member.name!r} points outside the release")
        if member.issym() or member.islnk():
            link = (dest.parent / member.linkname).resolve()
            if member.linkname.startswith("/") or (link != root and root not in link.parents):
                raise DriverError(f"artifact: link {member.name!r} points outside the release")
        if not (member.isreg() or member.isdir() or member.issym() or member.islnk()):
            raise DriverError(f"artifact: archive member {member.name!r} is not a file, directory or link")
        member.mode &= 0o755
    archive.extractall(target)  # noqa: S202 - every member was checked above


_ASKPASS = """#!/bin/sh
# Written by stratos.artifacts: answers git's prompts from files, so no secret is on a command line.
case "$1" in
    Username*) printf '%s\\n' "${STRATOS_GIT_USERNAME:-x-access-token}" ;;
    *) cat "$STRATOS_GIT_TOKEN_FILE" ;;
esac
"""


def check_secret_file(field: str, path: str) -> None:
    """A credentials file must exist and be readable by its owner only (0600 or 0400)."""
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        raise StratosError(f"artifact: credentials.{field} ({path}) cannot be read: {exc.strerror}") from None
    if not stat.S_ISREG(mode):
        raise StratosError(f"artifact: credentials.{field} ({path}) must be a regular file")
    if mode & 0o077:
        raise StratosError(
            f"artifact: credentials.{field} ({path}) must be readable by its owner only "
            f"(mode 0600), not {stat.S_IMODE(mode):04o}"
        )


@contextmanager
def _credentials(
    artifact: Artifact, known_hosts: Path | None = None
) -> Iterator[tuple[dict[str, str], Callable[[str], str]]]:
    """Environment for git (never prompt; a token through GIT_ASKPASS, a key through GIT_SSH_COMMAND)
    and a function that removes the token from a message."""
    env = {"GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "/bin/false", "SSH_ASKPASS": "/bin/false"}
    creds: Credentials | None = artifact.credentials
    ssh = ["ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=accept-new"]
    if known_hosts is not None:
        ssh += ["-o", f"UserKnownHostsFile={known_hosts}"]
    token = ""
    workdir: Path | None = None
    try:
        if creds is not None and creds.token_file:
            check_secret_file("token_file", creds.token_file)
            token = Path(creds.token_file).read_text().strip()
            workdir = Path(tempfile.mkdtemp(prefix="stratos-git-"))
            os.chmod(workdir, 0o700)
            script = workdir / "askpass"
            fd = os.open(script, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o700)
            with os.fdopen(fd, "w") as handle:
                handle.write(_ASKPASS)
            env.update(
                GIT_ASKPASS=str(script),
                STRATOS_GIT_TOKEN_FILE=creds.token_file,
                STRATOS_GIT_USERNAME=creds.username or "x-access-token",
            )
        if creds is not None and creds.ssh_key_file:
            check_secret_file("ssh_key_file", creds.ssh_key_file)
            ssh += ["-i", creds.ssh_key_file, "-o", "IdentitiesOnly=yes"]
        env["GIT_SSH_COMMAND"] = shlex.join(ssh)

        def scrub(text: str) -> str:
            return text.replace(token, "***") if len(token) >= 4 else text

        yield env, scrub
    finally:
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)


def _redact(text: str) -> str:
    return re.sub(r"//([^/@:\s]+):[^/@\s]+@", r"//\1:***@", text)
