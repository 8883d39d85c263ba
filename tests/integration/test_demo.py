"""The seed demo, for real, from one playbook (playbooks/demo.yml) on the local Docker Engine.

The tests run in order on one converged demo: round-robin and the MySQL counter, a second run
that changes nothing, check mode on a changed definition, a killed member replaced under load
without a failed request, MySQL data surviving the loss of its container, and teardown that keeps
the data volume unless purged.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from support import haproxy_command, url_get

pytest_plugins = ["ansible_helpers"]

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "playbooks" / "demo.yml"
DEMO_DOWN = REPO / "playbooks" / "demo-down.yml"
PORT = 18480
URL = f"http://127.0.0.1:{PORT}/"
AGENT = "stratos-agent"
VOLUME = "stratos-shop-db-data"

pytestmark = [pytest.mark.docker, pytest.mark.scenario, pytest.mark.timeout(1800)]


def get(url: str = URL, timeout: float = 5) -> tuple[int, str]:
    status, body, _ = url_get(url, timeout=timeout)
    return status, body


def page(text: str) -> dict[str, str]:
    return dict(re.findall(r"^(\w+): (.*)$", text, flags=re.M))


def status(state_dir: Path) -> dict[str, Any]:
    return json.loads((state_dir / "agent" / "status.json").read_text())


def web_members(state_dir: Path) -> list[dict[str, Any]]:
    subs = status(state_dir)["applications"].get("shop", {}).get("subscriptions", {})
    return list(subs.get("web", {}).get("members", []))


def demo_containers(client: Any) -> list[tuple[str, str]]:
    """The demo's containers (members, LB, agent) with their state: other suites may run beside us."""
    found = client.containers.list(all=True, filters={"label": "org.stratos.application=shop"})
    found += [c for c in client.containers.list(all=True) if c.name in (AGENT, "stratos-lb-web")]
    return sorted((c.id, c.status) for c in found)


class Load:
    """A fixed-rate GET load in a thread: counts every failed request (status or connection)."""

    def __init__(self, rate: float):
        self.interval = 1.0 / rate
        self.ok = 0
        self.failed: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            try:
                code, body = get(timeout=10)
                if code == 200 and "visits: " in body and "unavailable" not in body:
                    self.ok += 1
                else:
                    self.failed.append(f"{code} {body[:80]!r}")
            except Exception as exc:  # noqa: BLE001 - every failure counts
                self.failed.append(repr(exc))
            next_at += self.interval
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


@pytest.fixture(scope="module")
def demo(ansible, docker_client, base_image, agent_image, tmp_path_factory) -> Iterator[dict[str, Any]]:  # type: ignore[no-untyped-def]
    """The demo converged; the playbook builds the cartridge images on the local base, the agent
    image comes from the ``agent_image`` fixture (the autoscaler role runs it, it builds none)."""
    state_dir = tmp_path_factory.mktemp("demo") / "state"
    extra = {
        "stratos_state_dir": str(state_dir),
        "demo_port": PORT,
        "demo_wait_timeout": 240,
        "demo_base_image": base_image,
    }
    _remove_leftovers(docker_client)
    first = ansible.run_playbook(DEMO, extra)
    assert first.rc == 0, first.output()
    try:
        yield {
            "ansible": ansible,
            "extra": extra,
            "state_dir": state_dir,
            "first": first,
            "docker": docker_client,
        }
    finally:
        down = ansible.run_playbook(DEMO_DOWN, {**extra, "demo_purge_data": True})
        _remove_leftovers(docker_client)
        assert down.rc == 0, down.output()


def _remove_leftovers(client: Any) -> None:
    """Containers, volumes and the network of an earlier, interrupted run of this test."""
    for container in client.containers.list(all=True, filters={"label": "org.stratos.application=shop"}):
        container.remove(force=True)
    for name in (AGENT, "stratos-lb-web"):
        for container in client.containers.list(all=True, filters={"name": f"^{name}$"}):
            container.remove(force=True)
    for volume in client.volumes.list(filters={"name": VOLUME}):
        volume.remove(force=True)
    for network in client.networks.list(names=["stratos-local"]):
        network.remove()


def test_round_robin_over_min_members_and_counter(demo: dict[str, Any]) -> None:
    pages = [page(get()[1]) for _ in range(12)]
    members = Counter(p["member"] for p in pages)
    visits = [int(p["visits"]) for p in pages]
    assert len(members) >= 2, pages
    # Round robin: every member serves the same share, to within one request.
    assert max(members.values()) - min(members.values()) <= 1, members
    assert visits == list(range(visits[0], visits[0] + 12)), visits
    # Consecutive requests go to different members.
    assert all(a["member"] != b["member"] for a, b in zip(pages, pages[1:], strict=False)), pages


def test_second_run_changes_nothing(demo: dict[str, Any]) -> None:
    again = demo["ansible"].run_playbook(DEMO, demo["extra"])
    assert again.rc == 0, again.output()
    changed = [t["task"] for t in again.tasks if t["result"].get("changed")]
    assert changed == [], changed


def test_check_mode_reports_a_changed_definition_and_alters_nothing(demo: dict[str, Any]) -> None:
    state_dir: Path = demo["state_dir"]
    definitions = {p: p.read_bytes() for p in (state_dir / "definitions").rglob("*.yml")}
    containers = demo_containers(demo["docker"])
    app = yaml.safe_load((REPO / "examples/seed-demo/application.yml").read_text())
    app["subscriptions"][1]["max"] = 5
    app["subscriptions"][1]["artifact"]["url"] = f"file://{state_dir}/git/shop.git"
    run = demo["ansible"].run_playbook(
        DEMO, {**demo["extra"], "demo_application": app}, check=True, diff=True
    )
    assert run.rc == 0, run.output()
    deploy = run.task("Deploy the application (PHP linked to MySQL) and wait for its members")
    assert deploy["changed"] is True
    assert "max: 5" in json.dumps(deploy.get("diff"))
    assert {p: p.read_bytes() for p in (state_dir / "definitions").rglob("*.yml")} == definitions
    assert demo_containers(demo["docker"]) == containers


def test_killed_member_is_replaced_without_a_failed_request(demo: dict[str, Any]) -> None:
    state_dir: Path = demo["state_dir"]
    before = web_members(state_dir)
    victim = before[0]["id"]
    with Load(rate=20) as load:
        time.sleep(2)
        (container,) = demo["docker"].containers.list(filters={"label": f"org.stratos.member-id={victim}"})
        container.kill()
        killed_at = time.monotonic()
        replaced_after = None
        while time.monotonic() - killed_at < 60:
            members = web_members(state_dir)
            ids = {m["id"] for m in members}
            in_lb = [m for m in members if m.get("in_lb") and m.get("health") == "healthy"]
            if victim not in ids and len(in_lb) >= len(before):
                replaced_after = time.monotonic() - killed_at
                break
            time.sleep(0.25)
        # The load goes on for at least 4 s after the kill (the engine's events make the
        # replacement quick), so that enough requests cross the replacement for the count to mean something.
        time.sleep(max(2.0, 4.0 - (time.monotonic() - killed_at)))
    print(f"replaced after {replaced_after} s; {load.ok} requests ok, {len(load.failed)} failed")
    assert replaced_after is not None and replaced_after <= 15, replaced_after
    assert load.failed == [], load.failed[:5]
    assert load.ok > 100


def test_mysql_data_survives_container_loss_and_rerun(demo: dict[str, Any]) -> None:
    client = demo["docker"]
    visits_before = int(page(get()[1])["visits"])
    (db,) = client.containers.list(
        filters={"label": ["org.stratos.application=shop", "org.stratos.subscription=db"]}
    )
    db.remove(force=True)
    rerun = demo["ansible"].run_playbook(DEMO, demo["extra"])
    assert rerun.rc == 0, rerun.output()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        body = page(get()[1])
        if body.get("visits", "").isdigit():
            break
        time.sleep(1)
    assert int(body["visits"]) > visits_before, body


def test_absent_removes_members_but_keeps_the_data_volume(demo: dict[str, Any]) -> None:
    client = demo["docker"]
    state_dir: Path = demo["state_dir"]
    run = demo["ansible"].run_playbook(
        REPO / "tests/integration/playbooks/application-absent.yml",
        {"stratos_state_dir": str(state_dir), "purge_data": False},
    )
    assert run.rc == 0, run.output()
    assert client.containers.list(all=True, filters={"label": "org.stratos.application=shop"}) == []
    assert client.volumes.list(filters={"name": VOLUME}), "the MySQL data volume must be kept"
    assert web_members(state_dir) == []
    # The load balancer holds no server of the application any more.
    servers = haproxy_command(state_dir / "lb" / "web" / "run" / "admin.sock", "show servers state")
    assert "shop-web" not in servers, servers
    # Deploying again finds the data: the counter continues.
    again = demo["ansible"].run_playbook(DEMO, demo["extra"])
    assert again.rc == 0, again.output()
    assert int(page(get()[1])["visits"]) > 12
    purge = demo["ansible"].run_playbook(
        REPO / "tests/integration/playbooks/application-absent.yml",
        {"stratos_state_dir": str(state_dir), "purge_data": True},
    )
    assert purge.rc == 0, purge.output()
    assert client.volumes.list(filters={"name": VOLUME}) == []
