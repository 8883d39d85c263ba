"""The agent's HTTP server: Prometheus metrics, the JSON status and webhooks, on the loopback.

``stratos agent`` serves, by default on ``127.0.0.1:9464`` (``--bind``, ``--metrics-port``; port 0
turns the server off):

- ``GET /metrics``: the figures of :mod:`stratos.agent.metrics` in the Prometheus text format;
- ``GET /status``: ``status.json`` as the last tick wrote it (503 before the first tick);
- ``GET /healthz``: ``ok`` while the server runs;
- ``POST /hooks/git/<application>``: a push notification for the application's artifact, handed to
  ``stratos.agent.webhook.handle_push`` when that module exists (404 otherwise).

Routes are a table (:class:`Router`): ``router.add("POST", "/hooks/git/<application>", handler)``,
``<name>`` matching one path segment, handlers taking a :class:`Request` and returning a
:class:`Response`. A module listed in :data:`ROUTE_MODULES` that defines ``routes(context)``
(returning ``(method, pattern, handler)`` triples) adds its own routes when the server is built.

``handle_push`` is called with the keyword arguments it names among ``request``, ``application``,
``headers``, ``body``, ``store``, ``events``, ``agent``, ``context`` and ``now`` (all of them if it
takes ``**kwargs``). It may return a :class:`Response`, a ``(status, data)`` pair, a dict (200,
JSON), a status code, or ``None`` (202). Exceptions with an integer ``status`` attribute become
that status; a :class:`~stratos.errors.StratosError` a 400; anything else a 500, logged.

Why the loopback by default: the endpoints are unauthenticated (a webhook proves itself by its
HMAC signature, which its handler checks); whoever needs them from outside puts a proxy in front.
The server runs in daemon threads beside the loop and is closed when the agent stops.
"""

from __future__ import annotations

import importlib
import inspect
import ipaddress
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from stratos.agent import metrics as metricslib
from stratos.agent.events import EventStore
from stratos.errors import StratosError
from stratos.store import StateStore

log = logging.getLogger("stratos.agent.http")

DEFAULT_BIND = "127.0.0.1"
DEFAULT_PORT = 9464

#: Largest request body accepted (a push notification with many commits stays well below).
MAX_BODY = 5 * 1024 * 1024

#: Seconds a client may take to send its request.
REQUEST_TIMEOUT = 10.0

#: Modules that may contribute routes through a ``routes(context)`` function (if they exist).
ROUTE_MODULES = ("stratos.agent.webhook",)

WEBHOOK_MODULE = "stratos.agent.webhook"


# --------------------------------------------------------------------------- requests and responses


class Headers(dict[str, str]):
    """Request headers; lookups ignore case."""

    def __init__(self, items: Iterable[tuple[str, str]] = ()):
        super().__init__((k.lower(), v) for k, v in items)

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        return super().get(key.lower(), default)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and super().__contains__(key.lower())


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    params: Mapping[str, str] = field(default_factory=dict)
    query: Mapping[str, list[str]] = field(default_factory=dict)
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""
    client: str = ""

    def json(self) -> Any:
        return json.loads(self.body or b"null")


@dataclass(frozen=True)
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def text(cls, text: str, status: int = 200, content_type: str = "text/plain; charset=utf-8") -> Response:
        return cls(status, text.encode(), content_type)

    @classmethod
    def json(cls, data: Any, status: int = 200) -> Response:
        body = json.dumps(data, indent=2, sort_keys=True, default=str) + "\n"
        return cls(status, body.encode(), "application/json")

    @classmethod
    def error(cls, status: int, message: str) -> Response:
        return cls.json({"error": message}, status)


Handler = Callable[[Request], Response]


# --------------------------------------------------------------------------- the route table


@dataclass(frozen=True)
class Route:
    method: str
    pattern: str
    handler: Handler
    regex: re.Pattern[str]


def _compile(pattern: str) -> re.Pattern[str]:
    if not pattern.startswith("/"):
        raise ValueError(f"route pattern {pattern!r} must start with '/'")
    parts = []
    for segment in pattern.strip("/").split("/") if pattern != "/" else []:
        name = re.fullmatch(r"<([A-Za-z_][A-Za-z0-9_]*)>", segment)
        parts.append(f"(?P<{name.group(1)}>[^/]+)" if name else re.escape(segment))
    return re.compile("^/" + "/".join(parts) + "/?$")


class Router:
    """Routes by method and path pattern; the first match wins."""

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        self.routes.append(Route(method.upper(), pattern, handler, _compile(pattern)))

    def route(self, method: str, pattern: str) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.add(method, pattern, handler)
            return handler

        return register

    def dispatch(self, request: Request) -> Response:
        allowed = []
        for route in self.routes:
            match = route.regex.match(request.path)
            if match is None:
                continue
            if route.method != request.method and not (route.method == "GET" and request.method == "HEAD"):
                allowed.append(route.method)
                continue
            params = {k: unquote(v) for k, v in match.groupdict().items()}
            bound = Request(
                request.method,
                request.path,
                params,
                request.query,
                request.headers,
                request.body,
                request.client,
            )
            try:
                return route.handler(bound)
            except Exception as exc:  # noqa: BLE001 - a failing handler answers 500, the server goes on
                log.exception("%s %s failed", request.method, request.path)
                return Response.error(500, f"{type(exc).__name__}: {exc}")
        if allowed:
            return Response(
                405,
                b"method not allowed\n",
                headers={"Allow": ", ".join(sorted(set(allowed)))},
            )
        return Response.error(404, f"no route for {request.path}")


# --------------------------------------------------------------------------- the standard routes


@dataclass
class Context:
    """What the handlers may use. ``recorder`` holds the loop's latest figures."""

    store: StateStore
    recorder: metricslib.Recorder | None = None
    events: EventStore | None = None
    agent: Any = None
    clock: Callable[[], float] = time.time


def metrics_handler(context: Context) -> Handler:
    def handle(request: Request) -> Response:
        snapshot = context.recorder.snapshot() if context.recorder else metricslib.Snapshot()
        metering = None
        if context.events is not None:
            try:
                metering = context.events.member_seconds(context.clock())
            except Exception:  # noqa: BLE001 - metrics go out without metering rather than not at all
                log.exception("metering for /metrics failed")
        return Response.text(
            metricslib.render(snapshot, metering), content_type="text/plain; version=0.0.4; charset=utf-8"
        )

    return handle


def status_handler(context: Context) -> Handler:
    def handle(request: Request) -> Response:
        try:
            body = context.store.status_file.read_bytes()
        except FileNotFoundError:
            return Response.error(503, "no status yet: the agent has not finished a tick")
        return Response(200, body, "application/json")

    return handle


def _optional_module(name: str) -> Any:
    """The module, or ``None`` if it does not exist (errors inside an existing module propagate)."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and name.startswith(exc.name):
            return None
        raise


def webhook_handler(context: Context) -> Handler:
    """``POST /hooks/git/<application>`` -> ``stratos.agent.webhook.handle_push``."""

    def handle(request: Request) -> Response:
        module = _optional_module(WEBHOOK_MODULE)
        handle_push = getattr(module, "handle_push", None) if module is not None else None
        if handle_push is None:
            return Response.error(404, "webhooks are not available in this agent")
        available = {
            "request": request,
            "application": request.params.get("application", ""),
            "headers": request.headers,
            "body": request.body,
            "store": context.store,
            "events": context.events,
            "agent": context.agent,
            "context": context,
            "now": context.clock(),
        }
        try:
            result = handle_push(**_arguments(handle_push, available))
        except StratosError as exc:
            status = getattr(exc, "status", None)
            return Response.error(status if isinstance(status, int) else 400, str(exc))
        except Exception as exc:
            status = getattr(exc, "status", None)
            if isinstance(status, int):
                return Response.error(status, str(exc))
            raise
        return as_response(result)

    return handle


def _arguments(function: Callable[..., Any], available: Mapping[str, Any]) -> dict[str, Any]:
    parameters = inspect.signature(function).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return dict(available)
    chosen = {}
    for p in parameters:
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY):
            if p.name in available:
                chosen[p.name] = available[p.name]
            elif p.default is inspect.Parameter.empty:
                raise TypeError(f"{function.__qualname__}() wants '{p.name}', which the server cannot give")
    return chosen


def as_response(result: Any) -> Response:
    """A handler's result as a :class:`Response` (see the module doc)."""
    if isinstance(result, Response):
        return result
    if result is None:
        return Response.json({"accepted": True}, 202)
    if isinstance(result, int) and not isinstance(result, bool):
        return Response.json({}, result)
    if isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], int):
        status, data = result
        if isinstance(data, bytes | str):
            return Response(status, data.encode() if isinstance(data, str) else data)
        return Response.json(data, status)
    if hasattr(result, "as_dict"):
        return Response.json(result.as_dict())
    return Response.json(result)


def default_router(context: Context, modules: Iterable[str] = ROUTE_MODULES) -> Router:
    router = Router()
    router.add("GET", "/metrics", metrics_handler(context))
    router.add("GET", "/status", status_handler(context))
    router.add("GET", "/healthz", lambda request: Response.text("ok\n"))
    for name in modules:
        module = _optional_module(name)
        provide = getattr(module, "routes", None) if module is not None else None
        if provide is not None:
            for method, pattern, handler in provide(context):
                router.add(method, pattern, handler)
    router.add("POST", "/hooks/git/<application>", webhook_handler(context))
    return router


# --------------------------------------------------------------------------- the server


class _RequestHandler(BaseHTTPRequestHandler):
    server_version = "stratos-agent"
    protocol_version = "HTTP/1.1"
    timeout = REQUEST_TIMEOUT
    router: Router  # set on the subclass the server makes

    def _handle(self) -> None:
        url = urlsplit(self.path)
        length = self.headers.get("Content-Length")
        body = b""
        if length:
            try:
                size = int(length)
            except ValueError:
                self._send(Response.error(400, "bad Content-Length"))
                return
            if size > MAX_BODY:
                self._send(Response.error(413, f"the body exceeds {MAX_BODY} bytes"))
                return
            body = self.rfile.read(size)
        request = Request(
            method=self.command,
            path=url.path,
            query=parse_qs(url.query),
            headers=Headers(self.headers.items()),
            body=body,
            client=self.client_address[0] if self.client_address else "",
        )
        self._send(self.router.dispatch(request))

    def _send(self, response: Response) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        log.debug("%s %s", self.address_string(), format % args)


class AgentServer:
    """A :class:`ThreadingHTTPServer` serving ``router``, in a daemon thread once :meth:`start` ed."""

    def __init__(self, router: Router, bind: str = DEFAULT_BIND, port: int = DEFAULT_PORT):
        handler = type("StratosRequestHandler", (_RequestHandler,), {"router": router})
        self.httpd = ThreadingHTTPServer((bind, port), handler)
        self.httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.httpd.server_address[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        host, port = self.address
        return f"http://{host}:{port}"

    def start(self) -> AgentServer:
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.2}, name="stratos-http", daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self.httpd.server_close()


def is_loopback(bind: str) -> bool:
    try:
        return ipaddress.ip_address(bind).is_loopback
    except ValueError:
        return bind == "localhost"


def serve(context: Context, bind: str = DEFAULT_BIND, port: int = DEFAULT_PORT) -> AgentServer:
    """Build the standard routes and start serving. Raises OSError when the address is taken."""
    if not is_loopback(bind):
        log.warning(
            "serving metrics, status and webhooks on %s, not the loopback: they are unauthenticated", bind
        )
    server = AgentServer(default_router(context), bind, port).start()
    log.info("serving /metrics, /status and /hooks/git/<application> on %s", server.url)
    return server
