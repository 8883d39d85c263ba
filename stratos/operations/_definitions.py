"""What the resource operations share about the definition they write: the stored one, read
leniently, and the store's plan of writing or removing it as the operations' :class:`Change`."""

from __future__ import annotations

from collections.abc import Callable

import yaml

from stratos.errors import ValidationError
from stratos.model import KINDS, DefinitionModel
from stratos.operations.change import Action, Change
from stratos.store import Change as StoredChange
from stratos.store import StateStore
from stratos.validation import parse_definition


def stored_definition(store: StateStore, kind: str, name: str) -> DefinitionModel | None:
    """The stored definition of ``kind`` called ``name``; None when absent or unreadable (an
    unreadable stored file is simply replaced or removed)."""
    text = store.read(kind, name)
    if text is None:
        return None
    try:
        return parse_definition(yaml.safe_load(text), str(store.definition_path(kind, name)))
    except (ValidationError, yaml.YAMLError):
        return None


def _same(text: str) -> str:
    return text


def definition_change(change: StoredChange, shown: Callable[[str], str] = _same) -> Change:
    """The store's plan for one definition file (``<plural>/<name>.yml``) as an operation's change;
    ``shown`` filters the texts a diff shows (the application's hides credentials in URLs)."""
    action: Action = "none"
    if change.changed:
        action = "create" if change.before is None else "remove" if change.after is None else "update"
    return Change(
        KINDS[change.kind][1],
        f"{change.name}.yml",
        action,
        before=shown(change.before) if change.before is not None else None,
        after=shown(change.after) if change.after is not None else None,
    )


def write_definition(store: StateStore, change: StoredChange) -> None:
    """Carry out the store's plan when it changes anything (the layout is created first)."""
    if change.changed:
        store.ensure()
        store.apply(change)
