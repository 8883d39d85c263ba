"""HAProxy's statistics page on the real HAProxy 2.6 of the cartridge image: absent by default,
and when an LB definition enables it, behind basic authentication with the credentials of a 0600
file, published on the host's loopback only."""

from __future__ import annotations

import base64
import http.client
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import docker
import pytest
from support import free_port

from stratos.drivers import haproxy
from stratos.images import ImageResult
from stratos.lb import config as lbconfig
from stratos.model import LbCluster, NetworkPartition
from stratos.store import StateStore

pytestmark = pytest.mark.docker

PASSWORD = "stats-password-for-the-test"


@pytest.fixture(scope="module")
def lb_image(haproxy_image: ImageResult) -> str:
    """The LB image: the haproxy cartridge's, built by conftest.py."""
    return haproxy.lb_image()


def get(port: int, auth: str | None = None) -> int:
    headers = {"Authorization": "Basic " + base64.b64encode(auth.encode()).decode()} if auth else {}
    deadline = time.monotonic() + 20
    while True:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/", headers=headers)
            response = conn.getresponse()
            response.read()
            conn.close()
            return response.status
        except (OSError, http.client.HTTPException):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def run_lb(client: docker.DockerClient, image: str, lb: LbCluster, store: StateStore, name: str) -> None:
    """The LB's container as the driver shapes it (its configuration, mounts and published ports)."""
    np = NetworkPartition.model_validate({"name": "local", "partitions": [{"name": "p1"}]})
    spec = haproxy.desired_lb(lb, np, store, {8080: "/stratos-health"}, image=image)
    conf, run = Path(spec.conf_dir), Path(spec.run_dir)
    run.mkdir(parents=True)
    (conf / lbconfig.CONFIG_NAME).write_text(spec.config)
    (conf / lbconfig.CONFIG_NAME).chmod(0o600)
    (run / "server-state").write_text("1\n")
    client.containers.run(
        image, name=name, detach=True, ports=dict(spec.ports.items()), volumes=spec.shape()["mounts"]
    )


def lb_definition(stats: dict[str, Any], proxy_port: int) -> LbCluster:
    return LbCluster.model_validate(
        {
            "name": "statstest",
            "network_partition": "local",
            "bind_address": "127.0.0.1",
            "listeners": [{"proxy_port": 8080, "port": 80, "publish": proxy_port}],
            "stats": stats,
        }
    )


def test_the_stats_page_is_protected_when_enabled(
    docker_client: docker.DockerClient,
    lb_image: str,
    docker_names: Callable[[str], str],
    tmp_path: Path,
) -> None:
    secret = tmp_path / "stats.auth"
    secret.write_text(f"admin:{PASSWORD}\n")
    secret.chmod(0o600)
    stats_port = free_port()
    lb = lb_definition({"enabled": True, "port": stats_port, "credentials_file": str(secret)}, free_port())
    name = docker_names("lbstats")
    run_lb(docker_client, lb_image, lb, StateStore(tmp_path / "state"), name)
    assert get(stats_port) == 401
    assert get(stats_port, "admin:wrong-password-here") == 401
    assert get(stats_port, f"admin:{PASSWORD}") == 200
    published = docker_client.containers.get(name).attrs["HostConfig"]["PortBindings"]
    assert published[f"{stats_port}/tcp"] == [{"HostIp": "127.0.0.1", "HostPort": str(stats_port)}]


def test_no_stats_page_by_default(
    docker_client: docker.DockerClient,
    lb_image: str,
    docker_names: Callable[[str], str],
    tmp_path: Path,
) -> None:
    proxy_port = free_port()
    name = docker_names("lbnostats")
    run_lb(docker_client, lb_image, lb_definition({}, proxy_port), StateStore(tmp_path / "state"), name)
    assert get(proxy_port) == 503  # HAProxy answers, no member yet
    published = docker_client.containers.get(name).attrs["HostConfig"]["PortBindings"]
    assert list(published) == ["8080/tcp"]
    assert "8404/tcp" not in published
