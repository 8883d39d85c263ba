"""The core's operations: what every front end (the Ansible modules, the Pulumi components, the
CLI) calls, one operation per resource. Each plans by reading only and returns a
:class:`~stratos.operations.change.Plan` of :class:`~stratos.operations.change.Change` records;
check mode, diff mode and the front end's result all come from that plan.
"""

from stratos.operations.change import Action, Change, Plan

__all__ = ["Action", "Change", "Plan"]
