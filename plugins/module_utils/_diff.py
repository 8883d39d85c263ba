# Copyright (c) Stratos as code contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0) or, at your option,
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: Apache-2.0 OR GPL-3.0-or-later

# This module utility is private to stratos.paas: its API may change without notice and other
# collections must not import it.
#
# Ansible's diff shape, rendered from the core's change records (stratos.operations.Change): the
# core knows nothing of Ansible's format; this is the one place that does. run_plan() turns a whole
# operation's plan into the module's result: changed, diff, the plan's report, check mode.

from __future__ import annotations

from contextlib import closing

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.stratos.paas.plugins.module_utils._common import STRATOS_LIBRARY, require_stratos

try:
    import yaml
    from stratos.drivers.docker import ClientPool
    from stratos.errors import StratosError, ValidationError
except ImportError:  # reported by require_stratos()
    yaml = None


def _text(shown):
    if shown is None:
        return ""
    if isinstance(shown, str):
        return shown
    return yaml.safe_dump(dict(shown), sort_keys=False, default_flow_style=False)


def change_diff(change):
    """One change as Ansible's diff: before, after and their headers (``(absent)`` for none)."""
    after = change.after if change.changed else change.before
    return {
        "before": _text(change.before),
        "after": _text(after),
        "before_header": change.label if change.before is not None else "(absent)",
        "after_header": change.label if after is not None else "(absent)",
    }


def plan_diff(plan, listed=False):
    """A plan's changes as Ansible's diff: one diff for one change (unless ``listed``), a list for
    several."""
    diffs = [change_diff(change) for change in plan.changes]
    return diffs[0] if len(diffs) == 1 and not listed else diffs


def run_plan(module, make_plan, import_error=None, listed=True):
    """Exit the module with the plan ``make_plan(pool)`` returns (``pool``: Docker clients, connected
    when first used), carried out unless in check mode (its ``apply`` returns the report after the
    run). ``import_error``: the traceback of the module's failed import of the core's drivers. The
    core's errors become fail_json; one with ``details`` (a wait that ended) adds them to the result."""
    require_stratos(module)
    if import_error is not None:
        module.fail_json(
            msg=missing_required_lib("%s (with the docker SDK)" % STRATOS_LIBRARY), exception=import_error
        )
    result = {}
    try:
        with closing(ClientPool()) as pool:
            plan = make_plan(pool)
            result = dict(plan.report, changed=plan.changed)
            if module._diff:
                result["diff"] = plan_diff(plan, listed)
            if not module.check_mode:
                result.update(plan.apply())
    except ValidationError as exc:
        module.fail_json(msg=str(exc), problems=[str(p) for p in exc.problems])
    except StratosError as exc:
        if isinstance(getattr(exc, "details", None), dict):
            module.fail_json(msg=str(exc), **dict(result, **exc.details))
        module.fail_json(msg=str(exc), error=type(exc).__name__, temporary=exc.temporary)
    module.exit_json(**result)
