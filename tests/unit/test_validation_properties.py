"""Property-based: whatever a definitions file holds, `stratos validate` answers, and fast.

For generated malformed input (random YAML documents biased towards the model's field names,
mutated seed-demo definitions, random bytes and encodings, deep nesting, alias chains), both the
core function (:func:`stratos.validation.load`) and the CLI entry (``stratos validate``) give a
valid set or a :class:`ValidationError` whose every problem names a file, a path and a rule:
never another exception, never a hang (each example has a deadline). About 200 examples each.
"""

from __future__ import annotations

import contextlib
import copy
import io
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stratos.cli import main
from stratos.errors import ValidationError
from stratos.model import KINDS
from stratos.validation import DefinitionSet, load

REPO = Path(__file__).resolve().parents[2]
SEED = REPO / "examples" / "seed-demo"
SEED_DOCS = [
    doc for f in sorted(SEED.glob("*.yml")) for doc in yaml.safe_load_all(f.read_text()) if doc is not None
]

PROPERTY = settings(
    max_examples=200,
    deadline=timedelta(seconds=3),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,
    database=None,  # nothing an earlier run left decides what this run tries
)


def _field_names() -> list[str]:
    names: set[str] = {"kind", "name"}
    pending: list[Any] = [model for model, _ in KINDS.values()]
    seen: set[Any] = set()
    while pending:
        model = pending.pop()
        if model in seen:
            continue
        seen.add(model)
        for field_name, info in model.model_fields.items():
            names.add(field_name)
            for arg in _models_in(info.annotation):
                pending.append(arg)
    return sorted(names)


def _models_in(annotation: Any) -> list[Any]:
    import typing

    import pydantic

    found = []
    if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
        found.append(annotation)
    for arg in typing.get_args(annotation):
        found.extend(_models_in(arg))
    return found


FIELDS = _field_names()
keys = st.sampled_from(FIELDS) | st.text(max_size=12)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
    | st.sampled_from(list(KINDS) + ["/h\nlisten pwn", "1", "true", "../../etc/passwd", "10.0.0.1/24"])
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(keys, inner, max_size=6),
    max_leaves=20,
)
documents = st.dictionaries(keys, values, max_size=8).map(lambda d: d) | st.fixed_dictionaries(
    {"kind": st.sampled_from(list(KINDS)) | values, "name": values}, optional={"image": values}
)


def _check(content: bytes) -> None:
    """The property: a valid set or a ValidationError naming file, path, rule; so does the CLI."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "defs.yml"
        path.write_bytes(content)
        try:
            result = load([tmp])
        except ValidationError as exc:
            assert exc.problems
            for problem in exc.problems:
                assert problem.file and problem.path and problem.rule
                assert len(str(problem)) < 2000
        else:
            assert isinstance(result, DefinitionSet)
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["validate", tmp])
        assert code in (0, 1)
        assert (out.getvalue() if code == 0 else err.getvalue()).strip()


def _dump(docs: list[Any]) -> bytes:
    return yaml.safe_dump_all(docs, sort_keys=False, allow_unicode=True).encode()


@PROPERTY
@given(st.lists(documents, min_size=1, max_size=3))
def test_random_yaml_documents_get_an_answer(docs: list[Any]) -> None:
    _check(_dump(docs))


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out.extend(_paths(v, (*prefix, k)))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out.extend(_paths(v, (*prefix, i)))
    return out


@st.composite
def mutated_seed(draw: st.DrawFn) -> list[Any]:
    docs = copy.deepcopy(SEED_DOCS)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        doc = draw(st.sampled_from(range(len(docs))))
        where = draw(st.sampled_from(_paths(docs[doc])[1:]))
        parent: Any = docs[doc]
        for part in where[:-1]:
            parent = parent[part]
        if draw(st.booleans()) and isinstance(parent, dict):
            del parent[where[-1]]
        else:
            parent[where[-1]] = draw(values)
    return docs


@PROPERTY
@given(mutated_seed())
def test_mutated_seed_demo_definitions_get_an_answer(docs: list[Any]) -> None:
    _check(_dump(docs))


@PROPERTY
@given(st.binary(max_size=400))
def test_random_bytes_get_an_answer(content: bytes) -> None:
    _check(content)


@PROPERTY
@given(
    st.lists(documents, min_size=1, max_size=2),
    st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-32", "latin-1", "cp1252"]),
)
def test_definitions_in_any_encoding_get_an_answer(docs: list[Any], encoding: str) -> None:
    text = yaml.safe_dump_all(docs, allow_unicode=True)
    _check(text.encode(encoding, errors="replace"))


@PROPERTY
@given(
    st.integers(min_value=1, max_value=6000),
    st.sampled_from(["flow-list", "flow-map", "block", "alias-chain", "alias-wide"]),
)
def test_deep_nesting_and_aliases_get_an_answer(depth: int, shape: str) -> None:
    if shape == "flow-list":
        text = "kind: Cartridge\nname: c\nimage: " + "[" * depth + "]" * depth + "\n"
    elif shape == "flow-map":
        text = "kind: Cartridge\nname: c\nimage: " + "{a: " * depth + "1" + "}" * depth + "\n"
    elif shape == "block":
        levels = min(depth, 300)
        text = "kind: Cartridge\nname: c\nimage:\n" + "".join(" " * (i + 1) + "- \n" for i in range(levels))
    elif shape == "alias-chain":
        levels = min(depth, 40)
        text = "a0: &a0 [x, x, x, x, x, x, x, x, x]\n" + "".join(
            f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]\n" for i in range(1, levels)
        )
        text += f"kind: *a{levels - 1}\nname: c\n"
    else:
        text = "v: &v x\nkind: Cartridge\nname: c\nlist: [" + ", ".join(["*v"] * min(depth, 3000)) + "]\n"
    _check(text.encode())
