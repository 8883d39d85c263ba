"""The agent's HTTP side: Prometheus metrics, the JSON status and webhooks, on the loopback.

Served, by default on ``127.0.0.1:9464`` (``--bind``, ``--metrics-port``; port 0 turns it off):

- ``GET /metrics``: the agent's figures in the Prometheus text format (:mod:`stratos.agent.metrics`);
- ``GET /status``: ``status.json`` as the last tick wrote it (503 before the first tick);
- ``GET /healthz``: ``ok`` while the server runs;
- ``POST /hooks/git/<application>``: a push notification, checked and carried out by
  :func:`stratos.agent.webhook.handle_push` (signature, repository, branch, replay window).

The pieces, each a well-kept library made for the job:

- **waitress** (Pylons project; pure Python, no C extension to build on the agent image) is the
  server: it parses HTTP itself and enforces the limits of :class:`Limits` before our code runs:
  request headers of at most ``max_header`` bytes (431), bodies of at most ``max_body`` bytes (413,
  answered from the ``Content-Length`` header, before the body is read; a chunked body is cut when
  it passes the limit), a ``Content-Length`` that is not a decimal number (400), a fixed pool of
  ``threads`` workers, at most ``connection_limit`` open connections (the rest wait in the listen
  backlog) and ``read_timeout`` seconds of inactivity per connection. Requests are read by its
  event loop, so a slow client holds a connection, never a worker thread. One addition of ours
  (:class:`_Server`): a request still incomplete ``read_timeout`` seconds after its first byte is
  cut, so a client sending a byte a second cannot hold a connection for ever (waitress's own
  timeout only measures silence).
- **Werkzeug** (Pallets) maps URLs to the handlers (``Map``/``Rule``: path parameters,
  405 with ``Allow``, HEAD for GET) and wraps the WSGI environment (case-insensitive headers).
- A handler that raises answers 500 ``{"error": "internal error"}``: the exception is logged,
  never sent to the client.

:func:`serve` runs the server in a thread of the agent (``stratos agent``). :func:`run` runs it
as a process of its own (``stratos agent-http``), which is what a privilege split needs: that
process is the only one that listens, reads ``status.json`` and the metrics snapshot
(``<state>/agent/metrics.prom``) that the agent writes atomically each tick, and hands pushes to
the agent as request files in ``<state>/agent/triggers/`` (the agent wakes for them within 0.25 s).
It needs no Docker socket, no database, no definitions and no secret file: read access to
``<state>/agent`` (those two files and the webhook table the agent publishes in ``hooks/``,
:func:`stratos.agent.webhook.publish`), and write access to ``triggers/`` and ``http/`` (the replay
window, ``<state>/agent/http/webhooks.json``). The agent container's driver runs it so
(docs/security.md).

Why the loopback by default: ``/metrics`` and ``/status`` are unauthenticated (a webhook proves
itself by its signature); whoever needs them from outside puts a proxy in front.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import waitress.channel
import waitress.parser
import waitress.server
from waitress import wasyncore
from waitress.adjustments import Adjustments
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from stratos.agent import metrics as metricslib
from stratos.agent import webhook
from stratos.agent.events import EventStore
from stratos.errors import StratosError
from stratos.status import read_status
from stratos.store import StateStore

log = logging.getLogger("stratos.agent.http")

DEFAULT_BIND = "127.0.0.1"
DEFAULT_PORT = 9464


@dataclass(frozen=True)
class Limits:
    """What one client may take of the server."""

    #: Largest request body (a push notification with many commits stays well below).
    max_body: int = 5 * 1024 * 1024
    #: Largest request line plus headers.
    max_header: int = 64 * 1024
    #: Seconds a connection may stay silent, and a request may take from its first byte to its last.
    read_timeout: float = 10.0
    #: Open connections at most; more wait in the listen backlog until one closes.
    connection_limit: int = 64
    #: Worker threads running handlers.
    threads: int = 4


# --------------------------------------------------------------------------- what the handlers use


@dataclass
class Context:
    """What the handlers use.

    ``metrics()`` returns the Prometheus exposition (``None``: not yet available, 503); ``wake()``
    tells an agent in the same process that a request file was written (a separate agent polls).
    """

    store: StateStore
    metrics: Callable[[], bytes | None]
    wake: Callable[[], None] | None = None
    clock: Callable[[], float] = time.time
    replays: webhook.ReplayGuard = field(default_factory=lambda: webhook.ReplayGuard(None))
    #: Check webhooks against the table the agent publishes (:func:`stratos.agent.webhook.publish`)
    #: rather than the definitions and secret files, which a separate HTTP process cannot read.
    published: bool = False

    @classmethod
    def in_process(
        cls,
        store: StateStore,
        recorder: metricslib.LatestSnapshot,
        events: EventStore | None = None,
        agent: Any = None,
        clock: Callable[[], float] = time.time,
    ) -> Context:
        """The agent's own figures, read from its :class:`~stratos.agent.metrics.LatestSnapshot`."""

        def exposition() -> bytes:
            metering = None
            if events is not None:
                try:
                    metering = events.member_seconds(clock())
                except Exception:  # noqa: BLE001 - metrics go out without metering rather than not at all
                    log.exception("metering for /metrics failed")
            return metricslib.exposition(recorder.snapshot(), metering)

        rollouts = getattr(agent, "rollouts", None)
        return cls(
            store,
            exposition,
            wake=rollouts.wake if rollouts is not None else None,
            clock=clock,
            replays=webhook.ReplayGuard(webhook.replay_file(store)),
        )

    @classmethod
    def from_files(cls, store: StateStore, clock: Callable[[], float] = time.time) -> Context:
        """For a server in its own process: the metrics snapshot the agent writes each tick."""

        def exposition() -> bytes | None:
            try:
                return metricslib.snapshot_file(store).read_bytes()
            except FileNotFoundError:
                return None

        return cls(
            store,
            exposition,
            clock=clock,
            replays=webhook.ReplayGuard(webhook.replay_file(store)),
            published=True,
        )


# --------------------------------------------------------------------------- the WSGI application


def _json(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data, indent=2, sort_keys=True) + "\n", status, mimetype="application/json")


def _error(status: int, message: str) -> Response:
    return _json({"error": message}, status)


URLS = Map(
    [
        Rule("/metrics", endpoint="metrics", methods=["GET"]),
        Rule("/status", endpoint="status", methods=["GET"]),
        Rule("/healthz", endpoint="healthz", methods=["GET"]),
        Rule("/hooks/git/<application>", endpoint="hook", methods=["POST"]),
    ],
    strict_slashes=False,
)


class App:
    """The WSGI application of :data:`URLS`."""

    def __init__(self, context: Context, limits: Limits = Limits()):
        self.context = context
        self.limits = limits

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        request.max_content_length = self.limits.max_body
        return self.respond(request)(environ, start_response)

    def respond(self, request: Request) -> Response:
        try:
            endpoint, params = URLS.bind_to_environ(request.environ).match()
            handler = getattr(self, f"on_{endpoint}")
            response: Response = handler(request, **params)
            return response
        except MethodNotAllowed as exc:
            response = _error(405, f"{request.method} is not allowed on {request.path}")
            response.headers["Allow"] = ", ".join(sorted(exc.valid_methods or ()))
            return response
        except NotFound:
            return _error(404, f"no route for {request.path}")
        except HTTPException as exc:
            return _error(exc.code or 400, exc.description or exc.name)
        except Exception:  # noqa: BLE001 - the client learns that it failed, the log learns why
            log.exception("%s %s failed", request.method, request.path)
            return _error(500, "internal error")

    def on_healthz(self, request: Request) -> Response:
        return Response("ok\n", mimetype="text/plain")

    def on_metrics(self, request: Request) -> Response:
        body = self.context.metrics()
        if body is None:
            return _error(503, "no metrics yet: the agent has not finished a tick")
        return Response(body, 200, content_type=metricslib.CONTENT_TYPE)

    def on_status(self, request: Request) -> Response:
        try:
            status = read_status(self.context.store)
        except StratosError as exc:
            return _error(503, f"the status cannot be read: {exc}")
        if status is None:
            return _error(503, "no status yet: the agent has not finished a tick")
        return _json(status.as_json())

    def on_hook(self, request: Request, application: str) -> Response:
        body = request.get_data(cache=False)
        status, answer = webhook.handle_push(
            application,
            dict(request.headers.items()),
            body,
            self.context.store,
            wake=self.context.wake,
            replays=self.context.replays,
            now=self.context.clock(),
            published=self.context.published,
        )
        return _json(answer, status)


# --------------------------------------------------------------------------- the server


class _Parser(waitress.parser.HTTPRequestParser):
    """Remembers when the request's first byte came (waitress creates one parser per request)."""

    def __init__(self, adj: Adjustments):
        super().__init__(adj)
        self.began = time.monotonic()


class _Channel(waitress.channel.HTTPChannel):
    parser_class = _Parser


class _Server(waitress.server.TcpWSGIServer):
    """waitress's TCP server, plus a deadline per request (see the module doc)."""

    channel_class = _Channel
    read_deadline: float = Limits.read_timeout

    def maintenance(self, now: float) -> None:
        super().maintenance(now)
        cutoff = time.monotonic() - self.read_deadline
        for channel in list(self.active_channels.values()):
            partial = getattr(channel, "request", None)
            if partial is not None and not channel.requests and getattr(partial, "began", cutoff) < cutoff:
                log.info("closing a connection whose request took over %gs to arrive", self.read_deadline)
                channel.will_close = True


class AgentServer:
    """The waitress server of an :class:`App`, run in a thread by :meth:`start` or here by :meth:`run`."""

    def __init__(
        self, app: App, bind: str = DEFAULT_BIND, port: int = DEFAULT_PORT, limits: Limits | None = None
    ):
        limits = limits or app.limits
        adj = Adjustments(
            host=bind,
            port=port,
            ipv4=":" not in bind,
            ipv6=":" in bind,
            threads=limits.threads,
            connection_limit=limits.connection_limit,
            channel_timeout=limits.read_timeout,
            # Check the deadlines every second (waitress's default is every 30 s).
            cleanup_interval=1,
            max_request_body_size=limits.max_body,
            max_request_header_size=limits.max_header,
            expose_tracebacks=False,
            asyncore_use_poll=True,
            ident="stratos-agent",
        )
        self.server = _Server(app, adj=adj)
        self.server.read_deadline = limits.read_timeout
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        return str(self.server.effective_host), int(self.server.effective_port)

    @property
    def url(self) -> str:
        host, port = self.address
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def run(self) -> None:
        """Serve until :meth:`close` (from another thread or a signal handler)."""
        self.server.run()

    def start(self) -> AgentServer:
        self._thread = threading.Thread(target=self.run, name="stratos-http", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop accepting, close every connection, stop the workers; frees the port."""
        server = self.server
        # The workers first, while the event loop still runs: a worker ending a request wakes the
        # loop through the trigger, which must not be closed (or its descriptor reused) under it.
        server.task_dispatcher.shutdown(timeout=5)
        if self._thread is not None and self._thread.is_alive():
            # Close from the event loop's own thread (the trigger runs the thunk there).
            server.trigger.pull_trigger(lambda: wasyncore.close_all(server._map))
            self._thread.join(timeout=5)
            self._thread = None
        else:
            wasyncore.close_all(server._map)


def is_loopback(bind: str) -> bool:
    try:
        return ipaddress.ip_address(bind).is_loopback
    except ValueError:
        return bind == "localhost"


def _warn_unless_loopback(bind: str) -> None:
    if not is_loopback(bind):
        log.warning(
            "serving metrics, status and webhooks on %s, not the loopback: /metrics and /status are "
            "unauthenticated",
            bind,
        )


def serve(
    context: Context, bind: str = DEFAULT_BIND, port: int = DEFAULT_PORT, limits: Limits | None = None
) -> AgentServer:
    """Start serving in a thread. Raises OSError when the address is taken."""
    _warn_unless_loopback(bind)
    limits = limits or Limits()
    server = AgentServer(App(context, limits), bind, port, limits).start()
    log.info("serving /metrics, /status and /hooks/git/<application> on %s", server.url)
    return server


def run(
    store: StateStore,
    bind: str = DEFAULT_BIND,
    port: int = DEFAULT_PORT,
    limits: Limits | None = None,
    stop: threading.Event | None = None,
) -> int:
    """Serve from the state directory's files in this process until SIGTERM/SIGINT or ``stop``.

    The entry point of ``stratos agent-http``: no Docker client, no database, no agent object.
    """
    _warn_unless_loopback(bind)
    limits = limits or Limits()
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        # Before the server announces its address: a SIGTERM from then on is a clean stop.
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
    server = AgentServer(App(Context.from_files(store), limits), bind, port, limits).start()
    log.info("serving /metrics, /status and /hooks/git/<application> on %s (from files)", server.url)
    try:
        stop.wait()
    finally:
        server.close()
    return 0
