"""The agent for real: definitions in a state directory become members behind a real HAProxy.

One platform per module (its own state dir, network, LB container, application): a mysql ``db``
linked from a php ``web`` (min 2) behind LB cluster on an unusual port, the seed demo's PHP app
deployed from a local git repository. ``stratos agent --once`` brings it up; then the agent loop
runs in a thread (interval 1s) while the tests kill, scale and reload. Figures (start-to-healthy,
replace time, requests/s) are printed, never asserted. Everything is removed at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import support
import yaml
from support import free_port, http_get, stratos_command, wait_for

from stratos import builtin, images
from stratos import status as statuslib
from stratos.agent.events import Event, EventStore
from stratos.agent.loop import Agent, AgentConfig
from stratos.drivers import docker as dockerlib
from stratos.drivers import haproxy, members, network
from stratos.lb import config as lbconfig
from stratos.model import KINDS
from stratos.store import StateStore
from stratos.validation import parse_definition

if TYPE_CHECKING:
    import docker

pytestmark = [pytest.mark.docker, pytest.mark.scenario, pytest.mark.timeout(900)]

REPO = Path(__file__).resolve().parents[2]
SEED = REPO / "examples" / "seed-demo"


@dataclass
class Platform:
    client: docker.DockerClient
    store: StateStore
    app: str
    lb: str
    port: int
    network: str
    figures: dict[str, str]
    agent: Agent | None = None
    stop: threading.Event | None = None
    thread: threading.Thread | None = None

    def runtime(self) -> haproxy.Runtime:
        return haproxy.runtime(self.store, self.lb)

    def status(self) -> dict[str, Any]:
        data = statuslib.read_status(self.store)
        return data.as_json() if data is not None else {}

    def sub(self, alias: str) -> dict[str, Any]:
        return dict(
            ((self.status().get("applications") or {}).get(self.app) or {})
            .get("subscriptions", {})
            .get(alias)
            or {}
        )

    def containers(self, alias: str | None = None) -> list[Any]:
        labels = {dockerlib.STATE_ID: dockerlib.state_id(self.store.root), dockerlib.APPLICATION: self.app}
        if alias:
            labels[dockerlib.SUBSCRIPTION] = alias
        return list(self.client.containers.list(filters={"label": dockerlib.label_filter(labels)}))

    def serving(self) -> list[str]:
        return sorted(s.name for s in self.runtime().servers_state(lbconfig.backend_name(8080)) if s.serving)

    def get(self, path: str = "/") -> tuple[int, str]:
        return http_get("127.0.0.1", self.port, path)

    def start_loop(self, interval: float = 1.0) -> None:
        self.stop = threading.Event()
        self.agent = Agent(
            self.store,
            docker=dockerlib.ClientPool(),
            events=EventStore(self.store.database),
            config=AgentConfig(interval=interval, drain_timeout=10),
        )
        self.thread = threading.Thread(target=self.agent.run, kwargs={"stop": self.stop}, daemon=True)
        self.thread.start()

    def stop_loop(self) -> None:
        if self.stop is not None and self.thread is not None:
            self.stop.set()
            self.thread.join(timeout=120)
            assert self.agent is not None
            self.agent.docker.close()

    def pid(self) -> tuple[str, int]:
        info = self.runtime().info()
        return info["Pid"], int(info["Uptime_sec"])


def definitions(app: str, lb: str, net: str, port: int, repo: Path) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in sorted(SEED.glob("*.yml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    for name in ("php", "mysql", "haproxy"):
        docs.append(yaml.safe_load(builtin.cartridge_file(name).read_text()))
    for doc in docs:
        if doc["kind"] == "NetworkPartition":
            doc["network"] = {"name": net}
        elif doc["kind"] == "LbCluster":
            doc["name"] = lb
            doc["bind_address"] = "127.0.0.1"
            doc["listeners"] = [{"proxy_port": 8080, "port": 80, "publish": port}]
        elif doc["kind"] == "Application":
            doc["name"] = app
            for sub in doc["subscriptions"]:
                # The counts here come from recorded 'scale' events; test_autoscale.py scales by load.
                sub.pop("autoscaling_policy", None)
                if sub.get("lb_cluster"):
                    sub["lb_cluster"] = lb
                if sub.get("artifact"):
                    sub["artifact"]["url"] = f"file://{repo}"
    order = list(KINDS)  # each kind after the kinds it refers to
    return sorted(docs, key=lambda d: order.index(d["kind"]))


@pytest.fixture(scope="module")
def built(standard_images: dict[str, images.ImageResult]) -> None:
    """The three standard cartridge images, built or found up to date (conftest.py's fixtures)."""


@pytest.fixture(scope="module")
def platform(
    docker_client: docker.DockerClient, built: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Platform]:
    suffix = uuid.uuid4().hex[:6]
    app, lb, net = f"test-{suffix}", f"test-{suffix}", f"stratos-test-agent-{suffix}"
    root = tmp_path_factory.mktemp("agent")
    repo = root / "state" / "git" / "repo"  # file:// is allowed under <state>/git by default
    shutil.copytree(SEED / "app", repo)
    support.new_repository(repo, {}, "v1")  # the seed app's files, copied there
    store = StateStore(root / "state")
    store.ensure()
    port = free_port(18080)
    for doc in definitions(app, lb, net, port, repo):
        store.apply(store.plan_put(parse_definition(doc)))
    ds = store.load()
    np = ds.network_partitions["local"]
    p = Platform(docker_client, store, app, lb, port, net, {})
    try:
        network.ensure_network(docker_client, np)
        change = haproxy.ensure_lb_container(docker_client, ds.lb_clusters[lb], np, store)
        assert change.action == "create"
        yield p
    finally:
        p.stop_loop()
        for container in p.containers():
            container.remove(force=True)
        haproxy.remove_lb_container(docker_client, lb)
        members.purge_volumes(docker_client, app)
        try:
            docker_client.networks.get(net).remove()
        except Exception:  # noqa: BLE001 - best effort
            pass
        if p.figures:
            print("\nagent figures: " + json.dumps(p.figures, indent=1))


def stratos(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(stratos_command(*args), capture_output=True, text=True, timeout=300, check=False)


# --------------------------------------------------------------------------- the configuration, checked by HAProxy 2.6


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"algorithm": "leastconn", "retries": 0},
        {"algorithm": "source", "sticky": {"enabled": True}},
        {
            "listeners": [
                {"proxy_port": 3307, "port": 3306, "protocol": "tcp"},
                {"proxy_port": 8080, "port": 80},
            ]
        },
        {
            "stats": {"enabled": True, "port": 9000, "credentials_file": "/run/stats.auth"},
            "health_check": {"enabled": False},
        },
    ],
    ids=["defaults", "leastconn", "source-sticky", "tcp-and-http", "stats-no-checks"],
)
def test_rendered_configurations_are_valid_haproxy(
    docker_client: docker.DockerClient, built: None, tmp_path: Path, fields: dict[str, Any]
) -> None:
    from stratos.model import LbCluster

    data: dict[str, Any] = {
        "name": "t",
        "network_partition": "n",
        "listeners": [{"proxy_port": 8080, "port": 80}],
    }
    lb = LbCluster.model_validate({**data, **fields})
    auth = "admin:a-long-stats-password" if lb.stats.enabled else None
    (tmp_path / "haproxy.cfg").write_text(
        lbconfig.render_config(lb, {8080: "/stratos-health"}, stats_auth=auth)
    )
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "server-state").write_text("1\n")
    output = docker_client.containers.run(
        haproxy.lb_image(),
        entrypoint=["haproxy"],
        command=["-c", "-f", f"{lbconfig.CONF_DIR}/haproxy.cfg"],
        volumes=[f"{tmp_path}:{lbconfig.CONF_DIR}:ro", f"{tmp_path / 'run'}:{lbconfig.RUN_DIR}:rw"],
        name=f"stratos-test-cfg-{uuid.uuid4().hex[:8]}",
        remove=True,
        stderr=True,
    )
    text = output.decode()
    assert "Configuration file is valid" in text
    assert "WARNING" not in text.upper(), text


# --------------------------------------------------------------------------- the tests, in order


def test_lb_container_is_idempotent(platform: Platform) -> None:
    ds = platform.store.load()
    lb = ds.lb_clusters[platform.lb]
    change = haproxy.ensure_lb_container(platform.client, lb, ds.network_partitions["local"], platform.store)
    assert change.action == "none"
    assert platform.runtime().servers_state() == []


def test_agent_once_brings_up_db_then_web(platform: Platform) -> None:
    state = str(platform.store.root)
    dry = stratos("agent", "--state-dir", state, "--once", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.startswith(f"start {platform.app}/db in local/p1")
    assert platform.containers() == []

    began = time.monotonic()
    first = stratos("agent", "--state-dir", state, "--once")
    assert first.returncode == 0, first.stderr
    assert platform.sub("db")["ready"] is True
    assert platform.sub("web")["members"] == []
    second = stratos("agent", "--state-dir", state, "--once")
    assert second.returncode == 0, second.stderr
    platform.figures["bring-up, two --once ticks (db then 2 web), s"] = f"{time.monotonic() - began:.1f}"
    web = platform.sub("web")
    assert (web["healthy"], web["in_lb"], web["ready"]) == (2, 2, True)
    assert sorted(m["partition"] for m in web["members"]) == ["local/p1", "local/p2"]
    assert len(platform.serving()) == 2

    events = EventStore(platform.store.database).events(platform.app, limit=100)
    healthy = {e.subscription: e.details["seconds"] for e in events if e.kind == "healthy"}
    platform.figures["start-to-healthy mysql, s"] = str(healthy["db"])
    platform.figures["start-to-healthy php (last of 2), s"] = str(healthy["web"])

    listed = stratos("status", "--state-dir", state)
    assert f"{platform.app}  web" in listed.stdout


def test_round_robin_through_the_lb_with_the_database_link(platform: Platform) -> None:
    served: dict[str, int] = {}
    visits = []
    for _ in range(10):
        code, body = platform.get()
        assert code == 200, body
        lines = dict(line.split(": ", 1) for line in body.strip().splitlines())
        served[lines["member"]] = served.get(lines["member"], 0) + 1
        visits.append(int(lines["visits"]))
        assert lines["release"] == "v1"
    assert sorted(served) == sorted(platform.serving())
    assert list(served.values()) == [5, 5]
    assert visits == sorted(visits) and len(set(visits)) == 10


def test_links_arrive_as_environment_and_a_private_file(platform: Platform) -> None:
    password = platform.store.secret(platform.app, "db", "password", create=False)
    web = platform.containers("web")[0]
    env = dict(item.split("=", 1) for item in web.attrs["Config"]["Env"])
    assert env["DB_HOST"] == f"db.{platform.app}"
    assert (env["DB_PORT"], env["DB_NAME"], env["DB_USER"]) == ("3306", "shop", "shop")
    assert env["DB_PASSWORD_FILE"] == "/run/stratos/secrets/db_password"
    code, out = web.exec_run(["stat", "-c", "%a %U", "/run/stratos/links/db.env"])
    assert (code, out.decode().strip()) == (0, "600 root")
    code, out = web.exec_run(["cat", "/run/stratos/links/db.env"])
    assert f"DB_PASSWORD={password}" in out.decode()
    for container in platform.containers():
        container.reload()
        assert all(password not in item for item in container.attrs["Config"]["Env"])
        assert password not in container.logs().decode(errors="replace")
    assert password not in platform.store.status_file.read_text()
    assert password not in json.dumps(
        [e.__dict__ for e in EventStore(platform.store.database).events(limit=500)]
    )


def test_a_killed_member_is_replaced_without_reload(platform: Platform) -> None:
    platform.start_loop(interval=1.0)
    pid, _ = platform.pid()
    victim = platform.containers("web")[0]
    victim_id = victim.labels[dockerlib.MEMBER_ID]
    errors, requests = 0, 0
    stop = threading.Event()

    def traffic() -> None:
        nonlocal errors, requests
        while not stop.is_set():
            try:
                code, _ = platform.get()
                errors += code != 200
            except OSError:
                errors += 1
            requests += 1
            time.sleep(0.02)

    load = threading.Thread(target=traffic, daemon=True)
    load.start()
    began = time.monotonic()
    platform.client.api.kill(victim.id)

    def replaced() -> bool:
        serving = platform.serving()
        return len(serving) == 2 and victim_id not in serving

    wait_for("a replacement serving in the LB", replaced, timeout=120)
    elapsed = time.monotonic() - began
    stop.set()
    load.join()
    platform.figures["docker kill -> replacement serving in LB, s"] = f"{elapsed:.1f}"
    platform.figures["failed requests during the replacement"] = f"{errors} of {requests}"
    wait_for("status: web ready", lambda: platform.sub("web").get("ready"), timeout=30)
    assert platform.pid()[0] == pid  # no reload


def test_scaling_up_and_down_changes_membership_without_reload(platform: Platform) -> None:
    pid, uptime = platform.pid()
    events = EventStore(platform.store.database)
    began = time.monotonic()
    events.record(Event(time.time(), platform.app, "web", "scale", 2, 3, ("integration test",)))
    wait_for("3 members in the LB", lambda: len(platform.serving()) == 3, timeout=120)
    platform.figures["scale 2 -> 3 (recorded decision -> serving), s"] = f"{time.monotonic() - began:.1f}"
    began = time.monotonic()
    events.record(Event(time.time(), platform.app, "web", "scale", 3, 2, ("integration test",)))
    wait_for("2 members in the LB", lambda: len(platform.serving()) == 2, timeout=120)
    wait_for("2 web containers", lambda: len(platform.containers("web")) == 2, timeout=60)
    platform.figures["scale 3 -> 2 (drain, del server, stop), s"] = f"{time.monotonic() - began:.1f}"
    new_pid, new_uptime = platform.pid()
    assert new_pid == pid
    assert new_uptime >= uptime


def test_requests_per_second_through_the_lb(platform: Platform) -> None:
    if shutil.which("wrk") is None:  # make deps installs it; only a hand-made setup lacks it
        if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
            pytest.fail("wrk is not installed (Debian package wrk; make deps installs it)")
        pytest.skip("wrk is not installed")
    out = subprocess.run(
        ["wrk", "-t2", "-c16", "-d5s", f"http://127.0.0.1:{platform.port}/"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    rps = next(line.split()[1] for line in out.splitlines() if line.startswith("Requests/sec"))
    non2xx = next((line.split()[-1] for line in out.splitlines() if "Non-2xx" in line), "0")
    platform.figures["requests/s, wrk 16 connections, app page with a MySQL write"] = (
        f"{rps} (non-2xx: {non2xx})"
    )
    code, _ = platform.get("/stratos-health")
    assert code == 200


def test_a_restarted_agent_adopts_instead_of_duplicating(platform: Platform) -> None:
    platform.stop_loop()
    before = sorted(c.name for c in platform.containers())
    fresh = Agent(platform.store, docker=dockerlib.ClientPool(), events=EventStore(platform.store.database))
    result = fresh.tick()
    fresh.docker.close()
    assert result.ok, result.failed
    assert result.plan is not None and [a.kind for a in result.plan.actions] == []
    assert sorted(c.name for c in platform.containers()) == before


def test_a_configuration_change_reloads_and_the_agent_re_adds_members(platform: Platform) -> None:
    ds = platform.store.load()
    lb = ds.lb_clusters[platform.lb].model_copy(update={"retries": 2})
    platform.store.apply(platform.store.plan_put(lb))
    pid, _ = platform.pid()
    change = haproxy.ensure_lb_container(platform.client, lb, ds.network_partitions["local"], platform.store)
    assert change.action == "reload"
    wait_for("a new HAProxy worker", lambda: platform.pid()[0] != pid, timeout=30)
    assert platform.serving() == []  # servers added at run time do not survive a reload
    began = time.monotonic()
    platform.start_loop(interval=1.0)
    wait_for("members back in the LB", lambda: len(platform.serving()) == 2, timeout=60)
    platform.figures["reload -> members re-added, s"] = f"{time.monotonic() - began:.1f}"
    code, _ = platform.get()
    assert code == 200


def test_sigterm_ends_the_agent_cleanly(platform: Platform) -> None:
    platform.stop_loop()
    proc = subprocess.Popen(
        stratos_command("agent", "--state-dir", str(platform.store.root), "--interval", "1"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        before = platform.status().get("time", 0)
        wait_for("a tick of the agent process", lambda: platform.status().get("time", 0) > before, timeout=60)
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "stopping" in err
    assert len(platform.serving()) == 2  # its members stay
