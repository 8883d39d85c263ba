"""The example stacks run under the mocks: what they register, and what they export."""

from __future__ import annotations

import runpy
from typing import Any

import pulumi
import yaml
from conftest import EXAMPLES
from mocks import run


def program(directory: str, config: dict[str, str] | None = None) -> Any:
    def body() -> None:
        if config:
            pulumi.runtime.set_all_config(config)
        runpy.run_path(str(EXAMPLES / directory / "__main__.py"), run_name="__main__")

    return body


def components(rec: Any) -> list[tuple[str, str]]:
    return sorted((r.type, r.name) for r in rec.resources if r.type.startswith("stratos:index:"))


def shop_components(network_partition: str) -> list[tuple[str, str]]:
    """The components of both seed examples, sorted as :func:`components` sorts them."""
    return [
        ("stratos:index:Application", "shop"),
        ("stratos:index:Cartridge", "haproxy"),
        ("stratos:index:Cartridge", "mysql"),
        ("stratos:index:Cartridge", "php"),
        ("stratos:index:LbCluster", "web"),
        ("stratos:index:NetworkPartition", network_partition),
    ]


def test_docker_example() -> None:
    rec = run(program("pulumi-php-mysql"))
    assert components(rec) == shop_components("local")
    assert {r.inputs["imageName"] for r in rec.of_type("docker:index/image:Image")} == {
        "stratos/cartridge-php:8.2",
        "stratos/cartridge-mysql:10.11",
        "stratos/cartridge-haproxy:2.6",
    }
    lb = rec.named("web-haproxy")
    assert lb.inputs["ports"] == [{"internal": 8080, "external": 8080, "ip": "0.0.0.0", "protocol": "tcp"}]
    # depends_on a component means its resources; the LB's children register after the LB does.
    assert {d.rsplit("::", 1)[-1] for d in rec.named("web").dependencies} >= {
        "local-network",
        "haproxy-image",
    }
    assert {d.rsplit("::", 1)[-1] for d in rec.named("shop").dependencies} >= {
        "web-haproxy",
        "php-image",
        "mysql-image",
    }
    assert rec.named("shop-db-data").protect


def test_docker_example_demo_port_publishes_the_listener_elsewhere() -> None:
    rec = run(
        program(
            "pulumi-php-mysql",
            {"stratos-test:demoPort": "9090", "stratos-test:baseImage": "stratos/debian:bookworm"},
        )
    )
    (port,) = rec.named("web-haproxy").inputs["ports"]
    assert (port["internal"], port["external"]) == (8080, 9090)
    assert rec.named("php-image").inputs["buildOnPreview"] is False


def test_openstack_example() -> None:
    rec = run(
        program(
            "pulumi-openstack",
            {
                "stratos-test:keyPair": "ops",
                "stratos-test:agentImage": "registry.example.org/stratos/agent:0.1.0",
                "stratos-test:phpImageFile": "/srv/php.tar",
            },
        )
    )
    assert components(rec) == shop_components("cloud")
    (host,) = rec.of_type("openstack:compute/instance:Instance")
    assert host.inputs["keyPair"] == "ops"
    assert (
        "registry.example.org/stratos/agent:0.1.0"
        in yaml.safe_load(host.inputs["userData"])["write_files"][0]["content"]
    )
    docker_hosts = {r.inputs["host"] for r in rec.of_type("pulumi:providers:docker")}
    assert len(docker_hosts) == 1 and docker_hosts.pop().startswith("ssh://debian@203.0.113.")
    assert rec.named("php-glance").inputs["localFilePath"] == "/srv/php.tar"
    assert {r.name for r in rec.of_type("openstack:networking/secGroupRule:SecGroupRule")} == {
        "cloud-ssh",
        "web-listener-8080",
    }
    carrier = rec.named("shop-definitions")
    assert carrier.inputs["start"] is False
    assert "/var/lib/stratos/definitions/network_partitions/cloud.yml" in {
        u["file"] for u in carrier.inputs["uploads"]
    }
