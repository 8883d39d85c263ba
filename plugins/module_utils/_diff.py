# Copyright (c) Stratos as code contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0) or, at your option,
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: Apache-2.0 OR GPL-3.0-or-later

# This module utility is private to stratos.paas: its API may change without notice and other
# collections must not import it.
#
# Ansible's diff shape, rendered from the core's change records (stratos.operations.Change): the
# core knows nothing of Ansible's format; this is the one place that does.

from __future__ import annotations

try:
    import yaml
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


def plan_diff(plan, listed=False, first=False):
    """A plan's changes as Ansible's diff: one diff for one change (unless ``listed``), a list for
    several; with ``first``, the first change's alone (the resource the module names, the others
    being reported in its result)."""
    diffs = [change_diff(change) for change in plan.changes[: 1 if first else None]]
    return diffs[0] if len(diffs) == 1 and not listed else diffs
