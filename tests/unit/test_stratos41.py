"""`stratos import`: Apache Stratos 4.1 JSON artifacts become definitions `stratos validate` accepts.

Whatever has no equivalent is reported by name; credentials are never written nor printed.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from stratos import builtin
from stratos.cli import main
from stratos.documents import definition_document
from stratos.errors import ImportProblem
from stratos.model import Application
from stratos.stratos41 import (
    Artifact,
    ImportContext,
    ImportResult,
    Unmapped,
    convert_application,
    convert_artifacts,
    convert_autoscaling_policy,
    convert_cartridge,
    convert_deployment_policy,
    convert_network_partition,
    detect_kind,
    dns_label,
    read_artifacts,
    render,
)
from stratos.validation import load

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "stratos41"
PHP_MYSQL = FIXTURES / "php-mysql"
MORE = FIXTURES / "more"
SECRETS = ("s3cr3t-Repo-Pa55", "r00t-Cartridge-Pa55", "hunter2-Url-Pa55")
BUILTINS = ("haproxy", "mysql", "php")


def convert_dir(*dirs: Path) -> ImportResult:
    return convert_artifacts(read_artifacts(dirs), builtin_cartridges=BUILTINS)


def notes_text(notes: list[Unmapped]) -> str:
    return "\n".join(str(n) for n in notes)


def contains(actual: Any, expected: Any) -> bool:
    """``expected`` is a fragment of ``actual``: mappings by key, lists item by item."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            k in actual and contains(actual[k], v) for k, v in expected.items()
        )
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(expected)
            and all(contains(a, e) for a, e in zip(actual, expected, strict=True))
        )
    return bool(actual == expected)


# --------------------------------------------------------------------------- the whole set


def test_fixture_directory_converts_into_a_valid_set(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "defs"
    assert main(["import", str(PHP_MYSQL), "--output", str(out)]) == 0
    ds = load([out])
    assert set(ds.cartridges) == {"php", "mysql"}
    assert set(ds.network_partitions) == {"network-partition-1"}
    assert set(ds.deployment_policies) == {"deployment-policy-1"}
    assert set(ds.autoscaling_policies) == {"autoscaling-policy-1"}
    assert set(ds.lb_clusters) == {"network-partition-1-lb"}
    app = ds.applications["php-mysql"]
    php, mysql = app.subscription("my-php"), app.subscription("my-mysql")
    assert php.links == ["my-mysql"]
    assert app.dependencies.startup_order == [["my-mysql", "my-php"]]
    assert app.dependencies.termination_behaviour == "terminate-all"
    assert app.network_partition_policy == "one-after-another"
    assert (php.min, php.max, mysql.min, mysql.max) == (2, 5, 1, 1)
    assert php.lb_cluster == "network-partition-1-lb" and mysql.lb_cluster is None
    assert php.artifact is not None and php.artifact.url == "https://git.example.org/shop/php-app.git"
    assert php.artifact.credentials is not None and php.artifact.credentials.username == "deployer"
    assert php.artifact.credentials.token_file is None
    assert ds.cartridges["mysql"].exports == {
        "host": "{member.hostname}",
        "port": "3306",
        "database": "{env.MYSQL_DATABASE}",
        "username": "{env.MYSQL_USER}",
        "password": "{secret.password}",
    }
    assert [(li.proxy_port, li.port) for li in ds.lb_clusters["network-partition-1-lb"].listeners] == [
        (8280, 80)
    ]
    capsys.readouterr()
    assert main(["validate", str(out)]) == 0
    assert "valid: 2 cartridges" in capsys.readouterr().out


def test_groups_and_unsupported_providers_still_give_a_valid_set(tmp_path: Path) -> None:
    out = tmp_path / "defs"
    assert main(["import", str(MORE), "-o", str(out)]) == 0
    assert main(["validate", "--builtin-cartridges", str(out)]) == 0
    app = load([out, *builtin.cartridge_dirs()]).applications["web-shop"]
    assert [s.alias for s in app.subscriptions] == ["my-mysql", "my-tomcat", "my-php"]
    # group.my-web-group expands to its members; the group definition orders tomcat before php.
    assert app.dependencies.startup_order == [
        ["my-mysql", "my-tomcat"],
        ["my-mysql", "my-php"],
        ["my-tomcat", "my-php"],
    ]
    assert app.dependencies.scaling_dependents == [["my-tomcat", "my-php"]]
    assert {s.deployment_policy for s in app.subscriptions} == {"deployment-policy-2"}


def test_both_sets_together_validate(tmp_path: Path) -> None:
    out = tmp_path / "defs"
    assert main(["import", str(PHP_MYSQL), str(MORE), "-o", str(out)]) == 0
    assert main(["validate", str(out)]) == 0


# (id, fixture directory, file name, json path, fragment of the reason)
REPORTED: list[tuple[str, Path, str, str, str]] = [
    (
        "ec2-iaas-provider-php",
        PHP_MYSQL,
        "php.json",
        "iaasProvider[1]",
        "iaasProvider 'ec2' has no equivalent",
    ),
    ("ec2-iaas-provider-mysql", PHP_MYSQL, "mysql.json", "iaasProvider[1]", "iaasProvider 'ec2'"),
    ("openstack-iaas-provider", MORE, "tomcat.json", "iaasProvider[1]", "iaasProvider 'openstack'"),
    ("iaas-network-interfaces", PHP_MYSQL, "php.json", "iaasProvider[0].networkInterfaces", "no equivalent"),
    ("iaas-properties-by-name", MORE, "tomcat.json", "iaasProvider[0].property", "['cpu']"),
    ("cartridge-provider", PHP_MYSQL, "php.json", "provider", "no equivalent"),
    ("cartridge-host", PHP_MYSQL, "php.json", "host", "not managed"),
    ("lb-ip-type", PHP_MYSQL, "php.json", "loadBalancingIPType", "no equivalent"),
    ("cartridge-load-balancer", MORE, "stratos-lb.json", "loadBalancer", "no equivalent"),
    ("volume-size", PHP_MYSQL, "mysql.json", "persistence.volume[0].size", "no size"),
    ("volume-device", PHP_MYSQL, "mysql.json", "persistence.volume[0].device", "block devices"),
    ("kubernetes-port-type", MORE, "tomcat.json", "portMapping[0].kubernetesPortType", "no equivalent"),
    (
        "partition-property",
        PHP_MYSQL,
        "network-partition.json",
        "partitions[1].property[2]",
        "'securityGroups'",
    ),
    (
        "app-policy-property",
        PHP_MYSQL,
        "application-policy.json",
        "properties[0]",
        "'networkPartitionGroups'",
    ),
    ("application-alias", PHP_MYSQL, "application.json", "alias", "no equivalent"),
    (
        "kubernetes-network-partition",
        MORE,
        "kubernetes-network-partition.json",
        "provider",
        "'kubernetes' has no equivalent (docker, openstack): network partition 'k8s-network-partition' not converted",
    ),
    (
        "dropped-from-deployment-policy",
        MORE,
        "deployment-policy-2.json",
        "networkPartitions",
        "'k8s-network-partition' was not converted",
    ),
    (
        "kubernetes-cluster",
        MORE,
        "kubernetes-cluster-1.json",
        "(artifact)",
        "kubernetes cluster definitions have no equivalent",
    ),
    ("group-instances", MORE, "web-shop.json", "components.groups[0].groupMaxInstances", "2 group instances"),
    (
        "lb-subscription",
        MORE,
        "web-shop.json",
        "components.cartridges[1]",
        "load-balancer cartridge 'stratos-lb'",
    ),
    ("group-termination", MORE, "web-group.json", "dependencies.terminationBehaviour", "no equivalent"),
]


@pytest.mark.parametrize(
    ("directory", "filename", "path", "fragment"), [c[1:] for c in REPORTED], ids=[c[0] for c in REPORTED]
)
def test_what_has_no_equivalent_is_reported_by_name(
    directory: Path, filename: str, path: str, fragment: str
) -> None:
    result = convert_dir(directory)
    matches = [
        n
        for n in result.notes
        if n.source_file.endswith("/" + filename) and n.json_path == path and fragment in n.reason
    ]
    assert matches, f"no note {filename}: {path}: ...{fragment}... in\n{notes_text(result.notes)}"


# (id, fixture directory, file name, json path, note kind)
OTHER_NOTES: list[tuple[str, Path, str, str, str]] = [
    ("generated-lb", PHP_MYSQL, "(generated)", "lb_clusters/network-partition-1-lb", "generated"),
    ("app-policy-applied", PHP_MYSQL, "application.json", "(application)", "resolved"),
    ("group-flattened", MORE, "web-shop.json", "components.groups[0]", "flattened"),
    (
        "group-expanded-in-order",
        MORE,
        "web-shop.json",
        "components.dependencies.startupOrders[0]",
        "flattened",
    ),
    ("group-definition", MORE, "web-group.json", "(group)", "flattened"),
    (
        "inherited-deployment-policy",
        MORE,
        "web-shop.json",
        "components.groups[0].cartridges[0].subscribableInfo.deploymentPolicy",
        "resolved",
    ),
    ("builtin-cartridge", MORE, "web-shop.json", "components.cartridges[0].type", "resolved"),
    ("https-as-tcp", MORE, "tomcat.json", "portMapping[1].protocol", "changed"),
    (
        "branch-default",
        PHP_MYSQL,
        "application.json",
        "components.cartridges[1].subscribableInfo.artifactRepository",
        "changed",
    ),
]


@pytest.mark.parametrize(
    ("directory", "filename", "path", "kind"), [c[1:] for c in OTHER_NOTES], ids=[c[0] for c in OTHER_NOTES]
)
def test_decisions_are_reported(directory: Path, filename: str, path: str, kind: str) -> None:
    result = convert_dir(directory)
    assert [
        n for n in result.notes if n.source_file.endswith(filename) and n.json_path == path and n.kind == kind
    ], notes_text(result.notes)


def test_no_errors_and_no_invalid_notes_in_the_fixture_sets() -> None:
    for directory in (PHP_MYSQL, MORE):
        result = convert_dir(directory)
        assert not result.of_kind("error") and not result.of_kind("invalid"), notes_text(result.notes)


# (id, file name, original, new)
RENAMES = [
    ("network-partition-id", "network-partition.json", "network_partition_1", "network-partition-1"),
    ("partition-id", "openstack-network-partition.json", "RegionOne_Nova", "regionone-nova"),
    ("application-id", "web-shop.json", "Web_Shop", "web-shop"),
    ("alias", "web-shop.json", "My_MySQL", "my-mysql"),
    ("id-with-spaces", "kubernetes-network-partition.json", "K8s Network Partition", "k8s-network-partition"),
]


@pytest.mark.parametrize(
    ("filename", "original", "new"), [r[1:] for r in RENAMES], ids=[r[0] for r in RENAMES]
)
def test_renamed_ids_are_reported(filename: str, original: str, new: str) -> None:
    result = convert_dir(PHP_MYSQL, MORE)
    renamed = [n for n in result.of_kind("renamed") if n.source_file.endswith(filename)]
    assert any(f"'{original}' renamed to '{new}'" in n.reason for n in renamed), notes_text(renamed)


def test_references_follow_renames(tmp_path: Path) -> None:
    out = tmp_path / "defs"
    assert main(["import", str(PHP_MYSQL), "-o", str(out)]) == 0
    ds = load([out])
    assert ds.deployment_policies["deployment-policy-1"].network_partitions[0].name == "network-partition-1"
    assert ds.lb_clusters["network-partition-1-lb"].network_partition == "network-partition-1"


def test_credentials_are_never_written_nor_printed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "defs"
    assert main(["import", str(PHP_MYSQL), str(MORE), "-o", str(out)]) == 0
    printed = capsys.readouterr()
    written = "\n".join(p.read_text() for p in out.rglob("*.yml"))
    for secret in SECRETS:
        assert secret not in printed.out + printed.err
        assert secret not in written
    assert "repoPassword: a credential was present" in printed.out
    assert "credentials.token_file" in printed.out
    assert "MYSQL_ROOT_PASSWORD' holds a credential" in printed.out
    assert "the URL carried a password" in printed.out
    assert "https://git.example.org/shop/tomcat-app.git" in written  # user moved to credentials


@pytest.mark.parametrize(
    "path",
    sorted(str(p.relative_to(FIXTURES)) for p in FIXTURES.rglob("*.json")),
)
def test_an_unknown_field_is_never_dropped_silently(tmp_path: Path, path: str) -> None:
    data = json.loads((FIXTURES / path).read_text())
    data["someFutureField"] = "x"
    copy = tmp_path / path
    copy.parent.mkdir(parents=True)
    copy.write_text(json.dumps(data))
    result = convert_artifacts(read_artifacts([copy]))
    text = notes_text(result.notes)
    whole_artifact_not_converted = "not converted" in text and not result.definitions
    assert "someFutureField" in text or whole_artifact_not_converted, text


# --------------------------------------------------------------------------- the command


def test_cli_refuses_to_overwrite_without_force(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "defs"
    assert main(["import", str(PHP_MYSQL), "-o", str(out)]) == 0
    php = out / "cartridges" / "php.yml"
    php.write_text("# edited by hand\n")
    capsys.readouterr()
    assert main(["import", str(PHP_MYSQL), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert f"{php}: exists; use --force to overwrite" in err
    assert php.read_text() == "# edited by hand\n"
    assert main(["import", str(PHP_MYSQL), "-o", str(out), "--force"]) == 0
    assert "kind: Cartridge" in php.read_text()


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# (id, make the input under tmp_path, expected message fragment)
BAD_INPUT: list[tuple[str, Callable[[Path], Path], str]] = [
    ("missing-path", lambda tmp: tmp / "nope", "nope: does not exist"),
    (
        "invalid-json",
        lambda tmp: write(tmp / "in" / "broken.json", '{"id": "x",\n}'),
        "broken.json: line 2 column 1: is not valid JSON",
    ),
    (
        "no-json-in-directory",
        lambda tmp: write(tmp / "in" / "readme.txt", "hi").parent,
        "holds no .json file",
    ),
    (
        "not-an-object",
        lambda tmp: write(tmp / "in" / "list.json", "[1, 2]"),
        "list.json[0]: must be a JSON object",
    ),
    (
        "cartridge-without-type",
        lambda tmp: write(tmp / "in" / "c.json", '{"category": "framework", "iaasProvider": []}'),
        "c.json: type: is required",
    ),
]


@pytest.mark.parametrize(("make", "fragment"), [b[1:] for b in BAD_INPUT], ids=[b[0] for b in BAD_INPUT])
def test_cli_unreadable_input_exits_1_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], make: Callable[[Path], Path], fragment: str
) -> None:
    source = make(tmp_path)
    out = tmp_path / "out"
    assert main(["import", str(source), "-o", str(out)]) == 1
    captured = capsys.readouterr()
    assert fragment in captured.err + captured.out
    assert not out.exists()


def test_read_artifacts_raises_a_typed_error(tmp_path: Path) -> None:
    with pytest.raises(ImportProblem, match="does not exist"):
        read_artifacts([tmp_path / "nope"])


def test_output_is_one_file_per_definition_named_by_kind_and_name() -> None:
    files = render(convert_dir(PHP_MYSQL))
    assert sorted(files) == [
        "applications/php-mysql.yml",
        "autoscaling_policies/autoscaling-policy-1.yml",
        "cartridges/mysql.yml",
        "cartridges/php.yml",
        "deployment_policies/deployment-policy-1.yml",
        "lb_clusters/network-partition-1-lb.yml",
        "network_partitions/network-partition-1.yml",
    ]
    assert files["cartridges/php.yml"].startswith("# converted by 'stratos import' from ")
    assert files["lb_clusters/network-partition-1-lb.yml"].startswith("# generated by 'stratos import'")


# --------------------------------------------------------------------------- field mappings

Converter = Callable[[dict[str, Any], str], tuple[Any, list[Unmapped]]]
DOCKER = {"type": "docker", "imageId": "example/app:1"}

# (id, converter, 4.1 JSON, expected fragment of the native document, fragments expected in the notes)
MAPPINGS: list[tuple[str, Converter, dict[str, Any], dict[str, Any], list[str]]] = [
    (
        "cartridge-basics",
        convert_cartridge,
        {
            "type": "php",
            "category": "framework",
            "displayName": "PHP",
            "description": "d",
            "version": "7",
            "iaasProvider": [DOCKER],
        },
        {"name": "php", "display_name": "PHP", "description": "d", "version": "7", "category": "framework"},
        [],
    ),
    (
        "docker-image",
        convert_cartridge,
        {"type": "a", "iaasProvider": [DOCKER]},
        {"image": {"ref": "example/app:1"}},
        [],
    ),
    (
        "kubernetes-image",
        convert_cartridge,
        {"type": "a", "iaasProvider": [{"type": "kubernetes", "imageId": "k/app:2"}]},
        {"image": {"ref": "k/app:2"}},
        [],
    ),
    (
        "ec2-only-placeholder-image",
        convert_cartridge,
        {"type": "a", "version": "3", "iaasProvider": [{"type": "ec2", "imageId": "ami-1"}]},
        {"image": {"ref": "stratos/cartridge-a:3"}},
        ["iaasProvider 'ec2' has no equivalent", "image.ref set to 'stratos/cartridge-a:3'"],
    ),
    (
        "second-container-image",
        convert_cartridge,
        {"type": "a", "iaasProvider": [DOCKER, {"type": "docker", "imageId": "other:1"}]},
        {"image": {"ref": "example/app:1"}},
        ["iaasProvider[1]: a second container image"],
    ),
    (
        "port-name-from-protocol-and-port",
        convert_cartridge,
        {
            "type": "a",
            "iaasProvider": [DOCKER],
            "portMapping": [{"protocol": "http", "port": 80, "proxyPort": 8280}],
        },
        {"ports": [{"name": "http-80", "protocol": "http", "port": 80, "proxy_port": 8280}]},
        [],
    ),
    (
        "string-ports-and-no-proxy",
        convert_cartridge,
        {
            "type": "a",
            "iaasProvider": [DOCKER],
            "portMapping": [{"protocol": "tcp", "port": "3306", "proxyPort": "0"}],
        },
        {"ports": [{"name": "tcp-3306", "protocol": "tcp", "port": 3306}]},
        [],
    ),
    (
        "udp-port-reported",
        convert_cartridge,
        {"type": "a", "iaasProvider": [DOCKER], "portMapping": [{"protocol": "udp", "port": 53}]},
        {"ports": []},
        ["portMapping[0].protocol: 'udp' has no equivalent"],
    ),
    (
        "base-dir",
        convert_cartridge,
        {"type": "a", "iaasProvider": [DOCKER], "deployment": {"baseDir": "/var/www"}},
        {"deployment_dir": "/var/www"},
        [],
    ),
    (
        "relative-base-dir-reported",
        convert_cartridge,
        {"type": "a", "iaasProvider": [DOCKER], "deployment": {"baseDir": "www"}},
        {},
        ["deployment.baseDir: must be an absolute path"],
    ),
    (
        "volume-removed-on-termination",
        convert_cartridge,
        {
            "type": "a",
            "iaasProvider": [DOCKER],
            "persistence": {
                "isRequired": True,
                "volume": [{"id": "v1", "mappingPath": "/data", "removeOnTermination": True}],
            },
        },
        {"persistence": {"volumes": [{"name": "v1", "mount_path": "/data", "keep_on_termination": False}]}},
        [],
    ),
    (
        "volume-kept-by-default-named-after-path",
        convert_cartridge,
        {
            "type": "a",
            "iaasProvider": [DOCKER],
            "persistence": {"isRequired": "true", "volume": [{"mappingPath": "/var/lib/Data_1"}]},
        },
        {
            "persistence": {
                "volumes": [{"name": "data-1", "mount_path": "/var/lib/Data_1", "keep_on_termination": True}]
            }
        },
        [],
    ),
    (
        "persistence-not-required",
        convert_cartridge,
        {
            "type": "a",
            "iaasProvider": [DOCKER],
            "persistence": {"isRequired": False, "volume": [{"mappingPath": "/d"}]},
        },
        {},
        ["persistence.isRequired: is false"],
    ),
    (
        "category-inferred-for-a-database",
        convert_cartridge,
        {"type": "postgres", "iaasProvider": [DOCKER]},
        {"category": "data"},
        ["category: missing; 'data' inferred", "declares no exported properties"],
    ),
    (
        "unknown-category",
        convert_cartridge,
        {"type": "a", "category": "application", "iaasProvider": [DOCKER]},
        {"category": "framework"},
        ["'application' has no equivalent"],
    ),
    (
        "payload-parameters-to-environment",
        convert_cartridge,
        {
            "type": "a",
            "iaasProvider": [DOCKER],
            "property": [
                {"name": "payload_parameter.LOG_LEVEL", "value": "DEBUG"},
                {"name": "payload_parameter.DB_PASSWORD", "value": "hidden-value"},
                {"name": "custom", "value": "x"},
            ],
        },
        {"environment": {"LOG_LEVEL": "DEBUG"}},
        [
            "'payload_parameter.DB_PASSWORD' holds a credential",
            "property[2]: cartridge property 'custom' has no equivalent",
        ],
    ),
    (
        "exports-from-exporting-properties",
        convert_cartridge,
        {
            "type": "db",
            "category": "data",
            "iaasProvider": [DOCKER],
            "portMapping": [{"protocol": "tcp", "port": 5432}],
            "exportingProperties": ["hostname", "port", "password", "schema"],
        },
        {
            "exports": {"hostname": "{member.hostname}", "port": "5432", "password": "{secret.password}"},
            "secrets": ["password"],
        },
        ["export 'schema' has no value the import can derive"],
    ),
    (
        "multi-tenant-reported",
        convert_cartridge,
        {"type": "a", "iaasProvider": [DOCKER], "multiTenant": True},
        {},
        ["multiTenant: multi-tenant cartridges have no equivalent"],
    ),
    (
        "thresholds",
        convert_autoscaling_policy,
        {
            "id": "asp",
            "loadThresholds": {
                "requestsInFlight": {"threshold": 50},
                "memoryConsumption": {"threshold": "80"},
                "loadAverage": {"threshold": 65.5},
            },
        },
        {
            "name": "asp",
            "thresholds": {"requests_in_flight": 50, "memory_consumption": 80, "load_average": 65.5},
        },
        [],
    ),
    (
        "threshold-above-100-percent-dropped",
        convert_autoscaling_policy,
        {
            "id": "asp",
            "loadThresholds": {"requestsInFlight": {"threshold": 5}, "loadAverage": {"threshold": 150}},
        },
        {"thresholds": {"requests_in_flight": 5}},
        ["loadThresholds.loadAverage.threshold: must be a number in (0, 100]"],
    ),
    (
        "deployment-policy",
        convert_deployment_policy,
        {
            "id": "dp",
            "networkPartitions": [
                {
                    "id": "NP_1",
                    "partitionAlgo": "one-after-another",
                    "partitions": [{"id": "p1", "partitionMax": 20}, {"id": "p2", "partitionMax": "4"}],
                }
            ],
        },
        {
            "network_partitions": [
                {
                    "name": "np-1",
                    "algorithm": "one-after-another",
                    "partitions": [{"name": "p1", "max": 20}, {"name": "p2", "max": 4}],
                }
            ]
        },
        [],
    ),
    (
        "unknown-partition-algorithm",
        convert_deployment_policy,
        {
            "id": "dp",
            "networkPartitions": [
                {"id": "np", "partitionAlgo": "random", "partitions": [{"id": "p", "partitionMax": 0}]}
            ],
        },
        {"network_partitions": [{"algorithm": "round-robin", "partitions": [{"name": "p", "max": 1}]}]},
        ["'random' has no equivalent", "partitionMax: (0) must be >= 1"],
    ),
    (
        "network-partition-region-zone",
        convert_network_partition,
        {
            "id": "np",
            "provider": "openstack",
            "partitions": [
                {
                    "id": "p1",
                    "property": [{"name": "region", "value": "RegionOne"}, {"name": "zone", "value": "nova"}],
                }
            ],
        },
        {"provider": "openstack", "partitions": [{"name": "p1", "region": "RegionOne", "zone": "nova"}]},
        [],
    ),
]


@pytest.mark.parametrize(
    ("convert", "data", "expected", "noted"), [m[1:] for m in MAPPINGS], ids=[m[0] for m in MAPPINGS]
)
def test_field_mapping(
    convert: Converter, data: dict[str, Any], expected: dict[str, Any], noted: list[str]
) -> None:
    spec, notes = convert(data, "in.json")
    assert spec is not None, notes_text(notes)
    document = definition_document(spec, only_set=True, readable=True)
    assert contains(document, expected), document
    text = notes_text(notes)
    for fragment in noted:
        assert fragment in text
    assert "hidden-value" not in text and "hidden-value" not in json.dumps(document)


# (id, 4.1 provider) — network partitions these providers cannot be converted.
@pytest.mark.parametrize("provider", ["kubernetes", "ec2", "gce", "mock"])
def test_network_partition_without_equivalent_provider(provider: str) -> None:
    spec, notes = convert_network_partition(
        {"id": "np", "provider": provider, "partitions": [{"id": "p"}]}, "np.json"
    )
    assert spec is None
    assert f"provider: '{provider}' has no equivalent" in notes_text(notes)
    assert not [n for n in notes if n.kind == "error"]


DP = {"id": "dp", "networkPartitions": [{"id": "np", "partitions": [{"id": "p", "partitionMax": 10}]}]}
NP = {"id": "np", "provider": "docker", "partitions": [{"id": "p"}]}
WEB = {
    "type": "web",
    "iaasProvider": [DOCKER],
    "portMapping": [{"protocol": "http", "port": 80, "proxyPort": 8080}],
}
DB = {
    "type": "db",
    "category": "data",
    "iaasProvider": [DOCKER],
    "persistence": {"isRequired": True, "volume": [{"mappingPath": "/data"}]},
    "metadataKeys": ["host"],
}


def sub(type_: str, alias: str, low: int = 1, high: int = 1, **info: Any) -> dict[str, Any]:
    return {
        "type": type_,
        "cartridgeMin": low,
        "cartridgeMax": high,
        "subscribableInfo": {"alias": alias, "deploymentPolicy": "dp", **info},
    }


def app(
    *cartridges: dict[str, Any], dependencies: dict[str, Any] | None = None, **extra: Any
) -> dict[str, Any]:
    components: dict[str, Any] = {"cartridges": list(cartridges)}
    if dependencies:
        components["dependencies"] = dependencies
    return {"applicationId": "app", "components": components, **extra}


def convert_set(*artifacts: dict[str, Any]) -> tuple[dict[str, Any], str]:
    result = convert_artifacts([Artifact(f"a{i}.json", a) for i, a in enumerate(artifacts)])
    applications = [c.definition for c in result.definitions if isinstance(c.definition, Application)]
    document = definition_document(applications[0], only_set=True, readable=True) if applications else {}
    return document, notes_text(result.notes)


# (id, artifacts besides DP/NP/WEB/DB, expected fragment of the application, fragments in the notes)
APPLICATIONS: list[tuple[str, list[dict[str, Any]], dict[str, Any], list[str]]] = [
    (
        "dependency-aliases-to-links",
        [app(sub("db", "my-db"), sub("web", "my-web", dependencyAliases=["cartridge.my-db"]))],
        {"subscriptions": [{"alias": "my-db"}, {"alias": "my-web", "links": ["my-db"]}]},
        [],
    ),
    (
        "startup-order-by-cartridge-type",
        [
            app(
                sub("db", "my-db"),
                sub("web", "my-web"),
                dependencies={"startupOrders": [{"aliases": ["cartridge.db", "cartridge.web"]}]},
            )
        ],
        {"dependencies": {"startup_order": [["my-db", "my-web"]]}},
        [],
    ),
    (
        "startup-order-as-string",
        [
            app(
                sub("db", "my-db"),
                sub("web", "my-web"),
                dependencies={"startupOrders": ["cartridge.my-db, cartridge.my-web"]},
            )
        ],
        {"dependencies": {"startup_order": [["my-db", "my-web"]]}},
        [],
    ),
    (
        "unknown-alias-in-startup-order",
        [
            app(
                sub("db", "my-db"),
                sub("web", "my-web"),
                dependencies={"startupOrders": [{"aliases": ["cartridge.nope", "cartridge.my-web"]}]},
            )
        ],
        {"subscriptions": [{"alias": "my-db"}, {"alias": "my-web"}]},
        ["'cartridge.nope' names no converted subscription"],
    ),
    (
        "scaling-dependants-and-termination",
        [
            app(
                sub("db", "my-db"),
                sub("web", "my-web"),
                dependencies={
                    "scalingDependants": [{"aliases": ["cartridge.my-db", "cartridge.my-web"]}],
                    "terminationBehaviour": "terminate-dependents",
                },
            )
        ],
        {
            "dependencies": {
                "scaling_dependents": [["my-db", "my-web"]],
                "termination_behaviour": "terminate-dependents",
            }
        },
        [],
    ),
    (
        "min-max",
        [app(sub("web", "my-web", 2, 7))],
        {"subscriptions": [{"min": 2, "max": 7}]},
        [],
    ),
    (
        "min-zero-becomes-one",
        [app(sub("web", "my-web", 0, 3))],
        {"subscriptions": [{"min": 1, "max": 3}]},
        ["cartridgeMin: (0) must be >= 1; 1 used"],
    ),
    (
        "data-cartridge-max-lowered",
        [app(sub("db", "my-db", 2, 5))],
        {"subscriptions": [{"min": 1, "max": 1}]},
        ["5 lowered to 1: data cartridge 'db'"],
    ),
    (
        "generated-lb-cluster",
        [app(sub("web", "my-web"))],
        {"subscriptions": [{"lb_cluster": "np-lb"}]},
        ["LB cluster 'np-lb' (haproxy) generated in network partition 'np' with listeners 8080->80"],
    ),
    (
        "proxy-port-clash",
        [app(sub("web", "web-1"), sub("web", "web-2"))],
        {"subscriptions": [{"lb_cluster": "np-lb"}, {"alias": "web-2"}]},
        ["proxy ports [8080] of 'web-2' are already served"],
    ),
    (
        "artifact-repository",
        [
            app(
                sub(
                    "web",
                    "my-web",
                    artifactRepository={
                        "privateRepo": True,
                        "repoUrl": "https://git.example.org/a.git",
                        "repoUsername": "u",
                        "repoPassword": "hidden-value",
                    },
                )
            )
        ],
        {
            "subscriptions": [
                {
                    "artifact": {
                        "url": "https://git.example.org/a.git",
                        "branch": "main",
                        "credentials": {"username": "u"},
                    }
                }
            ]
        },
        ["repoPassword: a credential was present; it was not written: supply it as credentials.token_file"],
    ),
    (
        "ssh-url-keeps-user-loses-password",
        [
            app(
                sub(
                    "web",
                    "my-web",
                    artifactRepository={"repoUrl": "ssh://git:hidden-value@git.example.org/a.git"},
                )
            )
        ],
        {"subscriptions": [{"artifact": {"url": "ssh://git@git.example.org/a.git"}}]},
        ["the URL carried a password"],
    ),
    (
        "application-policy-algorithm",
        [{"id": "ap", "algorithm": "all-at-once", "networkPartitions": ["np"]}, app(sub("web", "my-web"))],
        {"network_partition_policy": "all-at-once"},
        ["application policy 'ap' (a0.json) applies"],
    ),
    (
        "application-policy-missing-network-partition",
        [
            {"id": "ap", "algorithm": "one-after-another", "networkPartitions": ["other"]},
            app(sub("web", "my-web")),
        ],
        {"network_partition_policy": "one-after-another"},
        ["uses network partitions ['np'] that application policy 'ap' does not list"],
    ),
    (
        "group-members-inherit-deployment-policy",
        [
            {
                "applicationId": "app",
                "components": {
                    "groups": [
                        {
                            "name": "g",
                            "alias": "my-g",
                            "deploymentPolicy": "dp",
                            "cartridges": [{"type": "web", "subscribableInfo": {"alias": "w"}}],
                        }
                    ]
                },
            }
        ],
        {"subscriptions": [{"alias": "w", "deployment_policy": "dp"}]},
        [
            "group 'my-g' (g) flattened into subscriptions ['w']",
            "cartridge group definition 'g' is not among the imported artifacts",
        ],
    ),
]


@pytest.mark.parametrize(
    ("extra", "expected", "noted"), [a[1:] for a in APPLICATIONS], ids=[a[0] for a in APPLICATIONS]
)
def test_application_mapping(extra: list[dict[str, Any]], expected: dict[str, Any], noted: list[str]) -> None:
    document, text = convert_set(*extra, DP, NP, WEB, DB)
    assert contains(document, expected), f"{document}\n{text}"
    for fragment in noted:
        assert fragment in text
    assert "hidden-value" not in text and "hidden-value" not in json.dumps(document)


def test_application_without_deployment_policy_is_an_error_when_ambiguous() -> None:
    data = {
        "applicationId": "a",
        "components": {"cartridges": [{"type": "web", "subscribableInfo": {"alias": "w"}}]},
    }
    spec, notes = convert_application(data, "a.json", ImportContext())
    assert spec is None
    assert "deploymentPolicy: is required" in notes_text([n for n in notes if n.kind == "error"])


# (id, JSON, name hint, detected kind)
DETECT: list[tuple[str, dict[str, Any], str, str | None]] = [
    ("cartridge", {"type": "php", "iaasProvider": []}, "", "cartridge"),
    ("cartridge-by-category", {"type": "php", "category": "framework"}, "", "cartridge"),
    ("autoscaling-policy", {"id": "a", "loadThresholds": {}}, "", "autoscaling-policy"),
    ("deployment-policy", {"id": "d", "networkPartitions": [{"id": "np"}]}, "", "deployment-policy"),
    ("application-policy", {"id": "ap", "networkPartitions": ["np"]}, "", "application-policy"),
    (
        "application-policy-empty",
        {"id": "ap", "algorithm": "all-at-once", "networkPartitions": []},
        "",
        "application-policy",
    ),
    ("network-partition", {"id": "np", "provider": "openstack", "partitions": []}, "", "network-partition"),
    ("application", {"applicationId": "a", "components": {}}, "", "application"),
    ("cartridge-group", {"name": "g", "cartridges": ["php"]}, "", "cartridge-group"),
    ("kubernetes-cluster", {"clusterId": "k", "kubernetesMaster": {}}, "", "kubernetes-cluster"),
    ("hint-directory", {"id": "x"}, "samples/deployment-policies/openstack/x.json", "deployment-policy"),
    ("hint-file-name", {"id": "x"}, "artifacts/autoscaling-policy-1.json", "autoscaling-policy"),
    (
        "hint-nearest-wins",
        {"id": "x"},
        "applications/wordpress/application-policy.json",
        "application-policy",
    ),
    ("keys-beat-hint", {"id": "a", "loadThresholds": {}}, "cartridges/x.json", "autoscaling-policy"),
    ("unknown", {"hello": "world"}, "misc/thing.json", None),
]


@pytest.mark.parametrize(("data", "hint", "expected"), [d[1:] for d in DETECT], ids=[d[0] for d in DETECT])
def test_detect_kind(data: dict[str, Any], hint: str, expected: str | None) -> None:
    assert detect_kind(data, hint) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("php", "php"),
        ("network_partition_1", "network-partition-1"),
        ("My PHP  App", "my-php-app"),
        ("--a..b--", "a-b"),
        ("x" * 70, "x" * 63),
        ("___", "unnamed"),
    ],
    ids=["unchanged", "underscores", "spaces-and-case", "trimmed", "truncated", "empty"],
)
def test_dns_label(value: str, expected: str) -> None:
    assert dns_label(value) == expected


def test_unrecognised_artifact_is_reported_not_fatal() -> None:
    result = convert_artifacts([Artifact("x.json", {"hello": "world"})])
    assert result.definitions == [] and not result.errors
    assert "x.json: (artifact): not recognised as a Stratos 4.1 artifact" in notes_text(result.notes)


def test_duplicate_ids_are_errors() -> None:
    asp = {"id": "asp", "loadThresholds": {"loadAverage": {"threshold": 50}}}
    result = convert_artifacts([Artifact("a.json", asp), Artifact("b.json", asp)])
    assert "b.json: (artifact): a second AutoscalingPolicy named 'asp' (also in a.json)" in notes_text(
        result.errors
    )


def test_fixture_copy_with_trailing_comma_names_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Some published 4.1 samples carry a trailing comma; the message names the file and line."""
    source = tmp_path / "in"
    shutil.copytree(PHP_MYSQL, source)
    policy = source / "application-policy.json"
    policy.write_text(
        policy.read_text().replace('"network_partition_1"\n    ]', '"network_partition_1",\n    ]')
    )
    assert main(["import", str(source), "-o", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert f"{policy}: line" in err and "is not valid JSON" in err
