"""The Docker endpoints of a state directory: where its members, canaries and load balancers run.

One answer for every caller (the agent's observer and its canary sweep, the Ansible modules that
wait for members or list containers, the Pulumi components): the distinct endpoints of the
``docker`` network partitions' partitions, in definition order. An OpenStack network partition
has none (its hosts belong to the Pulumi front end).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

#: The local Docker Engine, the endpoint of a state directory with no network partition.
DEFAULT_ENDPOINT = "unix:///var/run/docker.sock"

if TYPE_CHECKING:
    from stratos.model import NetworkPartition
    from stratos.store import StateStore
    from stratos.validation import DefinitionSet


def docker_endpoints(np: NetworkPartition) -> list[str]:
    """The distinct Docker endpoints of a network partition's partitions, in definition order.

    An OpenStack network partition has none: its networks belong to the Pulumi front end.
    """
    if np.provider != "docker":
        return []
    return list(dict.fromkeys(p.endpoint for p in np.partitions))


def of_definitions(definitions: DefinitionSet, *, always_local: bool = False) -> list[str]:
    """Every Docker endpoint of a set's network partitions.

    The local engine (``unix:///var/run/docker.sock``) comes first when ``always_local`` (the agent
    also looks there: its own host), else only when the set names no endpoint at all.
    """
    found = [DEFAULT_ENDPOINT] if always_local else []
    for np in definitions.network_partitions.values():
        found.extend(docker_endpoints(np))
    return list(dict.fromkeys(found)) or [DEFAULT_ENDPOINT]


def of_state(store: StateStore, *, always_local: bool = False) -> list[str]:
    """:func:`of_definitions` of what a state directory stores (a file that does not parse is
    left out: a broken definition must not hide the members of the others)."""
    return of_definitions(store.load_lenient(), always_local=always_local)
