# Copyright (c) Stratos as code contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0) or, at your option,
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: Apache-2.0 OR GPL-3.0-or-later

# This module utility is private to stratos.paas: its API may change without notice and other
# collections must not import it.
#
# The application module's edge. An application is a definition; its members belong to the agent,
# which reads the definitions each tick. So the module writes (or removes) the definition, then waits
# for the agent to act: with state=present until <state>/agent/status.json, written after the
# definition, reports every subscription ready (stratos.status.wait_ready); with state=absent
# until no member container of the application is left on Docker (the status file no longer lists an
# application without a definition) and none of them is a server of its LB clusters. Only then may
# purge_data remove the data volumes, secrets, link files and releases.
#
# Unlike run_definition_module(), the order matters here: the definition is removed *before* the
# members go (the agent removes them because the definition went), and the data after.

from __future__ import annotations

import time
import traceback

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.stratos.paas.plugins.module_utils._common import STRATOS_LIBRARY, require_stratos
from ansible_collections.stratos.paas.plugins.module_utils._diff import change_diff

try:
    import yaml
    from stratos import status as agent_status
    from stratos.drivers import docker as dockerlib
    from stratos.drivers import haproxy, members
    from stratos.drivers.network import docker_endpoints
    from stratos.errors import Problem, StratosError, ValidationError
    from stratos.model import redact_text, redact_url
    from stratos.operations.definition import check_name, read_body
    from stratos.store import StateStore
    from stratos.validation import parse_definition
except ImportError:
    HAS_APP_DEPS = False
    APP_DEPS_IMPORT_ERROR = traceback.format_exc()
else:
    HAS_APP_DEPS = True
    APP_DEPS_IMPORT_ERROR = None

#: The options application adds to the definition module's (documented in plugins/modules/application.py).
APP_OPTIONS = dict(
    wait=dict(type="bool", default=True),
    wait_timeout=dict(type="int", default=180),
    purge_data=dict(type="bool", default=False),
    pin_release=dict(type="dict"),
)

#: Seconds between two looks at the agent's status or at Docker.
POLL = 1.0


class NotDone(Exception):
    """The wait ended without the agent doing what was asked; carries what was seen."""

    def __init__(self, msg, result):
        super().__init__(msg)
        self.result = result


def run_application_module(module):
    """Write or remove the application definition, wait for the agent, exit the module."""
    require_stratos(module)
    if not HAS_APP_DEPS:
        module.fail_json(
            msg=missing_required_lib("%s (with the docker SDK)" % STRATOS_LIBRARY),
            exception=APP_DEPS_IMPORT_ERROR,
        )
    try:
        result = _run(module)
    except ValidationError as exc:
        module.fail_json(msg=str(exc), problems=[str(p) for p in exc.problems])
    except NotDone as exc:
        module.fail_json(msg=str(exc), **exc.result)
    except StratosError as exc:
        module.fail_json(msg=str(exc), error=type(exc).__name__, temporary=exc.temporary)
    module.exit_json(**result)


def _run(module):
    params = module.params
    store = StateStore(params["state_dir"])
    name = params["name"]
    check_name(name)
    present = params["state"] == "present"
    if present:
        desired = parse_definition(
            pin_releases(
                read_body("Application", name, definition=params["definition"], src=params["src"]),
                params.get("pin_release"),
            ),
            params.get("src") or "",
        )
        change = store.plan_put(desired)
    else:
        desired = None
        change = store.plan_remove("Application", name)
    before = _parse(store, change.before)
    pool = dockerlib.ClientPool()
    try:
        purge = _plan_purge(store, name, pool) if not present and params["purge_data"] else None
        lb_refresh = _plan_lb_refresh(store, desired, pool) if present else []
        result = dict(
            changed=change.changed or bool(purge and purge.changed) or bool(lb_refresh),
            definition=redacted_definition(
                yaml.safe_load(change.after if present else change.before or "null")
            ),
            path=str(store.definition_path("Application", name)),
        )
        if module._diff:
            diffs = [change_diff(change)] + ([purge.diff()] if purge is not None else [])
            result["diff"] = [dict(d, before=_redact(d["before"]), after=_redact(d["after"])) for d in diffs]
        if purge is not None:
            result["purged"] = purge.report()
        if lb_refresh:
            result["load_balancers"] = [
                dict(name=spec.name, action=lb_change.action, reasons=list(lb_change.reasons))
                for dummy, spec, lb_change in lb_refresh
            ]
        if module.check_mode:
            result["status"] = application_status(store, name)
            return result

        if change.changed:
            store.ensure()
            store.apply(change)
        for client, spec, lb_change in lb_refresh:
            haproxy.apply_lb_container(client, spec, lb_change, store, wait=30)
        written = time.time()
        if present and params["wait"]:
            aliases = [sub.alias for sub in desired.subscriptions]
            result["status"] = _wait_ready(store, name, aliases, params["wait_timeout"], written, result)
        elif not present and (params["wait"] or purge is not None):
            result["members"] = _wait_gone(store, name, before, pool, params["wait_timeout"], purge, result)
        if purge is not None:
            purge.apply(pool)
        result.setdefault("status", application_status(store, name))
        return result
    finally:
        pool.close()


def pin_releases(data, pins):
    """Set ``artifact.pin`` of the named subscriptions (``{alias: commit or null}``) in the body.

    The core validates the commit id; an alias that does not exist or has no artifact is named."""
    if not pins:
        return data
    subs = data.get("subscriptions")
    by_alias = {s.get("alias"): i for i, s in enumerate(subs)} if isinstance(subs, list) else {}
    problems = []
    for alias, commit in sorted(pins.items()):
        i = by_alias.get(alias)
        if i is None or not isinstance(subs[i], dict) or not isinstance(subs[i].get("artifact"), dict):
            problems.append(
                Problem("", "pin_release.%s" % alias, "must name a subscription with an artifact", commit)
            )
            continue
        subs[i] = dict(subs[i], artifact=dict(subs[i]["artifact"], pin=commit))
    if problems:
        raise ValidationError(problems)
    return dict(data, subscriptions=subs)


def _plan_lb_refresh(store, desired, pool):
    """The HAProxy health checks follow the cartridges served behind each listener, so writing an
    application may change the configuration of the LB clusters it uses (a reload, never a member
    change). Plans only for LB containers that run; creating them is the lb_cluster module's job."""
    preview = store.preview(desired)
    planned = []
    for lb_name in sorted({sub.lb_cluster for sub in desired.subscriptions if sub.lb_cluster}):
        lb = preview.lb_clusters.get(lb_name)
        np = preview.network_partitions.get(lb.network_partition) if lb is not None else None
        if np is None or np.provider != "docker":
            continue
        client = pool.get(np.partitions[0].endpoint)
        if not client.containers.list(all=True, filters={"name": "^%s$" % haproxy.container_name(lb)}):
            continue
        spec, lb_change = haproxy.plan_lb_container(client, lb, np, store, definitions=preview)
        if lb_change.changed:
            planned.append((client, spec, lb_change))
    return planned


def _parse(store, text):
    if text is None:
        return None
    try:
        return parse_definition(yaml.safe_load(text))
    except (ValidationError, yaml.YAMLError):
        return None


# --------------------------------------------------------------------------- the agent's view


def application_status(store, app):
    """The agent's latest view of ``app`` (None when it reports no such application)."""
    status = agent_status.read_status(store)
    if not status:
        return None
    view = ((status.get("applications") or {}).get(app)) or None
    if view is None:
        return None
    return dict(
        time=status.get("time"),
        age=round(max(0.0, time.time() - float(status.get("time") or 0)), 1),
        tick=status.get("tick"),
        subscriptions=view.get("subscriptions") or {},
    )


def _wait_ready(store, app, aliases, timeout, since, result):
    try:
        agent_status.wait_ready(store, app, aliases, timeout=timeout, since=since, poll=POLL)
    except StratosError as exc:
        status = agent_status.read_status(store)
        seen = application_status(store, app)
        raise NotDone(_not_ready_message(str(exc), status, seen, since), dict(result, status=seen)) from None
    return application_status(store, app)


def _not_ready_message(core_message, status, seen, since):
    parts = [core_message]
    if status is not None and float(status.get("time") or 0) < since:
        parts.append(
            "the agent's last status is %.0fs older than the definition (is the agent running?)"
            % (since - float(status.get("time") or 0))
        )
    tick = (status or {}).get("tick") or {}
    if tick.get("error"):
        parts.append("its last tick failed: %s" % tick["error"])
    if seen:
        parts.append("members seen: " + "; ".join(_describe_members(seen["subscriptions"])))
    return ". ".join(parts)


def _describe_members(subscriptions):
    described = []
    for alias, sub in sorted(subscriptions.items()):
        found = sub.get("members") or []
        items = []
        for member in found:
            text = "%s %s" % (member.get("id"), member.get("health"))
            if member.get("in_lb") is not None:
                text += ", in LB" if member.get("in_lb") else ", not in LB"
            if member.get("detail"):
                text += " (%s)" % member["detail"]
            items.append(text)
        described.append(
            "%s: %d member(s)%s, %s healthy, %s in LB, min %s"
            % (
                alias,
                len(found),
                " [%s]" % ", ".join(items) if items else "",
                sub.get("healthy", 0),
                "n/a" if sub.get("in_lb") is None else sub.get("in_lb"),
                sub.get("min"),
            )
        )
    return described


# --------------------------------------------------------------------------- members going away


def _endpoints(store):
    """Every Docker endpoint of the stored network partitions (the local engine when there is none)."""
    found = []
    for path in sorted(store.definitions_dir.glob("network_partitions/*.yml")):
        np = _parse(store, path.read_text())
        if np is not None:
            found.extend(docker_endpoints(np))
    return list(dict.fromkeys(found)) or [dockerlib.DEFAULT_ENDPOINT]


def _remaining(store, app, before, pool, seen_ids):
    """Member containers of ``app`` (this state directory's) and LB servers named after any member
    seen so far."""
    sid = dockerlib.state_id(store.root)
    left = []
    for endpoint in _endpoints(store):
        for member in members.list_members(pool.get(endpoint), sid, endpoint):
            if member.application == app:
                seen_ids.add(member.member_id)
                left.append("%s (%s)" % (member.member_id, member.status))
    servers = []
    lbs = {sub.lb_cluster for sub in before.subscriptions if sub.lb_cluster} if before else set()
    for lb in sorted(lbs):
        try:
            states = haproxy.runtime(store, lb).servers_state()
        except StratosError:
            continue  # no load balancer answering: nothing is served there
        servers.extend("%s/%s/%s" % (lb, s.backend, s.name) for s in states if s.name in seen_ids)
    return left, servers


def _wait_gone(store, app, before, pool, timeout, purge, result):
    seen_ids = set()
    deadline = time.monotonic() + timeout
    while True:
        left, servers = _remaining(store, app, before, pool, seen_ids)
        if not left and not servers:
            return []
        if time.monotonic() >= deadline:
            break
        time.sleep(POLL)
    what = []
    if left:
        what.append("%d member(s) still exist: %s" % (len(left), ", ".join(left)))
    if servers:
        what.append("still LB servers: %s" % ", ".join(servers))
    raise NotDone(
        "application '%s' removed, but after %ds %s (is the agent running? it drains and removes the "
        "members no definition wants)%s"
        % (
            app,
            timeout,
            "; ".join(what),
            "; its data is kept until they are gone" if purge is not None else "",
        ),
        dict(result, members=left, lb_servers=servers),
    )


# --------------------------------------------------------------------------- purge_data


class _Purge:
    """The data of an application: its named volumes (this state directory's) and its secrets, link
    files and releases in the state directory."""

    def __init__(self, store, app, volumes, paths):
        self.store = store
        self.app = app
        self.volumes = volumes  # [(endpoint, name)]
        self.paths = paths

    @property
    def changed(self):
        return bool(self.volumes or self.paths)

    def report(self):
        return dict(volumes=[volume[1] for volume in self.volumes], paths=[str(p) for p in self.paths])

    def diff(self):
        label = "data of application %s" % self.app
        before = yaml.safe_dump(self.report(), sort_keys=False) if self.changed else ""
        return dict(
            before=before,
            after="",
            before_header=label if self.changed else "(absent)",
            after_header="(absent)",
        )

    def apply(self, pool):
        for endpoint, name in self.volumes:
            client = pool.get(endpoint)
            with dockerlib.docker_errors("removing volume '%s'" % name):
                client.volumes.get(name).remove(force=True)
        self.store.purge(self.app)


def _plan_purge(store, app, pool):
    labels = {dockerlib.APPLICATION: app, dockerlib.STATE_ID: dockerlib.state_id(store.root)}
    volumes = []
    for endpoint in _endpoints(store):
        with dockerlib.docker_errors("listing the volumes of application '%s' on %s" % (app, endpoint)):
            found = pool.get(endpoint).volumes.list(filters={"label": dockerlib.label_filter(labels)})
        volumes.extend((endpoint, v.name) for v in sorted(found, key=lambda v: v.name))
    # The directories StateStore.purge() removes.
    paths = [store.root / sub / app for sub in ("secrets", "links", "releases")]
    paths = [path for path in paths if path.exists()]
    return _Purge(store, app, volumes, paths)


# --------------------------------------------------------------------------- no credentials out


def _redact(text):
    """Credentials in the URLs of ``text`` hidden (the core's one redaction), other values as they are."""
    return redact_text(text) if isinstance(text, str) else text


def redacted_definition(definition):
    """The definition with any password or token embedded in an artifact URL hidden."""
    if not isinstance(definition, dict):
        return definition
    subs = []
    for sub in definition.get("subscriptions") or []:
        artifact = sub.get("artifact") if isinstance(sub, dict) else None
        if isinstance(artifact, dict) and isinstance(artifact.get("url"), str):
            sub = dict(sub, artifact=dict(artifact, url=redact_url(artifact["url"])))
        subs.append(sub)
    return dict(definition, subscriptions=subs) if subs else definition
