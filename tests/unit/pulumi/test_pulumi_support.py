"""The components' small shared helpers."""

from __future__ import annotations

from typing import Any

from pulumi_stratos import _support


class _Component:
    """Stands in for a ComponentResource: records what it registers."""

    def __init__(self) -> None:
        self.url = "http://lb:8080"
        self.definition = "kind: LbCluster\n"
        self.registered: dict[str, Any] | None = None

    def register_outputs(self, outputs: dict[str, Any]) -> None:
        self.registered = outputs


def test_register_outputs_names_each_attribute_once() -> None:
    component = _Component()
    _support.register_outputs(component, "url", "definition")  # type: ignore[arg-type]
    assert component.registered == {"url": "http://lb:8080", "definition": "kind: LbCluster\n"}
