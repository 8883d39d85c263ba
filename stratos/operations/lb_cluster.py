"""The LB cluster operation: its definition, and the HAProxy container that serves it.

The container runs on the Docker endpoint of the network partition's first partition, on the network
partition's network, with its configuration in ``<state>/lb/<name>/haproxy.cfg``; the agent reaches
its runtime API through ``<state>/lb/<name>/run``. The load balancers of an OpenStack network
partition belong to the Pulumi front end: for them the operation only keeps the definition.

The URLs an LB cluster's listeners are reached on are computed here once (:func:`lb_urls`,
:func:`lb_url`) for every front end.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

import yaml

from stratos.changes import Change, Plan
from stratos.drivers import docker as dockerlib
from stratos.drivers import haproxy
from stratos.errors import NotFoundError
from stratos.lb import config as lbconfig
from stratos.model import LbCluster, NetworkPartition
from stratos.operations.definition import shown_definition, stored_definition, write_definition
from stratos.store import StateStore
from stratos.validation import parse_definition

if TYPE_CHECKING:
    import docker
    from docker.models.containers import Container

    from stratos.validation import DefinitionSet

#: Bind addresses that mean "every address": the URL then names the Docker host.
ANY_ADDRESS = ("", "0.0.0.0", "::")


# --------------------------------------------------------------------------- where it is reached


def endpoint_host(endpoint: str, local: str = "127.0.0.1") -> str:
    """The host name clients reach a Docker endpoint's published ports on (``local`` for a socket)."""
    if endpoint.startswith("unix://"):
        return local
    return urlsplit(endpoint).hostname or local


def lb_host(lb: LbCluster, endpoint: str) -> str:
    """Where the listeners of ``lb`` run on ``endpoint`` are reached: its bind address when it names
    one, else the endpoint's host."""
    return lb.bind_address if lb.bind_address not in ANY_ADDRESS else endpoint_host(endpoint)


def lb_urls(lb: LbCluster, host: str) -> list[str]:
    """The URL of every listener of ``lb`` on ``host``, in order (http:// or tcp://)."""
    shown = f"[{host}]" if ":" in host else host
    return [
        f"http://{shown}:{li.host_port()}/" if li.protocol == "http" else f"tcp://{shown}:{li.host_port()}"
        for li in lb.listeners
    ]


def lb_url(lb: LbCluster, urls: list[str]) -> str:
    """The URL of the first http listener, else of the first listener."""
    return next((u for u, li in zip(urls, lb.listeners, strict=True) if li.protocol == "http"), urls[0])


def lb_endpoint(np: NetworkPartition) -> str | None:
    """The Docker endpoint the LB container runs on: the first partition's (None for OpenStack)."""
    return np.partitions[0].endpoint if np.provider == "docker" else None


# --------------------------------------------------------------------------- the container


def plan_container(
    client: docker.DockerClient,
    store: StateStore,
    lb: LbCluster,
    np: NetworkPartition,
    definitions: DefinitionSet | None = None,
) -> tuple[haproxy.LbContainerSpec, haproxy.LbChange, Change, Container | None]:
    """The LB container's spec, the driver's plan, that plan as the operations' change (its
    ``before`` and ``after`` the container and configuration as they are and as they will be) and
    the container as it is.

    ``definitions``: where the health checks of the cartridges served come from (the driver's
    default: the stored definitions)."""
    spec, change = haproxy.plan_lb_container(client, lb, np, store, definitions=definitions)
    current = _container(client, spec.name)
    config_path = store.lb_dir(lb.name) / lbconfig.CONFIG_NAME
    config = config_path.read_text() if config_path.is_file() else None
    shown = Change(
        "container",
        spec.name,
        change.action,
        before=_observed(current, config, config_path) if current is not None else None,
        after=_text({**spec.shape(), "state": "running"}, spec.config, config_path),
        reasons=change.reasons,
    )
    return spec, change, shown, current


def _container(client: docker.DockerClient, name: str) -> Container | None:
    with dockerlib.docker_errors(f"reading container '{name}'"):
        found = client.containers.list(all=True, filters={"name": f"^/{name}$"})
    return cast("Container", found[0]) if found else None


# The container as it is, with the keys of the driver's LbContainerSpec.shape(), so that a diff
# compares like with like (the driver only keeps a hash of what it created).
def _observed(container: Container, config: str | None, config_path: Path | None) -> str:
    attrs = container.attrs
    host = attrs.get("HostConfig") or {}
    networks = (attrs.get("NetworkSettings") or {}).get("Networks") or {}
    bindings = host.get("PortBindings") or {}
    shape = {
        "name": container.name,
        "image": (attrs.get("Config") or {}).get("Image"),
        "network": next(iter(sorted(networks)), host.get("NetworkMode")),
        "ports": {
            key: [value[0].get("HostIp") or "0.0.0.0", int(value[0].get("HostPort") or 0)]
            for key, value in sorted(bindings.items())
            if value
        },
        "mounts": list(host.get("Binds") or []),
        "restart": (host.get("RestartPolicy") or {}).get("Name"),
        "state": (attrs.get("State") or {}).get("Status"),
    }
    return _text(shape, config, config_path)


def _text(shape: dict[str, Any], config: str | None, config_path: Path | None) -> str:
    text = json.dumps(shape, indent=2, sort_keys=True) + "\n"
    if config_path is None:  # the container alone (its removal leaves the configuration)
        return text
    return text + f"# {config_path}\n" + (config if config is not None else "(none)\n")


# --------------------------------------------------------------------------- the operation


@dataclass(frozen=True)
class _Step:
    change: Change
    report: dict[str, Any]
    run: Callable[[], dict[str, Any]]  # carries the step out (a no-op when unchanged), returns report updates


def apply_lb_cluster(
    store: StateStore,
    name: str,
    definition: LbCluster | None,
    *,
    pool: dockerlib.ClientPool,
    purge: bool = False,
    wait: float = 30.0,
) -> Plan:
    """Plan writing (``definition``) or removing (None) the LB cluster ``name`` and its HAProxy
    container: run or update the one the definition wants, remove the one only the stored definition
    had (the LB cluster is removed, or moved to another Docker endpoint); removed with ``purge``, also
    its directory in the state directory. Reads only; the plan's ``apply`` writes the definition
    before the container steps, and removes it after them (a failing step leaves it, a rerun
    retries), then returns the report with the containers as they are."""
    kind = "LbCluster"
    before = cast("LbCluster | None", stored_definition(store, kind, name))
    stored = store.plan_put(definition) if definition is not None else store.plan_remove(kind, name)
    steps = _steps(store, name, before, definition, pool, purge, wait)
    report = {
        "definition": shown_definition(stored),
        "path": str(store.definition_path(kind, name)),
        "containers": [step.report for step in steps],
    }

    def apply() -> dict[str, Any]:
        if definition is not None:
            write_definition(store, stored)
        reports = [{**step.report, **step.run()} for step in steps]
        if definition is None:
            write_definition(store, stored)
        return {**report, "containers": reports}

    return Plan((stored, *(step.change for step in steps)), report, apply)


def _steps(
    store: StateStore,
    name: str,
    before: LbCluster | None,
    after: LbCluster | None,
    pool: dockerlib.ClientPool,
    purge: bool,
    wait: float,
) -> list[_Step]:
    steps = []
    wanted = None
    if after is not None:
        np = cast("NetworkPartition", _network_partition(store, after.network_partition))
        wanted = lb_endpoint(np)
        if wanted is not None:
            steps.append(_ensure(pool.get(wanted), store, after, np, wanted, wait))
    if before is not None:
        old_np = _network_partition(store, before.network_partition, required=False)
        old = lb_endpoint(old_np) if old_np is not None else dockerlib.DEFAULT_ENDPOINT
        if old is not None and (after is None or old != wanted):
            steps.append(_removal(pool.get(old), before, old))
    if after is None and purge:
        steps.append(_purge(store, name))
    return steps


def _network_partition(store: StateStore, name: str, required: bool = True) -> NetworkPartition | None:
    text = store.read("NetworkPartition", name)
    if text is None:
        if required:
            raise NotFoundError(f"network partition '{name}' is not defined")
        return None
    source = str(store.definition_path("NetworkPartition", name))
    return cast("NetworkPartition", parse_definition(yaml.safe_load(text), source))


def _ensure(
    client: docker.DockerClient,
    store: StateStore,
    lb: LbCluster,
    np: NetworkPartition,
    endpoint: str,
    wait: float,
) -> _Step:
    spec, planned, change, current = plan_container(client, store, lb, np)
    urls = lb_urls(lb, lb_host(lb, endpoint))
    report = {
        "name": spec.name,
        "endpoint": endpoint,
        "action": change.action,
        "reasons": list(change.reasons),
        "container_id": current.id if current is not None else None,
        "image": spec.image,
        "network": spec.network,
        "ports": [
            {
                "proxy_port": li.proxy_port,
                "port": li.port,
                "protocol": li.protocol,
                "host_ip": lb.bind_address,
                "host_port": li.host_port(),
            }
            for li in lb.listeners
        ],
        "urls": urls,
        "url": lb_url(lb, urls),
        "config": str(store.lb_dir(lb.name) / lbconfig.CONFIG_NAME),
        "socket": str(haproxy.socket_path(store, lb.name)),
    }

    def run() -> dict[str, Any]:
        haproxy.apply_lb_container(client, spec, planned, store, wait=wait)
        running = _container(client, spec.name)
        return {"container_id": running.id if running is not None else None}

    return _Step(change, report, run)


def _removal(client: docker.DockerClient, lb: LbCluster, endpoint: str) -> _Step:
    name = haproxy.container_name(lb)
    current = _container(client, name)
    exists = haproxy.remove_lb_container(client, lb.name, check_mode=True)  # checks the labels
    reasons = ("the LB cluster is removed",) if exists else ("the container does not exist",)
    before = _observed(current, None, None) if current is not None else None
    change = Change("container", name, "remove" if exists else "none", before, None, reasons)
    report = {
        "name": name,
        "endpoint": endpoint,
        "action": change.action,
        "reasons": list(reasons),
        "container_id": current.id if current is not None else None,
    }

    def run() -> dict[str, Any]:
        haproxy.remove_lb_container(client, lb.name)
        return {}

    return _Step(change, report, run)


def _purge(store: StateStore, name: str) -> _Step:
    path = store.lb_dir(name)
    exists = path.exists()
    reasons = ("purge: the configuration and runtime API directory",) if exists else ("does not exist",)
    change = Change(
        "directory",
        f"lb/{name}",
        "remove" if exists else "none",
        f"{path}/\n" if exists else None,
        None,
        reasons,
        where=str(store.root),
    )

    def run() -> dict[str, Any]:
        if path.exists():
            shutil.rmtree(path)
        return {}

    return _Step(change, {"name": str(path), "action": change.action, "reasons": list(reasons)}, run)
