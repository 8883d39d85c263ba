"""The LB cluster operation, planned against a fake Docker Engine (applying a container is an
integration test), and the URL rule every front end reports."""

from __future__ import annotations

import json
from typing import Any

import pytest
from docker_fakes import FakeContainer, FakePool

from stratos.drivers import docker as dockerlib
from stratos.drivers import haproxy
from stratos.errors import ValidationError
from stratos.lb import config as lbconfig
from stratos.model import LbCluster
from stratos.operations import lb_cluster as ops
from stratos.store import StateStore
from stratos.validation import parse_definition


def lb(**changes: Any) -> LbCluster:
    data = {
        "kind": "LbCluster",
        "name": "web",
        "network_partition": "local",
        "listeners": [
            {"proxy_port": 3306, "port": 3306, "protocol": "tcp"},
            {"proxy_port": 8080, "port": 80},
        ],
        **changes,
    }
    spec = parse_definition(data)
    assert isinstance(spec, LbCluster)
    return spec


@pytest.mark.parametrize(
    ("endpoint", "bind", "urls"),
    [
        ("unix:///var/run/docker.sock", "0.0.0.0", ["tcp://127.0.0.1:3306", "http://127.0.0.1:8080/"]),
        ("ssh://deploy@10.0.0.5", "0.0.0.0", ["tcp://10.0.0.5:3306", "http://10.0.0.5:8080/"]),
        (
            "tcp://docker.example.com:2376",
            "::",
            ["tcp://docker.example.com:3306", "http://docker.example.com:8080/"],
        ),
        ("ssh://deploy@10.0.0.5", "192.168.1.7", ["tcp://192.168.1.7:3306", "http://192.168.1.7:8080/"]),
        ("unix:///var/run/docker.sock", "::1", ["tcp://[::1]:3306", "http://[::1]:8080/"]),
    ],
    ids=["local-socket", "ssh-host", "tcp-host", "bind-address", "ipv6-bind-address"],
)
def test_lb_urls(endpoint: str, bind: str, urls: list[str]) -> None:
    spec = lb(bind_address=bind)
    found = ops.lb_urls(spec, ops.lb_host(spec, endpoint))
    assert found == urls
    assert ops.lb_url(spec, found) == urls[1]  # the first http listener


def test_lb_url_without_http_listener_is_the_first() -> None:
    spec = lb(listeners=[{"proxy_port": 3306, "port": 3306, "protocol": "tcp"}])
    assert ops.lb_url(spec, ops.lb_urls(spec, "h")) == "tcp://h:3306"


@pytest.mark.parametrize(
    ("endpoint", "local", "host"),
    [("unix:///run/docker.sock", "localhost", "localhost"), ("ssh://u@h1", "localhost", "h1")],
    ids=["socket", "ssh"],
)
def test_endpoint_host(endpoint: str, local: str, host: str) -> None:
    assert ops.endpoint_host(endpoint, local) == host


def test_apply_lb_cluster_plans_the_container_without_creating_it(
    platform: StateStore, pool: FakePool
) -> None:
    plan = ops.apply_lb_cluster(platform, "web", lb(), pool=pool)  # type: ignore[arg-type]
    definition, container = plan.changes
    assert (definition.label, definition.action) == ("lb_clusters/web.yml", "update")
    assert (container.label, container.action, container.before) == (
        "container/stratos-lb-web",
        "create",
        None,
    )
    assert isinstance(container.after, str)
    shape = json.loads(container.after.split("# ", 1)[0])
    assert (shape["network"], shape["state"]) == ("stratos-local", "running")
    assert "frontend fe_8080" in container.after
    (report,) = plan.report["containers"]
    assert report["action"] == "create" and report["container_id"] is None
    assert report["url"] == "http://127.0.0.1:8080/" and report["socket"].endswith("lb/web/run/admin.sock")
    assert plan.report["definition"]["listeners"][0]["proxy_port"] == 3306
    assert "3306" not in (platform.read("LbCluster", "web") or "")  # nothing written


def test_apply_lb_cluster_on_openstack_keeps_the_definition_only(
    platform: StateStore, pool: FakePool
) -> None:
    cloud = parse_definition(
        {
            "kind": "NetworkPartition",
            "name": "cloud",
            "provider": "openstack",
            "partitions": [{"name": "p1", "zone": "nova"}],
            "network": {"name": "stratos-cloud", "subnet": "10.9.0.0/24"},
        }
    )
    platform.apply(platform.plan_put(cloud))
    plan = ops.apply_lb_cluster(platform, "edge", lb(name="edge", network_partition="cloud"), pool=pool)  # type: ignore[arg-type]
    assert [c.label for c in plan.changes] == ["lb_clusters/edge.yml"] and plan.report["containers"] == []
    assert pool.asked == []


def test_apply_lb_cluster_needs_its_network_partition(platform: StateStore, pool: FakePool) -> None:
    with pytest.raises(ValidationError, match="nowhere"):
        ops.apply_lb_cluster(platform, "web", lb(network_partition="nowhere"), pool=pool)  # type: ignore[arg-type]


def test_removing_an_lb_cluster_removes_its_container_then_the_definition(
    platform: StateStore, pool: FakePool
) -> None:
    container = FakeContainer(
        "stratos-lb-web", {dockerlib.ROLE: dockerlib.ROLE_LB, dockerlib.LB_CLUSTER: "web"}
    )
    pool.client.containers.items.append(container)
    removed: list[str] = []
    container.remove = lambda force=False: removed.append(container.name)  # type: ignore[attr-defined]
    (platform.lb_dir("web") / "run").mkdir(parents=True)

    plan = ops.apply_lb_cluster(platform, "web", None, pool=pool, purge=True)  # type: ignore[arg-type]
    definition, removal, purge = plan.changes
    assert (definition.action, removal.action, purge.action) == ("remove", "remove", "remove")
    assert purge.label == f"directory/lb/web on {platform.root}"
    assert [r["action"] for r in plan.report["containers"]] == ["remove", "remove"]
    assert platform.read("LbCluster", "web") is not None and removed == []

    report = plan.apply()
    assert removed == ["stratos-lb-web"] and not platform.lb_dir("web").exists()
    assert platform.read("LbCluster", "web") is None
    assert report["containers"][0]["name"] == "stratos-lb-web"


def test_an_unchanged_lb_cluster_plans_nothing(platform: StateStore, pool: FakePool) -> None:
    stored = platform.load().lb_clusters["web"]
    spec, _ = haproxy.plan_lb_container(
        pool.client, stored, platform.load().network_partitions["local"], platform
    )  # type: ignore[arg-type]
    platform.lb_dir("web").mkdir(parents=True)
    (platform.lb_dir("web") / lbconfig.CONFIG_NAME).write_text(spec.config)
    pool.client.containers.items.append(FakeContainer(spec.name, spec.labels()))
    plan = ops.apply_lb_cluster(platform, "web", stored, pool=pool)  # type: ignore[arg-type]
    assert not plan.changed and [c.action for c in plan.changes] == ["none", "none"]
    assert plan.report["containers"][0]["container_id"] == "c0ffee"
