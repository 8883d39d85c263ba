"""Hostile clients against the agent's real HTTP server on the loopback: bodies that lie about their
size or are too large, a client sending a byte a second, more idle connections than the limit, and
a handler that raises. The figures (memory of the server process, how long a normal request
waited) are printed (``pytest -s``); the assertions are about what the server did, not how fast."""

from __future__ import annotations

import http.client
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stratos.agent import http as agenthttp
from stratos.agent import metrics, webhook
from stratos.agent.http import Context, Limits
from stratos.store import StateStore

MiB = 1024 * 1024


def peak_rss_kib(pid: int) -> int:
    """The process's resident memory high-water mark (a body held for a moment shows in it)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def get(address: tuple[str, int], path: str, timeout: float = 60) -> int:
    conn = http.client.HTTPConnection(*address, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def send_hostile(
    address: tuple[str, int], head: bytes, body_bytes: int, chunked: bool = False
) -> tuple[str, int]:
    """Send ``head``, then up to ``body_bytes`` of body while a thread reads the answer.

    Returns (the status line, or '' when none came; bytes the kernel took before the server closed).
    """
    sock = socket.create_connection(address, timeout=30)
    answer = bytearray()

    def read() -> None:
        try:
            while chunk := sock.recv(65536):
                answer.extend(chunk)
        except OSError:
            pass

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    sent = 0
    block = b"x" * MiB
    try:
        sock.sendall(head)
        while sent < body_bytes:
            data = b"%x\r\n%s\r\n" % (len(block), block) if chunked else block
            sock.sendall(data)
            sent += len(block)
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass  # the server closed the connection: what we want
    reader.join(timeout=30)
    sock.close()
    return answer.split(b"\r\n", 1)[0].decode(errors="replace"), sent


@pytest.fixture
def agent_http(tmp_path: Path, spawn_agent_http: Any) -> Iterator[tuple[int, tuple[str, int]]]:
    store = StateStore(tmp_path / "state")
    store.ensure()
    proc, address = spawn_agent_http(store)
    try:
        yield proc.pid, address
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)


@pytest.mark.parametrize(
    ("case", "head", "chunked", "status"),
    [
        ("content-length -1", b"Content-Length: -1\r\n", False, 400),
        ("content-length 300 MiB", b"Content-Length: %d\r\n" % (300 * MiB), False, 413),
        ("chunked 300 MiB", b"Transfer-Encoding: chunked\r\n", True, 413),
    ],
    ids=["negative-length", "declared-300MiB", "chunked-300MiB"],
)
def test_a_body_that_lies_or_is_too_large_is_refused_without_being_kept(
    agent_http: tuple[int, tuple[str, int]], case: str, head: bytes, chunked: bool, status: int
) -> None:
    pid, address = agent_http
    assert get(address, "/healthz") == 200
    before = peak_rss_kib(pid)
    request = b"POST /hooks/git/shop HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" + head
    line, sent = send_hostile(address, request + b"\r\n", 300 * MiB, chunked)
    assert get(address, "/healthz") == 200  # the server is still there
    after = peak_rss_kib(pid)
    print(
        f"\n{case}: answer {line!r}; body bytes taken before the close {sent / MiB:.0f} MiB; "
        f"server peak RSS {before / 1024:.1f} -> {after / 1024:.1f} MiB"
    )
    assert line.startswith(f"HTTP/1.1 {status} ")
    assert after - before < 32 * 1024, f"the server grew by {(after - before) / 1024:.0f} MiB"


def start(store: StateStore, limits: Limits) -> agenthttp.AgentServer:
    return agenthttp.serve(Context.in_process(store, metrics.LatestSnapshot()), "127.0.0.1", 0, limits)


def test_a_client_sending_a_byte_a_second_is_cut_after_the_read_timeout(store: StateStore) -> None:
    server = start(store, Limits(read_timeout=2))
    try:
        sock = socket.create_connection(server.address, timeout=5)
        began = time.monotonic()
        sock.sendall(b"POST /hooks/git/shop HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        cut_after = None
        for n in range(30):  # 30 bytes, one a second: never silent for long
            try:
                sock.sendall(b"a")
                sock.settimeout(1.0)
                if sock.recv(1024) == b"":
                    cut_after = n
                    break
            except TimeoutError:
                continue
            except OSError:
                cut_after = n
                break
        sock.close()
        print(f"\nslow sender (1 byte/s, read timeout 2 s): cut after {time.monotonic() - began:.1f} s")
        assert cut_after is not None, "a client sending a byte a second held its connection for 30 s"
        assert get(server.address, "/healthz") == 200
    finally:
        server.close()


def test_more_idle_connections_than_the_limit_hold_no_thread_and_delay_a_request_boundedly(
    store: StateStore,
) -> None:
    limits = Limits(read_timeout=2, connection_limit=8, threads=4)
    server = start(store, limits)
    idle: list[socket.socket] = []
    try:
        threads = threading.active_count()
        for _ in range(24):  # three times the limit, each with half a request line sent
            sock = socket.create_connection(server.address, timeout=5)
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            idle.append(sock)
        began = time.monotonic()
        assert get(server.address, "/healthz", timeout=120) == 200
        waited = time.monotonic() - began
        grown = threading.active_count() - threads
        print(
            f"\n24 half-sent connections (limit 8, read timeout 2 s): a normal request answered after "
            f"{waited:.1f} s; server threads +{grown}"
        )
        assert grown <= 0, f"{grown} more threads for {len(idle)} idle connections"
    finally:
        for sock in idle:
            sock.close()
        server.close()


def test_a_handler_exception_answers_500_without_its_text(
    store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def handle_push(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("token hunter2 at /srv/secret/path")

    monkeypatch.setattr(webhook, "handle_push", handle_push)
    server = start(store, Limits())
    try:
        conn = http.client.HTTPConnection(*server.address, timeout=10)
        conn.request("POST", "/hooks/git/shop", body=b"{}")
        response = conn.getresponse()
        body = response.read().decode()
        conn.close()
        assert response.status == 500
        assert "hunter2" not in body and "RuntimeError" not in body and "secret" not in body
    finally:
        server.close()
