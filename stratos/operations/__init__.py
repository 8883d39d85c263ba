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

__all__ = [
    "Action",
    "Change",
    "Plan",
    "apply_agent",
    "apply_definition",
    "apply_network_partition",
    "build_image",
    "info",
]


def __getattr__(name: str) -> Any:
    if name == "apply_definition":
        from stratos.operations.definition import apply_definition

        return apply_definition
    if name == "apply_network_partition":
        from stratos.operations.network_partition import apply_network_partition

        return apply_network_partition
    if name == "build_image":
        from stratos.operations.images import build_image

        return build_image
    if name == "info":
        from stratos.operations.inventory import info

        return info
    if name == "apply_agent":
        from stratos.operations.agent import apply_agent

        return apply_agent
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
