"""Typed errors of the core. Adapters (Ansible modules, Pulumi components, the agent) translate them.

Temporary errors may succeed when retried; permanent ones will not and say why.
"""

from __future__ import annotations

import reprlib
from dataclasses import dataclass


class StratosError(Exception):
    """Base class of every error the core raises on purpose."""

    temporary = False


@dataclass(frozen=True)
class Problem:
    """One validation problem: where it is, which rule it breaks, and the offending value."""

    file: str
    path: str
    rule: str
    value: object = None
    has_value: bool = True

    def __str__(self) -> str:
        where = f"{self.file}: " if self.file else ""
        shown = f" ({_show(self.value)})" if self.has_value else ""
        return f"{where}{self.path}{shown}: {self.rule}"


def _show(value: object) -> str:
    # reprlib: bounded work and length, whatever the value (a huge string, a deep structure).
    text = _REPR.repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 80
_REPR.maxlevel = 3


class ValidationError(StratosError):
    """A set of definitions breaks one or more rules. Carries every problem, not only the first."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class ImageBuildError(StratosError):
    """An image could not be built or pushed."""


class DriverError(StratosError):
    """The outside world (Docker, HAProxy, git) refused or failed."""

    temporary = True


class NotFoundError(StratosError):
    """A referenced thing does not exist."""


class ImportProblem(StratosError):
    """An Apache Stratos 4.1 artifact could not be converted."""
