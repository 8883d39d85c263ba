"""Write or remove one definition in the state directory: :func:`apply_definition`.

What the Ansible definition modules (cartridge, autoscaling and deployment policies, network
partitions...) and every other front end that stores a definition call. The definition's body is
given as a mapping, a YAML file or a built-in cartridge; it is read (:func:`read_body`), checked,
validated against the stored set and planned (:meth:`StateStore.plan_put`) before anything is
written, so a bad definition changes nothing and check mode is the plan alone.

A definition may come with changes outside the state directory (the Docker networks of a network
partition, the HAProxy container of an LB cluster): a ``runtime`` planner returns them as plans of
their own. They are applied after the definition is written, and before it is removed, so that a
failing step leaves the definition in place and a rerun retries.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pydantic
import yaml

from stratos import builtin, documents
from stratos.changes import Change, Plan
from stratos.errors import Problem, ValidationError
from stratos.model import KINDS, DefinitionModel, Name, redact_url
from stratos.store import StateStore
from stratos.validation import parse_definition, source_file

#: Plans the changes a definition brings outside the state directory, from the stored definition
#: (``None``: none) and the desired one (``None``: it is being removed). Reads only.
RuntimePlanner = Callable[[DefinitionModel | None, DefinitionModel | None], Sequence[Plan]]

_NAME: pydantic.TypeAdapter[str] = pydantic.TypeAdapter(Name)


def check_name(name: str) -> None:
    """Raise ValidationError unless ``name`` is a valid definition name (a DNS label): it becomes
    part of a path, so it is checked before anything is read."""
    try:
        _NAME.validate_python(name)
    except pydantic.ValidationError as exc:
        rule = exc.errors()[0]["msg"].replace("Value error, ", "", 1)
        raise ValidationError([Problem("", "name", rule, name)]) from None


def definition_file(builtin_name: str | None, path: str | None) -> str:
    """The file a definition is read from: a built-in cartridge's, or ``path``."""
    if builtin_name:
        try:
            return str(builtin.cartridge_file(builtin_name))
        except FileNotFoundError as exc:
            raise ValidationError([Problem("", "builtin", str(exc), builtin_name)]) from None
    assert path is not None
    return path


def read_definition_file(path: str, at: str) -> dict[str, Any]:
    """The one definition (a mapping) a YAML file holds, read with the definitions' YAML rules;
    ValidationError naming the file and ``at`` otherwise."""
    return dict(documents.read_single_document(path, at).data)


def read_definition_text(text: str, where: str, at: str) -> dict[str, Any]:
    """:func:`read_definition_file` for a definition given as YAML text (``where`` names it)."""
    return dict(documents.single_document(text, where, at).data)


def read_body(
    kind: str,
    name: str,
    *,
    definition: Mapping[str, Any] | None = None,
    src: str | None = None,
    builtin: str | None = None,
) -> dict[str, Any]:
    """The definition mapping given by ``definition``, the file ``src`` or the built-in cartridge
    ``builtin`` (the first given), with ``kind`` and ``name`` set.

    Raises ValidationError when the body cannot be read or disagrees about the kind or the name. The
    file sources of a definition read from a file are made absolute (:func:`absolute_file_sources`).
    """
    at = f"{KINDS[kind][1]}/{name}"
    base: str | None = None
    source = ""
    if definition is not None:
        data = dict(definition)
    else:
        source = definition_file(builtin, src)
        data = read_definition_file(source, at)
        base = os.path.dirname(os.path.abspath(source))
    problems = [
        Problem(source, f"{at}.{key}", f"must be {wanted!r} (as the module says)", data[key])
        for key, wanted in (("kind", kind), ("name", name))
        if key in data and data[key] != wanted
    ]
    if problems:
        raise ValidationError(problems)
    data["kind"], data["name"] = kind, name
    if base is not None:
        data = absolute_file_sources(data, base, source, at)
    return data


def absolute_file_sources(data: dict[str, Any], base: str, source: str = "", at: str = "") -> dict[str, Any]:
    """Make a cartridge's ``image.build.files[].src`` absolute against ``base``, the directory of
    the definition's file, once each was checked to stay inside it (or STRATOS_FILES_ROOT).

    The stored definition must not depend on where it was read from. Raises ValidationError naming
    the field when a source leaves its directory or is not a file.
    """
    image = data.get("image")
    build = image.get("build") if isinstance(image, dict) else None
    files = build.get("files") if isinstance(build, dict) else None
    if not isinstance(files, list):
        return data
    assert isinstance(image, dict) and isinstance(build, dict)
    fixed, problems = [], []
    for i, entry in enumerate(files):
        if isinstance(entry, dict) and isinstance(entry.get("src"), str):
            try:
                source_file(Path(base), entry["src"])
            except ValueError as exc:
                problems.append(Problem(source, f"{at}.image.build.files[{i}].src", str(exc), entry["src"]))
            if not os.path.isabs(entry["src"]):
                entry = dict(entry, src=os.path.normpath(os.path.join(base, entry["src"])))
        fixed.append(entry)
    if problems:
        raise ValidationError(problems)
    return dict(data, image=dict(image, build=dict(build, files=fixed)))


def stored_definition(store: StateStore, kind: str, name: str) -> DefinitionModel | None:
    """The stored definition, parsed (``None`` when there is none, or it no longer parses: an
    unreadable stored file is simply replaced or removed)."""
    text = store.read(kind, name)
    if text is None:
        return None
    try:
        return parse_definition(yaml.safe_load(text), str(store.definition_path(kind, name)))
    except (ValidationError, yaml.YAMLError):
        return None


def definition_from(
    kind: str,
    name: str,
    *,
    present: bool = True,
    definition: Mapping[str, Any] | None = None,
    src: str | None = None,
    builtin: str | None = None,
) -> DefinitionModel | None:
    """The definition a front end's options give (``present``), parsed and validated; None when it
    is to be removed. The name is checked first (it becomes part of a path)."""
    check_name(name)
    if not present:
        return None
    return parse_definition(read_body(kind, name, definition=definition, src=src, builtin=builtin), src or "")


def apply_definition(
    state_dir: str | Path | StateStore,
    kind: str,
    name: str,
    *,
    present: bool = True,
    definition: Mapping[str, Any] | None = None,
    src: str | None = None,
    builtin: str | None = None,
    runtime: RuntimePlanner | None = None,
    runtime_key: str = "runtime",
) -> Plan:
    """Plan writing (``present``) or removing one definition of ``kind``; reads only.

    The plan's first change is the definition file's; ``runtime``'s plans follow. Its report holds
    ``definition`` (the canonical mapping stored, or removed), ``path`` and, with a ``runtime``, the
    reports of its plans under ``runtime_key``.
    """
    store = state_dir if isinstance(state_dir, StateStore) else StateStore(state_dir)
    check_name(name)
    before = stored_definition(store, kind, name)
    after: DefinitionModel | None = None
    if present:
        body = read_body(kind, name, definition=definition, src=src, builtin=builtin)
        after = parse_definition(body, src or "")
        change = store.plan_put(after)
    else:
        change = store.plan_remove(kind, name)
    steps = list(runtime(before, after)) if runtime is not None else []
    report: dict[str, Any] = {
        "definition": shown_definition(change),
        "path": str(store.definition_path(kind, name)),
    }
    if runtime is not None:
        report[runtime_key] = [step.report for step in steps]

    def apply() -> None:
        if present:
            write_definition(store, change)
        for step in steps:
            step.apply()
        if not present:
            write_definition(store, change)

    changes = (change, *(c for step in steps for c in step.changes))
    return Plan(changes=changes, report=report, apply=apply)


def shown_definition(change: Change) -> Any:
    """The definition a change stores (or, when it removes one, removed) as a mapping; None for none."""
    shown = change.after if change.after is not None else change.before
    return yaml.safe_load(shown) if isinstance(shown, str) else None


def redacted_definition(definition: Any) -> Any:
    """A definition (a mapping) with any password or token embedded in an artifact URL hidden, so
    that reports (``info``, an application's plan) never show a credential; anything else as it is."""
    if not isinstance(definition, dict):
        return definition
    subs = []
    for sub in definition.get("subscriptions") or []:
        artifact = sub.get("artifact") if isinstance(sub, dict) else None
        if isinstance(artifact, dict) and isinstance(artifact.get("url"), str):
            sub = {**sub, "artifact": {**artifact, "url": redact_url(artifact["url"])}}
        subs.append(sub)
    return {**definition, "subscriptions": subs} if subs else definition


def write_definition(store: StateStore, change: Change) -> None:
    """Carry out the store's plan when it changes anything (the layout is created first)."""
    if change.changed:
        store.ensure()
        store.apply(change)
