"""The agent container as the drivers make it, on the real Docker Engine: uid 10001, read-only root file
system, no capability, no Docker socket; its Docker calls go through the allow-list proxy, and it still
starts, lists and replaces members (a one-member application of a tiny cartridge) and writes its status
into the state directory it was given."""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
import yaml

from stratos import builtin, images
from stratos.drivers import agent_container as ac
from stratos.drivers import docker as dockerlib
from stratos.drivers import network
from stratos.model import Cartridge
from stratos.store import StateStore
from stratos.validation import parse_definition

REPO = Path(__file__).resolve().parents[2]


def sleeper(base_image: str) -> dict[str, Any]:
    return {
        "kind": "Cartridge",
        "name": "sleeper",
        "display_name": "Sleeper (tests)",
        "description": "Sleeps; healthy when running",
        "version": "0.1",
        "category": "framework",
        "image": {"build": {"command": ["sleep", "infinity"], "tag": "stratos/test-cartridge-sleeper:0.1"}},
        "limits": {"cpus": 0.1, "memory": "32m"},
    }


@pytest.fixture(scope="module")
def agent_image(docker_client: docker.DockerClient, base_image: str) -> str:
    """The agent image of this checkout, and the haproxy cartridge's image the proxy runs."""
    path = builtin.cartridge_file("haproxy")
    cartridge = Cartridge.model_validate(yaml.safe_load(path.read_text()))
    images.build_image(docker_client, cartridge, source_dir=path.parent, base=base_image)
    built = subprocess.run(
        ["bash", str(REPO / "images" / "build-agent-image.sh")],
        env={**os.environ, "STRATOS_BASE_IMAGE": base_image},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    return ac.default_image()


@pytest.fixture()
def platform(
    docker_client: docker.DockerClient,
    docker_names: Callable[[str], str],
    agent_image: str,
    base_image: str,
    tmp_path: Path,
) -> Iterator[tuple[StateStore, ac.AgentSpec, str]]:
    cartridge = Cartridge.model_validate(sleeper(base_image))
    images.build_image(docker_client, cartridge, source_dir=tmp_path, base=base_image)
    net = docker_names("unpriv-net")
    app = f"t{uuid.uuid4().hex[:6]}"
    store = StateStore(tmp_path / "state")
    store.ensure()
    docs = [
        sleeper(base_image),
        {
            "kind": "NetworkPartition",
            "name": "local",
            "provider": "docker",
            "partitions": [{"name": "p1", "endpoint": "unix:///var/run/docker.sock"}],
            "network": {"name": net},
        },
        {
            "kind": "DeploymentPolicy",
            "name": "one",
            "network_partitions": [{"name": "local", "partitions": [{"name": "p1", "max": 1}]}],
        },
        {
            "kind": "Application",
            "name": app,
            "subscriptions": [
                {"alias": "s", "cartridge": "sleeper", "min": 1, "max": 1, "deployment_policy": "one"}
            ],
        },
    ]
    for doc in docs:
        store.apply(store.plan_put(parse_definition(doc)))
    network.ensure_network(docker_client, store.load().network_partitions["local"])
    name = docker_names("unpriv-agent")
    spec = ac.AgentSpec(
        name=name,
        image=agent_image,
        state_dir=str(store.root),
        interval=1,
        restart="no",
        proxy_dir=str(tmp_path / "proxy"),
    )
    try:
        yield store, spec, app
    finally:
        ac.remove_agent(docker_client, name)
        labels = {dockerlib.STATE_ID: dockerlib.state_id(store.root)}
        for container in docker_client.containers.list(
            all=True, filters={"label": dockerlib.label_filter(labels)}
        ):
            container.remove(force=True)


def wait(what: str, check: Callable[[], Any], timeout: float, logs: Callable[[], str]) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"{what} within {timeout:g}s; agent log:\n{logs()}")


def test_the_unprivileged_agent_runs_members_through_the_proxy(
    docker_client: docker.DockerClient, platform: tuple[StateStore, ac.AgentSpec, str]
) -> None:
    store, spec, app = platform
    change = ac.ensure_agent(docker_client, spec)
    assert change.action == "create"
    assert dict(change.companions)[f"{spec.name}-docker-proxy"] == "create"
    agent = docker_client.containers.get(spec.name)

    def logs() -> str:
        return agent.logs(tail=40).decode(errors="replace")

    attrs = agent.attrs
    assert attrs["Config"]["User"] == "10001:10001"
    assert attrs["HostConfig"]["ReadonlyRootfs"] is True
    assert attrs["HostConfig"]["CapDrop"] == ["ALL"]
    assert attrs["HostConfig"]["SecurityOpt"] == ["no-new-privileges"]
    assert not any("docker.sock" in bind for bind in attrs["HostConfig"]["Binds"])

    labels = {dockerlib.STATE_ID: dockerlib.state_id(store.root), dockerlib.APPLICATION: app}

    def members() -> list[Any]:
        return docker_client.containers.list(filters={"label": dockerlib.label_filter(labels)})

    first = wait("the agent started a member", lambda: members(), 30, logs)[0]
    status = wait(
        "the agent reported the member",
        lambda: json.loads(store.status_file.read_text()) if store.status_file.exists() else {},
        30,
        logs,
    )
    assert status["tick"]["ok"], status
    assert store.status_file.stat().st_uid == ac.AGENT_UID
    assert store.database.stat().st_uid == ac.AGENT_UID

    # It replaces a member that dies: it lists, sees it gone, starts another, through the proxy.
    first.kill()
    wait("a replacement member", lambda: [m for m in members() if m.id != first.id], 30, logs)

    # Inside, it is uid 10001 on a read-only root; its Docker endpoint refuses what it does not need.
    probe = (
        "import os, docker; c = docker.from_env(); print(os.getuid(), c.ping());\n"
        "try:\n open('/opt/x', 'w')\nexcept OSError as e: print('ro', e.errno)\n"
        "try:\n c.info()\nexcept docker.errors.APIError as e: print('info', e.status_code)\n"
        "try:\n c.containers.run('busybox', privileged=True, detach=True)\n"
        "except docker.errors.APIError as e: print('privileged', e.status_code)\n"
    )
    code, output = agent.exec_run(["python", "-c", probe])
    assert code == 0, output
    assert output.decode().split() == ["10001", "True", "ro", "30", "info", "403", "privileged", "403"]

    # Nothing to do when asked again.
    assert ac.ensure_agent(docker_client, spec).changed is False
