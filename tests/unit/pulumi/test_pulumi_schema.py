"""The schema Pulumi's analyzer infers for the package (what every other language gets), in process.

Every component appears as ``stratos:index:<Class>`` with its description, every input and output
with a description, every nested type and field too; the typed values mirror the core model field
for field; the plugin entry point hosts exactly these components.
"""

from __future__ import annotations

import json
import runpy
import typing
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import REPO
from mirrors import MIRRORS
from mocks import run
from pulumi.provider.experimental.component import ComponentProvider
from pulumi.provider.experimental.util import camel_case

import pulumi_stratos as ps
from pulumi_stratos import inputs

VERSION = "0.1.0"


@pytest.fixture(scope="module")
def provider() -> ComponentProvider:
    return ComponentProvider(ps.COMPONENTS, ps.PACKAGE, version=VERSION)


@pytest.fixture(scope="module")
def schema(provider: ComponentProvider) -> dict[str, Any]:
    return typing.cast(dict[str, Any], json.loads(provider.schema))


def _described(props: dict[str, Any]) -> dict[str, str]:
    return {name: prop.get("description", "") for name, prop in props.items()}


def test_package_and_components(schema: dict[str, Any]) -> None:
    assert (schema["name"], schema["version"]) == ("stratos", VERSION)
    assert set(schema["resources"]) == {f"stratos:index:{c.__name__}" for c in ps.COMPONENTS}
    for component in ps.COMPONENTS:
        resource = schema["resources"][f"stratos:index:{component.__name__}"]
        assert resource["isComponent"] is True
        assert resource["description"] and not resource["description"].startswith(" ")


@pytest.mark.parametrize("component", ps.COMPONENTS, ids=lambda c: c.__name__)
def test_every_input_and_output_has_a_description(schema: dict[str, Any], component: type) -> None:
    resource = schema["resources"][f"stratos:index:{component.__name__}"]
    args = typing.get_type_hints(component.__init__, include_extras=True, localns=vars(inputs))["args"]
    assert set(resource["inputProperties"]) == {camel_case(k) for k in args.__annotations__}
    assert set(resource["properties"]) == {camel_case(k) for k in component.__annotations__}
    missing = [
        f"{kind}.{name}"
        for kind, props in (("input", resource["inputProperties"]), ("output", resource["properties"]))
        for name, text in _described(props).items()
        if not text
    ]
    assert missing == []


def test_every_type_and_field_has_a_description(schema: dict[str, Any]) -> None:
    assert schema["types"], "the nested typed values must appear as types"
    missing = [token for token, t in schema["types"].items() if not t.get("description")]
    missing += [
        f"{token}.{name}"
        for token, t in schema["types"].items()
        for name, text in _described(t["properties"]).items()
        if not text
    ]
    assert missing == []


def test_required_inputs(schema: dict[str, Any]) -> None:
    required = {
        token.split(":")[-1]: set(r.get("requiredInputs", [])) for token, r in schema["resources"].items()
    }
    assert required == {
        "NetworkPartition": {"name", "partitions"},
        "Cartridge": set(),
        "LbCluster": {"name", "networkPartition", "listeners"},
        "Application": {"subscriptions", "cartridges", "deploymentPolicies"},
    }


def test_definition_fields_are_plain_and_pulumi_settings_are_inputs(schema: dict[str, Any]) -> None:
    lb = schema["resources"]["stratos:index:LbCluster"]["inputProperties"]
    assert lb["listeners"].get("plain") is True
    assert lb["dockerHost"].get("plain") is None
    assert lb["securityGroupId"].get("plain") is None
    assert schema["types"]["stratos:index:Agent"]["properties"]["dockerHost"].get("plain") is None


@pytest.mark.parametrize(("typed", "core"), MIRRORS, ids=[t.__name__ for t, _ in MIRRORS])
def test_typed_values_mirror_the_core_model(typed: Any, core: Any) -> None:
    fields = {name: info for name, info in core.model_fields.items() if name != "kind"}
    assert set(fields) <= set(typed.__annotations__), f"missing: {set(fields) - set(typed.__annotations__)}"
    required = {name for name, info in fields.items() if info.is_required()}
    # The Application's name defaults to the resource's; the others are named by every reference.
    if typed is inputs.ApplicationArgs:
        required.discard("name")
    assert required == set(typed.__required_keys__) & set(fields)


def test_plugin_manifest_and_entry_point(monkeypatch: pytest.MonkeyPatch) -> None:
    plugin = REPO / "pulumi_stratos"
    assert yaml.safe_load((plugin / "PulumiPlugin.yaml").read_text()) == {"runtime": "python"}
    assert "-e ..[pulumi]" in (plugin / "requirements.txt").read_text()
    import pulumi.provider.experimental as experimental

    hosted: list[tuple[Any, ...]] = []
    monkeypatch.setattr(experimental, "component_provider_host", lambda *a, **k: hosted.append((a, k)))
    runpy.run_path(str(plugin / "__main__.py"), run_name="__main__")
    ((args, kwargs),) = hosted
    assert args == (ps.COMPONENTS, "stratos") and kwargs["version"]


def test_inputs_as_another_language_sends_them(provider: ComponentProvider, tmp_path: Path) -> None:
    """camelCase names and numbers as floats (how the engine delivers them) map onto the args."""
    sent = {
        "name": "web",
        "networkPartition": {
            "name": "local",
            "partitions": [{"name": "p1", "endpoint": "unix:///var/run/docker.sock"}],
            "network": {"name": "stratos-local"},
        },
        "listeners": [{"proxyPort": 8080.0, "port": 80.0, "protocol": "http"}],
        "healthCheck": {"interval": 3.0, "fall": 2.0},
        "retries": 2.0,
    }
    mapped = provider.map_inputs(sent, provider._component_defs["LbCluster"])
    assert mapped["network_partition"]["network"] == {"name": "stratos-local"}
    assert mapped["listeners"] == [{"proxy_port": 8080, "port": 80, "protocol": "http"}]
    rec = run(lambda: ps.LbCluster("web", mapped).definition)  # type: ignore[arg-type]
    assert yaml.safe_load(rec.value) == {
        "kind": "LbCluster",
        "name": "web",
        "network_partition": "local",
        "listeners": [{"proxy_port": 8080, "port": 80}],
        "health_check": {"interval": 3.0},
        "retries": 2,
    }
