# Copyright (c) Stratos as code contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0) or, at your option,
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: Apache-2.0 OR GPL-3.0-or-later

# This module utility is private to stratos.paas: its API may change without notice and other
# collections must not import it.
#
# The info module's edge: what the state directory holds (definitions, never the secrets next to
# them), what the agent last reported, what each LB cluster's HAProxy says on its runtime API and
# which platform containers exist. Reads only.

from __future__ import annotations

import time
import traceback

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.stratos.paas.plugins.module_utils._common import (
    STATE_DIR_SPEC,
    STRATOS_LIBRARY,
    check_name,
    require_stratos,
)

try:
    import yaml
    from stratos import status as agent_status
    from stratos.drivers import docker as dockerlib
    from stratos.drivers import haproxy
    from stratos.drivers.network import docker_endpoints
    from stratos.errors import StratosError, ValidationError
    from stratos.model import KINDS
    from stratos.operations.application import application_status, redacted_definition
    from stratos.store import StateStore
    from stratos.validation import parse_definition
except ImportError:
    HAS_INFO_DEPS = False
    INFO_DEPS_IMPORT_ERROR = traceback.format_exc()
else:
    HAS_INFO_DEPS = True
    INFO_DEPS_IMPORT_ERROR = None
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

KIND_CHOICES = [
    "Cartridge",
    "NetworkPartition",
    "DeploymentPolicy",
    "AutoscalingPolicy",
    "LbCluster",
    "Application",
]

INFO_SPEC = dict(
    STATE_DIR_SPEC,
    kind=dict(type="str", choices=KIND_CHOICES),
    name=dict(type="str"),
    live=dict(type="bool", default=True),
)


def run_info_module(module):
    require_stratos(module)
    if not HAS_INFO_DEPS:
        module.fail_json(msg=missing_required_lib(STRATOS_LIBRARY), exception=INFO_DEPS_IMPORT_ERROR)
    params = module.params
    try:
        if params["name"] is not None:
            check_name(params["name"])
        result = gather(
            module, StateStore(params["state_dir"]), params["kind"], params["name"], params["live"]
        )
    except ValidationError as exc:
        module.fail_json(msg=str(exc), problems=[str(p) for p in exc.problems])
    except StratosError as exc:
        module.fail_json(msg=str(exc), error=type(exc).__name__, temporary=exc.temporary)
    module.exit_json(changed=False, **result)


def gather(module, store, kind, name, live):
    definitions, problems = _definitions(store, kind, name)
    result = dict(definitions=definitions, problems=problems)
    if not live:
        return result
    status = agent_status.read_status(store)
    result["agent"] = (
        dict(
            time=status.get("time"),
            age=round(max(0.0, time.time() - float(status.get("time") or 0)), 1),
            tick=status.get("tick"),
        )
        if status
        else None
    )
    applications = {}
    if kind in (None, "Application"):
        names = [name] if name else sorted((status or {}).get("applications") or {})
        for app in names:
            view = application_status(store, app)
            if view is not None:
                applications[app] = dict(subscriptions=view["subscriptions"])
    result["applications"] = applications
    result["load_balancers"] = {}
    if kind in (None, "LbCluster"):
        lbs = [name] if name else sorted(_names(store, "LbCluster"))
        result["load_balancers"] = {lb: _lb_view(store, lb) for lb in lbs if store.read("LbCluster", lb)}
    result["containers"] = _containers(module, store, name)
    return result


# --------------------------------------------------------------------------- definitions


def _names(store, kind):
    folder = store.definitions_dir / KINDS[kind][1]
    return [p.stem for p in folder.glob("*.yml")] if folder.is_dir() else []


def _definitions(store, kind, name):
    """{plural: {name: definition}} as stored (secrets are never in definitions; URL credentials are
    hidden), and every problem of the stored set."""
    found = {}
    problems = []
    for each in [kind] if kind else KIND_CHOICES:
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
                problems.append("%s: is not valid YAML: %s" % (path, exc))
                continue
            found[plural][item] = redacted_definition(data)
    if not problems:
        try:
            store.load()
        except ValidationError as exc:
            problems.extend(str(p) for p in exc.problems)
    return found, problems


# --------------------------------------------------------------------------- the LB's own view


def _lb_view(store, lb):
    """What HAProxy says on its runtime API: each frontend's and backend's status and each server."""
    runtime = haproxy.runtime(store, lb)
    view = dict(available=False, socket=str(runtime.socket_path), frontends={}, backends={})
    try:
        rows = runtime.stat()
    except StratosError as exc:
        view["error"] = str(exc)
        return view
    view["available"] = True
    for row in rows:
        if row.type == "frontend":
            view["frontends"][row.proxy] = dict(status=row.status, sessions=row.current_sessions)
        elif row.type == "backend":
            backend = view["backends"].setdefault(row.proxy, dict(servers=[]))
            backend.update(status=row.status, sessions=row.current_sessions, queued=row.queued)
        elif row.type == "server":
            backend = view["backends"].setdefault(row.proxy, dict(servers=[]))
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


def _endpoints(store):
    found = []
    for each in _names(store, "NetworkPartition"):
        try:
            np = parse_definition(yaml.safe_load(store.read("NetworkPartition", each)))
        except (ValidationError, yaml.YAMLError):
            continue
        found.extend(docker_endpoints(np))
    return list(dict.fromkeys(found)) or [dockerlib.DEFAULT_ENDPOINT]


def _containers(module, store, name):
    """The platform containers of this state directory: members (its state id), its load balancers
    and agent (they mount a directory of it), on every Docker endpoint of its network partitions."""
    sid = dockerlib.state_id(store.root)
    root = str(store.root.resolve())
    pool = dockerlib.ClientPool()
    found = []
    try:
        for endpoint in _endpoints(store):
            try:
                with dockerlib.docker_errors("listing the containers on %s" % endpoint):
                    containers = pool.get(endpoint).containers.list(
                        all=True, filters={"label": [dockerlib.ROLE]}
                    )
            except StratosError as exc:
                module.warn("containers not listed: %s" % exc)
                continue
            for container in containers:
                attrs = container.attrs
                labels = (attrs.get("Config") or {}).get("Labels") or {}
                mounts = [m.get("Source") or "" for m in attrs.get("Mounts") or []]
                ours = labels.get(dockerlib.STATE_ID) == sid or any(
                    m == root or m.startswith(root + "/") for m in mounts
                )
                if not ours:
                    continue
                if name is not None and name not in (
                    labels.get(dockerlib.APPLICATION),
                    labels.get(dockerlib.LB_CLUSTER),
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
