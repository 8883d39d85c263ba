"""`stratos validate`: the seed demo's set is valid; each broken input names its field and rule."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from stratos.cli import main
from stratos.errors import ValidationError
from stratos.model import KINDS
from stratos.validation import find_cycle, load, startup_order


def edit(filename: str, change: Callable[[list[dict[str, Any]]], None]) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        path = root / filename
        docs = list(yaml.safe_load_all(path.read_text()))
        change(docs)
        path.write_text(yaml.safe_dump_all(docs, sort_keys=False))

    return apply


def app(change: Callable[[dict[str, Any]], None]) -> Callable[[Path], None]:
    return edit("application.yml", lambda docs: change(docs[0]))


def web(change: Callable[[dict[str, Any]], None]) -> Callable[[Path], None]:
    return app(lambda a: change(a["subscriptions"][1]))


def add_file(name: str, text: str) -> Callable[[Path], None]:
    return lambda root: (root / name).write_text(text)


def setitem(d: dict[str, Any], key: str, value: Any) -> None:
    d[key] = value


# (id, mutation, expected path, expected rule fragment)
CASES: list[tuple[str, Callable[[Path], None], str, str]] = [
    (
        "max-below-min",
        web(lambda s: setitem(s, "max", 1)),
        "applications/shop.subscriptions[1].max (1)",
        "must be >= min (2)",
    ),
    (
        "min-zero",
        web(lambda s: setitem(s, "min", 0)),
        "applications/shop.subscriptions[1].min (0)",
        "must be >= 1",
    ),
    (
        "unknown-field-hint",
        web(lambda s: setitem(s, "autoscaling_polcy", "x")),
        "applications/shop.subscriptions[1].autoscaling_polcy",
        "did you mean 'autoscaling_policy'?",
    ),
    (
        "unknown-top-field",
        app(lambda a: setitem(a, "subscription", [])),
        "applications/shop.subscription",
        "did you mean 'subscriptions'?",
    ),
    (
        "name-not-dns-label",
        app(lambda a: setitem(a, "name", "Shop_1")),
        "applications/Shop_1.name ('Shop_1')",
        "must be a DNS label",
    ),
    (
        "unknown-cartridge",
        web(lambda s: setitem(s, "cartridge", "phpp")),
        "applications/shop.subscriptions[1].cartridge ('phpp')",
        "must name a defined cartridge; did you mean 'php'?",
    ),
    (
        "unknown-autoscaling-policy",
        web(lambda s: setitem(s, "autoscaling_policy", "fast")),
        "applications/shop.subscriptions[1].autoscaling_policy ('fast')",
        "must name a defined autoscaling policy",
    ),
    (
        "unknown-deployment-policy",
        web(lambda s: setitem(s, "deployment_policy", "php-spred")),
        "applications/shop.subscriptions[1].deployment_policy ('php-spred')",
        "did you mean 'php-spread'?",
    ),
    (
        "unknown-lb-cluster",
        web(lambda s: setitem(s, "lb_cluster", "edge")),
        "applications/shop.subscriptions[1].lb_cluster ('edge')",
        "must name a defined LB cluster",
    ),
    (
        "unknown-link",
        web(lambda s: setitem(s, "links", ["dbb"])),
        "applications/shop.subscriptions[1].links[0] ('dbb')",
        "must name a subscription alias",
    ),
    (
        "self-link",
        web(lambda s: setitem(s, "links", ["web"])),
        "applications/shop.subscriptions[1].links[0] ('web')",
        "must not link to itself",
    ),
    (
        "link-cycle",
        app(lambda a: setitem(a["subscriptions"][0], "links", ["web"])),
        "applications/shop.subscriptions.links",
        "must not form a cycle",
    ),
    (
        "startup-order-cycle",
        app(lambda a: setitem(a["dependencies"], "startup_order", [["db", "web"], ["web", "db"]])),
        "applications/shop.dependencies.startup_order",
        "must not form a cycle",
    ),
    (
        "startup-order-unknown-alias",
        app(lambda a: setitem(a["dependencies"], "startup_order", [["db", "api"]])),
        "applications/shop.dependencies.startup_order[0][1] ('api')",
        "must name a subscription alias",
    ),
    (
        "partitions-cannot-hold-min",
        web(lambda s: (setitem(s, "deployment_policy", "single"), setitem(s, "lb_cluster", None))),
        "applications/shop.subscriptions[1].min (2)",
        "must fit the partitions of deployment policy 'single'",
    ),
    (
        "data-cartridge-max",
        app(lambda a: setitem(a["subscriptions"][0], "max", 2)),
        "applications/shop.subscriptions[0].max (2)",
        "must be 1 for data cartridge 'mysql'",
    ),
    (
        "artifact-url-http",
        web(lambda s: setitem(s["artifact"], "url", "http://example.com/x.git")),
        "applications/shop.subscriptions[1].artifact.url ('http://example.com/x.git')",
        "http:// is plaintext",
    ),
    (
        "artifact-url-embedded-token",
        web(lambda s: setitem(s["artifact"], "url", "https://bot:s3cret@example.com/x.git")),
        "applications/shop.subscriptions[1].artifact.url ('https://***@example.com/x.git')",
        "must not contain credentials",
    ),
    (
        "proxy-port-clash-between-apps",
        add_file(
            "x.yml",
            "kind: Application\nname: blog\nsubscriptions:\n"
            "  - {alias: www, cartridge: php, deployment_policy: php-spread, lb_cluster: web}\n",
        ),
        "applications/shop.subscriptions[1].lb_cluster ('web')",
        "proxy_port 8080 must be unique per LB cluster; 'blog/www'",
    ),
    (
        "duplicate-alias",
        app(lambda a: setitem(a["subscriptions"][1], "alias", "db")),
        "applications/shop.subscriptions[1].alias ('db')",
        "must be unique",
    ),
    (
        "percent-above-100",
        edit("autoscaling-policy.yml", lambda d: setitem(d[0]["thresholds"], "load_average", 150)),
        "autoscaling_policies/php-load.thresholds.load_average (150)",
        "must be <= 100",
    ),
    (
        "threshold-not-positive",
        edit("autoscaling-policy.yml", lambda d: setitem(d[0]["thresholds"], "requests_in_flight", 0)),
        "autoscaling_policies/php-load.thresholds.requests_in_flight (0)",
        "must be > 0",
    ),
    (
        "no-threshold",
        edit("autoscaling-policy.yml", lambda d: setitem(d[0], "thresholds", {})),
        "autoscaling_policies/php-load.thresholds",
        "at least one of",
    ),
    (
        "port-out-of-range",
        edit("lb-cluster.yml", lambda d: setitem(d[0]["listeners"][0], "proxy_port", 70000)),
        "lb_clusters/web.listeners[0].proxy_port (70000)",
        "must be <= 65535",
    ),
    (
        "proxy-port-clash-in-lb",
        edit("lb-cluster.yml", lambda d: d[0]["listeners"].append({"proxy_port": 8080, "port": 81})),
        "lb_clusters/web.listeners[1].proxy_port (8080)",
        "must be unique within the LB cluster",
    ),
    (
        "lb-unknown-network-partition",
        edit("lb-cluster.yml", lambda d: setitem(d[0], "network_partition", "edge")),
        "lb_clusters/web.network_partition ('edge')",
        "must name a defined network partition",
    ),
    (
        "lb-missing-listener",
        edit("lb-cluster.yml", lambda d: setitem(d[0]["listeners"][0], "proxy_port", 9090)),
        "applications/shop.subscriptions[1].lb_cluster ('web')",
        "must have a listener proxy_port 8080 -> port 80",
    ),
    (
        "deployment-unknown-partition",
        edit(
            "deployment-policies.yml",
            lambda d: setitem(d[0]["network_partitions"][0]["partitions"][1], "name", "p3"),
        ),
        "deployment_policies/php-spread.network_partitions[0].partitions[1].name ('p3')",
        "must name a partition of network partition 'local'",
    ),
    (
        "deployment-max-zero",
        edit(
            "deployment-policies.yml",
            lambda d: setitem(d[0]["network_partitions"][0]["partitions"][0], "max", 0),
        ),
        "deployment_policies/php-spread.network_partitions[0].partitions[0].max (0)",
        "must be >= 1",
    ),
    (
        "bad-algorithm",
        edit(
            "deployment-policies.yml", lambda d: setitem(d[0]["network_partitions"][0], "algorithm", "random")
        ),
        "deployment_policies/php-spread.network_partitions[0].algorithm ('random')",
        "must be one of 'round-robin' or 'one-after-another'",
    ),
    (
        "bad-endpoint",
        edit("network-partition.yml", lambda d: setitem(d[0]["partitions"][0], "endpoint", "http://x")),
        "network_partitions/local.partitions[0].endpoint ('http://x')",
        "must be a Docker endpoint",
    ),
    (
        "bad-subnet",
        edit("network-partition.yml", lambda d: setitem(d[0]["network"], "subnet", "10.0.0.300/24")),
        "network_partitions/local.network.subnet ('10.0.0.300/24')",
        "must be an IPv4 network",
    ),
    (
        "unknown-kind",
        add_file("x.yml", "kind: Cartridg\nname: x\n"),
        "document 0.kind ('Cartridg')",
        "did you mean 'Cartridge'?",
    ),
    (
        "duplicate-name",
        add_file(
            "x.yml",
            (Path(__file__).parent / "conftest.py").read_text().split('PHP = """\\\n')[1].split('"""')[0],
        ),
        "cartridges/php.name ('php')",
        "must be unique within its kind",
    ),
    (
        "cartridge-image-both",
        add_file("x.yml", "kind: Cartridge\nname: x\nimage: {ref: a, build: {}}\n"),
        "cartridges/x.image",
        "exactly one of 'ref' or 'build' must be set",
    ),
    (
        "health-check-neither",
        add_file("x.yml", "kind: Cartridge\nname: x\nimage: {ref: a}\nhealth_check: {}\n"),
        "cartridges/x.health_check",
        "exactly one of 'http' (a path) or 'tcp: true'",
    ),
    (
        "bad-memory-limit",
        add_file("x.yml", "kind: Cartridge\nname: x\nimage: {ref: a}\nlimits: {memory: lots}\n"),
        "cartridges/x.limits.memory ('lots')",
        "must be a size such as 256m",
    ),
    (
        "relative-deployment-dir",
        add_file("x.yml", "kind: Cartridge\nname: x\nimage: {ref: a}\ndeployment_dir: www\n"),
        "cartridges/x.deployment_dir ('www')",
        "must be an absolute path",
    ),
    ("invalid-yaml", add_file("x.yml", "kind: [\n"), "x.yml: line", "is not valid YAML"),
]


def test_seed_demo_set_is_valid(seed_dir: Path) -> None:
    ds = load([seed_dir])
    assert set(ds.applications) == {"shop"}
    assert startup_order(ds.applications["shop"]) == ["db", "web"]


@pytest.mark.parametrize(("mutate", "path", "rule"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_invalid_input_names_field_and_rule(
    seed_dir: Path, mutate: Callable[[Path], None], path: str, rule: str
) -> None:
    mutate(seed_dir)
    with pytest.raises(ValidationError) as caught:
        load([seed_dir])
    messages = [str(p) for p in caught.value.problems]
    assert any(path in m and rule in m for m in messages), messages


def test_every_problem_is_reported_at_once(seed_dir: Path) -> None:
    web(lambda s: (setitem(s, "max", 1), setitem(s, "cartridge", "phpp")))(seed_dir)
    edit("lb-cluster.yml", lambda d: setitem(d[0], "network_partition", "edge"))(seed_dir)
    with pytest.raises(ValidationError) as caught:
        load([seed_dir])
    text = str(caught.value)
    assert (
        "subscriptions[1].max" in text
        and "subscriptions[1].cartridge" in text
        and "network_partition" in text
    )


def test_error_names_the_file(seed_dir: Path) -> None:
    web(lambda s: setitem(s, "max", 1))(seed_dir)
    with pytest.raises(ValidationError) as caught:
        load([seed_dir])
    assert str(caught.value.problems[0]).startswith(str(seed_dir / "application.yml") + ": applications/shop")


def test_cli_validate_exit_codes(seed_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(seed_dir)]) == 0
    assert "valid: 2 cartridges" in capsys.readouterr().out
    web(lambda s: setitem(s, "max", 1))(seed_dir)
    assert main(["validate", str(seed_dir)]) == 1
    err = capsys.readouterr().err
    assert "must be >= min (2)" in err and "1 problem(s) found" in err


def test_cli_validate_missing_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(tmp_path / "nope")]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_cli_schema_covers_every_kind(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert set(schema) == set(KINDS) and len(KINDS) == 6  # the six kinds
    assert "subscriptions" in schema["Application"]["properties"]


@pytest.mark.parametrize(
    ("edges", "expected"),
    [
        ([], []),
        ([("a", "b"), ("b", "c")], []),
        ([("a", "b"), ("b", "a")], ["a", "b", "a"]),
        ([("a", "b"), ("b", "c"), ("c", "b")], ["b", "c", "b"]),
    ],
    ids=["empty", "chain", "two-cycle", "tail-cycle"],
)
def test_find_cycle(edges: list[tuple[str, str]], expected: list[str]) -> None:
    assert find_cycle(edges) == expected
