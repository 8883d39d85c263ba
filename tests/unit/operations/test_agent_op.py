"""apply_agent: the agent container's plan and what the agent module reports about it."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import pytest
from unit.drivers.test_agent_container import IMAGES, PROXY, SPEC, FakeClient, container_attrs, proxy_attrs

from stratos.errors import StratosError
from stratos.operations.agent import apply_agent

SOCKET = "/var/run/docker.sock"


def options(**changes: Any) -> dict[str, Any]:
    """The operation's options for SPEC (what the module passes), with ``changes``."""
    given = {k: v for k, v in asdict(SPEC).items() if k not in ("name", "docker_socket", "environment")}
    return {**given, **changes}


def plan_with(client: FakeClient, present: bool = True, **changes: Any) -> Any:
    endpoints: list[str] = []

    def connect(endpoint: str) -> FakeClient:
        endpoints.append(endpoint)
        return client

    plan = apply_agent(present=present, connect=connect, **(options(**changes) if present else {}))
    assert endpoints == ["unix://" + SOCKET]
    return plan


def test_a_missing_agent_is_planned_with_its_proxy_and_reported() -> None:
    client = FakeClient(images_by_ref=dict(IMAGES))
    plan = plan_with(client)
    container = plan.report["container"]
    assert (container["name"], container["action"], container["image"]) == (
        "stratos-agent",
        "create",
        SPEC.image_ref,
    )
    assert container["companions"] == {PROXY: "create", "stratos-agent-http": "none"}
    assert "the container does not exist" in container["reasons"]
    assert any(r.startswith(PROXY) for r in container["reasons"])
    assert container["command"] == SPEC.command()
    assert [c.name for c in plan.changes] == ["stratos-agent", PROXY, "stratos-agent-http"]
    assert "warnings" not in plan.report
    assert client.calls == []  # planning only
    plan.apply()
    assert client.calls[-1] == "run stratos-agent from stratos/agent:test"


def test_a_matching_agent_is_left_alone() -> None:
    client = FakeClient({SPEC.name: container_attrs(SPEC), PROXY: proxy_attrs()}, dict(IMAGES))
    plan = plan_with(client)
    assert not plan.changed and plan.report["container"]["action"] == "none"


def test_a_missing_image_is_a_warning_of_the_plan() -> None:
    plan = plan_with(FakeClient(images_by_ref={"stratos/haproxy:test": "sha256:" + "b" * 64}))
    assert plan.report["warnings"] == [
        "the image stratos/agent:test does not exist on this Docker host; the real run will fail"
    ]


def test_removal_reports_no_image_and_takes_the_companions_too() -> None:
    client = FakeClient({SPEC.name: container_attrs(SPEC), PROXY: proxy_attrs()})
    plan = plan_with(client, present=False)
    container = plan.report["container"]
    assert (container["action"], container["image"], container["config_hash"]) == ("remove", None, None)
    assert container["companions"][PROXY] == "remove"
    plan.apply()
    assert "remove stratos-agent" in client.calls and f"remove {PROXY}" in client.calls


@pytest.mark.parametrize(
    ("changes", "message"),
    [({"interval": 0}, "interval"), ({"http_port": 0}, "http_port"), ({"proxy_dir": "rel"}, "proxy_dir")],
    ids=["interval", "http-port", "proxy-dir"],
)
def test_wrong_options_name_the_option_before_docker_is_asked(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(StratosError, match=message):
        apply_agent(connect=pytest.fail, **options(**changes))


def test_the_environment_is_given_as_text() -> None:
    client = FakeClient(images_by_ref=dict(IMAGES))
    plan = apply_agent(connect=lambda _: client, environment={"STRATOS_X": 1}, **options())
    assert plan.changes[0].after["environment"]["STRATOS_X"] == "1"  # type: ignore[index]
