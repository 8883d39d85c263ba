"""Invalid input raises the core's ValidationError (its path and rule) before anything is registered.

The foundation's invalid cases (tests/unit/test_validation.py) are replayed through the typed args:
the mutated seed demo becomes an ApplicationArgs, and building the Application must fail with the
same field path and rule, with no registration at all (not even the component's own).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml
from conftest import REPO
from mocks import registrations_during
from samples import mysql_on

import pulumi_stratos as ps
from stratos.errors import StratosError, ValidationError
from stratos.model import KINDS


def _foundation_cases() -> list[tuple[str, Callable[[Path], None], str, str]]:
    spec = importlib.util.spec_from_file_location(
        "foundation_validation_cases", REPO / "tests/unit/test_validation.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return list(module.CASES)


CASES = _foundation_cases()

#: Cases the typed args cannot express, and why.
INEXPRESSIBLE = {
    "unknown-kind": "each kind has its own typed list; there is no 'kind' to misspell",
    "invalid-yaml": "definitions are typed values, not YAML files",
    "lb-unknown-network-partition": "an LB cluster nests its network partition's value; it cannot name a missing one",
    "proxy-port-clash-between-apps": "an Application component holds one application; this clash spans two",
}


class Inexpressible(Exception):
    pass


def _strip(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k != "kind"}


def application_args(root: Path) -> ps.ApplicationArgs:
    """The definitions of a seed-demo directory as the Application's typed args."""
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(root.glob("*.yml")):
        try:
            docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
        except yaml.YAMLError as exc:
            raise Inexpressible(str(exc)) from exc
        for doc in docs:
            if doc.get("kind") not in KINDS:
                raise Inexpressible(f"kind {doc.get('kind')!r}")
            by_kind.setdefault(doc["kind"], []).append(doc)
    partitions = {d["name"]: _strip(d) for d in by_kind.get("NetworkPartition", [])}
    lbs = []
    for doc in by_kind.get("LbCluster", []):
        if doc["network_partition"] not in partitions:
            raise Inexpressible(f"network partition {doc['network_partition']!r}")
        lbs.append({**_strip(doc), "network_partition": partitions[doc["network_partition"]]})
    if len(by_kind.get("Application", [])) != 1:
        raise Inexpressible("one Application component describes exactly one application")
    (app,) = by_kind["Application"]
    return ps.ApplicationArgs(  # type: ignore[typeddict-item]
        **_strip(app),
        cartridges=[
            ps.CartridgeArgs(definition_yaml=yaml.safe_dump(d)) for d in by_kind.get("Cartridge", [])
        ],
        deployment_policies=[_strip(d) for d in by_kind.get("DeploymentPolicy", [])],
        autoscaling_policies=[_strip(d) for d in by_kind.get("AutoscalingPolicy", [])],
        lb_clusters=lbs,
        network_partitions=list(partitions.values()),
    )


def test_the_seed_demo_as_args_is_valid(seed_dir: Path) -> None:
    registered, error = registrations_during(lambda: ps.Application("shop", application_args(seed_dir)))
    assert error is None
    assert ("stratos:index:Application", "shop") in {(r.type, r.name) for r in registered}


@pytest.mark.parametrize(("case", "mutate", "path", "rule"), CASES, ids=[c[0] for c in CASES])
def test_foundation_case_raises_before_any_registration(
    seed_dir: Path, case: str, mutate: Callable[[Path], None], path: str, rule: str
) -> None:
    mutate(seed_dir)
    if case in INEXPRESSIBLE:
        with pytest.raises(Inexpressible):
            application_args(seed_dir)
        return
    args = application_args(seed_dir)
    registered, error = registrations_during(lambda: ps.Application("shop", args))
    assert isinstance(error, ValidationError), error
    messages = [str(p) for p in error.problems]
    assert any(path in m and rule in m for m in messages), messages
    assert registered == []


def test_every_problem_is_reported_at_once(seed_dir: Path) -> None:
    args = application_args(seed_dir)
    args["subscriptions"][1].update(max=1, cartridge="phpp")
    args["lb_clusters"][0]["listeners"].append({"proxy_port": 8080, "port": 81})
    registered, error = registrations_during(lambda: ps.Application("shop", args))
    assert isinstance(error, ValidationError) and registered == []
    text = str(error)
    assert "subscriptions[1].max (1): must be >= min (2)" in text
    assert "subscriptions[1].cartridge ('phpp'): must name a defined cartridge; did you mean 'php'?" in text
    assert "lb_clusters/web.listeners[1].proxy_port (8080): must be unique within the LB cluster" in text
    assert text.startswith("Application 'shop'")


LOCAL = ps.NetworkPartitionArgs(name="local", partitions=[ps.Partition(name="p1")])
CLOUD = ps.NetworkPartitionArgs(name="cloud", provider="openstack", partitions=[ps.Partition(name="h0")])
LISTENER = ps.Listener(proxy_port=8080, port=80)

# (id, program, expected fragments of one problem)
COMPONENT_CASES: list[tuple[str, Callable[[], Any], tuple[str, ...]]] = [
    (
        "partition-bad-endpoint",
        lambda: ps.NetworkPartition("np", {**LOCAL, "partitions": [{"name": "p1", "endpoint": "http://x"}]}),
        (
            "NetworkPartition 'np'",
            "network_partitions/local.partitions[0].endpoint ('http://x')",
            "must be a Docker endpoint",
        ),
    ),
    (
        "partition-unknown-provider",
        lambda: ps.NetworkPartition("np", {**LOCAL, "provider": "aws"}),
        ("network_partitions/local.provider ('aws')", "must be one of 'docker' or 'openstack'"),
    ),
    (
        "partition-field-typo",
        lambda: ps.NetworkPartition("np", {**LOCAL, "partitons": []}),  # type: ignore[typeddict-unknown-key]
        ("network_partitions/local.partitons", "did you mean 'partitions'?"),
    ),
    (
        "partition-openstack-zero-hosts",
        lambda: ps.NetworkPartition("np", {**CLOUD, "openstack": {"hosts": 0}}),
        ("network_partitions/cloud.openstack.hosts (0)", "must be >= 1"),
    ),
    (
        "partition-output-in-definition",
        lambda: ps.NetworkPartition(
            "np", {**LOCAL, "partitions": [{"name": "p1", "endpoint": pulumi.Output.from_input("unix:///x")}]}
        ),
        (
            "network_partitions/local.partitions[0].endpoint",
            "must be a plain value known when the program runs",
        ),
    ),
    (
        "lb-duplicate-proxy-port",
        lambda: ps.LbCluster(
            "lb", ps.LbClusterArgs(name="web", network_partition=LOCAL, listeners=[LISTENER, LISTENER])
        ),
        ("lb_clusters/web.listeners[1].proxy_port (8080)", "must be unique within the LB cluster"),
    ),
    (
        "lb-no-listener",
        lambda: ps.LbCluster("lb", ps.LbClusterArgs(name="web", network_partition=LOCAL, listeners=[])),
        ("lb_clusters/web.listeners", "must have at least 1 item(s)"),
    ),
    (
        "lb-openstack-without-docker-host",
        lambda: ps.LbCluster(
            "lb",
            ps.LbClusterArgs(
                name="web", network_partition=CLOUD, listeners=[LISTENER], security_group_id="sg"
            ),
        ),
        ("lb_clusters/web.docker_host", "is required on openstack network partition 'cloud'"),
    ),
    (
        "lb-openstack-without-security-group",
        lambda: ps.LbCluster(
            "lb",
            ps.LbClusterArgs(
                name="web", network_partition=CLOUD, listeners=[LISTENER], docker_host="ssh://h"
            ),
        ),
        ("lb_clusters/web.security_group_id", "is required on openstack network partition 'cloud'"),
    ),
    (
        "cartridge-no-source",
        lambda: ps.Cartridge("c", ps.CartridgeArgs()),
        ("Cartridge 'c'", "exactly one of 'builtin', 'definition_file' or 'definition_yaml' must be set"),
    ),
    (
        "cartridge-two-sources",
        lambda: ps.Cartridge("c", ps.CartridgeArgs(builtin="php", definition_file="x.yml")),
        ("cartridge ('builtin, definition_file')", "exactly one of"),
    ),
    (
        "cartridge-unknown-builtin",
        lambda: ps.Cartridge("c", ps.CartridgeArgs(builtin="ruby")),
        ("builtin ('ruby')", "must name a built-in cartridge (haproxy, mysql, php)"),
    ),
    (
        "cartridge-missing-file",
        lambda: ps.Cartridge("c", ps.CartridgeArgs(definition_file="/nonexistent/cartridge.yml")),
        ("definition_file ('/nonexistent/cartridge.yml')", "does not exist"),
    ),
    (
        "cartridge-bad-field",
        lambda: ps.Cartridge(
            "c", ps.CartridgeArgs(definition_yaml="name: x\nimage: {ref: a}\nlimits: {memory: lots}\n")
        ),
        ("cartridges/x.limits.memory ('lots')", "must be a size such as 256m"),
    ),
    (
        "cartridge-bad-package",
        lambda: ps.Cartridge(
            "c", ps.CartridgeArgs(definition_yaml="name: x\nimage: {build: {packages: ['Not A Package']}}\n")
        ),
        ("cartridges/x.image.build", "must be a Debian package name"),
    ),
    (
        "cartridge-glance-without-source",
        lambda: ps.Cartridge("c", ps.CartridgeArgs(builtin="php", glance=ps.Glance(name="php"))),
        ("cartridges/php.glance", "exactly one of 'local_file_path' or 'image_source_url' must be set"),
    ),
    (
        "application-openstack-without-agent-host",
        lambda: ps.Application("shop", mysql_on(CLOUD)),
        ("applications/shop.agent.docker_host", "is required on openstack network partition 'cloud'"),
    ),
]


@pytest.mark.parametrize(
    ("build", "fragments"), [c[1:] for c in COMPONENT_CASES], ids=[c[0] for c in COMPONENT_CASES]
)
def test_component_raises_before_any_registration(
    build: Callable[[], Any], fragments: tuple[str, ...]
) -> None:
    registered, error = registrations_during(build)
    assert isinstance(error, ValidationError), error
    messages = [str(p) for p in error.problems]
    assert any(all(f in m for f in fragments) for m in messages), messages
    assert registered == []


def test_a_bad_agent_setting_raises_the_core_error_before_any_registration(seed_dir: Path) -> None:
    args = application_args(seed_dir)
    args["agent"] = ps.Agent(state_dir="relative/dir")
    registered, error = registrations_during(lambda: ps.Application("shop", args))
    assert isinstance(error, StratosError) and "state_dir ('relative/dir'): must be an absolute path" in str(
        error
    )
    assert registered == []
