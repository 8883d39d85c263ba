"""The one record of what an operation does: :class:`Change` (one resource) and :class:`Plan` (all
the changes of one operation, and what it reports).

Every operation in :mod:`stratos.operations` plans first, reading only, and returns a
:class:`Plan`; check mode stops there, a real run carries the plan out with its ``apply``. The
front ends render these records themselves (Ansible's diff shape lives in the collection's
``module_utils``, Pulumi's outputs in ``pulumi_stratos``): the core knows no front end's format.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

#: What an operation does to one resource. ``none``: it already matches.
Action = Literal[
    "none", "create", "update", "recreate", "start", "reload", "remove", "build", "tag", "restart"
]

#: A resource's relevant settings as the change shows them: a mapping, a text (a definition's
#: canonical YAML) or ``None`` (absent).
Shown = Mapping[str, Any] | str | None


@dataclass(frozen=True)
class Change:
    """What one operation does (or, in check mode, would do) to one resource, and why.

    ``kind`` names the resource's kind as users know it (``definition/cartridges``,
    ``docker-network``, ``container``, ``image``...), ``name`` the resource; ``before`` and
    ``after`` are what a diff shows (``None``: absent).
    """

    kind: str
    name: str
    action: Action
    before: Shown = None
    after: Shown = None
    reasons: tuple[str, ...] = ()
    #: Where the resource lives when that is not obvious from its name (a Docker endpoint...).
    where: str = ""
    #: How users name the resource when ``kind/name`` is not it (a definition's file,
    #: ``docker network <name>``); the label then starts with it.
    title: str = ""

    @property
    def changed(self) -> bool:
        return self.action != "none"

    @property
    def label(self) -> str:
        return (self.title or f"{self.kind}/{self.name}") + (f" on {self.where}" if self.where else "")


def _nothing() -> None:
    return None


@dataclass(frozen=True)
class Plan:
    """The changes of one operation in the order they are carried out, what it reports, and how to
    carry it out (``apply`` is never called in check mode)."""

    changes: tuple[Change, ...] = ()
    report: Mapping[str, Any] = field(default_factory=dict)
    apply: Callable[[], Any] = _nothing

    @property
    def changed(self) -> bool:
        return any(change.changed for change in self.changes)
