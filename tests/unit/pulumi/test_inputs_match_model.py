"""Pulumi's typed inputs against the core model, field by field: the model is the one source.

``pulumi_stratos/inputs.py`` cannot be generated from the model at import time: Pulumi's analyzer
reads the field descriptions from the *source* of the TypedDicts (``inspect.getsource`` + ``ast``),
not from runtime attributes. So the copies stay written out, and this test proves they agree with
``stratos.model``: the same field names, the same description text (what Pulumi publishes, read
with Pulumi's own analyzer, against the model field's ``description``) and the same defaults (the
``default X`` a description states against the model field's default).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from mirrors import MIRRORS
from pulumi.provider.experimental.analyzer import Analyzer
from pydantic import BaseModel

from pulumi_stratos import inputs
from stratos import model

#: Model fields a Pulumi input leaves out, with the reason.
MODEL_ONLY = {
    # Every definition model has ``kind``: in Pulumi the component (or typed value) *is* the kind.
    (model_cls.__name__, "kind"): "the component or typed value itself is the kind"
    for _, model_cls in MIRRORS
    if "kind" in model_cls.model_fields
}

#: Pulumi inputs with no model field: settings only the Pulumi front end needs.
PULUMI_ONLY: dict[str, set[str]] = {
    "NetworkPartitionArgs": {"ssh_user", "agent_image", "state_dir", "dns_nameservers"},
    "LbClusterArgs": {
        "cartridges",
        "image",
        "state_dir",
        "docker_host",
        "security_group_id",
        "public_host",
    },
    "ApplicationArgs": {
        "cartridges",
        "deployment_policies",
        "autoscaling_policies",
        "lb_clusters",
        "network_partitions",
        "agent",
        "protect_volumes",
    },
}

#: Shared fields whose Pulumi input has another shape than the model's, so its text differs.
OWN_TEXT: dict[tuple[str, str], str] = {
    # The model names the network partition; the component takes the whole NetworkPartitionArgs.
    ("LbClusterArgs", "network_partition"): "a NetworkPartitionArgs value, not a name",
    # The model's name is required; the component's defaults to the Pulumi resource name.
    ("ApplicationArgs", "name"): "defaults to the resource name",
}

_ANALYZER = Analyzer("stratos")


def _words(text: str | None) -> str:
    return " ".join((text or "").split())


def _shown(value: object) -> str:
    """A default as the descriptions write it: true/false, 15 (not 15.0), text as is."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _stated_defaults(text: str) -> list[str]:
    """Every ``(default X`` or ``; default X`` a description states (``X`` up to a space, ';', ','
    or ')'; a final '.' or ':' is the sentence's), not prose such as "at the default interval"."""
    return [found.rstrip(".:") for found in re.findall(r"(?:\(|[;,] )default ([^\s;,)]+)", text)]


def _shared(typed: Any, core: type[BaseModel]) -> list[str]:
    return [name for name in core.model_fields if (core.__name__, name) not in MODEL_ONLY]


CASES = [(typed, core, name) for typed, core in MIRRORS for name in _shared(typed, core)]


def test_every_typed_value_is_mirrored() -> None:
    """No Pulumi typed value that mirrors a model escapes the table above."""
    mirrored = {typed.__name__ for typed, _ in MIRRORS}
    # Pulumi-only values (no definition kind behind them): the agent, the Glance upload, the
    # cartridge component's ways of naming a definition.
    pulumi_only = {"Agent", "Glance", "CartridgeArgs"}
    typed_dicts = {
        name
        for name, value in vars(inputs).items()
        if isinstance(value, type) and hasattr(value, "__required_keys__")
    }
    assert typed_dicts - pulumi_only == mirrored
    assert len(CASES) > 90


@pytest.mark.parametrize(("typed", "core"), MIRRORS, ids=[t.__name__ for t, _ in MIRRORS])
def test_same_field_names(typed: Any, core: type[BaseModel]) -> None:
    model_fields = set(_shared(typed, core))
    pulumi_fields = set(typed.__annotations__)
    assert sorted(model_fields - pulumi_fields) == [], "model fields missing from the Pulumi input"
    assert pulumi_fields - model_fields == PULUMI_ONLY.get(typed.__name__, set())


@pytest.mark.parametrize(("typed", "core", "name"), CASES, ids=[f"{t.__name__}.{n}" for t, _, n in CASES])
def test_same_description(typed: Any, core: type[BaseModel], name: str) -> None:
    described = _words(core.model_fields[name].description)
    assert described, f"{core.__name__}.{name} has no description in the model"
    published = _words(_ANALYZER.get_docstring(typed, name))
    if (typed.__name__, name) in OWN_TEXT:
        assert published and published != described
    else:
        assert published == described


@pytest.mark.parametrize(("typed", "core", "name"), CASES, ids=[f"{t.__name__}.{n}" for t, _, n in CASES])
def test_same_default(typed: Any, core: type[BaseModel], name: str) -> None:
    field = core.model_fields[name]
    default = None if field.is_required() else field.get_default(call_default_factory=True)
    for text in (field.description or "", _ANALYZER.get_docstring(typed, name) or ""):
        stated = _stated_defaults(text)
        if isinstance(default, bool | int | float | str) and not (isinstance(default, str) and not default):
            # A scalar default is always stated, and stated right.
            assert stated == [_shown(default)], f"{text!r} must state 'default {_shown(default)}'"


SPECS = sorted(
    (
        value
        for value in vars(model).values()
        if isinstance(value, type)
        and issubclass(value, model.DefinitionModel)
        and value is not model.DefinitionModel
    ),
    key=lambda cls: cls.__name__,
)


@pytest.mark.parametrize("core", SPECS, ids=[cls.__name__ for cls in SPECS])
def test_every_model_field_is_described(core: type[BaseModel]) -> None:
    """The model is the one source: every field (of every kind, mirrored in Pulumi or not) has a
    description, and it states a scalar default right."""
    for name, field in core.model_fields.items():
        if name == "kind":
            continue
        assert field.description, f"{core.__name__}.{name} has no description"
        default = None if field.is_required() else field.get_default(call_default_factory=True)
        if isinstance(default, bool | int | float | str) and default != "":
            assert _stated_defaults(field.description) == [_shown(default)], f"{core.__name__}.{name}"
