"""Definition sources and the definition YAML: the one reader and the one writer.

Every front end reads definitions through here (files and directories with
:func:`read_documents`, bytes already in hand with :func:`parse_yaml`) and every definition file
is written by :func:`dump_definition`, so the YAML rules (UTF-8 only, no aliases, no merge keys,
no duplicate keys, bounded size and nesting) and the canonical form hold everywhere. Turning a
document into a typed definition is :mod:`stratos.validation`'s job.
"""

from __future__ import annotations

import reprlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from stratos.errors import Problem, ValidationError

if TYPE_CHECKING:
    from stratos.model import DefinitionModel


@dataclass(frozen=True)
class RawDocument:
    """One YAML document and where it came from."""

    source: str
    data: Any
    index: int = 0


#: Bounds on one definitions file: the loader refuses more before it builds anything.
MAX_FILE_BYTES = 1 << 20
MAX_DEPTH = 32


class _DefinitionLoader(yaml.SafeLoader):
    """PyYAML's safe loader, for definitions: no alias, no duplicate key, bounded nesting.

    Aliases (``*name``) are refused outright rather than bounded: definitions never need them, and
    an alias is how a few hundred bytes expand into billions of nodes (the "billion laughs").
    Anchors alone (``&name``) are harmless and accepted.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def fetch_flow_collection_start(self, TokenClass: Any) -> None:  # noqa: N803 - PyYAML's name
        # The scanner's cost grows with the square of the flow nesting: stop it early.
        if self.flow_level >= MAX_DEPTH:
            raise yaml.scanner.ScannerError(
                None, None, f"nests deeper than {MAX_DEPTH} levels", self.get_mark()
            )
        super().fetch_flow_collection_start(TokenClass)  # type: ignore[misc]

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None,
                None,
                f"uses the alias *{event.anchor}: aliases are not allowed in definitions (write the value out)",
                event.start_mark,
            )
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                event = self.peek_event()
                raise yaml.composer.ComposerError(
                    None, None, f"nests deeper than {MAX_DEPTH} levels", event.start_mark
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, Any] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    raise yaml.constructor.ConstructorError(
                        None, None, "uses a merge key '<<': not allowed in definitions", key_node.start_mark
                    )
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.get(key)
                except TypeError:
                    raise yaml.constructor.ConstructorError(
                        None, None, "has a key that is not a string or number", key_node.start_mark
                    ) from None
                if first is not None:
                    raise yaml.constructor.ConstructorError(
                        None,
                        None,
                        f"has the key {_short_text(repr(key))} twice (first on line {first.line + 1})",
                        key_node.start_mark,
                    )
                seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


def _decode(raw: bytes) -> str:
    """The text of a definitions file: UTF-8 only (a UTF-8 byte order mark is dropped)."""
    for bom, name in (
        (b"\xff\xfe\x00\x00", "UTF-32"),
        (b"\x00\x00\xfe\xff", "UTF-32"),
        (b"\xff\xfe", "UTF-16"),
        (b"\xfe\xff", "UTF-16"),
    ):
        if raw.startswith(bom):
            raise ValueError(f"must be UTF-8 (it is {name}; convert it with iconv -t UTF-8)")
    if b"\x00" in raw:
        raise ValueError("must be UTF-8 text (it holds NUL bytes: UTF-16 or a binary file?)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ValueError(f"must be UTF-8 (invalid byte 0x{raw[exc.start]:02x} on line {line})") from None
    return text.removeprefix("\ufeff")


def parse_yaml(raw: bytes | str, source: str) -> tuple[list[RawDocument], list[Problem]]:
    """The documents of one definitions file, or the problem that stops it being read.

    Refused, each as one problem naming the file and the rule: more than ``MAX_FILE_BYTES``, text
    that is not UTF-8, invalid YAML, aliases, merge keys, duplicate keys, nesting deeper than
    ``MAX_DEPTH``, and a file without any document.
    """
    if isinstance(raw, str):
        raw = raw.encode("utf-8", errors="surrogatepass")
    if len(raw) > MAX_FILE_BYTES:
        return [], [Problem(source, "(file)", f"must be at most {MAX_FILE_BYTES} bytes", has_value=False)]
    try:
        text = _decode(raw)
    except ValueError as exc:
        return [], [Problem(source, "(file)", str(exc), has_value=False)]
    try:
        loaded = list(yaml.load_all(text, Loader=_DefinitionLoader))  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "(document)"
        reason = getattr(exc, "problem", None) or str(exc)
        return [], [Problem(source, where, f"is not valid YAML: {_short_text(reason, 300)}", has_value=False)]
    except RecursionError:
        return [], [Problem(source, "(document)", f"nests deeper than {MAX_DEPTH} levels", has_value=False)]
    docs = [RawDocument(source, data, i) for i, data in enumerate(loaded) if data is not None]
    if not docs:
        return [], [Problem(source, "(file)", "holds no definition (it is empty)", has_value=False)]
    return docs, []


def read_documents(paths: Iterable[str | Path]) -> tuple[list[RawDocument], list[Problem]]:
    """Read YAML documents from files and directories (``*.yml``/``*.yaml``, sorted)."""
    docs: list[RawDocument] = []
    problems: list[Problem] = []
    for path in paths:
        p = Path(path)
        if p.is_dir():
            files = sorted(f for f in p.rglob("*") if f.suffix in (".yml", ".yaml") and f.is_file())
            if not files:
                problems.append(
                    Problem(str(p), "(directory)", "holds no .yml or .yaml file", has_value=False)
                )
        elif p.is_file():
            files = [p]
        else:
            problems.append(Problem(str(p), "(file)", "does not exist", has_value=False))
            continue
        for f in files:
            try:
                raw = _read_bounded(f)
            except OSError as exc:
                problems.append(Problem(str(f), "(file)", f"cannot be read: {exc.strerror}", has_value=False))
                continue
            found, trouble = parse_yaml(raw, str(f))
            docs.extend(found)
            problems.extend(trouble)
    return docs, problems


def single_document(raw: bytes | str, source: str, at: str = "(file)") -> RawDocument:
    """The one definition of a text (a Pulumi ``definition_yaml``), read with the definitions'
    YAML rules. Raises :class:`~stratos.errors.ValidationError` for YAML they refuse and for
    anything but exactly one mapping."""
    return _only_one(*parse_yaml(raw, source), source, at)


def read_single_document(path: str | Path, at: str = "(file)") -> RawDocument:
    """:func:`single_document` of a file (a module's or a component's ``src``)."""
    return _only_one(*read_documents([path]), str(path), at)


def _only_one(docs: list[RawDocument], problems: list[Problem], source: str, at: str) -> RawDocument:
    if problems:
        raise ValidationError(problems)
    if len(docs) != 1 or not isinstance(docs[0].data, dict):
        raise ValidationError(
            [Problem(source, at, "must hold exactly one definition (a mapping)", has_value=False)]
        )
    return docs[0]


def _read_bounded(path: Path) -> bytes:
    with path.open("rb") as handle:
        return handle.read(MAX_FILE_BYTES + 1)


# --------------------------------------------------------------------------- writing


def definition_document(
    definition: DefinitionModel, *, only_set: bool = False, readable: bool = False
) -> dict[str, Any]:
    """The native document of a definition: ``kind`` and ``name`` first, then its fields in model
    order, without the defaults (``only_set``: without what was not given, a default written out
    stays; ``readable``: integral numbers as integers)."""
    if only_set:
        data = definition.model_dump(mode="json", exclude_unset=True)
    else:
        data = definition.model_dump(mode="json", exclude_defaults=True)
    data.pop("kind", None)
    data.pop("name", None)
    if readable:
        data = _plain_numbers(data)
    return {"kind": definition.kind, "name": definition.name, **data}  # type: ignore[attr-defined]


def dump_definition(definition: DefinitionModel, *, only_set: bool = False, readable: bool = False) -> str:
    """The YAML text of one definition: what the state directory stores (the default, byte-stable
    so a rerun changes nothing) or, with ``readable``, what a person is given to edit (integral
    numbers as integers, non-ASCII text as it is)."""
    document = definition_document(definition, only_set=only_set, readable=readable)
    return yaml.safe_dump(document, sort_keys=False, default_flow_style=False, allow_unicode=readable)


def _plain_numbers(value: Any) -> Any:
    """30.0 -> 30: thresholds are floats in the model but read better as written."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _plain_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain_numbers(v) for v in value]
    return value


_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 60
_REPR.maxlevel = 3


def _short_text(value: Any, limit: int = 60) -> str:
    text = _REPR.repr(value) if not isinstance(value, str) else value
    return text if len(text) <= limit else text[: limit - 3] + "..."
