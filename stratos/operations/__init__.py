"""The core's operations: what every front end (the Ansible modules, the Pulumi components, the
CLI) calls, one operation per resource. Each plans by reading only and returns a
:class:`~stratos.changes.Plan` of :class:`~stratos.changes.Change` records;
check mode, diff mode and the front end's result all come from that plan.

The operations are imported on first use (``operations.build_image`` imports the image builder
then), so that a front end that runs one of them pays only for that one's drivers.
"""

from __future__ import annotations

from typing import Any

from stratos.changes import Action, Change, Plan
from stratos.store import StateStore

__all__ = [
    "Action",
    "Change",
    "Plan",
    "StateStore",
    "apply_agent",
    "apply_definition",
    "apply_network_partition",
    "build_image",
    "info",
    "definition_from",
    "apply_application",
    "remove_application",
    "apply_lb_cluster",
]


#: Each operation and the module that holds it, imported on first use.
_HOMES = {
    "apply_definition": "definition",
    "definition_from": "definition",
    "apply_network_partition": "network_partition",
    "build_image": "images",
    "info": "inventory",
    "apply_agent": "agent",
    "apply_application": "application",
    "remove_application": "application",
    "apply_lb_cluster": "lb_cluster",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if home == "definition":
        from stratos.operations import definition as module
    elif home == "network_partition":
        from stratos.operations import network_partition as module  # type: ignore[no-redef]
    elif home == "images":
        from stratos.operations import images as module  # type: ignore[no-redef]
    elif home == "inventory":
        from stratos.operations import inventory as module  # type: ignore[no-redef]
    elif home == "agent":
        from stratos.operations import agent as module  # type: ignore[no-redef]
    elif home == "application":
        from stratos.operations import application as module  # type: ignore[no-redef]
    else:
        from stratos.operations import lb_cluster as module  # type: ignore[no-redef]
    return getattr(module, name)
