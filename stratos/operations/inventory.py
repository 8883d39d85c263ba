"""What a state directory holds and what runs from it: :func:`info` (the module is not named
after it, so that the package's lazy ``operations.info`` stays the function). Reads only.

The stored definitions (never the secrets next to them; URL credentials hidden) and every problem of
the stored set; with ``live``, what the agent last reported, what each LB cluster's HAProxy says on
its runtime API, and which platform containers exist on the Docker endpoints of the network
partitions. A Docker endpoint that cannot be listed is a warning, not a failure.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from stratos import endpoints as endpointslib
from stratos import status as agent_status
from stratos.changes import Plan
from stratos.drivers import docker as dockerlib
from stratos.drivers import haproxy
from stratos.errors import StratosError, ValidationError
from stratos.model import KINDS
from stratos.operations.definition import check_name, redacted_definition
from stratos.store import StateStore
from stratos.validation import parse_definition

if TYPE_CHECKING:
    import docker

#: The kinds info reports, in this order.
KIND_ORDER = (
    "Cartridge",
    "NetworkPartition",
    "DeploymentPolicy",
    "AutoscalingPolicy",
    "LbCluster",
    "Application",
)

# The container labels returned. Not dockerlib.CONFIG: the agent container's configuration, whose
# environment may hold what an operator considers secret.
_LABELS = (
    dockerlib.ROLE,
    dockerlib.STATE_ID,
    dockerlib.APPLICATION,
    dockerlib.SUBSCRIPTION,
    dockerlib.CARTRIDGE,
    dockerlib.NETWORK_PARTITION,
    dockerlib.PARTITION,
    dockerlib.MEMBER_ID,
    dockerlib.REVISION,
    dockerlib.LB_CLUSTER,
    dockerlib.CONFIG_HASH,
)


def info(
    state_dir: str | Path | StateStore,
    *,
    kind: str | None = None,
    name: str | None = None,
    live: bool = True,
    pool: dockerlib.ClientPool | None = None,
    now: Callable[[], float] = time.time,
) -> Plan:
    """A plan with no change whose report is the view: ``definitions`` (by plural, then name),
    ``problems`` and, with ``live``, ``agent``, ``applications``, ``load_balancers`` and
    ``containers``; ``warnings`` names the Docker endpoints that could not be listed."""
    store = state_dir if isinstance(state_dir, StateStore) else StateStore(state_dir)
    if name is not None:
        check_name(name)
    definitions, problems = _definitions(store, kind, name)
    report: dict[str, Any] = {"definitions": definitions, "problems": problems}
    if not live:
        return Plan(report=report)
    status = agent_status.read_status(store)
    report["agent"] = None
    if status is not None:
        age = round(max(0.0, now() - status.time), 1)
        report["agent"] = dict(
            time=status.time, age=age, tick=status.tick.model_dump(mode="json", exclude_unset=True)
        )
    report["applications"] = {}
    if kind in (None, "Application") and status is not None:
        for app in [name] if name else sorted(status.applications):
            subs = status.subscriptions_of(app)
            if subs:
                report["applications"][app] = dict(
                    subscriptions={
                        alias: sub.model_dump(mode="json", exclude_unset=True) for alias, sub in subs.items()
                    }
                )
    report["load_balancers"] = {}
    if kind in (None, "LbCluster"):
        lbs = [name] if name else sorted(_names(store, "LbCluster"))
        report["load_balancers"] = {lb: lb_view(store, lb) for lb in lbs if store.read("LbCluster", lb)}
    warnings: list[str] = []
    report["containers"] = _containers(store, name, pool or dockerlib.ClientPool(), warnings)
    if warnings:
        report["warnings"] = warnings
    return Plan(report=report)


# --------------------------------------------------------------------------- definitions


def _names(store: StateStore, kind: str) -> list[str]:
    folder = store.definitions_dir / KINDS[kind][1]
    return [p.stem for p in folder.glob("*.yml")] if folder.is_dir() else []


def _definitions(
    store: StateStore, kind: str | None, name: str | None
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """{plural: {name: definition}} as stored, and every problem of the stored set."""
    found: dict[str, dict[str, Any]] = {}
    problems: list[str] = []
    for each in [kind] if kind else KIND_ORDER:
        plural = KINDS[each][1]
        found[plural] = {}
        for item in sorted(_names(store, each)):
            if name is not None and item != name:
                continue
            path = store.definition_path(each, item)
            try:
                data = yaml.safe_load(path.read_text())
                parse_definition(data, str(path))
            except ValidationError as exc:
                problems.extend(str(p) for p in exc.problems)
                continue
            except yaml.YAMLError as exc:
                problems.append(f"{path}: is not valid YAML: {exc}")
                continue
            found[plural][item] = redacted_definition(data)
    if not problems:
        try:
            store.load()
        except ValidationError as exc:
            problems.extend(str(p) for p in exc.problems)
    return found, problems


# --------------------------------------------------------------------------- the LB's own view


def lb_view(store: StateStore, lb: str) -> dict[str, Any]:
    """What HAProxy says on its runtime API: each frontend's and backend's status and each server."""
    runtime = haproxy.runtime(store, lb)
    frontends: dict[str, Any] = {}
    backends: dict[str, Any] = {}
    view: dict[str, Any] = dict(
        available=False, socket=str(runtime.socket_path), frontends=frontends, backends=backends
    )
    try:
        rows = runtime.stat()
    except StratosError as exc:
        view["error"] = str(exc)
        return view
    view["available"] = True
    for row in rows:
        if row.type == "frontend":
            frontends[row.proxy] = dict(status=row.status, sessions=row.current_sessions)
        elif row.type == "backend":
            backend = backends.setdefault(row.proxy, dict(servers=[]))
            backend.update(status=row.status, sessions=row.current_sessions, queued=row.queued)
        elif row.type == "server":
            backend = backends.setdefault(row.proxy, dict(servers=[]))
            backend["servers"].append(
                dict(
                    name=row.name,
                    address=row.addr,
                    status=row.status,
                    check_status=row.check_status,
                    weight=row.weight,
                    sessions=row.current_sessions,
                    total_sessions=row.total_sessions,
                )
            )
    return view


# --------------------------------------------------------------------------- containers


def _containers(
    store: StateStore, name: str | None, pool: dockerlib.ClientPool, warnings: list[str]
) -> list[dict[str, Any]]:
    """The platform containers of this state directory: members (its state id), its load balancers
    and agent (they mount a directory of it), on every Docker endpoint of its network partitions."""
    sid = dockerlib.state_id(store.root)
    root = str(store.root.resolve())
    found = []
    try:
        for endpoint in endpointslib.of_state(store):
            containers: list[docker.models.containers.Container]
            try:
                with dockerlib.docker_errors(f"listing the containers on {endpoint}"):
                    containers = pool.get(endpoint).containers.list(
                        all=True, filters={"label": [dockerlib.ROLE]}
                    )
            except StratosError as exc:
                warnings.append(f"containers not listed: {exc}")
                continue
            for container in containers:
                attrs = container.attrs
                labels = (attrs.get("Config") or {}).get("Labels") or {}
                mounts = [m.get("Source") or "" for m in attrs.get("Mounts") or []]
                ours = labels.get(dockerlib.STATE_ID) == sid or any(
                    m == root or m.startswith(root + "/") for m in mounts
                )
                if not ours or (
                    name is not None
                    and name not in (labels.get(dockerlib.APPLICATION), labels.get(dockerlib.LB_CLUSTER))
                ):
                    continue
                found.append(
                    dict(
                        name=container.name,
                        id=container.id,
                        endpoint=endpoint,
                        image=(attrs.get("Config") or {}).get("Image"),
                        status=(attrs.get("State") or {}).get("Status"),
                        labels={k: labels[k] for k in _LABELS if k in labels},
                    )
                )
    finally:
        pool.close()
    return sorted(found, key=lambda c: c["name"])
