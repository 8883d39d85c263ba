"""The agent's HTTP side: the URL map, the webhook dispatch, and a real (waitress) server on an
ephemeral loopback port serving /metrics, /status and /healthz, in the agent's process and as a
process of its own (``stratos agent-http``)."""

from __future__ import annotations

import http.client
import json
import logging
import signal
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import support
from werkzeug.test import Client

from stratos.agent import http as agenthttp
from stratos.agent import metrics, webhook
from stratos.agent.events import EventStore
from stratos.agent.http import App, Context
from stratos.releases import triggers
from stratos.store import StateStore

SpawnAgentHttp = Callable[[StateStore], tuple[subprocess.Popen[str], tuple[str, int]]]


@pytest.fixture
def context(store: StateStore) -> Context:
    return Context.in_process(
        store, metrics.LatestSnapshot(), events=EventStore(store.database), clock=lambda: 1234.0
    )


# --------------------------------------------------------------------------- the URL map


@pytest.mark.parametrize(
    ("method", "path", "status", "body"),
    [
        ("GET", "/healthz", 200, "ok\n"),
        ("GET", "/healthz/", 200, "ok\n"),
        ("HEAD", "/healthz", 200, ""),
        ("POST", "/healthz", 405, None),
        ("GET", "/status", 503, None),
        ("GET", "/hooks/git/shop", 405, None),
        ("POST", "/hooks/git/shop/more", 404, None),
        ("GET", "/nothing", 404, None),
    ],
    ids=["get", "trailing-slash", "head", "wrong-method", "no-status-yet", "hook-get", "too-deep", "unknown"],
)
def test_urls(context: Context, method: str, path: str, status: int, body: str | None) -> None:
    response = Client(App(context)).open(path, method=method)
    assert response.status_code == status
    if body is not None:
        assert response.get_data(as_text=True) == body
    if status == 405:
        assert "GET" in response.headers["Allow"] or "POST" in response.headers["Allow"]
    if status >= 400:
        assert "error" in response.get_json()


def test_the_hook_hands_the_application_headers_and_body_to_handle_push(
    context: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, Any] = {}

    def handle_push(application: str, headers: Any, body: bytes, store: StateStore, **kw: Any) -> Any:
        seen.update(application=application, event=headers.get("X-Github-Event"), body=body, now=kw["now"])
        assert store is context.store and kw["replays"] is context.replays
        return 202, {"queued": application}

    monkeypatch.setattr(webhook, "handle_push", handle_push)
    response = Client(App(context)).post(
        "/hooks/git/shop", data=b'{"ref": "x"}', headers={"X-GitHub-Event": "push"}
    )
    assert (response.status_code, response.get_json()) == (202, {"queued": "shop"})
    assert seen == {"application": "shop", "event": "push", "body": b'{"ref": "x"}', "now": 1234.0}


def test_a_failing_handler_answers_500_without_the_exception(
    context: Context, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def handle_push(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("token hunter2 in /srv/secret/path")

    monkeypatch.setattr(webhook, "handle_push", handle_push)
    response = Client(App(context)).post("/hooks/git/shop", data=b"{}")
    assert response.status_code == 500
    assert response.get_json() == {"error": "internal error"}
    assert "hunter2" not in response.get_data(as_text=True)
    assert "RuntimeError" in caplog.text  # the log says why


def test_a_body_too_large_is_refused(context: Context) -> None:
    response = Client(App(context, agenthttp.Limits(max_body=10))).post("/hooks/git/shop", data=b"x" * 11)
    assert response.status_code == 413


# --------------------------------------------------------------------------- a real server


@pytest.fixture
def server(context: Context) -> Iterator[agenthttp.AgentServer]:
    srv = agenthttp.serve(context, "127.0.0.1", 0)
    yield srv
    srv.close()


def fetch(
    address: tuple[str, int], method: str, path: str, body: bytes | None = None, **headers: str
) -> tuple[int, str, str]:
    conn = http.client.HTTPConnection(*address, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.getheader("Content-Type") or "", response.read().decode()
    finally:
        conn.close()


def test_served_on_the_loopback(server: agenthttp.AgentServer, context: Context) -> None:
    assert server.address[0] == "127.0.0.1"
    assert fetch(server.address, "GET", "/healthz")[0] == 200

    assert fetch(server.address, "GET", "/status")[0] == 503
    context.store.status_file.write_text('{"version": 1, "applications": {}}\n')
    status, kind, body = fetch(server.address, "GET", "/status")
    assert (status, kind, json.loads(body)) == (200, "application/json", {"version": 1, "applications": {}})

    recorder = metrics.LatestSnapshot()
    events = EventStore(context.store.database)
    in_process = Context.in_process(context.store, recorder, events, clock=lambda: 1234.0)
    recorder.tick(1000.0, 0.25, True)
    recorder.count_action("shop", "web", "up")
    events.member_started("shop-web-1", "shop", "web", "local/p1", 1000.0)
    srv = agenthttp.serve(in_process, "127.0.0.1", 0)
    try:
        status, kind, body = fetch(srv.address, "GET", "/metrics")
    finally:
        srv.close()
    assert status == 200 and kind.startswith("text/plain; version=0.0.4")
    assert 'stratos_scaling_actions_total{application="shop",direction="up",subscription="web"} 1.0' in body
    assert 'stratos_member_seconds_total{application="shop"} 234.0' in body
    assert "stratos_tick_seconds 0.25" in body

    assert fetch(server.address, "POST", "/metrics", b"x")[0] == 405


def test_close_frees_the_port(context: Context) -> None:
    srv = agenthttp.serve(context, "127.0.0.1", 0)
    port = srv.address[1]
    assert fetch(srv.address, "GET", "/healthz")[0] == 200
    srv.close()
    again = agenthttp.serve(context, "127.0.0.1", port)
    assert fetch(again.address, "GET", "/healthz")[0] == 200
    again.close()


def test_close_lets_a_request_in_progress_end_before_the_loop_closes(
    context: Context, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A handler still running when close() begins ends first: its worker wakes the event loop
    through the trigger, which must still be open (once closed, its descriptor may be another file's)."""
    srv = agenthttp.serve(context, "127.0.0.1", 0)
    running, go = threading.Event(), threading.Event()

    def handle_push(*args: Any, **kwargs: Any) -> tuple[int, dict[str, Any]]:
        running.set()
        go.wait(10)
        return 202, {}

    monkeypatch.setattr(webhook, "handle_push", handle_push)
    # Whichever close() reaches first frees the handler: the workers' stop, or the trigger's close
    # (which then waits for the worker to wake the loop, as a slower close_all would).
    server, woke = srv.server, threading.Event()
    set_count, close_trigger, pull = (
        server.task_dispatcher.set_thread_count,
        server.trigger.close,
        server.pull_trigger,
    )

    def close_then_wait() -> None:
        close_trigger()
        go.set()
        woke.wait(5)

    def pull_and_tell() -> None:
        try:
            pull()
        finally:
            if go.is_set():
                woke.set()

    monkeypatch.setattr(server.task_dispatcher, "set_thread_count", lambda n: (go.set(), set_count(n))[1])
    monkeypatch.setattr(server.trigger, "close", close_then_wait)
    monkeypatch.setattr(server, "pull_trigger", pull_and_tell)
    client = threading.Thread(target=lambda: fetch_quietly(srv.address), daemon=True)
    client.start()
    assert running.wait(10)
    srv.close()
    client.join(15)
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []  # before: "Exception when servicing" (a write to the closed trigger)


def fetch_quietly(address: tuple[str, int]) -> None:
    try:
        fetch(address, "POST", "/hooks/git/shop", b"{}")
    except OSError:
        pass  # the server went away mid-answer: not what this test looks at


@pytest.mark.parametrize(
    ("bind", "loopback"),
    [("127.0.0.1", True), ("::1", True), ("localhost", True), ("0.0.0.0", False), ("10.1.2.3", False)],
)
def test_is_loopback(bind: str, loopback: bool) -> None:
    assert agenthttp.is_loopback(bind) is loopback


def test_the_real_webhook_module_answers_through_the_server(server: agenthttp.AgentServer) -> None:
    status, kind, body = fetch(server.address, "POST", "/hooks/git/nothing-here", b"{}")
    assert (status, kind) == (404, "application/json")
    assert "no application 'nothing-here'" in json.loads(body)["error"]


# --------------------------------------------------------------------------- stratos agent-http


def test_agent_http_serves_from_the_files_the_agent_writes(
    store: StateStore, spawn_agent_http: SpawnAgentHttp
) -> None:
    proc, address = spawn_agent_http(store)
    try:
        assert fetch(address, "GET", "/metrics")[0] == 503
        assert fetch(address, "GET", "/status")[0] == 503
        recorder = metrics.LatestSnapshot()
        recorder.tick(1000.0, 0.5, True)
        metrics.write_snapshot(store, recorder.snapshot(), {"shop": 60.0})
        store.status_file.write_text('{"version": 1, "applications": {}}\n')
        status, kind, body = fetch(address, "GET", "/metrics")
        assert status == 200 and kind.startswith("text/plain; version=0.0.4")
        assert 'stratos_member_seconds_total{application="shop"} 60.0' in body
        assert fetch(address, "GET", "/status")[0] == 200
        assert not triggers.has_requests(store)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0


def test_agent_http_hands_a_signed_push_to_the_agent_as_a_request_file(
    store: StateStore, spawn_agent_http: SpawnAgentHttp, tmp_path: Path
) -> None:
    from stratos.validation import parse_definition

    secret = tmp_path / "hook.secret"
    secret.write_text("a-webhook-secret\n")
    secret.chmod(0o600)
    url = "https://git.example.com/shop.git"
    for doc in (
        *support.one_partition_platform(),
        support.git_application("shop", support.hooked("web", url, secret)),
    ):
        store.apply(store.plan_put(parse_definition(doc)))
    body = json.dumps(
        {"ref": "refs/heads/main", "after": "c" * 40, "repository": {"clone_url": url}}
    ).encode()
    headers = {
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": "delivery-1",
        "X-Hub-Signature-256": webhook.sign("a-webhook-secret", body),
    }
    proc, address = spawn_agent_http(store)
    try:
        # It reads no definition: until the agent publishes its webhook table, it cannot check.
        status, _, answer = fetch(address, "POST", "/hooks/git/shop", body, **headers)
        assert status == 503 and "not published" in json.loads(answer)["error"]
        webhook.publish(store, store.load())  # what the agent does each tick
        # Nor the secret file: the table holds the secret (the HTTP side cannot read the file).
        secret.unlink()
        status, _, answer = fetch(address, "POST", "/hooks/git/shop", body, **headers)
        assert (status, json.loads(answer)["subscriptions"]) == (202, ["web"])
        assert list(triggers.take_requests(store)) == [("shop", "web")]
        assert fetch(address, "POST", "/hooks/git/shop", body, **headers)[0] == 409  # a replay
        assert not triggers.has_requests(store)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
