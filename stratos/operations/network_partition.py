"""Write or remove a network partition and its Docker networks: :func:`apply_network_partition`.

A network partition is a definition plus one Docker network per Docker endpoint of its
partitions (:mod:`stratos.drivers.network`). The networks ``after`` wants are created or kept; those
only ``before`` had (the network was renamed, or the partition is removed) are removed, never one
that Stratos did not create. An OpenStack network partition has no Docker network: its networks
belong to the Pulumi front end.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stratos import endpoints as endpointslib
from stratos.changes import Change, Plan
from stratos.drivers import network
from stratos.model import DefinitionModel, NetworkPartition
from stratos.operations.definition import apply_definition
from stratos.store import StateStore

if TYPE_CHECKING:
    import docker


def network_plans(
    before: DefinitionModel | None,
    after: DefinitionModel | None,
    connect: Callable[[str], docker.DockerClient],
) -> list[Plan]:
    """The plans of the Docker networks of a network partition going from ``before`` to ``after``
    (either ``None``). Reads only; raises the core's errors (a network in use names its containers).
    One client per endpoint, made by ``connect``."""
    clients: dict[str, docker.DockerClient] = {}

    def client(endpoint: str) -> docker.DockerClient:
        if endpoint not in clients:
            clients[endpoint] = connect(endpoint)
        return clients[endpoint]

    plans = []
    wanted = set()
    if isinstance(after, NetworkPartition):
        for endpoint in endpointslib.docker_endpoints(after):
            change = network.plan_network(client(endpoint), after, endpoint)
            wanted.add((endpoint, change.name))
            plans.append(_plan(client(endpoint), change))
    if isinstance(before, NetworkPartition):
        for endpoint in endpointslib.docker_endpoints(before):
            if (endpoint, before.network_name()) in wanted:
                continue
            change = network.plan_network_removal(
                client(endpoint), before.network_name(), before.name, endpoint
            )
            plans.append(_plan(client(endpoint), change))
    return plans


def _plan(client: docker.DockerClient, change: Change) -> Plan:
    return Plan((change,), network.network_report(change), lambda: network.apply_network(client, change))


def apply_network_partition(
    state_dir: str | Path | StateStore,
    name: str,
    *,
    present: bool = True,
    definition: Mapping[str, Any] | None = None,
    src: str | None = None,
    connect: Callable[[str], docker.DockerClient] = network.connect,
) -> Plan:
    """Plan the network partition ``name`` and its Docker networks (reported under ``networks``).

    Its first change is the definition's, then one per network. Reads only (``connect`` opens a
    client per Docker endpoint)."""
    return apply_definition(
        state_dir,
        "NetworkPartition",
        name,
        present=present,
        definition=definition,
        src=src,
        runtime=lambda before, after: network_plans(before, after, connect),
        runtime_key="networks",
    )
