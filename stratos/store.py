"""The host's state directory: definitions, secrets, link files, LB and agent state.

Layout (every front end and the agent agree on it)::

    <state>/definitions/<plural>/<name>.yml   one definition per file (no secrets in them)
    <state>/secrets/<app>/<alias>/<name>      generated once, 0600, directories 0700
    <state>/links/<app>/<alias>.env           exports a linked subscription receives, 0600
    <state>/lb/<lb-cluster>/haproxy.cfg       rendered HAProxy configuration
    <state>/lb/<lb-cluster>/run/admin.sock    HAProxy runtime API (agent only, 0700 dir)
    <state>/releases/<app>/<alias>/<sha>/     checked-out releases; ``current`` links one
    <state>/agent/agent.db                    the agent's SQLite event store
    <state>/agent/status.json                 the agent's latest view, written atomically
    <state>/removed/applications/<name>       tombstone: the application was removed explicitly

An application's members are removed by the agent only when its definition was removed through
:meth:`StateStore.apply` (which leaves a tombstone) and a later load of the definitions succeeded
without it; a definitions directory that is missing, empty or unreadable changes nothing.

Writing a definition is planned first (pure: before, after, changed) and applied only when asked,
so Ansible check mode and diff mode come from the same record as the real change.
"""

from __future__ import annotations

import json
import os
import secrets as _secrets
import stat
import time
from collections.abc import Iterator
from pathlib import Path

from stratos import fsutil, settings
from stratos.changes import Action, Change
from stratos.documents import dump_definition, read_documents
from stratos.errors import NotFoundError, Problem, ValidationError
from stratos.model import KINDS, DefinitionModel
from stratos.validation import DefinitionSet, build_set, check_references, parse_document

__all__ = ["Change", "StateStore", "dump_definition", "write_atomic"]


def definition_change(kind: str, name: str, before: str | None, after: str | None) -> Change:
    """The change record of writing (``after``) or removing (``after`` None) one definition file."""
    if before == after:
        action: Action = "none"
    else:
        action = "remove" if after is None else "create" if before is None else "update"
    return Change(kind, name, action, before, after, title=f"{KINDS[kind][1]}/{name}.yml")


def write_atomic(path: Path, text: str | bytes, mode: int = fsutil.STATE) -> None:
    """Write a file so that readers see the old or the new content, never half of one
    (:func:`stratos.fsutil.atomic_write_bytes`: temporary file, fsync, rename, fsync of the directory)."""
    fsutil.atomic_write_bytes(path, text.encode() if isinstance(text, str) else text, mode)


class StateStore:
    """The state directory of one host."""

    def __init__(self, root: str | Path | None = None):
        self.root = Path(root) if root is not None else settings.state_dir()

    # ---------------------------------------------------------------- paths
    @property
    def definitions_dir(self) -> Path:
        return self.root / "definitions"

    def definition_path(self, kind: str, name: str) -> Path:
        return self.definitions_dir / KINDS[kind][1] / f"{name}.yml"

    def secrets_dir(self, app: str, alias: str) -> Path:
        return self.root / "secrets" / app / alias

    def link_file(self, app: str, alias: str) -> Path:
        return self.root / "links" / app / f"{alias}.env"

    def lb_dir(self, lb_cluster: str) -> Path:
        return self.root / "lb" / lb_cluster

    def releases_dir(self, app: str, alias: str) -> Path:
        return self.root / "releases" / app / alias

    @property
    def tombstones_dir(self) -> Path:
        return self.root / "removed" / "applications"

    def removed_applications(self) -> frozenset[str]:
        """Applications whose definition was removed explicitly (and not put back since)."""
        try:
            return frozenset(p.name for p in self.tombstones_dir.iterdir() if p.is_file())
        except OSError:
            return frozenset()

    @property
    def agent_dir(self) -> Path:
        return self.root / "agent"

    @property
    def status_file(self) -> Path:
        return self.agent_dir / "status.json"

    @property
    def database(self) -> Path:
        return self.agent_dir / "agent.db"

    def ensure(self) -> None:
        """Create the layout with tight permissions (idempotent)."""
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o755)
        for sub, mode in (
            ("definitions", 0o755),
            ("secrets", 0o700),
            ("links", 0o700),
            ("lb", 0o755),
            ("releases", 0o755),
            ("agent", 0o750),
            # Written by a separate HTTP process in the agent's group (docs/security.md).
            ("agent/triggers", 0o770),
            ("agent/http", 0o770),
        ):
            (self.root / sub).mkdir(exist_ok=True)
            # Keep a setgid bit given from outside (the definitions' group, for an unprivileged agent).
            os.chmod(self.root / sub, mode | (os.stat(self.root / sub).st_mode & stat.S_ISGID))

    # ---------------------------------------------------------------- definitions
    def iter_files(self) -> Iterator[Path]:
        if self.definitions_dir.is_dir():
            yield from sorted(self.definitions_dir.glob("*/*.yml"))

    def read(self, kind: str, name: str) -> str | None:
        path = self.definition_path(kind, name)
        return path.read_text() if path.is_file() else None

    def load(self) -> DefinitionSet:
        """Every stored definition, cross-validated (read with the definitions' YAML rules)."""
        docs, problems = read_documents(self.iter_files())
        return build_set(docs, problems)

    def plan_put(self, definition: DefinitionModel, current: DefinitionSet | None = None) -> Change:
        """What storing this definition would change, after checking it against the stored set.

        Raises ValidationError (naming every problem) when the set would become invalid, so a
        bad definition changes nothing. ``current``: the stored set as :meth:`load_lenient` read
        it, when the caller has it; it is given ``definition`` (it becomes the set a plan looks
        at), so that one operation parses the store once.
        """
        kind, name = definition.kind, definition.name  # type: ignore[attr-defined]
        after = dump_definition(definition)
        before = self.read(kind, name)
        current = self.load_lenient() if current is None else current
        current.add(definition, f"{KINDS[kind][1]}/{name}")
        problems = [p for p in check_references(current) if _concerns(p, kind, name)]
        if problems:
            raise ValidationError(problems)
        return definition_change(kind, name, before, after)

    def plan_remove(self, kind: str, name: str) -> Change:
        """What removing a definition would change; refuses while another definition refers to it."""
        before = self.read(kind, name)
        if before is None:
            return definition_change(kind, name, None, None)
        current = self.load_lenient()
        plural = KINDS[kind][1]
        current.by_plural(plural).pop(name, None)
        problems = [p for p in check_references(current) if f"'{name}'" in p.rule or p.value == name]
        if problems:
            raise ValidationError(
                [
                    Problem(
                        p.file,
                        p.path,
                        f"{p.rule} (refers to {kind} '{name}', which cannot be removed while it is used)",
                        p.value,
                    )
                    for p in problems
                ]
            )
        return definition_change(kind, name, before, None)

    def apply(self, change: Change) -> None:
        path = self.definition_path(change.kind, change.name)
        tombstone = self.tombstones_dir / change.name if change.kind == "Application" else None
        if change.after is None:
            if tombstone is not None:
                # Before the file goes: the agent removes the members of a removed application only.
                write_atomic(tombstone, json.dumps({"removed_at": time.time()}) + "\n", 0o644)
            if path.exists():
                path.unlink()
        else:
            if change.changed:
                assert isinstance(change.after, str)
                fsutil.atomic_write_text(path, change.after, fsutil.STATE)
            if tombstone is not None:
                tombstone.unlink(missing_ok=True)

    def load_lenient(self) -> DefinitionSet:
        """The stored set without the cross-reference check (a set being built up is incomplete);
        a file that does not parse is left out."""
        result = DefinitionSet()
        docs, _ = read_documents(self.iter_files())
        for doc in docs:
            spec, _ = parse_document(doc)
            if spec is not None:
                result.add(spec, doc.source)
        return result

    # ---------------------------------------------------------------- secrets
    def secret(self, app: str, alias: str, name: str, *, create: bool = True) -> str:
        """A secret generated once per subscription and kept on the host (0600)."""
        path = self.secrets_dir(app, alias) / name
        if path.is_file():
            return path.read_text().strip()
        if not create:
            raise NotFoundError(f"secret '{name}' of {app}/{alias} does not exist")
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        for parent in (path.parent, path.parent.parent):
            os.chmod(parent, 0o700)
        value = _secrets.token_urlsafe(24)
        fsutil.atomic_write_text(path, value + "\n", fsutil.SECRET)
        return value

    def purge(self, app: str) -> None:
        """Remove an application's secrets, link files and releases (explicit purge only)."""
        import shutil

        for base in (self.root / "secrets" / app, self.root / "links" / app, self.root / "releases" / app):
            shutil.rmtree(base, ignore_errors=True)


def _concerns(problem: Problem, kind: str, name: str) -> bool:
    """Only problems about the definition being written block it (others were there already)."""
    return problem.path.startswith(f"{KINDS[kind][1]}/{name}.") or problem.path.startswith(
        f"{KINDS[kind][1]}/{name}"
    )
