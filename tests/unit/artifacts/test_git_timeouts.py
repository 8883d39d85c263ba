"""A hung remote cannot hold a caller: a real TCP server on the loopback that accepts connections and
never answers, behind each transport; the fetch fails within its bound, saying why.

The bounds are settings, small here: ssh's connect timeout (STRATOS_GIT_CONNECT_TIMEOUT), http's
low-speed time (STRATOS_GIT_LOW_SPEED_TIME) and the whole command's (STRATOS_GIT_TIMEOUT: the only
bound for a TLS handshake that never ends, or git://). The outer join only keeps a failing run from
waiting for the old 300 s; it measures nothing.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from stratos import artifacts
from stratos.errors import StratosError
from stratos.model import Artifact
from stratos.store import StateStore

KEY_LINE = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"


@pytest.fixture
def hung() -> Iterator[int]:
    """A port that accepts and then says nothing, ever."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


def fetch_error(store: StateStore, artifact: Artifact) -> str:
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            artifacts.fetch(store, "shop", "web", artifact)
        except StratosError as exc:
            outcome["error"] = str(exc)
        else:
            outcome["error"] = None

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(60)
    assert "error" in outcome, "the fetch still hangs after 60 s"
    assert outcome["error"] is not None
    return str(outcome["error"])


def test_an_https_remote_that_never_answers_times_out(
    store: StateStore, hung: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STRATOS_GIT_TIMEOUT", "3")
    error = fetch_error(store, Artifact(url=f"https://127.0.0.1:{hung}/r.git"))
    assert "git clone: no result within 3 s (STRATOS_GIT_TIMEOUT): the remote does not answer" in error


def test_a_plaintext_http_remote_that_never_answers_is_too_slow(
    store: StateStore, hung: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STRATOS_GIT_LOW_SPEED_TIME", "2")
    monkeypatch.setenv("STRATOS_GIT_TIMEOUT", "50")
    error = fetch_error(store, Artifact(url=f"http://127.0.0.1:{hung}/r.git", allow_plaintext=True))
    assert "Operation too slow" in error and "the last 2 seconds" in error


def test_an_ssh_remote_that_never_answers_times_out_connecting(
    store: StateStore, hung: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STRATOS_GIT_CONNECT_TIMEOUT", "2")
    monkeypatch.setenv("STRATOS_GIT_TIMEOUT", "50")
    artifact = Artifact(
        url=f"ssh://git@127.0.0.1:{hung}/r.git", ssh_known_hosts=f"[127.0.0.1]:{hung} {KEY_LINE}"
    )
    error = fetch_error(store, artifact)
    assert "timed out" in error and "banner exchange" in error


def test_a_git_daemon_that_never_answers_times_out(
    store: StateStore, hung: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STRATOS_GIT_TIMEOUT", "3")
    error = fetch_error(store, Artifact(url=f"git://127.0.0.1:{hung}/r.git", allow_plaintext=True))
    assert "no result within 3 s (STRATOS_GIT_TIMEOUT)" in error


@pytest.mark.parametrize("value", ["0", "-5", "nan", "inf", "soon", "1e9"])
def test_a_bad_timeout_setting_is_refused_by_name(
    store: StateStore, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("STRATOS_GIT_TIMEOUT", value)
    with pytest.raises(
        StratosError, match=r"STRATOS_GIT_TIMEOUT \(.*\): must be a number of seconds from 1 to 86400"
    ):
        artifacts.fetch(store, "shop", "web", Artifact(url="https://127.0.0.1:9/r.git"))


def test_a_timed_out_fetch_leaves_no_process_holding_the_connection(
    store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """git is killed with its remote helper (git-remote-https would otherwise wait out curl's own
    300 s connect timeout, holding the connection, once per poll): the remote sees the close."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    server.settimeout(30)
    monkeypatch.setenv("STRATOS_GIT_TIMEOUT", "2")
    url = f"https://127.0.0.1:{server.getsockname()[1]}/r.git"
    try:
        error = fetch_error(store, Artifact(url=url))
        assert "no result within 2 s (STRATOS_GIT_TIMEOUT)" in error
        conn = server.accept()[0]  # the connection git made (queued in the backlog)
        conn.settimeout(30)  # a bound for a failing run only: a closed peer answers at once
        try:
            while True:
                try:
                    data = conn.recv(65536)
                except TimeoutError:
                    pytest.fail("a process of the killed git still holds the connection")
                if not data:
                    break  # EOF: nobody holds it any more
        finally:
            conn.close()
    finally:
        server.close()
