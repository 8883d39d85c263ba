"""The agent's HTTP server: the route table, the webhook dispatch, and a real server on an
ephemeral loopback port serving /metrics, /status and /healthz."""

from __future__ import annotations

import http.client
import json
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stratos.agent import http as agenthttp
from stratos.agent import metrics
from stratos.agent.events import EventStore
from stratos.agent.http import Context, Headers, Request, Response, Router
from stratos.errors import StratosError
from stratos.store import StateStore


def request(method: str, path: str, body: bytes = b"", **headers: str) -> Request:
    return Request(method, path, headers=Headers(headers.items()), body=body)


# --------------------------------------------------------------------------- the route table


@pytest.mark.parametrize(
    ("method", "path", "status", "body"),
    [
        ("GET", "/a", 200, "a"),
        ("GET", "/a/", 200, "a"),
        ("HEAD", "/a", 200, "a"),
        ("POST", "/a", 405, "method not allowed\n"),
        ("GET", "/items/web-1", 200, "item web-1"),
        ("GET", "/items/web%201", 200, "item web 1"),
        ("GET", "/items/web-1/more", 404, None),
        ("GET", "/nothing", 404, None),
        ("GET", "/boom", 500, None),
    ],
    ids=[
        "get",
        "trailing-slash",
        "head",
        "wrong-method",
        "param",
        "quoted-param",
        "too-deep",
        "unknown",
        "raises",
    ],
)
def test_router(method: str, path: str, status: int, body: str | None) -> None:
    router = Router()
    router.add("GET", "/a", lambda r: Response.text("a"))

    @router.route("GET", "/items/<item>")
    def item(r: Request) -> Response:
        return Response.text(f"item {r.params['item']}")

    def boom(r: Request) -> Response:
        raise RuntimeError("bad handler")

    router.add("GET", "/boom", boom)
    response = router.dispatch(request(method, path))
    assert response.status == status
    if body is not None:
        assert response.body.decode() == body
    if status == 405:
        assert response.headers["Allow"] == "GET"


def test_a_pattern_must_be_absolute() -> None:
    with pytest.raises(ValueError, match="must start with '/'"):
        Router().add("GET", "metrics", lambda r: Response())


def test_headers_ignore_case() -> None:
    headers = Headers([("X-Hub-Signature-256", "sha256=ab")])
    assert headers["x-hub-signature-256"] == "sha256=ab"
    assert headers.get("X-HUB-SIGNATURE-256") == "sha256=ab"
    assert "x-Hub-signature-256" in headers and "x-other" not in headers


@pytest.mark.parametrize(
    ("result", "status", "body"),
    [
        (None, 202, {"accepted": True}),
        ({"release": "abc"}, 200, {"release": "abc"}),
        ((409, {"error": "busy"}), 409, {"error": "busy"}),
        (204, 204, {}),
        (Response.text("fine", 201), 201, None),
    ],
    ids=["none", "dict", "pair", "status", "response"],
)
def test_results_become_responses(result: Any, status: int, body: Any) -> None:
    response = agenthttp.as_response(result)
    assert response.status == status
    if body is not None:
        assert json.loads(response.body) == body


# --------------------------------------------------------------------------- the webhook route


@pytest.fixture
def context(tmp_path: Path) -> Context:
    store = StateStore(tmp_path)
    store.ensure()
    return Context(
        store, recorder=metrics.Recorder(), events=EventStore(store.database), clock=lambda: 1234.0
    )


@pytest.fixture
def webhook_module(monkeypatch: pytest.MonkeyPatch) -> Iterator[types.ModuleType]:
    module = types.ModuleType("stratos.agent.webhook")
    monkeypatch.setitem(sys.modules, "stratos.agent.webhook", module)
    yield module


def test_without_a_webhook_module_the_hook_is_404(context: Context, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(agenthttp, "WEBHOOK_MODULE", "stratos.agent.no_such_module")
    router = agenthttp.default_router(context, modules=())
    response = router.dispatch(request("POST", "/hooks/git/shop", b"{}"))
    assert response.status == 404
    assert "not available" in json.loads(response.body)["error"]


def test_the_hook_hands_what_handle_push_names(context: Context, webhook_module: types.ModuleType) -> None:
    seen: dict[str, Any] = {}

    def handle_push(application: str, headers: Headers, body: bytes, store: StateStore, now: float) -> dict:
        seen.update(application=application, event=headers.get("x-github-event"), body=body, now=now)
        assert store is context.store
        return {"queued": application}

    webhook_module.handle_push = handle_push  # type: ignore[attr-defined]
    router = agenthttp.default_router(context)
    response = router.dispatch(
        request("POST", "/hooks/git/shop", b'{"ref": "x"}', **{"X-GitHub-Event": "push"})
    )
    assert (response.status, json.loads(response.body)) == (200, {"queued": "shop"})
    assert seen == {"application": "shop", "event": "push", "body": b'{"ref": "x"}', "now": 1234.0}
    assert router.dispatch(request("GET", "/hooks/git/shop")).status == 405


def test_the_hook_with_kwargs_gets_everything(context: Context, webhook_module: types.ModuleType) -> None:
    webhook_module.handle_push = lambda **kw: (202, sorted(kw))  # type: ignore[attr-defined]
    response = agenthttp.default_router(context).dispatch(request("POST", "/hooks/git/shop"))
    assert json.loads(response.body) == sorted(
        ["request", "application", "headers", "body", "store", "events", "agent", "context", "now"]
    )


class Forbidden(Exception):
    status = 403


@pytest.mark.parametrize(
    ("error", "status"),
    [(Forbidden("bad signature"), 403), (StratosError("unknown application"), 400), (KeyError("x"), 500)],
    ids=["status-attribute", "stratos-error", "other"],
)
def test_hook_errors(
    context: Context, webhook_module: types.ModuleType, error: Exception, status: int
) -> None:
    def handle_push(request: Request) -> None:
        raise error

    webhook_module.handle_push = handle_push  # type: ignore[attr-defined]
    assert agenthttp.default_router(context).dispatch(request("POST", "/hooks/git/shop")).status == status


def test_a_module_may_add_routes(context: Context, webhook_module: types.ModuleType) -> None:
    def routes(ctx: Context) -> list[tuple[str, str, agenthttp.Handler]]:
        return [
            (
                "GET",
                "/hooks/git/<application>/last",
                lambda r: Response.json({"app": r.params["application"]}),
            )
        ]

    webhook_module.routes = routes  # type: ignore[attr-defined]
    response = agenthttp.default_router(context).dispatch(request("GET", "/hooks/git/shop/last"))
    assert json.loads(response.body) == {"app": "shop"}


# --------------------------------------------------------------------------- a real server


@pytest.fixture
def server(context: Context) -> Iterator[agenthttp.AgentServer]:
    srv = agenthttp.serve(context, "127.0.0.1", 0)
    yield srv
    srv.close()


def fetch(
    srv: agenthttp.AgentServer, method: str, path: str, body: bytes | None = None
) -> tuple[int, str, str]:
    host, port = srv.address
    conn = http.client.HTTPConnection(host, port, timeout=5)
    try:
        conn.request(method, path, body=body)
        response = conn.getresponse()
        return response.status, response.getheader("Content-Type") or "", response.read().decode()
    finally:
        conn.close()


def test_served_on_the_loopback(server: agenthttp.AgentServer, context: Context) -> None:
    assert server.address[0] == "127.0.0.1"
    assert fetch(server, "GET", "/healthz")[0] == 200

    assert fetch(server, "GET", "/status")[0] == 503
    context.store.status_file.write_text('{"version": 1, "applications": {}}\n')
    status, kind, body = fetch(server, "GET", "/status")
    assert (status, kind, json.loads(body)) == (200, "application/json", {"version": 1, "applications": {}})

    assert context.recorder is not None and context.events is not None
    context.recorder.tick(1000.0, 0.25, True)
    context.recorder.count_action("shop", "web", "up")
    context.events.member_started("shop-web-1", "shop", "web", "local/p1", 1000.0)
    status, kind, body = fetch(server, "GET", "/metrics")
    assert status == 200 and kind.startswith("text/plain; version=0.0.4")
    assert 'stratos_scaling_actions_total{application="shop",subscription="web",direction="up"} 1' in body
    assert 'stratos_member_seconds_total{application="shop"} 234' in body
    assert "stratos_tick_seconds 0.25" in body

    assert fetch(server, "POST", "/metrics", b"x")[0] == 405


def test_a_body_too_large_is_refused(server: agenthttp.AgentServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(agenthttp, "MAX_BODY", 10)
    assert fetch(server, "POST", "/hooks/git/shop", b"x" * 11)[0] == 413


def test_close_frees_the_port(context: Context) -> None:
    srv = agenthttp.serve(context, "127.0.0.1", 0)
    port = srv.address[1]
    srv.close()
    again = agenthttp.serve(context, "127.0.0.1", port)
    again.close()


@pytest.mark.parametrize(
    ("bind", "loopback"),
    [("127.0.0.1", True), ("::1", True), ("localhost", True), ("0.0.0.0", False), ("10.1.2.3", False)],
)
def test_is_loopback(bind: str, loopback: bool) -> None:
    assert agenthttp.is_loopback(bind) is loopback


def test_the_real_webhook_module_answers_through_the_server(server: agenthttp.AgentServer) -> None:
    pytest.importorskip("stratos.agent.webhook")
    status, kind, body = fetch(server, "POST", "/hooks/git/nothing-here", b"{}")
    assert (status, kind) == (404, "application/json")
    assert "no application 'nothing-here'" in json.loads(body)["error"]
