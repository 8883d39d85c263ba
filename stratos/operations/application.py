"""The application operations: write or remove an application's definition, then wait for the agent.

An application is a definition; its members belong to the agent, which reads the definitions each
tick. So :func:`apply_application` writes the definition (and reloads the LB clusters whose health
checks follow it), then waits until a status the agent wrote after the definition
(``<state>/agent/status.json``) reports every subscription ready; :func:`remove_application`
removes the definition *before* the members go (the agent removes them because it went), waits
until no member container of the application is left and none is a server of its LB clusters, and
only then may purge its data (named volumes, secrets, link files, releases). Both waits are one
bounded wait, :func:`wait_until`.

The definition's texts, the reported definition and every error message hide the credentials of
URLs (:func:`stratos.model.redact_text`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any, cast

from stratos import endpoints
from stratos import status as agent_status
from stratos.changes import Change, Plan
from stratos.drivers import docker as dockerlib
from stratos.drivers import haproxy, members
from stratos.errors import Problem, StratosError, ValidationError
from stratos.model import Application, redact_text
from stratos.operations import lb_cluster
from stratos.operations.definition import (
    redacted_definition,
    shown_definition,
    stored_definition,
    write_definition,
)
from stratos.status import AgentStatus, SubscriptionStatus
from stratos.store import StateStore
from stratos.validation import DefinitionSet, parse_definition

#: Seconds between two looks at the agent's status or at Docker.
POLL = 1.0
#: Seconds an LB cluster's HAProxy has to answer again after a reload the application causes.
LB_WAIT = 30.0


class NotDone(StratosError):
    """The wait ended without the agent doing what was asked; ``details`` is what was seen
    (``status``; when removing, ``members`` and ``lb_servers``), for the front end to report."""

    temporary = True

    def __init__(self, message: str, details: Mapping[str, Any]):
        super().__init__(message)
        self.details = dict(details)


def _redacted(change: Change) -> Change:
    """The definition file's change with credentials in URLs hidden from the diff."""
    return replace(
        change,
        before=redact_text(change.before) if isinstance(change.before, str) else change.before,
        after=redact_text(change.after) if isinstance(change.after, str) else change.after,
    )


def wait_until(
    done: Callable[[], bool],
    timeout: float,
    *,
    poll: float = POLL,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> bool:
    """The operations' one bounded wait: ask ``done`` every ``poll`` seconds until it says yes
    (True) or ``timeout`` seconds passed (False); it is asked at least once."""
    deadline = clock() + timeout
    while not done():
        if clock() >= deadline:
            return False
        sleep(poll)
    return True


# --------------------------------------------------------------------------- present


def pin_releases(app: Application, pins: Mapping[str, str | None] | None) -> Application:
    """``app`` with ``artifact.pin`` of the named subscriptions (``{alias: commit or None}``) set.

    An alias that does not exist or has no artifact is named (``pin_release.<alias>``); the model
    checks the commit id (``subscriptions[<i>].artifact.pin``)."""
    if not pins:
        return app
    subscriptions = list(app.subscriptions)
    index = {sub.alias: i for i, sub in enumerate(subscriptions)}
    problems = []
    for alias, commit in sorted(pins.items()):
        i = index.get(alias)
        artifact = subscriptions[i].artifact if i is not None else None
        if i is None or artifact is None:
            problems.append(
                Problem("", f"pin_release.{alias}", "must name a subscription with an artifact", commit)
            )
            continue
        subscriptions[i] = subscriptions[i].model_copy(
            update={"artifact": artifact.model_copy(update={"pin": commit})}
        )
    if problems:
        raise ValidationError(problems)
    pinned = app.model_copy(update={"subscriptions": subscriptions})
    # model_copy does not validate: the model checks the pins as it checks any definition.
    return cast(Application, parse_definition(pinned.model_dump(mode="json")))


def apply_application(
    store: StateStore,
    app: Application,
    *,
    pool: dockerlib.ClientPool,
    pins: Mapping[str, str | None] | None = None,
    wait: bool = True,
    timeout: float = 180.0,
    poll: float = POLL,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Plan:
    """Plan writing ``app`` (with ``pins``, see :func:`pin_releases`) and reloading the LB clusters
    it uses whose configuration changes with it; reads only, raises ValidationError naming every
    problem. The plan's ``apply`` writes, reloads, waits (with ``wait``: :func:`wait_ready`) and
    returns the report with the agent's view; a wait that times out raises :class:`NotDone`."""
    app = pin_releases(app, pins)
    preview = store.load_lenient()  # the one parse of the store: checked against, then planned on
    stored = store.plan_put(app, preview)
    refresh = _plan_lb_refresh(store, app, preview, pool)
    report: dict[str, Any] = {
        "definition": redacted_definition(shown_definition(stored)),
        "path": str(store.definition_path("Application", app.name)),
    }
    if refresh:
        report["load_balancers"] = [
            {"name": change.name, "action": change.action, "reasons": list(change.reasons)}
            for *_, change in refresh
        ]

    def apply() -> dict[str, Any]:
        # A status from before a change says nothing of it; with nothing changed any status will do
        # (a no-op rerun does not wait for the agent's next tick).
        since = time.time() if stored.changed or any(c.changed for *_, c in refresh) else None
        write_definition(store, stored)
        for client, spec, lb_change, _ in refresh:
            haproxy.apply_lb_container(client, spec, lb_change, store, wait=LB_WAIT)
        if wait:
            aliases = [sub.alias for sub in app.subscriptions]
            wait_ready(store, app.name, aliases, timeout, since, report, poll, clock, sleep)
        return {**report, "status": application_status(store, app.name)}

    changes = (_redacted(stored), *(change for *_, change in refresh))
    return Plan(changes, {**report, "status": application_status(store, app.name)}, apply)


def _plan_lb_refresh(
    store: StateStore, app: Application, preview: DefinitionSet, pool: dockerlib.ClientPool
) -> list[tuple[Any, haproxy.LbContainerSpec, haproxy.LbChange, Change]]:
    """The HAProxy health checks follow the cartridges served behind each listener, so writing an
    application may change the configuration of the LB clusters it uses (a reload, never a member
    change). Plans only for LB containers that exist; creating them is the LB cluster operation's.
    ``preview``: the stored set with ``app`` in it."""
    planned = []
    for name in sorted({sub.lb_cluster for sub in app.subscriptions if sub.lb_cluster}):
        lb = preview.lb_clusters.get(name)
        np = preview.network_partitions.get(lb.network_partition) if lb is not None else None
        endpoint = lb_cluster.lb_endpoint(np) if np is not None else None
        if lb is None or np is None or endpoint is None:
            continue
        client = pool.get(endpoint)
        spec, lb_change, change, current = lb_cluster.plan_container(
            client, store, lb, np, definitions=preview
        )
        if current is not None and change.changed:
            planned.append((client, spec, lb_change, change))
    return planned


def wait_ready(
    store: StateStore,
    app: str,
    aliases: Iterable[str] | None,
    timeout: float,
    since: float | None,
    report: Mapping[str, Any] | None = None,
    poll: float = POLL,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> AgentStatus:
    """Wait (bounded) until a status the agent wrote at or after ``since`` (Unix time; None: any)
    reports every (or each named) subscription of ``app`` ready, and return it. Raises
    :class:`NotDone` saying what it saw (and whether the agent runs at all), its details ``report``
    with the agent's view."""
    names = list(aliases) if aliases is not None else None
    seen: dict[str, AgentStatus | None] = {"status": None}

    def ready() -> bool:
        status = seen["status"] = agent_status.read_status(store)
        fresh = status is not None and (since is None or status.time >= since)
        return fresh and agent_status.application_ready(status, app, names)

    if wait_until(ready, timeout, poll=poll, clock=clock, sleep=sleep):
        found = seen["status"]
        assert found is not None
        return found
    status = seen["status"]
    view = application_status(store, app)
    message = [_not_ready(status, app, names, timeout)]
    if status is not None and since is not None and status.time < since:
        message.append(
            f"the agent's last status is {since - status.time:.0f}s older than the "
            "definition (is the agent running?)"
        )
    if status is not None and status.tick.error:
        message.append(f"its last tick failed: {status.tick.error}")
    if status is not None and status.subscriptions_of(app):
        message.append("members seen: " + "; ".join(describe_members(status.subscriptions_of(app))))
    raise NotDone(". ".join(message), {**(report or {}), "status": view})


def _not_ready(status: AgentStatus | None, app: str, names: list[str] | None, timeout: float) -> str:
    if status is None:
        return f"application '{app}': no agent status after {timeout:g}s (is the agent running?)"
    subs = status.subscriptions_of(app)
    if not subs:
        return f"application '{app}': the agent does not report it after {timeout:g}s"
    parts = [
        f"{alias}: {sub.healthy} healthy, {sub.in_lb} in LB, min {sub.min}"
        + (f", waiting for {', '.join(sub.waiting_for)}" if sub.waiting_for else "")
        + (f" ({'; '.join(sub.notes)})" if sub.notes else "")
        for alias, sub in sorted(subs.items())
        if (names is None or alias in names) and not sub.ready
    ]
    return f"application '{app}' not ready after {timeout:g}s: " + "; ".join(parts)


# --------------------------------------------------------------------------- the agent's view


def application_status(
    store: StateStore, app: str, now: Callable[[], float] = time.time
) -> dict[str, Any] | None:
    """The agent's latest view of ``app`` as the front ends report it (None when it reports no such
    application): the status file's own keys, nothing added."""
    status = agent_status.read_status(store)
    view = status.applications.get(app) if status is not None else None
    if status is None or view is None:
        return None
    return {
        "time": status.time,
        "age": round(max(0.0, now() - status.time), 1),
        "tick": status.tick.model_dump(mode="json", exclude_unset=True),
        "subscriptions": {
            alias: sub.model_dump(mode="json", exclude_unset=True)
            for alias, sub in view.subscriptions.items()
        },
    }


def describe_members(subscriptions: Mapping[str, SubscriptionStatus]) -> list[str]:
    """One line per subscription of an application's view: its members, their health and how many
    serve, for a message that says what the agent saw."""
    described = []
    for alias, sub in sorted(subscriptions.items()):
        items = []
        for member in sub.members:
            text = f"{member.id} {member.health}"
            if member.in_lb is not None:
                text += ", in LB" if member.in_lb else ", not in LB"
            if member.detail:
                text += f" ({member.detail})"
            items.append(text)
        in_lb = "n/a" if sub.in_lb is None else sub.in_lb
        shown = f" [{', '.join(items)}]" if items else ""
        described.append(
            f"{alias}: {len(sub.members)} member(s){shown}, {sub.healthy} healthy, {in_lb} in LB, min {sub.min}"
        )
    return described


# --------------------------------------------------------------------------- absent


def remove_application(
    store: StateStore,
    name: str,
    *,
    pool: dockerlib.ClientPool,
    wait: bool = True,
    purge: bool = False,
    timeout: float = 180.0,
    poll: float = POLL,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Plan:
    """Plan removing the application ``name`` and, with ``purge``, its data: its named volumes (this
    state directory's) and its secrets, link files and releases. Reads only; refuses while another
    definition refers to it. The plan's ``apply`` removes the definition, waits (with ``wait`` or
    ``purge``) until its members are gone and out of its LB clusters, purges, and returns the
    report; a wait that times out raises :class:`NotDone` (the data is then kept)."""
    stored = store.plan_remove("Application", name)
    before = cast("Application | None", stored_definition(store, "Application", name))
    report: dict[str, Any] = {
        "definition": redacted_definition(shown_definition(stored)),
        "path": str(store.definition_path("Application", name)),
    }
    changes = [_redacted(stored)]
    sid = dockerlib.state_id(store.root)
    volumes: list[tuple[str, str]] = []
    if purge:
        for endpoint in endpoints.of_state(store):
            volumes.extend((endpoint, v) for v in members.app_volumes(pool.get(endpoint), name, state_id=sid))
        # The directories StateStore.purge() removes.
        paths = [store.root / sub / name for sub in ("secrets", "links", "releases")]
        report["purged"] = {
            "volumes": [v for _, v in volumes],
            "paths": [str(p) for p in paths if p.exists()],
        }
        data = report["purged"] if volumes or report["purged"]["paths"] else None
        changes.append(Change("application-data", name, "remove" if data else "none", data))

    def apply() -> dict[str, Any]:
        write_definition(store, stored)
        result = dict(report)
        if wait or purge:
            result["members"] = wait_gone(
                store, name, before, pool, timeout, result, purge, poll, clock, sleep
            )
        if purge:
            for endpoint in dict.fromkeys(endpoint for endpoint, _ in volumes):
                members.purge_volumes(pool.get(endpoint), name, state_id=sid)
            store.purge(name)
        return {**result, "status": application_status(store, name)}

    return Plan(tuple(changes), {**report, "status": application_status(store, name)}, apply)


def wait_gone(
    store: StateStore,
    app: str,
    before: Application | None,
    pool: dockerlib.ClientPool,
    timeout: float,
    report: Mapping[str, Any] | None = None,
    purging: bool = False,
    poll: float = POLL,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> list[str]:
    """Wait (bounded) until no member container of ``app`` (this state directory's) is left and
    none of the members seen is a server of the LB clusters ``before`` used; returns the members left
    (none). Raises :class:`NotDone` naming what is left, its details ``report`` with ``members`` and
    ``lb_servers``."""
    seen_ids: set[str] = set()
    left: dict[str, list[str]] = {}

    def gone() -> bool:
        left["members"], left["lb_servers"] = _remaining(store, app, before, pool, seen_ids)
        return not left["members"] and not left["lb_servers"]

    if wait_until(gone, timeout, poll=poll, clock=clock, sleep=sleep):
        return []
    what = []
    if left["members"]:
        what.append(f"{len(left['members'])} member(s) still exist: {', '.join(left['members'])}")
    if left["lb_servers"]:
        what.append(f"still LB servers: {', '.join(left['lb_servers'])}")
    raise NotDone(
        f"application '{app}' removed, but after {timeout:g}s {'; '.join(what)} (is the agent running? "
        "it drains and removes the members no definition wants)"
        + ("; its data is kept until they are gone" if purging else ""),
        {**(report or {}), **left},
    )


def _remaining(
    store: StateStore, app: str, before: Application | None, pool: dockerlib.ClientPool, seen_ids: set[str]
) -> tuple[list[str], list[str]]:
    """Member containers of ``app`` (this state directory's), and LB servers named after any member
    seen so far."""
    sid = dockerlib.state_id(store.root)
    left = []
    for endpoint in endpoints.of_state(store):
        for member in members.list_members(pool.get(endpoint), sid, endpoint):
            if member.application == app:
                seen_ids.add(member.member_id)
                left.append(f"{member.member_id} ({member.status})")
    servers: list[str] = []
    for lb in sorted({sub.lb_cluster for sub in before.subscriptions if sub.lb_cluster} if before else ()):
        try:
            states = haproxy.runtime(store, lb).servers_state()
        except StratosError:
            continue  # no load balancer answering: nothing is served there
        servers.extend(f"{lb}/{s.backend}/{s.name}" for s in states if s.name in seen_ids)
    return left, servers
