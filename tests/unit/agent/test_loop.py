"""The agent's shell with fake Docker, HAProxy and prober: what a tick does, without real I/O or sleeps."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import docker.errors
import pytest
import yaml

from stratos import status
from stratos.agent import metrics
from stratos.agent.events import EventStore
from stratos.agent.loop import Agent, AgentConfig
from stratos.drivers import docker as dockerlib
from stratos.drivers import haproxy
from stratos.drivers.members import ProbeResult
from stratos.errors import DriverError
from stratos.store import StateStore
from stratos.validation import parse_definition


class FakeContainer:
    def __init__(self, client: FakeDocker, name: str, labels: dict[str, str], environment: dict[str, str]):
        self.client = client
        self.id = f"id-{name}"
        self.name = name
        self.status = "running"
        self.labels = labels
        self.environment = environment
        self.address = f"10.0.0.{next(client.addresses)}"

    @property
    def attrs(self) -> dict[str, Any]:
        return {
            "Id": self.id,
            "Name": f"/{self.name}",
            "Created": "2026-11-24T20:00:00Z",
            "Config": {"Labels": self.labels},
            "State": {"Status": self.status, "StartedAt": "2026-11-24T20:00:00Z", "ExitCode": 137},
            "NetworkSettings": {"Networks": {"stratos-local": {"IPAddress": self.address}}},
        }

    def reload(self) -> None:
        pass

    def stop(self, timeout: int = 10) -> None:
        self.status = "exited"

    def remove(self, v: bool = False, force: bool = False) -> None:
        self.client.removed.append(self.name)
        self.client.containers_by_name.pop(self.name, None)


class FakeContainers:
    def __init__(self, client: FakeDocker):
        self.client = client

    def list(self, filters: dict[str, Any] | None = None, **kwargs: Any) -> list[FakeContainer]:
        wanted = dict(item.split("=", 1) for item in (filters or {}).get("label", []))
        return [
            c
            for c in self.client.containers_by_name.values()
            if all(c.labels.get(k) == v for k, v in wanted.items())
        ]

    def get(self, name: str) -> FakeContainer:
        for c in self.client.containers_by_name.values():
            if name in (c.name, c.id):
                return c
        raise docker.errors.NotFound(name)

    def run(self, image: str, **kwargs: Any) -> FakeContainer:
        container = FakeContainer(self.client, kwargs["name"], kwargs["labels"], kwargs["environment"])
        self.client.containers_by_name[container.name] = container
        self.client.runs.append(kwargs)
        return container


class FakeVolumes:
    def __init__(self) -> None:
        self.created: list[str] = []

    def get(self, name: str) -> None:
        if name not in self.created:
            raise docker.errors.NotFound(name)

    def create(self, name: str, labels: dict[str, str]) -> None:
        self.created.append(name)


class FakeApi:
    def create_endpoint_config(self, aliases: list[str]) -> dict[str, Any]:
        return {"Aliases": aliases}


class FakeDocker:
    def __init__(self) -> None:
        self.containers_by_name: dict[str, FakeContainer] = {}
        self.containers = FakeContainers(self)
        self.volumes = FakeVolumes()
        self.api = FakeApi()
        self.addresses = itertools.count(10)
        self.runs: list[dict[str, Any]] = []
        self.removed: list[str] = []

    def close(self) -> None:
        pass


class FakeRuntime(haproxy.Runtime):
    """The runtime API as a dict: backend -> server -> (addr, port, admin state)."""

    def __init__(self) -> None:
        self.servers: dict[str, dict[str, tuple[str, int, int]]] = {"be_8080": {}}
        self.calls: list[str] = []
        self.down = False

    def servers_state(self, backend: str | None = None) -> list[haproxy.ServerState]:
        if self.down:
            raise DriverError("haproxy: runtime API socket does not exist")
        return [
            haproxy.ServerState(be, name, addr, port, 2, admin)
            for be, servers in self.servers.items()
            for name, (addr, port, admin) in servers.items()
            if backend in (None, be)
        ]

    def add_member(self, backend: str, name: str, addr: str, port: int, **kwargs: Any) -> None:
        self.calls.append(f"add {backend}/{name}")
        self.servers[backend][name] = (addr, port, 0)

    def drain_member(self, backend: str, name: str) -> None:
        self.calls.append(f"drain {backend}/{name}")

    def wait_drained(self, backend: str, name: str, timeout: float, poll: float = 0.25) -> bool:
        return True

    def remove_member(
        self, backend: str, name: str, timeout: float = 10.0, poll: float = 0.2, wait: bool = True
    ) -> bool:
        self.calls.append(f"remove {backend}/{name}" + ("" if wait else " (no wait)"))
        self.servers[backend].pop(name, None)
        return True


@pytest.fixture
def setup(tmp_path: Path, definitions_yaml: str) -> tuple[Agent, FakeDocker, FakeRuntime, StateStore]:
    return make_setup(tmp_path, definitions_yaml)


def make_setup(
    tmp_path: Path, definitions_yaml: str, runtime: FakeRuntime | None = None, **agent_options: Any
) -> tuple[Agent, FakeDocker, FakeRuntime, StateStore]:
    """An agent over a state directory holding ``definitions_yaml``, with fake Docker and HAProxy."""
    store = StateStore(tmp_path / "state")
    store.ensure()
    for doc in yaml.safe_load_all(definitions_yaml):
        store.apply(store.plan_put(parse_definition(doc)))
    fake = FakeDocker()
    runtime = runtime or FakeRuntime()
    clock = itertools.count(1_000_000, 1)
    agent = Agent(
        store,
        docker=dockerlib.ClientPool(connect=lambda endpoint: fake),  # type: ignore[arg-type, return-value]
        events=EventStore(store.database),
        runtime_for=lambda lb: runtime,
        prober=lambda address, check, ports: ProbeResult(True, "ok"),
        clock=lambda: float(next(clock)),
        sleep=lambda s: None,
        **{"config": AgentConfig(interval=1), **agent_options},
    )
    return agent, fake, runtime, store


def subscriptions(store: StateStore) -> dict[str, Any]:
    data = status.read_status(store)
    assert data is not None
    return dict(data.as_json()["applications"]["shop"]["subscriptions"])


def test_ticks_bring_up_db_then_web_behind_the_lb(
    setup: tuple[Agent, FakeDocker, FakeRuntime, StateStore],
) -> None:
    agent, fake, runtime, store = setup
    first = agent.tick()
    assert first.ok, first.failed
    assert [r["labels"][dockerlib.SUBSCRIPTION] for r in fake.runs] == ["db"]
    assert fake.volumes.created == ["stratos-shop-db-data"]
    assert subscriptions(store)["db"]["ready"] is True
    assert subscriptions(store)["web"]["waiting_for"] == []  # seen after acting: db is ready now

    second = agent.tick()
    assert second.ok, second.failed
    web_runs = [r for r in fake.runs if r["labels"][dockerlib.SUBSCRIPTION] == "web"]
    assert [r["labels"][dockerlib.PARTITION] for r in web_runs] == ["p1", "p2"]
    assert sorted(runtime.servers["be_8080"]) == sorted(r["name"].removeprefix("stratos-") for r in web_runs)
    web = subscriptions(store)["web"]
    assert (web["healthy"], web["in_lb"], web["ready"]) == (2, 2, True)

    third = agent.tick()
    assert third.plan is not None and third.plan.actions == ()


def test_link_environment_holds_no_secret(setup: tuple[Agent, FakeDocker, FakeRuntime, StateStore]) -> None:
    agent, fake, _, store = setup
    agent.tick()
    agent.tick()
    password = store.secret("shop", "db", "password", create=False)
    web = next(r for r in fake.runs if r["labels"][dockerlib.SUBSCRIPTION] == "web")
    assert web["environment"]["DB_HOST"] == "db.shop"
    assert web["environment"]["DB_PASSWORD_FILE"] == "/run/stratos/secrets/db_password"
    assert all(password not in value for run in fake.runs for value in run["environment"].values())
    assert f"{store.link_file('shop', 'db')}:/run/stratos/links/db.env:ro" in web["volumes"]


def test_a_dead_member_is_taken_out_and_replaced(
    setup: tuple[Agent, FakeDocker, FakeRuntime, StateStore],
) -> None:
    agent, fake, runtime, store = setup
    agent.tick()
    agent.tick()
    victim = next(c for c in fake.containers_by_name.values() if c.labels[dockerlib.SUBSCRIPTION] == "web")
    victim.status = "exited"
    result = agent.tick()
    assert result.ok, result.failed
    member = victim.labels[dockerlib.MEMBER_ID]
    assert f"remove be_8080/{member} (no wait)" in runtime.calls
    assert victim.name in fake.removed
    assert len(runtime.servers["be_8080"]) == 2 and member not in runtime.servers["be_8080"]
    kinds = [e.kind for e in EventStore(store.database).events("shop", "web")]
    assert kinds[-4:] == ["replace", "start", "healthy", "register"]


def test_an_unreachable_lb_fails_nothing_and_registers_later(
    setup: tuple[Agent, FakeDocker, FakeRuntime, StateStore],
) -> None:
    agent, _, runtime, store = setup
    runtime.down = True
    agent.tick()
    agent.tick()
    assert subscriptions(store)["web"]["ready"] is False
    runtime.down = False
    agent.tick()
    assert subscriptions(store)["web"]["ready"] is True


def test_dry_run_changes_nothing(setup: tuple[Agent, FakeDocker, FakeRuntime, StateStore]) -> None:
    agent, fake, _, store = setup
    agent.config.dry_run = True
    result = agent.tick()
    assert result.done == ["start shop/db in local/p1 (0 live member(s), 1 desired (min 1, max 1))"]
    assert fake.runs == []
    assert not store.status_file.exists()


def test_each_tick_leaves_the_metrics_snapshot_for_agent_http(
    setup: tuple[Agent, FakeDocker, FakeRuntime, StateStore],
) -> None:
    agent, _, _, store = setup
    agent.config.dry_run = True
    agent.tick()
    assert not metrics.snapshot_file(store).exists()  # a dry run writes nothing
    agent.config.dry_run = False
    agent.tick()
    agent.tick()
    text = metrics.snapshot_file(store).read_text()
    assert 'stratos_ticks_total{result="ok"} 3.0' in text
    assert 'stratos_members{application="shop",subscription="db"} 1.0' in text


def test_a_failed_tick_is_reported_and_the_loop_goes_on(
    setup: tuple[Agent, FakeDocker, FakeRuntime, StateStore],
) -> None:
    agent, _, _, store = setup
    (store.definitions_dir / "applications" / "shop.yml").write_text("kind: Application\nname: shop\n")
    result = agent.tick()
    assert result.error is not None and "subscriptions" in result.error
    data = status.read_status(store)
    assert data is not None and data.tick.ok is False


def test_run_once_returns_the_tick_outcome(setup: tuple[Agent, FakeDocker, FakeRuntime, StateStore]) -> None:
    agent, *_ = setup
    assert agent.run(once=True) == 0


def test_a_member_that_dies_while_starting_ends_the_wait(
    setup: tuple[Agent, FakeDocker, FakeRuntime, StateStore],
) -> None:
    agent, fake, _, store = setup
    probes: list[str] = []

    def prober(address: str | None, check: object, ports: object) -> ProbeResult:
        probes.append(str(address))
        for container in fake.containers_by_name.values():
            container.status = "exited"
        return ProbeResult(False, "connection refused")

    agent.observer.prober = prober
    result = agent.tick()
    assert result.ok
    assert len(probes) == 4  # the container was seen stopped on the fourth round, not after 38 s
