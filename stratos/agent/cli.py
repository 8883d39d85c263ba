"""``stratos agent``, ``status``, ``events``, ``metering``, ``sync`` and ``rollback``: the agent's
command-line adapter."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from datetime import UTC, datetime
from typing import Any

from stratos import settings
from stratos import status as statuslib
from stratos.agent import http as httplib
from stratos.agent import lock as statelock
from stratos.agent.events import EventStore, SafeEventStore
from stratos.agent.loop import Agent, AgentConfig
from stratos.drivers.docker import ClientPool
from stratos.status import AgentStatus
from stratos.store import StateStore

COMMANDS = ("agent", "agent-http", "status", "events", "metering", "sync", "rollback")


def add_parser(subparsers: Any) -> None:
    """Register the sub-commands this module implements (and only those)."""
    p = subparsers.add_parser(
        "agent", help="run the resident agent: keep every subscription's members running behind HAProxy"
    )
    _state_dir(p)
    p.add_argument("--interval", type=float, default=5.0, help="seconds between two ticks (default 5)")
    p.add_argument("--once", action="store_true", help="run one tick and exit (status 1 if it failed)")
    p.add_argument("--dry-run", action="store_true", help="plan and print the actions; change nothing")
    p.add_argument("--drain-timeout", type=float, default=30.0, help="seconds a removed member may drain")
    p.add_argument(
        "--metrics-port",
        type=int,
        default=httplib.DEFAULT_PORT,
        help=f"port of /metrics, /status and /hooks/git/<app> (default {httplib.DEFAULT_PORT}; 0: no server)",
    )
    p.add_argument(
        "--bind", default=httplib.DEFAULT_BIND, help=f"address to serve on (default {httplib.DEFAULT_BIND})"
    )
    p.add_argument(
        "--no-engine-events",
        action="store_true",
        help="do not follow the Docker engine's events (a killed member then waits for the next tick)",
    )
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    p.set_defaults(func=run)

    p = subparsers.add_parser(
        "agent-http",
        help="serve /metrics, /status and /hooks/git/<app> in a process of their own, from the state "
        "directory's files (run the agent with --metrics-port 0 beside it)",
    )
    _state_dir(p)
    p.add_argument("--port", type=int, default=httplib.DEFAULT_PORT, help="port (default %(default)s)")
    p.add_argument("--bind", default=httplib.DEFAULT_BIND, help="address (default %(default)s)")
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    p.set_defaults(func=run)

    p = subparsers.add_parser("status", help="members per subscription, from the agent's status.json")
    _state_dir(p)
    p.add_argument("--json", action="store_true", help="print status.json as it is")
    p.set_defaults(func=run)

    p = subparsers.add_parser("events", help="recent agent events of an application, with their reasons")
    _state_dir(p)
    p.add_argument("application")
    p.add_argument("--subscription", help="only this subscription (alias)")
    p.add_argument("--limit", type=int, default=30)
    p.set_defaults(func=run)

    p = subparsers.add_parser("sync", help="make the agent fetch an application's artifact now")
    _state_dir(p)
    p.add_argument("application")
    p.add_argument("--alias", help="only this subscription")
    p.add_argument(
        "--now", action="store_true", help="fetch and check out here, then ask the agent to switch"
    )
    p.set_defaults(func=run)

    p = subparsers.add_parser(
        "rollback", help="serve an earlier release of an artifact until its branch moves"
    )
    _state_dir(p)
    p.add_argument("application")
    p.add_argument("--alias", help="the subscription (needed when several have an artifact)")
    p.add_argument("--to", metavar="SHA", help="this commit (default: the previous good release)")
    p.add_argument("--wait", type=float, default=60.0, help="seconds to wait for the switch (0: do not wait)")
    p.set_defaults(func=run)

    p = subparsers.add_parser("metering", help="member-seconds per application and subscription")
    _state_dir(p)
    p.add_argument("application", nargs="?", help="only this application")
    p.set_defaults(func=run)


def _state_dir(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--state-dir",
        default=None,
        help=f"the host's state directory (default: $STRATOS_STATE_DIR or {settings.DEFAULT_STATE_DIR})",
    )


def run(args: argparse.Namespace) -> int:
    store = StateStore(args.state_dir)
    if args.command == "agent":
        return _agent(args, store)
    if args.command == "agent-http":
        logging.basicConfig(
            level=getattr(logging, args.log_level),
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
            stream=sys.stderr,
        )
        return httplib.run(store, args.bind, args.port)
    if args.command == "status":
        return _status(args, store)
    if args.command == "events":
        return _events(args, store)
    if args.command == "metering":
        return _metering(args, store)
    if args.command in ("sync", "rollback"):
        return _release(args, store)
    raise SystemExit(f"stratos: unknown command {args.command}")


def _agent(args: argparse.Namespace, store: StateStore) -> int:
    logging.basicConfig(
        level=getattr(logging, args.log_level),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    store.ensure()
    held = None
    if not args.dry_run:
        try:
            held = statelock.acquire(store.agent_dir / "agent.lock")
        except statelock.AlreadyRunning as exc:
            print(f"stratos: {exc}", file=sys.stderr)
            return 1
    config = AgentConfig(
        interval=args.interval,
        dry_run=args.dry_run,
        drain_timeout=args.drain_timeout,
        watch_events=not args.no_engine_events,
    )
    pool = ClientPool()
    events = None if args.dry_run else SafeEventStore(store.database)
    agent = Agent(store, docker=pool, events=events, config=config)
    server = None
    if args.metrics_port and not args.once:
        context = httplib.Context.in_process(store, agent.recorder, events, agent)
        try:
            server = httplib.serve(context, args.bind, args.metrics_port)
        except OSError as exc:
            # The loop matters more than its metrics: go on without the server.
            logging.getLogger("stratos.agent").error(
                "cannot serve on %s:%s: %s; running without metrics", args.bind, args.metrics_port, exc
            )
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        if args.dry_run and args.once:
            result = agent.tick()
            for line in result.done:
                print(line)
            if result.error:
                print(f"stratos: {result.error}", file=sys.stderr)
                return 1
            if not result.done:
                print("nothing to do")
            return 0
        return agent.run(once=args.once, stop=stop)
    finally:
        if server is not None:
            server.close()
        agent.close()
        pool.close()
        if held is not None:
            held.release()


def _status(args: argparse.Namespace, store: StateStore) -> int:
    data = statuslib.read_status(store)
    if data is None:
        print(f"no agent status yet ({store.status_file} does not exist)", file=sys.stderr)
        return 1
    if args.json:
        import json

        print(json.dumps(data.as_json(), indent=2, sort_keys=True))
        return 0
    print(status_table(data))
    for app, app_data in sorted(data.applications.items()):
        for alias, sub in sorted(app_data.subscriptions.items()):
            if sub.release:
                print(f"{app}/{alias}: release {sub.release[:12]} '{sub.release_message or ''}'")
            if sub.degraded:
                print(f"{app}/{alias}: degraded: {sub.degraded}")
    age = time.time() - data.time
    line = f"last tick {age:.0f}s ago, {'ok' if data.tick.ok else 'FAILED'}"
    if data.tick.error:
        line += f": {data.tick.error}"
    print(line)
    return 0


def _figure(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{float(value):.{digits}f}"


def status_table(data: AgentStatus) -> str:
    """The subscriptions of a status as a table, one line each."""
    rows = [
        (
            "APPLICATION",
            "SUBSCRIPTION",
            "MEMBERS",
            "HEALTHY",
            "IN LB",
            "CPU %",
            "MEM %",
            "IN FLIGHT",
            "DESIRED",
            "MIN-MAX",
            "READY",
        )
    ]
    for app, app_data in sorted(data.applications.items()):
        for alias, sub in sorted(app_data.subscriptions.items()):
            in_lb = "-" if sub.in_lb is None else str(sub.in_lb)
            in_flight = sub.requests_in_flight
            if in_flight is not None and sub.queued:
                in_flight_text = f"{in_flight:.0f}+{sub.queued:.0f}q"
            else:
                in_flight_text = _figure(in_flight)
            rows.append(
                (
                    app,
                    alias,
                    str(len(sub.members)),
                    str(sub.healthy),
                    in_lb,
                    _figure(sub.cpu_percent),
                    _figure(sub.memory_percent),
                    in_flight_text,
                    str(sub.desired),
                    f"{sub.min}-{sub.max}",
                    "yes" if sub.ready else "no",
                )
            )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows
    )


def _metering(args: argparse.Namespace, store: StateStore) -> int:
    if not store.database.exists():
        print(f"no agent events yet ({store.database} does not exist)", file=sys.stderr)
        return 1
    rows = EventStore(store.database).metering(time.time(), args.application)
    print(metering_table(rows))
    return 0


def metering_table(rows: list[tuple[str, str, int, float, int]]) -> str:
    """Member-seconds per subscription, and a total line per application."""
    lines = [("APPLICATION", "SUBSCRIPTION", "MEMBERS", "RUNNING", "MEMBER-SECONDS", "MEMBER-HOURS")]
    totals: dict[str, float] = {}
    for app, alias, count, seconds, running in rows:
        lines.append((app, alias, str(count), str(running), f"{seconds:.0f}", f"{seconds / 3600:.3f}"))
        totals[app] = totals.get(app, 0.0) + seconds
    for app, seconds in sorted(totals.items()):
        lines.append((app, "(all)", "", "", f"{seconds:.0f}", f"{seconds / 3600:.3f}"))
    widths = [max(len(row[i]) for row in lines) for i in range(len(lines[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in lines
    )


def _events(args: argparse.Namespace, store: StateStore) -> int:
    if not store.database.exists():
        print(f"no agent events yet ({store.database} does not exist)", file=sys.stderr)
        return 1
    store_ = EventStore(store.database)
    events = store_.events(args.application, args.subscription, limit=args.limit)
    for event in events:
        when = datetime.fromtimestamp(event.time, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")
        counts = f" {event.from_count}->{event.to_count}" if event.to_count is not None else ""
        member = event.details.get("member") or str(event.details.get("sha") or "")[:12]
        reasons = "; ".join(event.reasons)
        print(
            f"{when}  {event.subscription or '-':<12} {event.kind:<16}{counts}"
            f"{'  ' + member if member else ''}  {reasons}"
        )
    seconds = store_.member_seconds(time.time(), args.application).get(args.application)
    if seconds is not None:
        print(f"metering: {seconds:.0f} member-seconds ({seconds / 3600:.3f} member-hours) in all")
    return 0


def _release(args: argparse.Namespace, store: StateStore) -> int:
    """``stratos sync`` and ``stratos rollback``: requests the agent carries out on its next tick."""
    from stratos.agent import rollout
    from stratos.releases import triggers

    definitions = store.load()
    if args.command == "sync":
        for alias in rollout.artifact_aliases(definitions, args.application, args.alias):
            if args.now:
                head = rollout.sync_now(store, definitions, args.application, alias)
                print(f"{args.application}/{alias}: fetched, branch head {head[:12]}")
            triggers.request_sync(store, args.application, [alias], "stratos sync")
            print(f"{args.application}/{alias}: sync requested; the agent fetches on its next tick")
        return 0
    since = time.time()
    alias, sha, current = rollout.choose_rollback(store, definitions, args.application, args.alias, args.to)
    triggers.request_rollback(store, args.application, alias, sha, "stratos rollback")
    print(f"{args.application}/{alias}: rollback from {str(current)[:12]} to {sha[:12]} requested")
    if args.wait > 0:
        sub = rollout.wait_for_release(store, args.application, alias, sha, args.wait, since=since)
        if sub.release != sha:
            print(f"{args.application}/{alias}: degraded: {sub.degraded}", file=sys.stderr)
            return 1
        print(f"{args.application}/{alias}: release {sha[:12]} is live; held until the branch moves")
    return 0
