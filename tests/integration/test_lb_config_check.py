"""A configuration HAProxy refuses never replaces the one on disk, whatever the LB container's change.

Real HAProxy 2.6 (the haproxy cartridge image, built by a fixture), real Docker. The reload path
(a running container) already checked with ``haproxy -c`` through ``docker exec``; these cases are
the others: create (no container yet) and recreate (published ports changed), where the new file
used to be written, and the old container removed, before anything checked it.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from support import free_port

from stratos.drivers import haproxy, network
from stratos.errors import DriverError
from stratos.images import ImageResult
from stratos.lb import config as lbconfig
from stratos.model import LbCluster, NetworkPartition
from stratos.store import StateStore

if TYPE_CHECKING:
    import docker

# Not a keyword HAProxy knows: `haproxy -c` refuses the file.
BROKEN = "\nfrontend broken\n    bind :8081\n    no-such-keyword here\n"


@pytest.fixture
def lb_setup(
    docker_client: docker.DockerClient, haproxy_image: ImageResult, tmp_path: Path
) -> Iterator[tuple[LbCluster, NetworkPartition, StateStore, str]]:
    suffix = uuid.uuid4().hex[:8]
    lb = LbCluster.model_validate(
        {
            "name": f"test-{suffix}",
            "network_partition": "local",
            "bind_address": "127.0.0.1",
            "listeners": [{"proxy_port": 8080, "port": 80, "publish": free_port()}],
        }
    )
    np = NetworkPartition.model_validate(
        {
            "name": "local",
            "partitions": [{"name": "p1"}],
            "network": {"name": f"stratos-test-lbcheck-{suffix}"},
        }
    )
    store = StateStore(tmp_path / "state")
    store.ensure()
    network.ensure_network(docker_client, np)
    try:
        yield lb, np, store, haproxy_image.tag
    finally:
        haproxy.remove_lb_container(docker_client, lb.name)
        try:
            docker_client.networks.get(np.network_name()).remove()
        except Exception:  # noqa: BLE001 - best effort
            pass


def _config_path(store: StateStore, lb: LbCluster) -> Path:
    return store.lb_dir(lb.name) / lbconfig.CONFIG_NAME


def _apply_broken(
    docker_client: docker.DockerClient,
    spec: haproxy.LbContainerSpec,
    change: haproxy.LbChange,
    store: StateStore,
) -> None:
    """Apply ``spec`` with a keyword HAProxy does not know added: refused, naming the keyword."""
    bad = dataclasses.replace(spec, config=spec.config + BROKEN)
    with pytest.raises(
        DriverError, match=r"(?s)the new configuration is invalid: .*unknown keyword .no-such-keyword."
    ):
        haproxy.apply_lb_container(docker_client, bad, change, store, wait=10)


def test_create_with_a_refused_configuration_writes_nothing_and_creates_nothing(
    docker_client: docker.DockerClient, lb_setup: tuple[LbCluster, NetworkPartition, StateStore, str]
) -> None:
    lb, np, store, image = lb_setup
    good = "# the configuration that was there before\n"
    _config_path(store, lb).parent.mkdir(parents=True, exist_ok=True)
    _config_path(store, lb).write_text(good)
    spec, change = haproxy.plan_lb_container(docker_client, lb, np, store, image=image)
    assert change.action == "create"
    _apply_broken(docker_client, spec, change, store)

    assert _config_path(store, lb).read_text() == good
    assert haproxy._get(docker_client, spec.name) is None
    assert not list(_config_path(store, lb).parent.glob(".*candidate*"))


def test_recreate_with_a_refused_configuration_keeps_the_running_load_balancer(
    docker_client: docker.DockerClient, lb_setup: tuple[LbCluster, NetworkPartition, StateStore, str]
) -> None:
    lb, np, store, image = lb_setup
    first = haproxy.ensure_lb_container(docker_client, lb, np, store, image=image, wait=30)
    assert first.action == "create"
    good = _config_path(store, lb).read_text()
    before = haproxy._get(docker_client, haproxy.container_name(lb))
    assert before is not None

    moved = lb.model_copy(update={"listeners": [lb.listeners[0].model_copy(update={"publish": free_port()})]})
    spec, change = haproxy.plan_lb_container(docker_client, moved, np, store, image=image)
    assert change.action == "recreate"
    _apply_broken(docker_client, spec, change, store)

    assert _config_path(store, lb).read_text() == good
    after = haproxy._get(docker_client, haproxy.container_name(lb))
    assert after is not None and after.id == before.id
    after.reload()
    assert after.status == "running"
    assert haproxy.runtime(store, lb.name).available()


def test_a_valid_configuration_still_goes_through_the_check(
    docker_client: docker.DockerClient, lb_setup: tuple[LbCluster, NetworkPartition, StateStore, str]
) -> None:
    lb, np, store, image = lb_setup
    spec, change = haproxy.plan_lb_container(docker_client, lb, np, store, image=image)
    haproxy.check_config_in_image(docker_client, image, Path(spec.conf_dir), spec.config)
    with pytest.raises(DriverError, match="no-such-keyword"):
        haproxy.check_config_in_image(docker_client, image, Path(spec.conf_dir), spec.config + BROKEN)
