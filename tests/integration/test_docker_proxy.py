"""The Docker API allow-list (stratos/drivers/docker_proxy.py) on the real Docker Engine: HAProxy from
the haproxy cartridge's image in front of the engine's socket, driven with the docker SDK pointed at
the proxy's socket. What the agent calls works; everything else, and create bodies that ask for more
than a member needs, get 403; the proxy's log holds methods and paths, never bodies."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest
from docker.types import Mount

from stratos.drivers import docker_proxy
from stratos.images import ImageResult

DENIED = "not in the agent's allow-list"


@dataclass
class Proxy:
    client: docker.DockerClient
    container: object
    state_dir: Path
    base_image: str


@pytest.fixture()
def proxy(
    docker_client: docker.DockerClient,
    docker_names: Callable[[str], str],
    haproxy_image: ImageResult,
    base_image: str,
    tmp_path: Path,
) -> Iterator[Proxy]:
    state = tmp_path / "state"
    (state / "releases").mkdir(parents=True)
    spec = docker_proxy.ProxySpec(
        name=docker_names("docker-proxy"),
        image=haproxy_image.tag,
        docker_socket="/var/run/docker.sock",
        socket_dir=str(tmp_path / "sock"),
        state_dir=str(state),
        uid=10001,
        gid=10001,
    )
    container = docker_client.containers.run(haproxy_image.tag, **docker_proxy.run_kwargs(spec))
    socket = tmp_path / "sock" / docker_proxy.SOCKET_NAME
    deadline = time.monotonic() + 20
    while not socket.exists():
        container.reload()
        assert container.status == "running", container.logs().decode()
        assert time.monotonic() < deadline, "the proxy's socket did not appear"
        time.sleep(0.1)
    assert (socket.stat().st_uid, socket.stat().st_gid, socket.stat().st_mode & 0o777) == (
        10001,
        10001,
        0o660,
    )
    client = docker.DockerClient(base_url=f"unix://{socket}", timeout=30)
    try:
        yield Proxy(client, container, state, base_image)
    finally:
        client.close()


def test_the_agents_calls_go_through(proxy: Proxy, docker_names: Callable[[str], str]) -> None:
    client = proxy.client
    assert client.ping() is True
    assert "ApiVersion" in client.version()
    client.images.get(proxy.base_image)
    assert client.networks.list(names=["bridge"])
    tag = uuid.uuid4().hex
    label = f"org.stratos.test={tag}"
    volume = client.volumes.create(name=docker_names("proxy-vol"), labels={"org.stratos.test": tag})
    assert [v.name for v in client.volumes.list(filters={"label": label})] == [volume.name]
    assert client.volumes.get(volume.name).name == volume.name
    (proxy.state_dir / "releases" / "current").mkdir()
    began = int(time.time()) - 1
    member = client.containers.run(
        proxy.base_image,
        ["sleep", "60"],
        name=docker_names("proxy-member"),
        detach=True,
        labels={"org.stratos.test": tag},
        volumes=[f"{proxy.state_dir}/releases:/srv/app:ro", f"{volume.name}:/data:rw"],
        environment={"STRATOS_TEST_SECRET": "s3cr3t-" + tag},
        nano_cpus=int(0.5e9),
        mem_limit="64m",
        network_mode="none",
    )
    member.reload()
    assert member.status == "running"
    assert [c.id for c in client.containers.list(filters={"label": label})] == [member.id]
    stats = client.api.stats(member.id, stream=False)
    assert "memory_stats" in stats
    member.stop(timeout=1)
    member.remove(v=True, force=True)
    volume.remove(force=True)
    seen = {
        e["Action"]
        for e in client.events(since=began, until=int(time.time()) + 1, decode=True, filters={"label": label})
    }
    assert {"create", "start", "die", "destroy"} <= seen, seen

    log = proxy.container.logs().decode()  # type: ignore[attr-defined]
    assert "POST /v" in log and "/containers/create 201" in log, log
    assert "s3cr3t" not in log


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/containers/{id}/exec"),
        ("PUT", "/containers/{id}/archive?path=/tmp"),
        ("GET", "/containers/{id}/archive?path=/etc/hostname"),
        ("GET", "/containers/{id}/export"),
        ("POST", "/containers/{id}/attach?stream=1"),
        ("POST", "/containers/{id}/update"),
        ("POST", "/commit?container={id}"),
        ("GET", "/swarm"),
        ("GET", "/plugins"),
        ("GET", "/secrets"),
        ("GET", "/info"),
        ("POST", "/build"),
        ("POST", "/images/create?fromImage=stratos-test-no-such-image&tag=x"),
        ("DELETE", "/images/stratos-test-no-such-image"),
        ("POST", "/volumes/prune?filters=%7B%22label%22%3A%5B%22stratos-test-none%22%5D%7D"),
        ("POST", "/containers/prune?filters=%7B%22label%22%3A%5B%22stratos-test-none%22%5D%7D"),
        ("POST", "/networks/create"),
        ("POST", "/networks/bridge/connect"),
        ("POST", "/session"),
        ("POST", "/auth"),
    ],
)
def test_everything_else_is_refused(
    proxy: Proxy, docker_names: Callable[[str], str], method: str, path: str
) -> None:
    target = proxy.client.containers.create(proxy.base_image, ["true"], name=docker_names("proxy-target"))
    body = json.dumps({"Cmd": ["id"], "Name": docker_names("proxy-net"), "Container": target.id})
    for prefix in ("", f"/v{proxy.client.api.api_version}"):
        url = f"http+docker://localhost{prefix}{path.format(id=target.id)}"
        response = proxy.client.api.request(
            method, url, data=body, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 403, (method, url, response.status_code, response.text[:200])
        assert DENIED in response.json()["message"]


def _create(proxy: Proxy, name: str, **kwargs: object) -> docker.errors.APIError:
    with pytest.raises(docker.errors.APIError) as caught:
        proxy.client.containers.create(proxy.base_image, ["true"], name=name, **kwargs)
    return caught.value


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"privileged": True}, "privileged"),
        ({"volumes": ["/:/host:rw"]}, "a bind mount outside the state directory"),
        (
            {"volumes": ["/var/run/docker.sock:/var/run/docker.sock"]},
            "a bind mount outside the state directory",
        ),
        ({"volumes": ["{state}/../../..:/host"]}, "a bind mount outside the state directory"),
        ({"volumes": ["{state}-other:/x"]}, "a bind mount outside the state directory"),
        ({"network_mode": "host"}, "host or shared namespace"),
        ({"pid_mode": "host"}, "host or shared namespace"),
        ({"ipc_mode": "host"}, "host or shared namespace"),
        ({"userns_mode": "host"}, "host or shared namespace"),
        ({"cap_add": ["SYS_ADMIN"]}, "added capabilities"),
        ({"devices": ["/dev/sda:/dev/sda"]}, "devices"),
        ({"security_opt": ["apparmor=unconfined"]}, "security options"),
        ({"security_opt": ["seccomp=unconfined"]}, "security options"),
        ({"mounts": [Mount("/host", "/", type="bind")]}, "mounts"),
    ],
    ids=lambda v: v if isinstance(v, str) else next(iter(v)),
)
def test_create_bodies_that_ask_for_the_host_are_refused(
    proxy: Proxy, docker_names: Callable[[str], str], kwargs: dict[str, object], reason: str
) -> None:
    if "volumes" in kwargs:
        kwargs = {"volumes": [v.format(state=proxy.state_dir) for v in kwargs["volumes"]]}  # type: ignore[attr-defined]
    error = _create(proxy, docker_names("proxy-bad"), **kwargs)
    assert error.status_code == 403
    assert reason in str(error.explanation), error.explanation


def test_what_a_member_may_ask_for_is_accepted(proxy: Proxy, docker_names: Callable[[str], str]) -> None:
    created = proxy.client.containers.create(
        proxy.base_image,
        ["true"],
        name=docker_names("proxy-ok"),
        volumes=[f"{proxy.state_dir}/releases:/srv/app:ro"],
        security_opt=["no-new-privileges"],
        environment={"X": "privileged: true, /etc"},
    )
    created.remove()


def _raw_create(proxy: Proxy, name: str, body: object, path: str = "/containers/create") -> tuple[int, str]:
    url = f"http+docker://localhost/v{proxy.client.api.api_version}{path}?name={name}"
    response = proxy.client.api.post(url, data=body, headers={"Content-Type": "application/json"})
    return response.status_code, response.text


def test_escaped_keys_lower_case_keys_chunked_and_oversized_bodies_are_refused(
    proxy: Proxy, docker_names: Callable[[str], str]
) -> None:
    image = proxy.base_image
    # Raw JSON (IMAGE stands for the image): the engine decodes \u0050 to 'P' and matches keys
    # without regard to case.
    raw = {
        "escaped": ('{"Image": "IMAGE", "HostConfig": {"\\u0050rivileged": true}}', "escaped ASCII"),
        "slash": ('{"Image": "IMAGE", "HostConfig": {"Binds": ["\\/:/host"]}}', "escaped ASCII"),
        "lower": ('{"image": "IMAGE", "hostconfig": {"privileged": true}}', "privileged"),
        "spaced": ('{"Image":"IMAGE","HostConfig":{"Privileged" :\n true}}', "privileged"),
    }
    bodies = {what: (text.replace("IMAGE", image), reason) for what, (text, reason) in raw.items()}
    bodies["oversized"] = (
        json.dumps({"Image": image, "Env": ["X=" + "x" * docker_proxy.MAX_BODY]}),
        "Content-Length of at most",
    )
    for what, (body, reason) in bodies.items():
        code, text = _raw_create(proxy, docker_names("proxy-raw"), body)
        assert (code, reason in text) == (403, True), (what, code, text[:300])

    def chunks() -> Iterator[bytes]:
        yield b'{"Image": "' + image.encode() + b'", '
        yield b'"HostConfig": {"Privileged": true}}'

    code, text = _raw_create(proxy, docker_names("proxy-chunked"), chunks())
    assert (code, "Content-Length" in text) == (403, True), (code, text[:300])


def test_volume_driver_options_that_bind_a_host_path_are_refused(
    proxy: Proxy, docker_names: Callable[[str], str]
) -> None:
    for kwargs, reason in (
        ({"driver_opts": {"type": "none", "o": "bind", "device": "/"}}, "driver options"),
        ({"driver": "rclone"}, "a volume driver"),
    ):
        with pytest.raises(docker.errors.APIError) as caught:
            proxy.client.volumes.create(name=docker_names("proxy-badvol"), **kwargs)
        assert caught.value.status_code == 403
        assert reason in str(caught.value.explanation)
