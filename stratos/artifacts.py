"""Application artifacts: a git branch checked out into release directories, ``current`` switched atomically.

Layout, under ``<state>/releases/<app>/<alias>/`` (mounted read-only into members at /srv/stratos/app)::

    repo.git/        a mirror of the repository (``git clone --mirror``, then ``git fetch``)
    <sha>/           one directory per release: the tree of that commit, written by git itself
    current -> <sha> a relative symlink, replaced by rename (readers see the old or the new release)
    rollout.json     the agent's rollout state (see :mod:`stratos.releases.state`)
    known_hosts      the ssh host keys the definition gives (``artifact.ssh_known_hosts``), if any
    .lock            held (``flock``) while git or a switch works here: the agent and the CLI share it

The steps are separate so the agent can check a release before it goes live: :func:`fetch` (the
branch head), :func:`prepare` (the release directory), :func:`switch` (``current``), :func:`prune`
(old releases, never the protected ones). :func:`sync` does all four, for a first release.

Credentials never appear on a command line: a token file is read by a 0700 ``GIT_ASKPASS`` script
given its path in the environment; an SSH key file is named in ``GIT_SSH_COMMAND``; credential
helpers are switched off so git stores nothing. Both files must be readable by their owner only.
URLs (and the token, should git ever print it) are redacted in error messages.

What git may do is bounded (see :func:`_remote`): only the transport the URL names (https, ssh;
http and git with ``allow_plaintext``; file under ``STRATOS_GIT_FILE_ROOT``), never a remote helper;
every object fetched is checked (``transfer.fsckObjects``); ssh host keys come from the definition
or ``STRATOS_GIT_KNOWN_HOSTS``, never trusted on first use; slow or silent remotes time out; a URL
or ref on a command line always follows ``--`` (or ``--end-of-options``). A release is written by
git (``read-tree`` + ``checkout-index`` with a private index), which never writes through a
symbolic link; a tree git would have to mangle (two entries of one name) or a link that leads out
of the release is refused (:class:`RefusedTree`).
"""

from __future__ import annotations

import fcntl
import os
import re
import secrets
import shlex
import shutil
import signal
import stat
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from stratos import settings
from stratos.errors import DriverError, StratosError
from stratos.model import PLAINTEXT_TRANSPORTS, Artifact, Credentials, git_transport, redact_text, redact_url
from stratos.releases.decide import is_sha
from stratos.store import StateStore

_REV = re.compile(r"^[0-9a-f]{4,64}$")

Runner = Callable[[Sequence[str], Mapping[str, str]], bytes]

#: Environment of every git command: never prompt, no transport at all unless :func:`_remote` allows one.
_BASE_ENV = {"GIT_TERMINAL_PROMPT": "0", "GIT_ALLOW_PROTOCOL": "", "GIT_PROTOCOL_FROM_USER": "0"}

#: What git adds to every failed connection, hiding the line that says why (ssh's, say).
_BOILERPLATE = {
    "fatal: Could not read from remote repository.",
    "Please make sure you have the correct access rights",
    "and the repository exists.",
}

#: A checkout that failed for one of these may work later: not a refused tree.
_TEMPORARY = ("STRATOS_GIT_TIMEOUT", "No space left", "Disk quota", "Too many open files", "Cannot allocate")

#: Seconds of less than 1000 bytes/s after which an http(s) transfer is given up.
_LOW_SPEED_LIMIT = 1000


class RefusedTree(StratosError):
    """A commit's tree that is not checked out: it could write outside its release, or git would
    have to drop entries of it. Permanent: the same commit is refused again."""


def run_git(args: Sequence[str], env: Mapping[str, str]) -> bytes:
    """Run git, return its standard output; a failure raises DriverError with its standard error.

    The whole command may take ``STRATOS_GIT_TIMEOUT`` seconds (default 120), then it is killed."""
    timeout = settings.git_timeout()
    try:
        # A session of its own: on a timeout, its remote helper (git-remote-https, ssh) goes too,
        # rather than living on with the connection (curl's connect timeout is 300 s).
        with subprocess.Popen(
            ["git", *args],
            env={**os.environ, **_BASE_ENV, **env},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        ) as proc:
            try:
                stdout, stderr = proc.communicate(timeout=timeout)
            except BaseException:  # the timeout, or this thread interrupted
                _kill_group(proc)
                raise
        done = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
    except subprocess.TimeoutExpired:
        raise DriverError(
            f"git {_verb(args)}: no result within {timeout:g} s (STRATOS_GIT_TIMEOUT): "
            "the remote does not answer or is too slow"
        ) from None
    except OSError as exc:
        raise DriverError(f"git {_verb(args)}: {exc}") from exc
    if done.returncode != 0:
        lines = done.stderr.decode(errors="replace").strip().splitlines()
        message = [line.strip() for line in lines if line.strip() and line.strip() not in _BOILERPLATE]
        raise DriverError(f"git {_verb(args)} failed: {redact_text(' '.join(message[-3:]))}")
    return done.stdout


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Kill git and every process of its session (remote helpers, ssh), then reap git."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        proc.kill()
    proc.wait()


def _verb(args: Sequence[str]) -> str:
    """The git sub-command, skipping ``-c`` options and ``--git-dir``."""
    rest = list(args)
    while rest and rest[0] in ("-c", "--git-dir", "--work-tree"):
        rest = rest[2:]
    return redact_text(rest[0]) if rest else ""


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
    return target if is_sha(target) else None


def release_dir(store: StateStore, app: str, alias: str, sha: str) -> Path:
    if not is_sha(sha):
        raise StratosError(f"artifact: {sha!r} is not a full commit id")
    return store.releases_dir(app, alias) / sha


def releases(store: StateStore, app: str, alias: str) -> list[str]:
    """The releases checked out on the host, most recently switched to or prepared first."""
    base = store.releases_dir(app, alias)
    if not base.is_dir():
        return []
    found = [p for p in base.iterdir() if p.is_dir() and not p.is_symlink() and is_sha(p.name)]
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
    options, remote_env = _remote(store, artifact, base)
    with _credentials(artifact, _known_hosts(artifact, base)) as (env, scrub):
        env = {**env, **remote_env}
        try:
            if not (repo / "HEAD").is_file():
                shutil.rmtree(repo, ignore_errors=True)
                git([*options, "clone", "--mirror", "--quiet", "--", artifact.url, str(repo)], env)
            else:
                if _origin(git, repo) != artifact.url:
                    git(["--git-dir", str(repo), "remote", "set-url", "--", "origin", artifact.url], {})
                git([*options, "--git-dir", str(repo), "fetch", "--prune", "--quiet", "--", "origin"], env)
        except DriverError as exc:
            raise DriverError(scrub(str(exc))) from None
    return _head(git, repo, artifact.branch)


def resolve(store: StateStore, app: str, alias: str, rev: str, *, git: Runner = run_git) -> str:
    """The full commit id of ``rev`` (a commit id, possibly abbreviated) in the mirror."""
    repo = store.releases_dir(app, alias) / "repo.git"
    if not _REV.match(rev):
        raise StratosError(f"artifact: {rev!r} is not a commit id")
    if is_sha(rev) and (store.releases_dir(app, alias) / rev).is_dir():
        return rev
    if not (repo / "HEAD").is_file():
        raise StratosError(f"artifact of {app}/{alias}: no repository fetched yet to find commit {rev}")
    try:
        return _rev_parse(git, repo, f"{rev}^{{commit}}", "--quiet")
    except DriverError as exc:
        raise StratosError(f"artifact of {app}/{alias}: commit {rev} is not in the repository") from exc


def _rev_parse(git: Runner, repo: Path, rev: str, *options: str) -> str:
    """The object ``rev`` names in the mirror (``git rev-parse --verify``, never read as an option)."""
    out = git(["--git-dir", str(repo), "rev-parse", "--verify", *options, "--end-of-options", rev], {})
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
        out = git(["--git-dir", str(repo), "log", "-1", "--format=%s", "--end-of-options", sha, "--"], {})
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
        sha = _rev_parse(git, repo, f"refs/heads/{branch}^{{commit}}")
    except DriverError as exc:
        raise StratosError(f"artifact: branch '{branch}' does not exist in the repository") from exc
    if not is_sha(sha):
        raise DriverError(f"artifact: git answered {sha!r} for the head of '{branch}'")
    return sha


def _checkout(git: Runner, repo: Path, sha: str, base: Path) -> None:
    """Have git write the commit's tree into a temporary directory (its own index, no attributes'
    filters from anyone's configuration), check what it wrote, then rename it into place.

    git refuses to write through a symbolic link and keeps no two entries of one path in an index,
    so nothing lands outside the directory; a tree that needs either (the way out of a release:
    ``a -> .`` beside a directory ``a``) is refused before anything is written, and so is a link
    that leads out of the release once every file is there to resolve it against."""
    _refuse_duplicates(git, repo, sha)
    tmp = Path(tempfile.mkdtemp(dir=base, prefix=f".{sha[:12]}."))
    index = Path(tempfile.mkdtemp(dir=base, prefix=".index."))
    env = {
        "GIT_INDEX_FILE": str(index / "index"),
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    local = [
        "-c",
        "core.symlinks=true",
        "-c",
        "core.autocrlf=false",
        "--git-dir",
        str(repo),
        "--work-tree",
        str(tmp),
    ]
    try:
        try:
            git([*local, "read-tree", "--end-of-options", sha], env)
            git([*local, "checkout-index", "--all"], env)
        except DriverError as exc:
            if any(word in str(exc) for word in _TEMPORARY):
                raise  # the host's trouble, not the tree's: tried again
            raise RefusedTree(f"release {sha[:12]}: git refused to check the tree out: {exc}") from None
        _check_written(tmp, sha)
        os.chmod(tmp, 0o755)
        os.rename(tmp, base / sha)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(index, ignore_errors=True)


def _refuse_duplicates(git: Runner, repo: Path, sha: str) -> None:
    """Two entries of one path in a tree (fsck's ``duplicateEntries``): git would keep one of them."""
    out = git(
        ["--git-dir", str(repo), "ls-tree", "-r", "-t", "-z", "--full-tree", "--end-of-options", sha], {}
    )
    seen: dict[bytes, bytes] = {}
    for entry in out.split(b"\0"):
        meta, _, path = entry.partition(b"\t")
        if not path:
            continue
        if path in seen:
            raise RefusedTree(
                f"release {sha[:12]}: the tree has two entries '{path.decode(errors='replace')}' "
                f"({_kind(seen[path])} and {_kind(meta)}): refused, it could write outside the release"
            )
        seen[path] = meta


def _kind(meta: bytes) -> str:
    """What an ``ls-tree`` entry (``<mode> <type> <id>``) is."""
    if meta.startswith(b"040000"):
        return "a directory"
    return "a symbolic link" if meta.startswith(b"120000") else "a file"


def _check_written(root: Path, sha: str) -> None:
    """Every link stays inside the release (resolved now that all of it exists); modes 0644/0755."""
    top = os.path.realpath(root)
    for dirpath, dirnames, filenames in os.walk(root):  # links to directories are listed, not followed
        os.chmod(dirpath, 0o755)
        for name in (*dirnames, *filenames):
            path = os.path.join(dirpath, name)
            mode = os.lstat(path).st_mode
            if stat.S_ISLNK(mode):
                target = os.readlink(path)
                resolved = os.path.realpath(path)
                if target.startswith("/") or (resolved != top and not resolved.startswith(top + os.sep)):
                    shown = os.path.relpath(path, root)
                    raise RefusedTree(
                        f"release {sha[:12]}: link {shown!r} -> {target!r} points outside the release"
                    )
            elif stat.S_ISREG(mode):
                os.chmod(path, 0o755 if mode & 0o100 else 0o644)
            elif not stat.S_ISDIR(mode):
                raise RefusedTree(
                    f"release {sha[:12]}: {os.path.relpath(path, root)!r} is not a file, directory or link"
                )


# --------------------------------------------------------------------------- what git may do


def _remote(store: StateStore, artifact: Artifact, base: Path) -> tuple[list[str], dict[str, str]]:
    """Options and environment of a command that talks to the remote: only the URL's transport,
    objects checked, bounded in time, no credential helper."""
    url = artifact.url
    transport = git_transport(url)
    if transport not in ("https", "ssh", "file", *PLAINTEXT_TRANSPORTS) or url.startswith("-"):
        raise StratosError(f"artifact.url ({redact_url(url)}): not a transport git may use here")
    if transport in PLAINTEXT_TRANSPORTS and not artifact.allow_plaintext:
        raise StratosError(
            f"artifact.url ({redact_url(url)}): {transport}:// is plaintext; set allow_plaintext: true to use it"
        )
    if redact_url(url) != url:
        raise StratosError(f"artifact.url ({redact_url(url)}): must not contain credentials")
    if transport == "file":
        _check_file_root(store, url)
    options = [
        "-c",
        "credential.helper=",
        "-c",
        "protocol.allow=never",
        "-c",
        f"protocol.{transport}.allow=always",
        "-c",
        "transfer.fsckObjects=true",
        "-c",
        "fetch.fsckObjects=true",
        "-c",
        f"http.lowSpeedLimit={_LOW_SPEED_LIMIT}",
        "-c",
        f"http.lowSpeedTime={settings.git_low_speed_time()}",
        "-c",
        "http.followRedirects=initial",
    ]
    return options, {"GIT_ALLOW_PROTOCOL": transport}


def _check_file_root(store: StateStore, url: str) -> None:
    """A ``file://`` repository lives under STRATOS_GIT_FILE_ROOT (default ``<state>/git``), and in
    no other part of the state directory (mirrors, secrets, definitions), links resolved."""
    root = settings.git_file_root() or store.root / "git"
    path = url.removeprefix("file://")
    real, top, state, own = (os.path.realpath(p) for p in (path, root, store.root, store.root / "git"))
    if not _inside(real, top):
        raise StratosError(
            f"artifact.url ({url}): a file:// repository must be inside {root} (STRATOS_GIT_FILE_ROOT, "
            "default <state>/git)"
        )
    if (_inside(real, state) and not _inside(real, own)) or _inside(state, real):
        raise StratosError(
            f"artifact.url ({url}): must not point into the state directory ({store.root}) but its git/"
        )


def _inside(path: str, top: str) -> bool:
    return path == top or path.startswith(top.rstrip(os.sep) + os.sep)


def _known_hosts(artifact: Artifact, base: Path) -> Path | None:
    """The known_hosts file ssh checks the remote's key against (never one it adds keys to)."""
    if git_transport(artifact.url) != "ssh":
        return None
    if artifact.ssh_known_hosts is not None:
        path = base / "known_hosts"
        tmp = base / f".known_hosts.{secrets.token_hex(4)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        with os.fdopen(fd, "w") as handle:
            handle.write(artifact.ssh_known_hosts.rstrip("\n") + "\n")
        os.replace(tmp, path)
        return path
    configured = settings.git_known_hosts()
    if configured is None:
        raise StratosError(
            f"artifact.url ({redact_url(artifact.url)}): ssh needs the remote's host keys: set "
            "artifact.ssh_known_hosts (ssh-keyscan's lines) or STRATOS_GIT_KNOWN_HOSTS (a known_hosts "
            "file); no key is trusted on first use"
        )
    if not configured.is_file():
        raise StratosError(f"STRATOS_GIT_KNOWN_HOSTS ({configured}) is not a file")
    return configured


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
    seconds = settings.git_connect_timeout()
    ssh = ["ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o", "UpdateHostKeys=no"]
    ssh += [
        "-o",
        f"ConnectTimeout={seconds}",
        "-o",
        f"ServerAliveInterval={seconds}",
        "-o",
        "ServerAliveCountMax=3",
    ]
    ssh += [
        "-o",
        f"UserKnownHostsFile={known_hosts or os.devnull}",
        "-o",
        f"GlobalKnownHostsFile={os.devnull}",
    ]
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
        env["GIT_SSH_VARIANT"] = "ssh"

        def scrub(text: str) -> str:
            return text.replace(token, "***") if len(token) >= 4 else text

        yield env, scrub
    finally:
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)
