"""``stratos import``: Apache Stratos 4.1 JSON artifacts → native definitions (a thin adapter).

Reads files or directories of artifacts, converts them with :mod:`stratos.stratos41`, prints a
report of what was converted and of every note, and writes one YAML file per definition as
``DIR/<kind-plural>/<name>.yml``. Existing files are kept unless ``--force`` is given.

Exit codes: 0 converted (notes or not); 1 unreadable input, an artifact that could not be
converted, or files that exist already.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, TextIO

from stratos import builtin
from stratos.errors import ImportProblem
from stratos.fsutil import STATE, atomic_write_text
from stratos.stratos41 import GENERATED, NOTE_KINDS, ImportResult, convert_artifacts, read_artifacts, render

_HEADINGS = {
    "error": "not converted (errors)",
    "credential": "credentials found and NOT written",
    "unmapped": "no equivalent (not converted)",
    "invalid": "still breaks a rule of 'stratos validate'",
    "changed": "adapted",
    "renamed": "renamed",
    "flattened": "groups flattened",
    "generated": "generated",
    "resolved": "resolved across files",
}


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "import",
        help="convert Apache Stratos 4.1 JSON artifacts into native definitions",
        description="Convert Apache Stratos 4.1 JSON artifacts (cartridges, cartridge groups, policies, "
        "network partitions, applications) into native YAML definitions, one file per definition. "
        "Whatever has no equivalent is reported by name.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="JSON files or directories of them")
    p.add_argument("--output", "-o", required=True, metavar="DIR", help="directory to write definitions to")
    p.add_argument("--force", action="store_true", help="overwrite definition files that exist already")
    p.set_defaults(func=run)


def report(result: ImportResult, out: TextIO) -> None:
    """Print what was converted and every note, grouped by kind."""
    for item in result.definitions:
        origin = "generated" if item.source == GENERATED else f"from {item.source}"
        print(f"  {item.path}  ({origin})", file=out)
    for kind in NOTE_KINDS:
        notes = result.of_kind(kind)
        if notes:
            print(f"{_HEADINGS[kind]} ({len(notes)}):", file=out)
            for note in notes:
                print(f"  {note}", file=out)


def run(args: argparse.Namespace) -> int:
    try:
        artifacts = read_artifacts(args.paths)
    except ImportProblem as exc:
        print(f"stratos import: {exc}", file=sys.stderr)
        return 1
    builtins = [p.name for p in builtin.cartridge_dirs()]
    result = convert_artifacts(artifacts, builtin_cartridges=builtins)
    print(
        f"stratos import: {len(artifacts)} artifact(s) read, {len(result.definitions)} definition(s) converted"
    )
    report(result, sys.stdout)
    if result.errors:
        print(f"stratos import: {len(result.errors)} error(s); nothing written", file=sys.stderr)
        return 1
    target = Path(args.output)
    if target.exists() and not target.is_dir():
        print(f"stratos import: {target}: is not a directory", file=sys.stderr)
        return 1
    files = render(result)
    existing = sorted(rel for rel in files if (target / rel).exists())
    if existing and not args.force:
        for rel in existing:
            print(f"stratos import: {target / rel}: exists; use --force to overwrite", file=sys.stderr)
        print("stratos import: nothing written", file=sys.stderr)
        return 1
    for rel, text in files.items():
        path = target / rel
        atomic_write_text(path, text, STATE)
    print(f"wrote {len(files)} file(s) to {target}; check them with: stratos validate {target}")
    return 0
