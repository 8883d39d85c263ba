"""Helpers shared by the unit and integration tests and the benchmarks: one copy of each.

Importable as ``support`` (pytest puts ``tests/`` on ``sys.path``, see ``pythonpath`` in
pyproject.toml; the benchmarks add it themselves). Nothing here needs pytest: a wait that runs out
raises :class:`TimeoutError`, a failed command :class:`AssertionError`, so the benchmarks can use
them too.
"""

from __future__ import annotations

import http.client
import os
import random
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import IO, Any

import yaml

from stratos import builtin, images
from stratos.drivers.members import MemberSpec
from stratos.model import Artifact, Cartridge
from stratos.store import StateStore
from stratos.validation import parse_definition

#: A fixed identity, so that commits work on a machine without a git configuration.
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@t",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@t",
}


# --------------------------------------------------------------------------- commands and git


def run(
    *args: str, cwd: Path | None = None, env: Mapping[str, str] | None = None, timeout: float = 120
) -> str:
    """Run a command (with the git identity in its environment); its stripped output.

    A non-zero exit fails with the command and both outputs, so a failing setup step says why."""
    done = subprocess.run(
        list(args),
        cwd=cwd,
        env={**os.environ, **GIT_IDENTITY, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({done.returncode}): {done.stdout}\n{done.stderr}")
    return done.stdout.strip()


def git(*args: str, cwd: Path | None = None, timeout: float = 120) -> str:
    """``git *args`` in ``cwd``; its stripped output."""
    return run("git", *args, cwd=cwd, timeout=timeout)


def commit(work: Path, files: Mapping[str, str], message: str) -> str:
    """Write ``files`` (name -> text, directories made) into the work tree, commit them all; the
    new commit's id."""
    for name, text in files.items():
        path = work / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    git("add", "-A", cwd=work)
    git("commit", "-qm", message, cwd=work)
    return git("rev-parse", "HEAD", cwd=work)


def new_repository(path: Path, files: Mapping[str, str], message: str = "first") -> str:
    """A fresh repository at ``path`` on branch ``main`` with one commit of ``files``; its id."""
    path.mkdir(parents=True, exist_ok=True)
    git("init", "-q", "-b", "main", cwd=path)
    return commit(path, files, message)


# --------------------------------------------------------------------------- waiting and ports


def wait_for(
    what: str,
    check: Callable[[], Any],
    timeout: float = 60,
    every: float = 0.2,
    retry_on: tuple[type[Exception], ...] = (),
) -> Any:
    """Poll ``check`` until it returns something truthy, and return that.

    ``retry_on`` names the exceptions that mean "not ready yet" (connection refused, not found);
    any other one ends the wait at once. After ``timeout`` seconds: :class:`TimeoutError` with the
    last answer, so the failure says what was seen."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except retry_on as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(every)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")


def free_port(
    start: int | None = None,
    count: int = 200,
    *,
    host: str = "127.0.0.1",
    avoid: set[int] | None = None,
    shuffle: bool = False,
) -> int:
    """A port nothing listens on, checked by binding it.

    Without ``start`` the system picks one; with it, the first free one of ``count`` ports from
    ``start`` (in random order with ``shuffle``), for tests that publish an unusual fixed range."""
    if start is None:
        with socket.socket() as sock:
            sock.bind((host, 0))
            return int(sock.getsockname()[1])
    ports = list(range(start, start + count))
    if shuffle:
        random.shuffle(ports)
    for port in ports:
        if avoid and port in avoid:
            continue
        with socket.socket() as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {start}-{start + count - 1}")


def http_get(host: str, port: int, path: str = "/", timeout: float = 10) -> tuple[int, str]:
    """One ``GET`` on a new connection: status and body (undecodable bytes replaced)."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Connection": "close"})
        response = conn.getresponse()
        return response.status, response.read().decode(errors="replace")
    finally:
        conn.close()


def url_get(
    url: str, *, headers: Mapping[str, str] | None = None, timeout: float = 3
) -> tuple[int, str, dict[str, str]]:
    """One ``GET`` of ``url``: status, body and headers, an HTTP error status answered like any
    other (tests look at 404s and 503s)."""
    request = urllib.request.Request(url, headers=dict(headers or {}))
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode(), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace"), dict(exc.headers)


def haproxy_command(socket_path: Path, command: str, timeout: float = 5) -> str:
    """One command on HAProxy's runtime API (its admin socket, bind-mounted from the host)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(str(socket_path))
        sock.sendall(command.encode() + b"\n")
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode()


# --------------------------------------------------------------------------- images and processes


def build_cartridge_image(client: Any, cartridge: str | Path, base: str) -> images.ImageResult:
    """The image of a built-in cartridge (by name: ``php``, ``haproxy``…) or of the cartridge
    file ``cartridge``, built on ``base`` or found up to date by its build hash."""
    path = builtin.cartridge_file(cartridge) if isinstance(cartridge, str) else cartridge
    cartridge = Cartridge.model_validate(yaml.safe_load(path.read_text()))
    return images.build_image(client, cartridge, source_dir=path.parent, base=base)


def stratos_command(*args: str) -> list[str]:
    """The command line of the ``stratos`` CLI of this interpreter."""
    return [sys.executable, "-m", "stratos", *args]


def run_stratos(
    state_dir: Path, *args: str, timeout: float = 60, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``stratos *args --state-dir state_dir``, its output captured; a failure is the caller's to
    check (tests assert on refusals too)."""
    return subprocess.run(
        stratos_command(*args, "--state-dir", str(state_dir)),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, **(env or {})},
    )


def start_agent(
    state_dir: Path,
    *options: str,
    log: IO[bytes] | int | None = None,
    env: Mapping[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """``stratos agent`` on ``state_dir`` as a separate process (so that a test can kill it), its
    standard output and error both into ``log``."""
    return subprocess.Popen(
        stratos_command("agent", "--state-dir", str(state_dir), *options),
        stdout=log,
        stderr=subprocess.STDOUT if log is not None else None,
        env={**os.environ, **(env or {})},
    )


def stop_process(proc: subprocess.Popen[Any], timeout: float = 60) -> int:
    """SIGTERM, then SIGKILL if it has not ended after ``timeout`` seconds; its exit status."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)
    return int(proc.returncode)


# --------------------------------------------------------------------------- definitions


def seeded_store(root: Path, definitions: Iterable[Mapping[str, Any]]) -> StateStore:
    """A state store at ``root`` (its directories made) holding ``definitions``, each parsed and
    put as the store's own plan would."""
    store = StateStore(root)
    store.ensure()
    for data in definitions:
        store.apply(store.plan_put(parse_definition(dict(data))))
    return store


def file_artifact(repo: Path, **fields: object) -> Artifact:
    """The artifact of a local repository (``file://``), with ``fields`` set too."""
    return Artifact.model_validate({"url": f"file://{repo}", **fields})


def one_partition_platform() -> list[dict[str, Any]]:
    """The smallest platform an application can be defined on: the php cartridge (by reference), a
    network partition ``local`` with one partition and a deployment policy ``one`` over it."""
    return [
        {"kind": "Cartridge", "name": "php", "image": {"ref": "stratos/cartridge-php:8.2"}},
        {"kind": "NetworkPartition", "name": "local", "partitions": [{"name": "p1"}]},
        {
            "kind": "DeploymentPolicy",
            "name": "one",
            "network_partitions": [{"name": "local", "partitions": [{"name": "p1"}]}],
        },
    ]


def git_application(name: str, *subscriptions: dict[str, Any]) -> dict[str, Any]:
    """An application of php subscriptions on :func:`one_partition_platform`, each given as
    ``{"alias": ..., "artifact": {...}}``."""
    return {
        "kind": "Application",
        "name": name,
        "subscriptions": [{"cartridge": "php", "deployment_policy": "one", **sub} for sub in subscriptions],
    }


def hooked(alias: str, url: str, secret_file: Path | None, **artifact: Any) -> dict[str, Any]:
    """A subscription deployed from ``url``, its webhook checked with ``secret_file`` (None: no
    webhook secret)."""
    fields: dict[str, Any] = {"url": url, **artifact}
    if secret_file is not None:
        fields["credentials"] = {"webhook_secret_file": str(secret_file)}
    return {"alias": alias, "artifact": fields}


def member_spec(member_id: str = "shop-web-000001", **fields: Any) -> MemberSpec:
    """A member's container of php subscription ``web`` of ``shop``, named after ``member_id``, with
    no label, mount or limit unless ``fields`` (any :class:`MemberSpec` field) give them: a test
    states only what it looks at."""
    base: dict[str, Any] = {
        "member_id": member_id,
        "name": f"stratos-{member_id}",
        "hostname": member_id,
        "image": "stratos/cartridge-php:8.2",
        "network": "stratos-local",
        "aliases": ("web.shop",),
        "environment": {},
        "labels": {},
        "binds": (),
        "volumes": {},
        "nano_cpus": None,
        "mem_limit": None,
    }
    return MemberSpec(**{**base, **fields})
