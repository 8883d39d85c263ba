"""A small autoscaled platform on the real Docker Engine, for tests/integration/test_autoscale.py and
bench/reaction.py: its own state directory, network, HAProxy, and a PHP application whose page is
slow (200 ms), so that a closed-loop load (``wrk``) holds a known number of requests in flight.

The agent runs as a separate process (``python -m stratos agent``), so that it can be killed.
Everything is named ``stratos-test-…`` / ``astest-…`` and removed by :meth:`Platform.destroy`.
"""

from __future__ import annotations

import http.client
import json
import signal
import subprocess
import threading
import time
import urllib.request
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from support import (
    build_cartridge_image,
    free_port,
    http_get,
    new_repository,
    run_stratos,
    start_agent,
)

from stratos import builtin
from stratos.drivers import docker as dockerlib
from stratos.drivers import haproxy, network
from stratos.lb import config as lbconfig
from stratos.store import StateStore
from stratos.validation import parse_definition

if TYPE_CHECKING:
    import docker

BACKEND = lbconfig.backend_name(8080)

#: The application: every request takes 200 ms and names the member that answered.
SLOW_PAGE = """<?php
header('Content-Type: text/plain');
header('Cache-Control: no-store');
usleep(200000);
echo 'member: ' . gethostname() . "\\n";
"""

#: Short settings for tests: decide every second, predict 2 s ahead, scale down after 15 s.
TEST_BEHAVIOUR = {
    "evaluation_interval": 1,
    "prediction_horizon": 2,
    "smoothing_window": 4,
    "tolerance": 0.1,
    "scale_up_stabilisation": 0,
    "scale_down_stabilisation": 15,
    "max_step": 2,
}


def build_images(client: docker.DockerClient, base: str) -> None:
    for name in ("php", "haproxy"):
        build_cartridge_image(client, name, base)


def definitions(
    suffix: str,
    port: int,
    repo: Path,
    *,
    min_members: int = 1,
    max_members: int = 6,
    partitions: dict[str, int] | None = None,
    thresholds: dict[str, float] | None = None,
    behaviour: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    parts = partitions or {"p1": 2, "p2": 2}
    docs: list[dict[str, Any]] = [
        yaml.safe_load(builtin.cartridge_file("php").read_text()),
        yaml.safe_load(builtin.cartridge_file("haproxy").read_text()),
        {
            "kind": "NetworkPartition",
            "name": "local",
            "partitions": [{"name": name} for name in parts],
            "network": {"name": f"stratos-test-as-{suffix}"},
        },
        {
            "kind": "DeploymentPolicy",
            "name": "spread",
            "network_partitions": [
                {
                    "name": "local",
                    "algorithm": "round-robin",
                    "partitions": [{"name": name, "max": n} for name, n in parts.items()],
                }
            ],
        },
        {
            "kind": "AutoscalingPolicy",
            "name": "fast",
            "thresholds": thresholds or {"requests_in_flight": 4, "load_average": 90},
            "behaviour": behaviour or TEST_BEHAVIOUR,
        },
        {
            "kind": "LbCluster",
            "name": f"astest-{suffix}",
            "network_partition": "local",
            "bind_address": "127.0.0.1",
            "listeners": [{"proxy_port": 8080, "port": 80, "publish": port}],
        },
        {
            "kind": "Application",
            "name": f"astest-{suffix}",
            "subscriptions": [
                {
                    "alias": "web",
                    "cartridge": "php",
                    "min": min_members,
                    "max": max_members,
                    "autoscaling_policy": "fast",
                    "deployment_policy": "spread",
                    "lb_cluster": f"astest-{suffix}",
                    "artifact": {"url": f"file://{repo}", "branch": "main"},
                }
            ],
        },
    ]
    return docs


@dataclass(frozen=True)
class Seen:
    """A member container as one list call shows it."""

    id: str
    name: str
    member_id: str
    partition: str
    state: str


@dataclass
class Platform:
    client: docker.DockerClient
    root: Path
    store: StateStore
    app: str
    lb: str
    port: int
    network: str
    metrics_port: int
    agent: subprocess.Popen[bytes] | None = None
    agent_log: Path | None = None
    figures: dict[str, str] = field(default_factory=dict)

    # ------------------------------------------------------------ set up and tear down
    @classmethod
    def create(
        cls,
        client: docker.DockerClient,
        root: Path,
        page: str = SLOW_PAGE,
        port_start: int = 18300,
        **options: Any,
    ) -> Platform:
        suffix = uuid.uuid4().hex[:6]
        repo = root / "state" / "git" / "repo"  # file:// is allowed under <state>/git by default
        new_repository(repo, {"index.php": page}, "slow page")
        store = StateStore(root / "state")
        store.ensure()
        port = free_port(port_start, 500)
        metrics_port = free_port(port_start + 1164, 500, avoid={port})
        for doc in definitions(suffix, port, repo, **options):
            store.apply(store.plan_put(parse_definition(doc)))
        ds = store.load()
        np = ds.network_partitions["local"]
        platform = cls(
            client, root, store, f"astest-{suffix}", f"astest-{suffix}", port, np.network_name(), metrics_port
        )
        try:
            network.ensure_network(client, np)
            haproxy.ensure_lb_container(client, ds.lb_clusters[platform.lb], np, store)
        except BaseException:
            platform.destroy()
            raise
        return platform

    def destroy(self) -> None:
        if self.agent is not None and self.agent.poll() is None:
            self.agent.kill()
            self.agent.wait(timeout=30)
        for container in self.containers():
            try:
                self.client.api.remove_container(container.id, force=True)
            except Exception:  # noqa: BLE001 - best effort
                pass
        try:
            haproxy.remove_lb_container(self.client, self.lb)
        except Exception:  # noqa: BLE001 - best effort
            pass
        try:
            self.client.networks.get(self.network).remove()
        except Exception:  # noqa: BLE001 - best effort
            pass

    # ------------------------------------------------------------ the agent process
    def start_agent(self, interval: float = 1.0, *options: str) -> None:
        assert self.agent is None or self.agent.poll() is not None, "the agent runs already"
        self.agent_log = self.root / f"agent-{time.time():.0f}.log"
        with self.agent_log.open("wb") as log:
            self.agent = start_agent(
                self.store.root,
                *("--interval", str(interval), "--drain-timeout", "10"),
                *("--metrics-port", str(self.metrics_port), *options),
                log=log,
            )

    def kill_agent(self) -> None:
        assert self.agent is not None
        self.agent.send_signal(signal.SIGKILL)
        self.agent.wait(timeout=30)

    def stop_agent(self, timeout: float = 60) -> tuple[int, str]:
        """SIGTERM; the exit status and the log."""
        assert self.agent is not None
        self.agent.terminate()
        code = self.agent.wait(timeout=timeout)
        return code, self.log()

    def log(self) -> str:
        return self.agent_log.read_text(errors="replace") if self.agent_log else ""

    # ------------------------------------------------------------ looking
    def containers(self, running_only: bool = False) -> list[Seen]:
        """The application's member containers, from one list call (no inspect that may race a
        removal)."""
        labels = {dockerlib.STATE_ID: dockerlib.state_id(self.store.root), dockerlib.APPLICATION: self.app}
        found = self.client.api.containers(
            all=not running_only, filters={"label": dockerlib.label_filter(labels)}
        )
        return [
            Seen(
                c["Id"],
                c["Names"][0].lstrip("/"),
                c["Labels"].get(dockerlib.MEMBER_ID, ""),
                c["Labels"].get(dockerlib.PARTITION, ""),
                c["State"],
            )
            for c in found
        ]

    def members(self) -> dict[str, str]:
        """member id -> partition label, of the running member containers."""
        return {c.member_id: c.partition for c in self.containers(running_only=True)}

    def runtime(self) -> haproxy.Runtime:
        return haproxy.runtime(self.store, self.lb)

    def lb_servers(self) -> dict[str, haproxy.ServerState]:
        return {s.name: s for s in self.runtime().servers_state(BACKEND)}

    def serving(self) -> set[str]:
        return {name for name, s in self.lb_servers().items() if s.serving}

    def status(self) -> dict[str, Any]:
        try:
            return dict(json.loads(self.store.status_file.read_text()))
        except (FileNotFoundError, ValueError):
            return {}

    def sub(self) -> dict[str, Any]:
        return dict(
            ((self.status().get("applications") or {}).get(self.app) or {})
            .get("subscriptions", {})
            .get("web")
            or {}
        )

    def get(self, path: str = "/", timeout: float = 15) -> tuple[int, str]:
        return http_get("127.0.0.1", self.port, path, timeout)

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as response:
            return str(response.read().decode())

    def partition_counts(self) -> Counter[str]:
        return Counter(self.members().values())

    def stratos(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_stratos(self.store.root, *args)


# --------------------------------------------------------------------------- load


class Wrk:
    """A closed-loop load: ``connections`` requests in flight all the time, until :meth:`stop`."""

    def __init__(self, port: int, connections: int, seconds: int = 600):
        self.proc = subprocess.Popen(
            [
                "wrk",
                "-t2",
                f"-c{connections}",
                f"-d{seconds}s",
                "--timeout",
                "10s",
                f"http://127.0.0.1:{port}/",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        out, _ = self.proc.communicate(timeout=30)
        return out


class FixedRate:
    """An open-loop load: ``rate`` requests per second whatever the answers take; counts failures."""

    def __init__(self, port: int, rate: float, timeout: float = 15):
        self.port, self.rate, self.timeout = port, rate, timeout
        self.ok = 0
        self.failed: list[str] = []
        self.served_by: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=64)
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> FixedRate:
        self._thread.start()
        return self

    def _run(self) -> None:
        step = 1.0 / self.rate
        due = time.monotonic()
        while not self._stop.is_set():
            self._pool.submit(self._one)
            due += step
            self._stop.wait(max(0.0, due - time.monotonic()))

    def _one(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        try:
            conn.request("GET", "/", headers={"Connection": "close"})
            response = conn.getresponse()
            body = response.read().decode(errors="replace")
            with self._lock:
                if response.status == 200 and body.startswith("member: "):
                    self.ok += 1
                    self.served_by[body.split()[1]] += 1
                else:
                    self.failed.append(f"{response.status}: {body[:80]!r}")
        except (OSError, http.client.HTTPException) as exc:
            with self._lock:
                self.failed.append(f"{type(exc).__name__}: {exc}")
        finally:
            conn.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self._pool.shutdown(wait=True)
