"""Each component built directly under Pulumi's mocks; assertions on the recorded resources."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml
from mocks import Recording, run
from samples import mysql_on

import pulumi_stratos as ps
from stratos.builtin import cartridge_file
from stratos.drivers import agent_container
from stratos.images import CartridgeImage, render_build
from stratos.lb import config as lbconfig
from stratos.model import Cartridge as CartridgeDefinition
from stratos.model import LbCluster as LbClusterDefinition
from stratos.store import dump_definition

LOCAL = ps.NetworkPartitionArgs(
    name="local",
    partitions=[ps.Partition(name="p1", zone="a"), ps.Partition(name="p2", zone="b")],
    network=ps.NetworkSettings(name="stratos-local"),
)
TWO_HOSTS = ps.NetworkPartitionArgs(
    name="split",
    partitions=[
        ps.Partition(name="a", endpoint="tcp://10.0.0.1:2375"),
        ps.Partition(name="b", endpoint="ssh://ops@10.0.0.2"),
    ],
    network=ps.NetworkSettings(subnet="10.30.0.0/24"),
)
CLOUD = ps.NetworkPartitionArgs(
    name="cloud",
    provider="openstack",
    partitions=[ps.Partition(name="h0")],
    openstack=ps.OpenStackSettings(
        key_pair="ops", hosts=2, admin_cidr="198.51.100.0/24", external_network="ext"
    ),
    agent_image="registry.example.org/stratos/agent:1.0",
)
WEB = ps.LbClusterArgs(name="web", network_partition=LOCAL, listeners=[ps.Listener(proxy_port=8080, port=80)])


def types_and_parents(rec: Recording) -> set[tuple[str, str, str]]:
    return {(r.type, r.name, r.parent_name) for r in rec.resources}


def upload(resource: Any, path: str) -> str:
    found = [u["content"] for u in resource.inputs["uploads"] if u["file"] == path]
    assert len(found) == 1, [u["file"] for u in resource.inputs["uploads"]]
    return str(found[0])


def label_map(resource: Any) -> dict[str, str]:
    return {item["label"]: item["value"] for item in resource.inputs["labels"]}


# --------------------------------------------------------------------------- NetworkPartition


def test_docker_partition_one_network_per_endpoint() -> None:
    rec = run(lambda: ps.NetworkPartition("local", LOCAL).network_ids)
    assert types_and_parents(rec) == {
        ("stratos:index:NetworkPartition", "local", "stratos-test-test"),
        ("pulumi:providers:docker", "local-docker", "local"),
        ("docker:index/network:Network", "local-network", "local"),
    }
    assert rec.named("local-docker").inputs["host"] == "unix:///var/run/docker.sock"
    network = rec.named("local-network")
    assert network.provider_name == "local-docker"
    assert network.inputs["name"] == "stratos-local"
    assert label_map(network) == {"org.stratos.network-partition": "local"}
    assert rec.value == {"p1": "local-network-id", "p2": "local-network-id"}


def test_docker_partition_on_two_endpoints_gets_two_providers_and_networks() -> None:
    def program() -> Any:
        np = ps.NetworkPartition("split", TWO_HOSTS)
        return {"ids": np.network_ids, "host": np.docker_host, "sg": np.security_group_id}

    rec = run(program)
    assert {r.name: r.inputs["host"] for r in rec.of_type("pulumi:providers:docker")} == {
        "split-docker-a": "tcp://10.0.0.1:2375",
        "split-docker-b": "ssh://ops@10.0.0.2",
    }
    for partition in ("a", "b"):
        network = rec.named(f"split-network-{partition}")
        assert network.provider_name == f"split-docker-{partition}"
        assert network.inputs["name"] == "stratos-split"
        assert network.inputs["ipamConfigs"] == [{"subnet": "10.30.0.0/24"}]
    assert rec.value == {
        "ids": {"a": "split-network-a-id", "b": "split-network-b-id"},
        "host": "tcp://10.0.0.1:2375",
        "sg": None,
    }


def test_openstack_partition_resources() -> None:
    def program() -> Any:
        np = ps.NetworkPartition("cloud", CLOUD)
        return {
            "host": np.docker_host,
            "ips": np.host_addresses,
            "sg": np.security_group_id,
            "ids": np.network_ids,
        }

    rec = run(program)
    assert types_and_parents(rec) == {
        ("stratos:index:NetworkPartition", "cloud", "stratos-test-test"),
        ("openstack:networking/network:Network", "cloud-network", "cloud"),
        ("openstack:networking/subnet:Subnet", "cloud-subnet", "cloud"),
        ("openstack:networking/router:Router", "cloud-router", "cloud"),
        ("openstack:networking/routerInterface:RouterInterface", "cloud-router-interface", "cloud"),
        ("openstack:networking/secGroup:SecGroup", "cloud-secgroup", "cloud"),
        ("openstack:networking/secGroupRule:SecGroupRule", "cloud-ssh", "cloud"),
        ("openstack:networking/port:Port", "cloud-host-0-port", "cloud"),
        ("openstack:networking/port:Port", "cloud-host-1-port", "cloud"),
        ("openstack:compute/instance:Instance", "cloud-host-0", "cloud"),
        ("openstack:compute/instance:Instance", "cloud-host-1", "cloud"),
        ("openstack:networking/floatingIp:FloatingIp", "cloud-host-0-ip", "cloud"),
        ("openstack:networking/floatingIp:FloatingIp", "cloud-host-1-ip", "cloud"),
    }
    assert [(c.token, c.args) for c in rec.calls] == [
        ("openstack:networking/getNetwork:getNetwork", {"name": "ext"})
    ]
    assert rec.named("cloud-router").inputs["externalNetworkId"] == "ext-net-id"
    assert rec.named("cloud-subnet").inputs["cidr"] == "10.20.0.0/24"
    assert rec.named("cloud-router-interface").inputs == {
        "routerId": "cloud-router-id",
        "subnetId": "cloud-subnet-id",
    }
    port = rec.named("cloud-host-0-port")
    assert port.inputs["securityGroupIds"] == ["cloud-secgroup-id"]
    assert port.inputs["fixedIps"] == [{"subnetId": "cloud-subnet-id"}]
    host = rec.named("cloud-host-0")
    assert host.inputs["networks"] == [{"port": "cloud-host-0-port-id"}]
    assert (host.inputs["flavorName"], host.inputs["imageName"], host.inputs["keyPair"]) == (
        "m1.small",
        "debian-12",
        "ops",
    )
    ip = rec.named("cloud-host-0-ip")
    assert (ip.inputs["pool"], ip.inputs["portId"]) == ("ext", "cloud-host-0-port-id")
    assert any(d.endswith("::cloud-router-interface") for d in ip.dependencies)
    addresses = rec.value["ips"]
    assert rec.value["host"] == f"ssh://debian@{addresses[0]}"
    assert rec.value["sg"] == "cloud-secgroup-id"
    assert rec.value["ids"] == {"h0": "cloud-network-id"}


def stats_credentials(tmp_path: Path) -> str:
    path = tmp_path / "stats.auth"
    path.write_text("admin:a-long-stats-password\n")
    path.chmod(0o600)
    return str(path)


def test_openstack_security_group_admits_ssh_and_the_listeners_only(tmp_path: Path) -> None:
    def program() -> None:
        np = ps.NetworkPartition("cloud", CLOUD)
        lb = ps.LbClusterArgs(
            name="web",
            network_partition=CLOUD,
            listeners=[
                ps.Listener(proxy_port=8080, port=80),
                ps.Listener(proxy_port=3306, port=3306, protocol="tcp", publish=13306),
            ],
            stats=ps.Stats(enabled=True, credentials_file=stats_credentials(tmp_path)),
            docker_host=np.docker_host,
            security_group_id=np.security_group_id,
        )
        ps.LbCluster("web", lb)

    rec = run(program)
    rules = {
        (
            r.name,
            r.parent_name,
            r.inputs["direction"],
            r.inputs["protocol"],
            r.inputs["portRangeMin"],
            r.inputs["portRangeMax"],
            r.inputs["remoteIpPrefix"],
        )
        for r in rec.of_type("openstack:networking/secGroupRule:SecGroupRule")
    }
    assert rules == {
        ("cloud-ssh", "cloud", "ingress", "tcp", 22, 22, "198.51.100.0/24"),
        ("web-listener-8080", "web", "ingress", "tcp", 8080, 8080, "0.0.0.0/0"),
        ("web-listener-3306", "web", "ingress", "tcp", 13306, 13306, "0.0.0.0/0"),
    }
    assert {
        r.inputs["securityGroupId"] for r in rec.of_type("openstack:networking/secGroupRule:SecGroupRule")
    } == {"cloud-secgroup-id"}
    assert {r.inputs["ethertype"] for r in rec.of_type("openstack:networking/secGroupRule:SecGroupRule")} == {
        "IPv4"
    }


def test_openstack_cloud_init_installs_docker_and_starts_the_agent_on_the_first_host() -> None:
    rec = run(lambda: ps.NetworkPartition("cloud", CLOUD).docker_host)
    first, second = (rec.named(f"cloud-host-{i}").inputs["userData"] for i in (0, 1))
    assert first.startswith("#cloud-config\n")
    config = yaml.safe_load(first)
    assert "docker.io" in config["packages"]
    assert ["usermod", "--append", "--groups", "docker", "debian"] in config["runcmd"]
    assert ["systemctl", "enable", "--now", "stratos-agent.service"] in config["runcmd"]
    assert any(
        "docker network create" in " ".join(cmd) and "stratos-cloud" in " ".join(cmd)
        for cmd in config["runcmd"]
    )
    (unit,) = config["write_files"]
    assert unit["path"] == "/etc/systemd/system/stratos-agent.service"
    exec_start = next(line for line in unit["content"].splitlines() if line.startswith("ExecStart="))
    spec = agent_container.AgentSpec(image="registry.example.org/stratos/agent:1.0")
    assert exec_start.endswith(
        "registry.example.org/stratos/agent:1.0 " + " ".join(agent_container.desired(spec)["command"])
    )
    assert "docker.sock" not in exec_start
    assert "--volume /run/stratos-docker-proxy/stratos-agent:/run/stratos-docker:ro" in exec_start
    assert "--volume /var/lib/stratos:/var/lib/stratos:rw" in exec_start
    assert "--network host" in exec_start
    assert "--user 10001:10001 --read-only" in exec_start
    assert "--cap-drop ALL --security-opt no-new-privileges" in exec_start
    before = [line for line in unit["content"].splitlines() if line.startswith("ExecStartPre=")]
    proxy_run = next(line for line in before if "--name stratos-agent-docker-proxy" in line)
    assert "--volume /var/run/docker.sock:/var/run/docker.sock:rw" in proxy_run
    assert "--network none" in proxy_run and "--cap-add CHOWN --cap-add FOWNER" in proxy_run
    assert any("chown" in line and "--network none" in line for line in before)
    assert before.index(proxy_run) < len(before) - 1
    # After it, the HTTP side: uid 10002, no Docker access, <state>/agent read-only.
    after = [line for line in unit["content"].splitlines() if line.startswith("ExecStartPost=")]
    http_run = next(line for line in after if "--name stratos-agent-http" in line)
    assert (
        "--user 10002:10001 --read-only" in http_run and "docker" not in http_run.split("/usr/bin/docker")[1]
    )
    assert "--volume /var/lib/stratos/agent:/var/lib/stratos/agent:ro" in http_run
    assert http_run.endswith("agent-http --state-dir /var/lib/stratos --bind 127.0.0.1 --port 9464")
    second_config = yaml.safe_load(second)
    assert "write_files" not in second_config and "docker.io" in second_config["packages"]
    assert ["systemctl", "enable", "--now", "stratos-agent.service"] not in second_config["runcmd"]


# --------------------------------------------------------------------------- Cartridge


def test_cartridge_builds_the_core_rendered_context(tmp_path: Path) -> None:
    def program() -> Any:
        c = ps.Cartridge("php", ps.CartridgeArgs(builtin="php", base_image="stratos/debian:bookworm"))
        return {
            "name": c.image_name,
            "digest": c.image_digest,
            "glance": c.glance_image_id,
            "definition": c.definition,
        }

    rec = run(program)
    assert types_and_parents(rec) == {
        ("stratos:index:Cartridge", "php", "stratos-test-test"),
        ("docker:index/image:Image", "php-image", "php"),
    }
    image = rec.named("php-image")
    build_dir = tmp_path / ".stratos-build" / "php"
    assert image.inputs["imageName"] == "stratos/cartridge-php:8.2"
    assert image.inputs["skipPush"] is True
    assert image.inputs["build"] == {
        "context": str(build_dir),
        "dockerfile": str(build_dir / "Dockerfile"),
        "network": "host",
    }
    path = cartridge_file("php")
    spec = CartridgeDefinition.model_validate(yaml.safe_load(path.read_text()))
    context = render_build(CartridgeImage.of(spec, path.parent), "stratos/debian:bookworm")
    assert (build_dir / "Dockerfile").read_text() == context.dockerfile
    assert "FROM stratos/debian:bookworm" in context.dockerfile
    for f in context.files:
        assert (build_dir / f.name).read_bytes() == f.data
        assert (build_dir / f.name).stat().st_mode & 0o777 == f.mode
    assert rec.value == {
        "name": "stratos/cartridge-php:8.2",
        "digest": "sha256:php-image",
        "glance": None,
        "definition": dump_definition(spec),
    }


def test_cartridge_default_base_is_the_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("STRATOS_BASE_IMAGE", raising=False)
    run(lambda: ps.Cartridge("mysql", ps.CartridgeArgs(builtin="mysql")).image_name)
    assert (tmp_path / ".stratos-build/mysql/Dockerfile").read_text().count("FROM debian:bookworm-slim") == 1


def test_cartridge_with_a_reference_pulls_it_and_uploads_to_glance() -> None:
    def program() -> Any:
        c = ps.Cartridge(
            "php",
            ps.CartridgeArgs(
                builtin="php",
                image_ref="registry.example.org/php:8.2",
                docker_host="ssh://debian@203.0.113.5",
                glance=ps.Glance(local_file_path="/srv/php.tar"),
            ),
        )
        return {"digest": c.image_digest, "glance": c.glance_image_id, "definition": c.definition}

    rec = run(program)
    assert types_and_parents(rec) == {
        ("stratos:index:Cartridge", "php", "stratos-test-test"),
        ("pulumi:providers:docker", "php-docker", "php"),
        ("docker:index/remoteImage:RemoteImage", "php-image", "php"),
        ("openstack:images/image:Image", "php-glance", "php"),
    }
    remote = rec.named("php-image")
    assert (remote.inputs["name"], remote.provider_name) == ("registry.example.org/php:8.2", "php-docker")
    glance = rec.named("php-glance")
    assert glance.inputs["name"] == "registry.example.org/php:8.2"
    assert (glance.inputs["containerFormat"], glance.inputs["diskFormat"]) == ("docker", "raw")
    assert glance.inputs["localFilePath"] == "/srv/php.tar"
    assert any(d.endswith("::php-image") for d in glance.dependencies)
    assert rec.value["glance"] == "php-glance-id"
    assert yaml.safe_load(rec.value["definition"])["image"] == {"ref": "registry.example.org/php:8.2"}


# --------------------------------------------------------------------------- LbCluster


def test_lb_cluster_haproxy_container() -> None:
    php = ps.CartridgeArgs(builtin="php")

    def program() -> Any:
        lb = ps.LbCluster("web", ps.LbClusterArgs(**WEB, cartridges=[php]))
        return {"url": lb.url, "urls": lb.urls, "id": lb.container_id}

    rec = run(program)
    assert types_and_parents(rec) == {
        ("stratos:index:LbCluster", "web", "stratos-test-test"),
        ("pulumi:providers:docker", "web-docker", "web"),
        ("docker:index/container:Container", "web-haproxy", "web"),
    }
    assert rec.named("web-docker").inputs["host"] == "unix:///var/run/docker.sock"
    container = rec.named("web-haproxy")
    assert container.provider_name == "web-docker"
    inputs = container.inputs
    assert (inputs["name"], inputs["image"], inputs["restart"]) == (
        "stratos-lb-web",
        "stratos/cartridge-haproxy:2.6",
        "unless-stopped",
    )
    assert inputs["ports"] == [{"internal": 8080, "external": 8080, "ip": "0.0.0.0", "protocol": "tcp"}]
    assert inputs["networksAdvanced"] == [{"name": "stratos-local", "aliases": ["stratos-lb-web"]}]
    assert inputs["volumes"] == [
        {"hostPath": "/var/lib/stratos/lb/web/run", "containerPath": "/run/stratos-lb"}
    ]
    lb = LbClusterDefinition(
        name="web", network_partition="local", listeners=[{"proxy_port": 8080, "port": 80}]
    )
    config = upload(container, "/usr/local/etc/stratos/haproxy.cfg")
    assert config == lbconfig.render_config(lb, {8080: "/stratos-health"})
    assert "http-check send meth GET uri /stratos-health" in config
    assert upload(container, "/run/stratos-lb/server-state") == "1\n"
    labels = label_map(container)
    assert {
        k: labels[k] for k in ("org.stratos.role", "org.stratos.lb-cluster", "org.stratos.network-partition")
    } == {
        "org.stratos.role": "lb",
        "org.stratos.lb-cluster": "web",
        "org.stratos.network-partition": "local",
    }
    assert len(labels["org.stratos.config-hash"]) == 64
    assert rec.value == {
        "url": "http://localhost:8080/",
        "urls": ["http://localhost:8080/"],
        "id": "web-haproxy-id",
    }


def test_lb_cluster_publish_stats_and_remote_host(tmp_path: Path) -> None:
    args = ps.LbClusterArgs(
        name="edge",
        network_partition=TWO_HOSTS,
        listeners=[
            ps.Listener(proxy_port=3306, port=3306, protocol="tcp"),
            ps.Listener(proxy_port=8080, port=80, publish=9090),
        ],
        stats=ps.Stats(enabled=True, port=8404, credentials_file=stats_credentials(tmp_path)),
        bind_address="192.0.2.1",
        image="haproxy:custom",
    )

    def program() -> Any:
        lb = ps.LbCluster("edge", args)
        return {"url": lb.url, "urls": lb.urls}

    rec = run(program)
    container = rec.named("edge-haproxy")
    assert container.inputs["image"] == "haproxy:custom"
    assert {(p["internal"], p["external"], p["ip"]) for p in container.inputs["ports"]} == {
        (3306, 3306, "192.0.2.1"),
        (8080, 9090, "192.0.2.1"),
        (8404, 8404, "127.0.0.1"),
    }
    from pulumi.runtime import rpc

    uploads = container.inputs["uploads"]  # the configuration holds the stats password: a secret
    assert uploads[rpc._special_sig_key] == rpc._special_secret_sig
    assert uploads["value"][0]["permissions"] == "0600"
    assert rec.named("edge-docker").inputs["host"] == "tcp://10.0.0.1:2375"
    assert rec.value == {
        "url": "http://10.0.0.1:9090/",
        "urls": ["tcp://10.0.0.1:3306", "http://10.0.0.1:9090/"],
    }


# --------------------------------------------------------------------------- Application


def seed_application(**extra: Any) -> ps.ApplicationArgs:
    php, mysql = ps.CartridgeArgs(builtin="php"), ps.CartridgeArgs(builtin="mysql")
    spread = ps.DeploymentPolicy(
        name="spread",
        network_partitions=[
            ps.NetworkPartitionRef(
                name="local",
                partitions=[ps.PartitionRef(name="p1", max=2), ps.PartitionRef(name="p2", max=2)],
            )
        ],
    )
    single = ps.DeploymentPolicy(
        name="single",
        network_partitions=[ps.NetworkPartitionRef(name="local", partitions=[ps.PartitionRef(name="p2")])],
    )
    return ps.ApplicationArgs(
        subscriptions=[
            ps.Subscription(alias="db", cartridge="mysql", deployment_policy="single"),
            ps.Subscription(
                alias="web",
                cartridge="php",
                min=2,
                max=4,
                deployment_policy="spread",
                lb_cluster="web",
                links=["db"],
            ),
        ],
        cartridges=[php, mysql],
        deployment_policies=[spread, single],
        lb_clusters=[WEB],
        **extra,  # type: ignore[typeddict-item]
    )


def test_application_agent_container_and_protected_volume() -> None:
    def program() -> Any:
        app = ps.Application("shop", seed_application())
        return {
            "agent": app.agent_container_id,
            "volumes": app.volume_names,
            "links": app.links,
            "order": app.startup_order,
            "files": app.definition_files,
        }

    rec = run(program)
    assert types_and_parents(rec) == {
        ("stratos:index:Application", "shop", "stratos-test-test"),
        ("pulumi:providers:docker", "shop-docker-local-p2", "shop"),
        ("docker:index/container:Container", "shop-agent", "shop"),
        ("docker:index/container:Container", "shop-agent-http", "shop"),
        ("docker:index/container:Container", "shop-docker-proxy", "shop"),
        ("docker:index/container:Container", "shop-state-owner", "shop"),
        ("docker:index/volume:Volume", "shop-db-data", "shop"),
    }
    # The agent goes where the first subscription's policy starts (p2); p1 shares its socket.
    assert rec.named("shop-docker-local-p2").inputs["host"] == "unix:///var/run/docker.sock"
    agent = rec.named("shop-agent")
    assert agent.provider_name == "shop-docker-local-p2"
    spec = agent_container.AgentSpec()
    want = agent_container.desired(spec)
    assert agent.inputs["name"] == "stratos-agent"
    assert agent.inputs["image"] == spec.image_ref
    assert agent.inputs["command"] == want["command"]
    assert agent.inputs["networkMode"] == "host"
    assert agent.inputs["restart"] == "unless-stopped"
    assert agent.inputs["envs"] == ["STRATOS_STATE_DIR=/var/lib/stratos", "HOME=/tmp"]
    # Unprivileged, read-only, and the Docker proxy's socket instead of the engine's.
    assert agent.inputs["user"] == "10001:10001"
    assert agent.inputs["readOnly"] is True
    assert agent.inputs["capabilities"] == {"drops": ["ALL"]}
    assert agent.inputs["securityOpts"] == ["no-new-privileges"]
    assert {(v["hostPath"], v["containerPath"], v.get("readOnly")) for v in agent.inputs["volumes"]} == {
        ("/run/stratos-docker-proxy/stratos-agent", "/run/stratos-docker", True),
        ("/var/lib/stratos", "/var/lib/stratos", False),
    }
    proxy = rec.named("shop-docker-proxy")
    assert proxy.provider_name == "shop-docker-local-p2"
    assert proxy.inputs["name"] == "stratos-agent-docker-proxy"
    assert proxy.inputs["networkMode"] == "none"
    assert proxy.inputs["capabilities"] == {"drops": ["ALL"], "adds": ["CHOWN", "FOWNER"]}
    assert ("/var/run/docker.sock", "/var/run/docker.sock") in {
        (v["hostPath"], v["containerPath"]) for v in proxy.inputs["volumes"]
    }
    assert label_map(proxy)["org.stratos.role"] == "docker-proxy"
    # The webhook, /metrics and /status: uid 10002, no Docker access, <state>/agent read-only but
    # for triggers/ and http/; the agent itself serves no HTTP.
    assert want["command"][-2:] == ["--metrics-port", "0"]
    http = rec.named("shop-agent-http")
    assert http.provider_name == "shop-docker-local-p2"
    assert http.inputs["name"] == "stratos-agent-http"
    assert http.inputs["command"] == [
        "agent-http",
        "--state-dir",
        "/var/lib/stratos",
        "--bind",
        "127.0.0.1",
        "--port",
        "9464",
    ]
    assert (http.inputs["user"], http.inputs["readOnly"], http.inputs["networkMode"]) == (
        "10002:10001",
        True,
        "host",
    )
    assert http.inputs["capabilities"] == {"drops": ["ALL"]}
    assert {(v["hostPath"], v["containerPath"], v.get("readOnly")) for v in http.inputs["volumes"]} == {
        ("/var/lib/stratos/agent", "/var/lib/stratos/agent", True),
        ("/var/lib/stratos/agent/http", "/var/lib/stratos/agent/http", False),
        ("/var/lib/stratos/agent/triggers", "/var/lib/stratos/agent/triggers", False),
    }
    assert label_map(http)["org.stratos.role"] == "agent-http"
    owner = rec.named("shop-state-owner")
    assert owner.inputs["attach"] is True
    assert owner.inputs["capabilities"] == {
        "drops": ["ALL"],
        "adds": ["CHOWN", "DAC_READ_SEARCH", "FOWNER", "FSETID"],
    }
    assert owner.inputs["command"][-8:-7] == ["/var/lib/stratos"]
    labels = label_map(agent)
    assert labels["org.stratos.role"] == "agent"
    assert labels["org.stratos.config-hash"] == agent_container.config_hash(spec)
    assert labels["org.stratos.application"] == "shop"
    assert (
        {u["file"] for u in agent.inputs["uploads"]}
        == set(rec.value["files"])
        == {
            "/var/lib/stratos/definitions/applications/shop.yml",
            "/var/lib/stratos/definitions/cartridges/mysql.yml",
            "/var/lib/stratos/definitions/cartridges/php.yml",
            "/var/lib/stratos/definitions/deployment_policies/single.yml",
            "/var/lib/stratos/definitions/deployment_policies/spread.yml",
            "/var/lib/stratos/definitions/lb_clusters/web.yml",
            "/var/lib/stratos/definitions/network_partitions/local.yml",
        }
    )
    volume = rec.named("shop-db-data")
    assert volume.inputs["name"] == "stratos-shop-db-data"
    assert (volume.protect, volume.retain_on_delete) == (True, True)
    assert label_map(volume)["org.stratos.subscription"] == "db"
    assert rec.value["volumes"] == ["stratos-shop-db-data"]
    assert rec.value["links"] == {"db": [], "web": ["db"]}
    assert rec.value["order"] == ["db", "web"]
    assert rec.value["agent"] == "shop-agent-id"


def test_application_volumes_unprotected_on_request_and_agent_settings() -> None:
    agent = ps.Agent(
        image="stratos/agent:dev",
        state_dir="/srv/stratos",
        interval=2,
        environment={"STRATOS_BASE_IMAGE": "b"},
        http_bind="127.0.0.2",
        http_port=9500,
    )
    rec = run(
        lambda: (
            ps.Application("shop", seed_application(protect_volumes=False, agent=agent)).agent_container_id
        )
    )
    volume = rec.named("shop-db-data")
    assert (volume.protect, volume.retain_on_delete) == (False, False)
    container = rec.named("shop-agent")
    assert container.inputs["image"] == "stratos/agent:dev"
    assert container.inputs["command"] == [
        "agent",
        "--state-dir",
        "/srv/stratos",
        "--interval",
        "2",
        "--metrics-port",
        "0",
    ]
    assert rec.named("shop-agent-http").inputs["command"] == [
        "agent-http",
        "--state-dir",
        "/srv/stratos",
        "--bind",
        "127.0.0.2",
        "--port",
        "9500",
    ]
    # Without the split the agent serves HTTP itself, where it was asked to, and no HTTP side runs.
    unsplit = ps.Agent(state_dir="/srv/stratos", http_split=False, http_port=9500)
    rec2 = run(lambda: ps.Application("shop", seed_application(agent=unsplit)).agent_container_id)
    assert rec2.named("shop-agent").inputs["command"][-4:] == [
        "--bind",
        "127.0.0.1",
        "--metrics-port",
        "9500",
    ]
    assert not [r for r in rec2.resources if r.name == "shop-agent-http"]
    assert sorted(container.inputs["envs"]) == [
        "HOME=/tmp",
        "STRATOS_BASE_IMAGE=b",
        "STRATOS_STATE_DIR=/srv/stratos",
    ]
    assert all(u["file"].startswith("/srv/stratos/definitions/") for u in container.inputs["uploads"])


def test_application_on_openstack_hands_files_to_the_cloud_init_agent() -> None:
    cloud = ps.NetworkPartitionArgs(**{**CLOUD, "openstack": ps.OpenStackSettings(hosts=1)})
    args = mysql_on(
        cloud,
        agent=ps.Agent(
            image="registry.example.org/stratos/agent:1.0", docker_host="ssh://debian@203.0.113.9"
        ),
    )

    def program() -> Any:
        app = ps.Application("shop", args)
        return {"agent": app.agent_container_id, "carrier": app.definitions_container_id}

    rec = run(program)
    assert types_and_parents(rec) == {
        ("stratos:index:Application", "shop", "stratos-test-test"),
        ("pulumi:providers:docker", "shop-docker-agent", "shop"),
        ("docker:index/container:Container", "shop-definitions", "shop"),
        ("docker:index/volume:Volume", "shop-db-data", "shop"),
    }
    assert rec.named("shop-docker-agent").inputs["host"] == "ssh://debian@203.0.113.9"
    carrier = rec.named("shop-definitions")
    assert (carrier.inputs["start"], carrier.inputs["mustRun"]) == (False, False)
    assert carrier.inputs["volumes"] == [
        {"hostPath": "/var/lib/stratos", "containerPath": "/var/lib/stratos"}
    ]
    assert carrier.inputs["image"] == "registry.example.org/stratos/agent:1.0"
    assert rec.named("shop-db-data").provider_name == "shop-docker-agent"
    assert rec.value == {"agent": None, "carrier": "shop-definitions-id"}


def test_outputs_match_the_annotated_attributes(monkeypatch: pytest.MonkeyPatch) -> None:
    registered: dict[str, list[str]] = {}
    original = pulumi.ComponentResource.register_outputs

    def spy(self: pulumi.ComponentResource, outputs: Any) -> None:
        registered[type(self).__name__] = sorted(outputs)
        original(self, outputs)

    monkeypatch.setattr(pulumi.ComponentResource, "register_outputs", spy)

    def program() -> None:
        ps.NetworkPartition("local", LOCAL)
        ps.Cartridge("php", ps.CartridgeArgs(builtin="php", image_ref="php:8.2"))
        ps.LbCluster("web", WEB)
        ps.Application("shop", seed_application())

    run(program)
    assert registered == {c.__name__: sorted(c.__annotations__) for c in ps.COMPONENTS}
