"""The one reader and the one writer of definition YAML (stratos.documents)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from stratos.documents import (
    definition_document,
    dump_definition,
    parse_yaml,
    read_single_document,
    single_document,
)
from stratos.errors import ValidationError
from stratos.validation import parse_definition

POLICY = {
    "kind": "AutoscalingPolicy",
    "name": "ap",
    "thresholds": {"load_average": 70},
    "behaviour": {"tolerance": 0.1, "max_step": 4},
}


def test_the_stored_form_leaves_defaults_out_kind_and_name_first() -> None:
    text = dump_definition(parse_definition(POLICY))
    assert text == "kind: AutoscalingPolicy\nname: ap\nthresholds:\n  load_average: 70.0\n"


def test_the_readable_form_keeps_what_was_written_with_plain_numbers_and_text() -> None:
    policy = parse_definition({**POLICY, "name": "ap"})
    assert definition_document(policy, only_set=True, readable=True) == {
        "kind": "AutoscalingPolicy",
        "name": "ap",
        "thresholds": {"load_average": 70},
        "behaviour": {"tolerance": 0.1, "max_step": 4},
    }
    cartridge = parse_definition(
        {"kind": "Cartridge", "name": "c", "description": "café", "image": {"ref": "a"}}
    )
    assert "café" in dump_definition(cartridge, readable=True)
    assert "caf\\xE9" in dump_definition(cartridge)  # the stored form is unchanged: ASCII escapes


@pytest.mark.parametrize(
    "definition",
    [POLICY, {"kind": "Cartridge", "name": "c", "version": "2", "image": {"build": {"packages": ["curl"]}}}],
    ids=["policy", "cartridge"],
)
@pytest.mark.parametrize("readable", [False, True], ids=["stored", "readable"])
def test_what_is_written_reads_back_as_the_same_definition(
    definition: dict[str, object], readable: bool
) -> None:
    spec = parse_definition(definition)
    (doc,), problems = parse_yaml(dump_definition(spec, readable=readable), "x.yml")
    assert problems == [] and parse_definition(doc.data) == spec


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("a: &x 1\nb: *x\n", "alias"),
        ("a: 1\na: 2\n", "twice"),
        ("kind: A\n---\nkind: B\n", "exactly one definition"),
        ("- 1\n", "exactly one definition"),
        ("", "holds no definition"),
    ],
    ids=["alias", "duplicate-key", "two-documents", "a-list", "empty"],
)
def test_a_single_document_is_one_mapping_under_the_definitions_rules(
    tmp_path: Path, text: str, rule: str
) -> None:
    with pytest.raises(ValidationError, match=rule):
        single_document(text, "given")
    path = tmp_path / "one.yml"
    path.write_text(text)
    with pytest.raises(ValidationError, match=rule):
        read_single_document(path)


def test_a_single_document_is_returned_with_its_source(tmp_path: Path) -> None:
    path = tmp_path / "one.yml"
    path.write_text(yaml.safe_dump(POLICY))
    doc = read_single_document(path)
    assert (doc.source, doc.data) == (str(path), POLICY)
    assert single_document(path.read_text(), "text").data == POLICY
