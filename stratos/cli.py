"""The ``stratos`` command. Each sub-command is a thin adapter over the core."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from stratos import builtin
from stratos.errors import StratosError, ValidationError
from stratos.model import KINDS
from stratos.validation import load


def _validate(args: argparse.Namespace) -> int:
    paths = list(args.paths)
    if args.builtin_cartridges:
        paths += [str(p) for p in builtin.cartridge_dirs()]
    try:
        ds = load(paths)
    except ValidationError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print(f"{len(exc.problems)} problem(s) found", file=sys.stderr)
        return 1
    counts = ", ".join(f"{len(ds.by_plural(plural))} {plural}" for _, plural in KINDS.values())
    print(f"valid: {counts}")
    return 0


def _schema(args: argparse.Namespace) -> int:
    schemas = {kind: model.model_json_schema() for kind, (model, _) in KINDS.items()}
    text = json.dumps(schemas if args.kind is None else schemas[args.kind], indent=2, sort_keys=True)
    if args.output:
        Path(args.output).write_text(text + "\n")
    else:
        print(text)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stratos", description="Stratos as code: definitions, agent, tools")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("validate", help="validate a set of definitions (files or directories)")
    p.add_argument("paths", nargs="+", help="YAML files or directories of them")
    p.add_argument(
        "--builtin-cartridges",
        action="store_true",
        help="also load the standard cartridges shipped with Stratos (php, mysql, haproxy)",
    )
    p.set_defaults(func=_validate)

    p = sub.add_parser("schema", help="print the JSON Schema of every kind (for editors)")
    p.add_argument("--kind", choices=sorted(KINDS), help="only this kind")
    p.add_argument("--output", "-o", help="write to this file instead of standard output")
    p.set_defaults(func=_schema)

    # Sub-commands that live in modules of their own, each with add_parser() and run(): imported
    # here, not at the top, so that importing this module stays cheap (the agent's pulls in Docker's SDK).
    from stratos import cli_import, cli_simulate
    from stratos.agent import cli as agent_cli

    for module in (cli_import, cli_simulate, agent_cli):
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except StratosError as exc:
        print(f"stratos: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
