"""The agent's reactions between ticks, on the real Docker Engine and a real HAProxy 2.6: a reload
or a restart of HAProxy (which drops every server added at run time) is repaired at once, and a
killed member is taken out of HAProxy by the engine's event, without waiting for a tick.

Each test has its own platform (:mod:`autoscale_platform`: a PHP application behind HAProxy, two
members) and drives an in-process agent directly: ticks bring the members up, then the loop does
*not* run, so what repairs or reacts can only be the reaction under test.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from autoscale_platform import Platform, build_images  # noqa: E402
from support import wait_for  # noqa: E402

from stratos.agent.events import EventStore  # noqa: E402
from stratos.agent.loop import Agent, AgentConfig  # noqa: E402
from stratos.drivers import docker as dockerlib  # noqa: E402
from stratos.drivers import haproxy  # noqa: E402
from stratos.errors import DriverError  # noqa: E402

if TYPE_CHECKING:
    import docker

pytestmark = [pytest.mark.docker, pytest.mark.timeout(600)]


def create(client: docker.DockerClient, root: Path) -> Platform:
    """A platform on a port Docker has not given out (other suites may run at the same time)."""
    for attempt in range(5):
        try:
            return Platform.create(
                client,
                root / str(attempt),
                port_start=random.randrange(20000, 40000, 10),
                min_members=2,
                max_members=2,
            )
        except DriverError as exc:
            if "already allocated" not in str(exc):
                raise
    pytest.fail("no free port for the LB after 5 attempts")


@pytest.fixture
def platform(
    docker_client: docker.DockerClient, base_image: str, tmp_path: Path
) -> Iterator[tuple[Platform, Agent]]:
    build_images(docker_client, base_image)
    p = create(docker_client, tmp_path)
    agent = Agent(
        p.store,
        docker=dockerlib.ClientPool(),
        events=EventStore(p.store.database),
        config=AgentConfig(interval=1, drain_timeout=5, lb_watch_interval=0, watch_events=False),
    )
    try:
        for _ in range(10):
            agent.tick()
            if len(p.serving()) == 2:
                break
        assert len(p.serving()) == 2, p.lb_servers()
        yield p, agent
    finally:
        agent.close()
        agent.docker.close()
        p.destroy()


def test_an_haproxy_reload_and_a_restart_get_the_members_back_without_a_tick(
    platform: tuple[Platform, Agent],
) -> None:
    p, agent = platform
    members = p.serving()
    assert agent.check_lbs() == []  # the baseline: Pid and uptime of the running HAProxy
    pid = p.runtime().info()["Pid"]

    # A reload (a configuration change through the IaC path: SIGUSR2, a new worker).
    ds = p.store.load()
    lb = ds.lb_clusters[p.lb].model_copy(update={"retries": 2})
    p.store.apply(p.store.plan_put(lb))
    change = haproxy.ensure_lb_container(p.client, lb, ds.network_partitions["local"], p.store)
    assert change.action == "reload"
    wait_for("a new HAProxy worker", lambda: p.runtime().info()["Pid"] != pid, timeout=30)
    assert agent.check_lbs() == [p.lb]
    wait_for("the members back, no tick", lambda: p.serving() == members, timeout=20)

    # A restart of the container (same Pid inside it; its uptime went back).
    p.client.containers.get(haproxy.container_name(lb)).restart(timeout=5)
    wait_for("HAProxy answers again", p.runtime().available, timeout=30)
    restarted = wait_for("the restart noticed", agent.check_lbs, timeout=10)
    assert restarted == [p.lb]
    wait_for("the members back, no tick", lambda: p.serving() == members, timeout=20)
    kinds = [e.kind for e in EventStore(p.store.database).events("", limit=50)]
    assert kinds.count("lb_restarted") == 2


def test_a_killed_member_leaves_haproxy_on_the_engines_event(platform: tuple[Platform, Agent]) -> None:
    p, agent = platform
    agent.config.watch_events = True
    agent.start_watchers()
    victim = next(c for c in p.containers(running_only=True))
    assert victim.member_id in p.serving()

    p.client.api.kill(victim.id)

    server = wait_for(
        "the killed member in maintenance in HAProxy (no tick runs)",
        lambda: (s := p.lb_servers().get(victim.member_id)) is not None and s.in_maintenance and s,
        timeout=15,
    )
    assert server.in_maintenance
    assert p.serving() == {m for m in p.members() if m != victim.member_id}
    result = agent.tick()  # the woken tick replaces it
    assert result.ok, result.failed
    assert victim.member_id not in p.lb_servers()
