"""The member runtime interface and its Docker Engine implementation (a fake Docker client)."""

from __future__ import annotations

import inspect
import threading
from typing import Any

import docker.errors
import pytest
import support

from stratos.drivers import docker as dockerlib
from stratos.drivers import runtime
from stratos.drivers.members import MemberSpec
from stratos.validation import DefinitionSet


def labels(member: str = "shop-web-000001") -> dict[str, str]:
    return {
        dockerlib.ROLE: dockerlib.ROLE_MEMBER,
        dockerlib.STATE_ID: "s1",
        dockerlib.APPLICATION: "shop",
        dockerlib.SUBSCRIPTION: "web",
        dockerlib.CARTRIDGE: "php",
        dockerlib.NETWORK_PARTITION: "local",
        dockerlib.PARTITION: "p1",
        dockerlib.MEMBER_ID: member,
        dockerlib.REVISION: "r1",
    }


class Container:
    def __init__(self, name: str, labels: dict[str, str], status: str = "running") -> None:
        self.id = f"id-{name}"
        self.name = name
        self.status = status
        self.labels = labels
        self.removed = False

    @property
    def attrs(self) -> dict[str, Any]:
        return {
            "Id": self.id,
            "Name": f"/{self.name}",
            "Config": {"Labels": self.labels},
            "State": {"Status": self.status, "StartedAt": "2026-11-24T20:00:00Z"},
            "NetworkSettings": {"Networks": {"n": {"IPAddress": "10.0.0.5"}}},
        }

    def reload(self) -> None:
        pass

    def stop(self, timeout: int) -> None:
        self.status = "exited"

    def remove(self, v: bool = False, force: bool = False) -> None:
        self.removed = True


class Containers:
    def __init__(self) -> None:
        self.by_id: dict[str, Container] = {}
        self.filters: list[Any] = []

    def list(self, all: bool = False, filters: dict[str, Any] | None = None) -> list[Container]:
        self.filters.append(filters)
        return list(self.by_id.values())

    def get(self, key: str) -> Container:
        if key not in self.by_id:
            raise docker.errors.NotFound(key)
        return self.by_id[key]

    def run(self, image: str, **kwargs: Any) -> Container:
        container = Container(kwargs["name"], kwargs["labels"])
        self.by_id[container.id] = container
        return container


class Volumes:
    def get(self, name: str) -> None:
        raise docker.errors.NotFound(name)

    def create(self, name: str, labels: dict[str, str]) -> None:
        pass


class Api:
    def __init__(self) -> None:
        self.answer: Any = {"cpu_stats": {}}
        self.stream: list[dict[str, Any]] = []

    def create_endpoint_config(self, aliases: list[str]) -> dict[str, Any]:
        return {"Aliases": aliases}

    def stats(self, container_id: str, stream: bool) -> Any:
        return self.answer


class Client:
    def __init__(self) -> None:
        self.containers = Containers()
        self.volumes = Volumes()
        self.api = Api()
        self.events_stream: list[dict[str, Any]] = []

    def events(self, **kwargs: Any) -> Any:
        return iter(self.events_stream)


@pytest.fixture
def client() -> Client:
    return Client()


@pytest.fixture
def engine(client: Client) -> runtime.DockerEngine:
    return runtime.DockerEngine(dockerlib.ClientPool(connect=lambda endpoint: client), "s1")  # type: ignore[arg-type,return-value]


def test_the_docker_engine_is_a_member_runtime(engine: runtime.DockerEngine) -> None:
    assert isinstance(engine, runtime.MemberRuntime)


@pytest.mark.parametrize(
    "name",
    sorted(
        n for n, v in vars(runtime.MemberRuntime).items() if inspect.isfunction(v) and not n.startswith("_")
    ),
)
def test_the_docker_engine_has_each_method_with_the_protocols_parameters(name: str) -> None:
    wanted = inspect.signature(getattr(runtime.MemberRuntime, name))
    got = inspect.signature(getattr(runtime.DockerEngine, name))
    assert list(got.parameters) == list(wanted.parameters)


def test_endpoints_are_the_default_one_and_each_docker_partitions(
    engine: runtime.DockerEngine, definitions: DefinitionSet
) -> None:
    assert engine.endpoints(definitions) == [dockerlib.DEFAULT_ENDPOINT]


def spec() -> MemberSpec:
    return support.member_spec(labels=labels())


def test_start_list_inspect_and_stop_a_member(engine: runtime.DockerEngine, client: Client) -> None:
    started = engine.start_member(spec(), dockerlib.DEFAULT_ENDPOINT)
    assert (started.member_id, started.address, started.running) == ("shop-web-000001", "10.0.0.5", True)
    assert [m.member_id for m in engine.list_members(dockerlib.DEFAULT_ENDPOINT)] == ["shop-web-000001"]
    assert client.containers.filters[-1] == {
        "label": dockerlib.label_filter({dockerlib.ROLE: dockerlib.ROLE_MEMBER, dockerlib.STATE_ID: "s1"})
    }
    seen = engine.inspect_member(dockerlib.DEFAULT_ENDPOINT, started.container_id)
    assert seen is not None and seen.status == "running"
    engine.stop_member(dockerlib.DEFAULT_ENDPOINT, started.container_id, 1.0)
    assert client.containers.by_id[started.container_id].removed
    assert engine.inspect_member(dockerlib.DEFAULT_ENDPOINT, "id-gone") is None


def test_canaries_are_removed_at_once_and_leftovers_swept(
    engine: runtime.DockerEngine, client: Client
) -> None:
    canary = engine.start_member(spec(), dockerlib.DEFAULT_ENDPOINT)
    engine.remove_member(dockerlib.DEFAULT_ENDPOINT, canary.container_id)
    assert client.containers.by_id[canary.container_id].removed
    left = Container("stratos-shop-web-canary-1", {dockerlib.ROLE: "canary"})
    client.containers.by_id = {left.id: left}
    assert engine.remove_leftovers(dockerlib.DEFAULT_ENDPOINT, "canary") == ["stratos-shop-web-canary-1"]
    assert left.removed
    assert client.containers.filters[-1] == {
        "label": dockerlib.label_filter({dockerlib.ROLE: "canary", dockerlib.STATE_ID: "s1"})
    }


def test_stats_must_be_a_mapping(engine: runtime.DockerEngine, client: Client) -> None:
    assert engine.stats(dockerlib.DEFAULT_ENDPOINT, "c1") == {"cpu_stats": {}}
    client.api.answer = b"not json"
    with pytest.raises(TypeError, match="unexpected answer bytes"):
        engine.stats(dockerlib.DEFAULT_ENDPOINT, "c1")


def test_the_event_watch_hands_member_events_to_the_handler(
    engine: runtime.DockerEngine, client: Client
) -> None:
    def event(action: str, member: str | None = "shop-web-000001") -> dict[str, Any]:
        attributes = {dockerlib.MEMBER_ID: member} if member else {}
        return {"Action": action, "time": 1, "Actor": {"Attributes": attributes}}

    client.events_stream = [event("start"), event("kill"), event("die", None), event("oom")]
    seen: list[tuple[str, str]] = []
    done = threading.Event()
    stop = threading.Event()

    def handle(member: str, action: str) -> None:
        seen.append((member, action))
        if action == "oom":
            done.set()

    watch = engine.watch_events(dockerlib.DEFAULT_ENDPOINT, handle, stop)
    try:
        assert done.wait(5)
    finally:
        watch.close()
    assert stop.is_set()
    assert seen == [("shop-web-000001", "kill"), ("shop-web-000001", "oom")]
