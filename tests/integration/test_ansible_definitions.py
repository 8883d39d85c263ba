"""The definition modules of stratos.paas, run with the real ansible-playbook.

For each module: check mode reports the change and writes nothing; the real run writes; a second run
changes nothing; --diff shows before and after; state=absent removes; bad input fails with the core's
message naming the field and leaves the state directory exactly as it was. network_partition also
owns a Docker network, so its tests need a Docker Engine (marked ``docker``).
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from ansible_helpers import failed, ok
from support import seeded_store

from stratos.builtin import CARTRIDGES_DIR
from stratos.store import StateStore, dump_definition
from stratos.validation import parse_definition

if TYPE_CHECKING:
    from ansible_helpers import Ansible, PlaybookResult

    Snapshot = Callable[[Path], dict[str, str]]

# Fixtures: ``ansible`` (the collection built and installed once per session, runs playbooks),
# ``state_dir`` (a fresh state directory) and ``snapshot`` (files and modes under a directory).
pytest_plugins = ["ansible_helpers"]

NETWORK_PARTITION = {
    "kind": "NetworkPartition",
    "name": "local",
    "partitions": [{"name": "p1", "zone": "a"}, {"name": "p2", "zone": "b"}],
}


@dataclass(frozen=True)
class Case:
    """One definition module: a valid body, a changed one, what must exist first, and bad bodies."""

    module: str
    kind: str
    plural: str
    name: str
    body: dict[str, Any]
    changed: dict[str, Any]
    requires: list[dict[str, Any]] = field(default_factory=list)


def redis(version: str) -> dict[str, Any]:
    """The body of a Redis cartridge of ``version`` (the image's tag follows it)."""
    return {
        "version": version,
        "category": "data",
        "image": {"ref": f"redis:{version}"},
        "ports": [{"name": "redis", "protocol": "tcp", "port": 6379}],
        "health_check": {"tcp": True},
    }


CASES = [
    Case(
        "cartridge",
        "Cartridge",
        "cartridges",
        "redis",
        body=redis("7"),
        changed=redis("7.2"),
    ),
    Case(
        "deployment_policy",
        "DeploymentPolicy",
        "deployment_policies",
        "spread",
        body={"network_partitions": [{"name": "local", "partitions": [{"name": "p1", "max": 2}]}]},
        changed={
            "network_partitions": [
                {
                    "name": "local",
                    "algorithm": "one-after-another",
                    "partitions": [{"name": "p1", "max": 2}, {"name": "p2", "max": 3}],
                }
            ]
        },
        requires=[NETWORK_PARTITION],
    ),
    Case(
        "autoscaling_policy",
        "AutoscalingPolicy",
        "autoscaling_policies",
        "php-load",
        body={"thresholds": {"requests_in_flight": 20}},
        changed={"thresholds": {"requests_in_flight": 20, "load_average": 70}, "behaviour": {"max_step": 2}},
    ),
]
BY_MODULE = {case.module: case for case in CASES}

# (module, id, body, fragments the failure message must contain: field path, value, rule)
BAD_INPUT = [
    (
        "cartridge",
        "unknown-field",
        {"image": {"ref": "redis:7"}, "ports": [{"name": "redis", "prot": 6379}]},
        ["cartridges/redis.ports[0].prot (6379): is not a known field; did you mean 'port'?"],
    ),
    (
        "cartridge",
        "port-out-of-range",
        {"image": {"ref": "redis:7"}, "ports": [{"name": "redis", "port": 70000}]},
        ["cartridges/redis.ports[0].port (70000): must be <= 65535"],
    ),
    (
        "cartridge",
        "image-ref-and-build",
        {"image": {"ref": "redis:7", "build": {"packages": ["redis"]}}},
        ["cartridges/redis.image: exactly one of 'ref' or 'build' must be set"],
    ),
    (
        "cartridge",
        "two-problems-at-once",
        {"image": {"ref": "redis:7"}, "category": "cache", "limits": {"memory": "lots"}},
        ["cartridges/redis.category ('cache'): must be one of", "cartridges/redis.limits.memory ('lots')"],
    ),
    (
        "deployment_policy",
        "undefined-network-partition",
        {"network_partitions": [{"name": "lokal", "partitions": [{"name": "p1"}]}]},
        [
            "deployment_policies/spread.network_partitions[0].name ('lokal'): "
            "must name a defined network partition; did you mean 'local'?"
        ],
    ),
    (
        "deployment_policy",
        "undefined-partition",
        {"network_partitions": [{"name": "local", "partitions": [{"name": "p9"}]}]},
        ["deployment_policies/spread.network_partitions[0].partitions[0].name ('p9'): must name a partition"],
    ),
    (
        "deployment_policy",
        "max-below-one",
        {"network_partitions": [{"name": "local", "partitions": [{"name": "p1", "max": 0}]}]},
        ["deployment_policies/spread.network_partitions[0].partitions[0].max (0): must be >= 1"],
    ),
    (
        "autoscaling_policy",
        "no-threshold",
        {"thresholds": {}},
        ["autoscaling_policies/php-load.thresholds: at least one of 'requests_in_flight'"],
    ),
    (
        "autoscaling_policy",
        "tolerance-not-below-one",
        {"thresholds": {"load_average": 70}, "behaviour": {"tolerance": 1.5}},
        ["autoscaling_policies/php-load.behaviour.tolerance (1.5): must be < 1"],
    ),
    (
        "autoscaling_policy",
        "percent-above-100",
        {"thresholds": {"memory_consumption": 120}},
        ["autoscaling_policies/php-load.thresholds.memory_consumption (120): must be <= 100"],
    ),
    (
        "autoscaling_policy",
        "kind-disagrees",
        {"kind": "Cartridge", "thresholds": {"load_average": 70}},
        ["autoscaling_policies/php-load.kind ('Cartridge'): must be 'AutoscalingPolicy'"],
    ),
]


def canonical(case: Case, body: dict[str, Any]) -> str:
    return dump_definition(parse_definition({"kind": case.kind, "name": case.name, **body}))


def run(
    ansible: Ansible, case: Case, state_dir: Path, *, check: bool = False, diff: bool = False, **params: Any
) -> PlaybookResult:
    """Run the module's playbook; ``params`` become the ``def_*`` extra vars (body, state, src...)."""
    extra = {"state_dir": str(state_dir), "def_name": params.pop("name", case.name)}
    extra.update({f"def_{key}": value for key, value in params.items()})
    return ansible.run_playbook(f"{case.module}.yml", extra, check=check, diff=diff)


# --------------------------------------------------------------------------- lifecycle


@pytest.mark.parametrize("case", CASES, ids=[c.module for c in CASES])
def test_lifecycle(ansible: Ansible, state_dir: Path, snapshot: Snapshot, case: Case) -> None:
    store = seeded_store(state_dir, case.requires)
    path = store.definition_path(case.kind, case.name)

    # check mode predicts the change and writes nothing
    before = snapshot(state_dir)
    result = ok(run(ansible, case, state_dir, body=case.body, check=True))
    assert result["changed"] is True
    assert snapshot(state_dir) == before

    # the real run writes the canonical definition
    result = ok(run(ansible, case, state_dir, body=case.body))
    assert result["changed"] is True
    assert result["path"] == str(path)
    assert path.read_text() == canonical(case, case.body)
    assert result["definition"] == yaml.safe_load(canonical(case, case.body))

    # again: nothing to do, in check mode or not
    written = snapshot(state_dir)
    assert ok(run(ansible, case, state_dir, body=case.body))["changed"] is False
    assert ok(run(ansible, case, state_dir, body=case.body, check=True))["changed"] is False
    assert snapshot(state_dir) == written

    # --diff shows the stored file before and after; in check mode it stays as it was
    result = ok(run(ansible, case, state_dir, body=case.changed, check=True, diff=True))
    assert result["changed"] is True
    assert result["diff"]["before"] == canonical(case, case.body)
    assert result["diff"]["after"] == canonical(case, case.changed)
    assert result["diff"]["before_header"] == f"{case.plural}/{case.name}.yml"
    assert snapshot(state_dir) == written
    result = ok(run(ansible, case, state_dir, body=case.changed, diff=True))
    assert result["changed"] is True and path.read_text() == canonical(case, case.changed)
    assert ok(run(ansible, case, state_dir, body=case.changed, diff=True))["diff"]["before"] == (
        canonical(case, case.changed)
    )

    # state=absent: check mode keeps it, the real run removes it, a second run has nothing to do
    result = ok(run(ansible, case, state_dir, state="absent", check=True, diff=True))
    assert result["changed"] is True and path.exists()
    assert result["diff"]["after"] == "" and result["diff"]["after_header"] == "(absent)"
    result = ok(run(ansible, case, state_dir, state="absent"))
    assert result["changed"] is True and not path.exists()
    assert result["definition"] == yaml.safe_load(canonical(case, case.changed))
    result = ok(run(ansible, case, state_dir, state="absent"))
    assert result["changed"] is False and result["definition"] is None


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("module", "body", "expected"),
    [(m, b, e) for m, _, b, e in BAD_INPUT],
    ids=[f"{m}-{i}" for m, i, _, _ in BAD_INPUT],
)
def test_bad_input_fails_naming_the_field_and_changes_nothing(
    ansible: Ansible,
    state_dir: Path,
    snapshot: Snapshot,
    module: str,
    body: dict[str, Any],
    expected: list[str],
) -> None:
    case = BY_MODULE[module]
    # a valid stored version: the bad one must neither replace nor remove it
    seeded_store(state_dir, [*case.requires, {"kind": case.kind, "name": case.name, **case.body}])
    before = snapshot(state_dir)
    result = failed(run(ansible, case, state_dir, body=body))
    for fragment in expected:
        assert fragment in result["msg"], result["msg"]
        assert any(fragment in problem for problem in result["problems"]), result["problems"]
    assert snapshot(state_dir) == before


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"name": "../../etc", "state": "absent"}, "name ('../../etc'): must be a DNS label"),
        (
            {"name": "Redis", "body": BY_MODULE["cartridge"].body},
            "name ('Redis'): must be a DNS label",
        ),
        (
            {"body": {"name": "other", "image": {"ref": "x"}}},
            "cartridges/redis.name ('other'): must be 'redis'",
        ),
        ({"body": {"image": {"ref": "x"}}, "src": "/nowhere.yml"}, "parameters are mutually exclusive"),
        ({}, "state is present but any of the following are missing: definition, src, builtin"),
        ({"src": "/nowhere/cartridge.yml"}, "/nowhere/cartridge.yml: (file): does not exist"),
        ({"builtin": "tomcat"}, "value of builtin must be one of: php, mysql, haproxy"),
    ],
    ids=[
        "name-is-not-a-path",
        "name-not-a-dns-label",
        "name-disagrees",
        "definition-and-src",
        "no-definition",
        "src-missing",
        "unknown-builtin",
    ],
)
def test_bad_parameters(
    ansible: Ansible, state_dir: Path, snapshot: Snapshot, params: dict[str, Any], expected: str
) -> None:
    seeded_store(state_dir, [])
    before = snapshot(state_dir)
    result = failed(run(ansible, BY_MODULE["cartridge"], state_dir, **params))
    assert expected in result["msg"]
    assert snapshot(state_dir) == before


def test_removal_refused_while_referenced(ansible: Ansible, state_dir: Path, snapshot: Snapshot) -> None:
    """A network partition that a deployment policy uses stays, and the message names the user.

    Validation comes before any Docker call, so this needs no Docker Engine."""
    case = BY_MODULE["deployment_policy"]
    seeded_store(state_dir, [*case.requires, {"kind": case.kind, "name": case.name, **case.body}])
    before = snapshot(state_dir)
    np_case = Case("network_partition", "NetworkPartition", "network_partitions", "local", {}, {})
    result = failed(run(ansible, np_case, state_dir, state="absent"))
    assert "deployment_policies/spread.network_partitions[0].name ('local')" in result["msg"]
    assert "cannot be removed while it is used" in result["msg"]
    assert snapshot(state_dir) == before


# --------------------------------------------------------------------------- cartridge sources


def test_builtin_cartridge_is_registered_with_absolute_file_sources(
    ansible: Ansible, state_dir: Path
) -> None:
    case = BY_MODULE["cartridge"]
    result = ok(run(ansible, case, state_dir, name="php", builtin="php"))
    assert result["changed"] is True
    files = result["definition"]["image"]["build"]["files"]
    assert files and all(
        Path(f["src"]).is_absolute() and Path(f["src"]).is_file() for f in files if "src" in f
    )
    assert all(Path(f["src"]).is_relative_to(CARTRIDGES_DIR / "php") for f in files if "src" in f)
    assert ok(run(ansible, case, state_dir, name="php", builtin="php"))["changed"] is False


def test_cartridge_from_src_file(ansible: Ansible, state_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "tomcat"
    (folder / "files").mkdir(parents=True)
    (folder / "files" / "server.xml").write_text("<Server/>\n")
    (folder / "cartridge.yml").write_text(
        "kind: Cartridge\nname: tomcat\n"
        "image:\n  build:\n    packages: [tomcat10]\n"
        "    files:\n      - {path: /etc/tomcat10/server.xml, src: files/server.xml}\n"
        "      - {path: /etc/motd, content: hello}\n"
    )
    case = BY_MODULE["cartridge"]
    result = ok(run(ansible, case, state_dir, name="tomcat", src=str(folder / "cartridge.yml")))
    files = result["definition"]["image"]["build"]["files"]
    assert files[0]["src"] == str(folder / "files" / "server.xml")
    assert "src" not in files[1]
    assert (
        ok(run(ansible, case, state_dir, name="tomcat", src=str(folder / "cartridge.yml")))["changed"]
        is False
    )


# --------------------------------------------------------------------------- network partition (Docker)


def free_subnet(docker_client: Any) -> str:
    """A /24 in 10.200.0.0/13 that no existing Docker network overlaps."""
    used = [
        ipaddress.ip_network(cfg["Subnet"])
        for net in docker_client.networks.list(greedy=True)
        for cfg in (net.attrs.get("IPAM") or {}).get("Config") or []
        if cfg.get("Subnet") and ":" not in cfg["Subnet"]
    ]
    candidates = list(ipaddress.ip_network("10.200.0.0/13").subnets(new_prefix=24))
    random.shuffle(candidates)
    return str(next(c for c in candidates if not any(c.overlaps(u) for u in used)))


def network_labels(docker_client: Any, name: str) -> dict[str, str] | None:
    matches = [n for n in docker_client.networks.list(names=[name]) if n.name == name]
    return docker_client.networks.get(matches[0].id).attrs["Labels"] if matches else None


@pytest.mark.docker
def test_network_partition_lifecycle_with_its_docker_network(
    ansible: Ansible,
    state_dir: Path,
    snapshot: Snapshot,
    docker_client: Any,
    docker_names: Callable[[str], str],
    base_image: str,
) -> None:
    network = docker_names("np")
    subnet = free_subnet(docker_client)
    body = {"partitions": NETWORK_PARTITION["partitions"], "network": {"name": network, "subnet": subnet}}
    case = Case("network_partition", "NetworkPartition", "network_partitions", "local", body, {})
    path = StateStore(state_dir).definition_path(case.kind, case.name)

    result = ok(run(ansible, case, state_dir, body=body, check=True, diff=True))
    assert result["changed"] is True
    assert [n["action"] for n in result["networks"]] == ["create"]
    assert result["diff"][1]["before"] == "" and f"subnet: {subnet}" in result["diff"][1]["after"]
    assert network_labels(docker_client, network) is None and not state_dir.exists()

    result = ok(run(ansible, case, state_dir, body=body))
    assert result["changed"] is True and path.is_file()
    assert network_labels(docker_client, network) == {"org.stratos.network-partition": "local"}
    attrs = docker_client.networks.get(network).attrs
    assert [c["Subnet"] for c in attrs["IPAM"]["Config"]] == [subnet]

    result = ok(run(ansible, case, state_dir, body=body, diff=True))
    assert result["changed"] is False and [n["action"] for n in result["networks"]] == ["none"]
    assert all(d["before"] == d["after"] for d in result["diff"])

    # a member still attached: removal fails naming it, and leaves both the definition and the network
    member = docker_names("member")
    docker_client.containers.run(base_image, ["sleep", "300"], name=member, network=network, detach=True)
    written = snapshot(state_dir)
    for check in (True, False):
        result = failed(run(ansible, case, state_dir, state="absent", check=check))
        assert f"docker network '{network}' cannot be removed" in result["msg"]
        assert member in result["msg"]
    assert snapshot(state_dir) == written and network_labels(docker_client, network) is not None
    docker_client.containers.get(member).remove(force=True)

    result = ok(run(ansible, case, state_dir, state="absent", check=True))
    assert result["changed"] is True and [n["action"] for n in result["networks"]] == ["remove"]
    assert network_labels(docker_client, network) is not None and path.is_file()
    result = ok(run(ansible, case, state_dir, state="absent"))
    assert result["changed"] is True and not path.exists()
    assert network_labels(docker_client, network) is None
    assert ok(run(ansible, case, state_dir, state="absent"))["changed"] is False


@pytest.mark.docker
def test_network_partition_bad_endpoint_creates_nothing(
    ansible: Ansible,
    state_dir: Path,
    snapshot: Snapshot,
    docker_client: Any,
    docker_names: Callable[[str], str],
) -> None:
    network = docker_names("np")
    body = {"partitions": [{"name": "p1", "endpoint": "http://localhost:2375"}], "network": {"name": network}}
    case = Case("network_partition", "NetworkPartition", "network_partitions", "local", body, {})
    seeded_store(state_dir, [])
    before = snapshot(state_dir)
    result = failed(run(ansible, case, state_dir, body=body))
    assert (
        "network_partitions/local.partitions[0].endpoint ('http://localhost:2375'): must be a Docker endpoint"
        in (result["msg"])
    )
    assert snapshot(state_dir) == before and network_labels(docker_client, network) is None
