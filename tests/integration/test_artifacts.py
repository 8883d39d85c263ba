"""Automated artifact updates for real: git commits reach every member through the agent.

One platform for the module: its own state directory, network, LB cluster (HAProxy, two listeners)
and the agent as a process (``stratos agent --interval 1``, its HTTP server on a free loopback port
for the webhook). Two applications:

- ``web`` (php, ``reload: none``, 2 members): releases switch ``current``; a new commit is tried on a
  canary first; the release check is ``GET /``;
- ``api`` (tests/fixtures/restart-cartridge, ``reload: restart``, 2 members): a server that reads its
  files only at start, so a release means replacing the members one at a time through the LB.

Each release of ``web`` is a tree whose files all carry the version; ``/`` prints them all, so a
half-updated tree would show two versions in one response. The repositories are local bare ones,
then served by ``git daemon``, by a smart-HTTP server over TLS with a token (``git http-backend``
behind Python's ``http.server``, Basic authentication) and by ``sshd`` with a key, all on the
loopback. Measured times are printed at the end, never asserted beyond the issue's bounds.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import support
import yaml
from ansible_helpers import playbook_command
from support import free_port, http_get, run, run_stratos, start_agent, stop_process, wait_for

from stratos import builtin, images
from stratos.agent.events import EventStore
from stratos.drivers import docker as dockerlib
from stratos.drivers import haproxy, network
from stratos.lb import config as lbconfig
from stratos.status import read_status
from stratos.store import StateStore
from stratos.validation import parse_definition

if TYPE_CHECKING:
    import docker
    from ansible_helpers import Ansible

pytestmark = [pytest.mark.docker, pytest.mark.scenario, pytest.mark.timeout(1200)]
pytest_plugins = ["ansible_helpers"]

REPO = Path(__file__).resolve().parents[2]
RESTART_CARTRIDGE = REPO / "tests" / "fixtures" / "restart-cartridge" / "cartridge.yml"
HOOK_SECRET = "hook-" + uuid.uuid4().hex
WEB_POLL = 5.0


def get(host: str, port: int, path: str = "/", timeout: float = 5) -> tuple[int, str]:
    return http_get(host, port, path, timeout)


# --------------------------------------------------------------------------- repositories


class Repo:
    """A bare repository (what every server serves) and a working clone that pushes to it."""

    def __init__(self, root: Path, name: str):
        self.bare = root / f"{name}.git"
        self.work = root / f"{name}-work"
        run("git", "init", "-q", "--bare", "-b", "main", str(self.bare))
        run("git", "clone", "-q", str(self.bare), str(self.work))
        run("git", "checkout", "-q", "-b", "main", cwd=self.work)

    def commit(self, files: dict[str, str], message: str) -> str:
        sha = support.commit(self.work, files, message)
        run("git", "push", "-q", "origin", "main", cwd=self.work)
        return sha


WEB_INDEX = """<?php
header('Content-Type: text/plain');
header('Cache-Control: no-store');
$parts = [trim(file_get_contents(__DIR__ . '/VERSION'))];
foreach (['a', 'b', 'c', 'd', 'e'] as $n) {
    $parts[] = trim(file_get_contents(__DIR__ . "/parts/$n.txt"));
}
echo 'release ' . implode(' ', $parts) . "\\n";
"""

#: Passes on the canary (STRATOS_CANARY=1), fails on real members: tests the check after the switch.
WEB_CANARY_ONLY = """<?php
if (getenv('STRATOS_CANARY') !== '1') {
    http_response_code(500);
    echo "fails on members\\n";
    exit;
}
echo "release canary-only\\n";
"""

WEB_BROKEN = """<?php
http_response_code(500);
echo "broken\\n";
"""


def web_release(version: str, index: str = WEB_INDEX) -> dict[str, str]:
    files = {"index.php": index, "VERSION": version + "\n"}
    files.update({f"parts/{n}.txt": version + "\n" for n in "abcde"})
    return files


def api_release(version: str) -> dict[str, str]:
    return {"index.html": f"api {version} {version} {version}\n"}


def consistent(body: str) -> str | None:
    """The version a response shows if every file of its tree carries the same one, else None."""
    words = body.split()
    if len(words) < 2 or words[0] not in ("release", "api") or len(set(words[1:])) != 1:
        return None
    return words[1]


# --------------------------------------------------------------------------- load


@dataclass
class Load:
    """GET / at a fixed rate (one new connection each), recording every answer."""

    port: int
    rate: float = 40.0
    results: list[tuple[float, int, str]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Load:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(30)

    def _run(self) -> None:
        began = time.monotonic()
        n = 0
        while not self._stop.is_set():
            at = began + n / self.rate
            delay = at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            n += 1
            try:
                status, body = get("127.0.0.1", self.port, timeout=10)
            except OSError as exc:
                status, body = 0, f"{type(exc).__name__}: {exc}"
            self.results.append((time.monotonic(), status, body))

    def failures(self) -> list[tuple[float, int, str]]:
        return [r for r in self.results if r[1] != 200]

    def versions(self) -> list[str | None]:
        return [consistent(body) for _, status, body in self.results if status == 200]


# --------------------------------------------------------------------------- the platform


@dataclass
class Platform:
    client: docker.DockerClient
    root: Path
    store: StateStore
    suffix: str
    lb: str
    net: str
    web_port: int
    api_port: int
    hook_port: int
    web_repo: Repo
    api_repo: Repo
    figures: dict[str, str]
    agent: subprocess.Popen[bytes] | None = None
    log: Path | None = None
    env: dict[str, str] = field(default_factory=dict)

    @property
    def app(self) -> str:
        return f"art-{self.suffix}"

    @property
    def api_app(self) -> str:
        return f"rst-{self.suffix}"

    def start_agent(self) -> None:
        self.log = self.root / "agent.log"
        with self.log.open("ab") as log:
            self.agent = start_agent(
                self.store.root,
                *("--interval", "1", "--drain-timeout", "10"),
                *("--metrics-port", str(self.hook_port), "--bind", "127.0.0.1"),
                log=log,
                env=self.env,
            )

    def stop_agent(self) -> None:
        if self.agent is not None:
            stop_process(self.agent, timeout=90)

    def status(self, app: str | None = None, alias: str = "web") -> dict[str, Any]:
        status = read_status(self.store)
        data = status.as_json() if status is not None else {}
        return ((data.get("applications") or {}).get(app or self.app) or {}).get("subscriptions", {}).get(
            alias
        ) or {}

    def member_addresses(self, app: str | None = None, alias: str = "web") -> list[str]:
        return [m["address"] for m in self.status(app, alias).get("members", []) if m.get("address")]

    def served_by_every_member(self, version: str, app: str | None = None, alias: str = "web") -> bool:
        port = 80 if alias == "web" else 8000
        addresses = self.member_addresses(app, alias)
        if len(addresses) < 2:
            return False
        for address in addresses:
            try:
                status, body = get(address, port, timeout=2)
            except OSError:
                return False
            if status != 200 or consistent(body) != version:
                return False
        return True

    def events(self, app: str | None = None) -> list[Any]:
        return EventStore(self.store.database).events(app or self.app, limit=500)

    def put_artifact(self, app: str, alias: str, **fields: Any) -> None:
        ds = self.store.load()
        application = ds.applications[app]
        subs = []
        for sub in application.subscriptions:
            if sub.alias == alias:
                assert sub.artifact is not None
                data = sub.artifact.model_dump(mode="json", exclude_none=False)
                data.update(fields)
                sub = sub.model_copy(update={"artifact": type(sub.artifact).model_validate(data)})
            subs.append(sub)
        self.store.apply(self.store.plan_put(application.model_copy(update={"subscriptions": subs})))

    def hook(self, body: bytes, signature: str | None, event: str = "push") -> tuple[int, dict[str, Any]]:
        headers = {"Content-Type": "application/json", "X-GitHub-Event": event}
        if signature is not None:
            headers["X-Hub-Signature-256"] = signature
        conn = http.client.HTTPConnection("127.0.0.1", self.hook_port, timeout=10)
        try:
            conn.request("POST", f"/hooks/git/{self.app}", body=body, headers=headers)
            response = conn.getresponse()
            return response.status, json.loads(response.read() or b"{}")
        finally:
            conn.close()

    def stratos(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_stratos(self.store.root, *args, timeout=120, env=self.env)


def signed_push(p: Platform, sha: str, secret: str = HOOK_SECRET) -> tuple[bytes, str]:
    """A push of the web repository (a delivery must name the repository of the application's artifact)."""
    repository = {"name": "web", "clone_url": f"file://{p.web_repo.bare}"}
    body = json.dumps({"ref": "refs/heads/main", "after": sha, "repository": repository}).encode()
    return body, "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def definitions(p: Platform) -> list[dict[str, Any]]:
    secret = p.root / "hook.secret"
    secret.write_text(HOOK_SECRET + "\n")
    secret.chmod(0o600)
    docs: list[dict[str, Any]] = [
        yaml.safe_load(builtin.cartridge_file(name).read_text()) for name in ("php", "haproxy")
    ]
    docs.append(yaml.safe_load(RESTART_CARTRIDGE.read_text()))
    docs += [
        {
            "kind": "NetworkPartition",
            "name": "local",
            "partitions": [{"name": "p1"}, {"name": "p2"}],
            "network": {"name": p.net},
        },
        {
            "kind": "DeploymentPolicy",
            "name": "spread",
            "network_partitions": [
                {"name": "local", "partitions": [{"name": "p1", "max": 3}, {"name": "p2", "max": 3}]}
            ],
        },
        {
            "kind": "LbCluster",
            "name": p.lb,
            "network_partition": "local",
            "bind_address": "127.0.0.1",
            "listeners": [
                {"proxy_port": 8080, "port": 80, "publish": p.web_port},
                {"proxy_port": 8081, "port": 8000, "publish": p.api_port},
            ],
        },
        {
            "kind": "Application",
            "name": p.app,
            "subscriptions": [
                {
                    "alias": "web",
                    "cartridge": "php",
                    "min": 2,
                    "max": 2,
                    "deployment_policy": "spread",
                    "lb_cluster": p.lb,
                    "artifact": {
                        "url": f"file://{p.web_repo.bare}",
                        "poll_interval": WEB_POLL,
                        "health_timeout": 8,
                        "credentials": {"webhook_secret_file": str(secret)},
                    },
                }
            ],
        },
        {
            "kind": "Application",
            "name": p.api_app,
            "subscriptions": [
                {
                    "alias": "api",
                    "cartridge": "snapshot",
                    "min": 2,
                    "max": 2,
                    "deployment_policy": "spread",
                    "lb_cluster": p.lb,
                    "artifact": {
                        "url": f"file://{p.api_repo.bare}",
                        "poll_interval": 3,
                        "health_timeout": 10,
                    },
                }
            ],
        },
    ]
    return docs


@pytest.fixture(scope="module")
def built(
    php_image: images.ImageResult,
    haproxy_image: images.ImageResult,
    restart_cartridge_image: images.ImageResult,
) -> None:
    """The images the platform runs, built or found up to date (conftest.py's fixtures)."""


@pytest.fixture(scope="module")
def platform(
    docker_client: docker.DockerClient, built: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Platform]:
    suffix = uuid.uuid4().hex[:6]
    root = tmp_path_factory.mktemp("artifacts")
    store = StateStore(root / "state")
    store.ensure()
    p = Platform(
        docker_client,
        root,
        store,
        suffix,
        lb=f"stratos-test-art-{suffix}",
        net=f"stratos-test-art-{suffix}",
        web_port=free_port(),
        api_port=free_port(),
        hook_port=free_port(),
        web_repo=Repo(root, "web"),
        api_repo=Repo(root, "api"),
        figures={},
    )
    # The local repositories live under root, beside (not inside) the state directory.
    p.env["STRATOS_GIT_FILE_ROOT"] = str(root)
    p.web_repo.commit(web_release("v1"), "web v1")
    p.api_repo.commit(api_release("a1"), "api a1")
    for doc in definitions(p):
        store.apply(store.plan_put(parse_definition(doc)))
    ds = store.load()
    np = ds.network_partitions["local"]
    try:
        network.ensure_network(docker_client, np)
        haproxy.ensure_lb_container(docker_client, ds.lb_clusters[p.lb], np, store)
        yield p
    finally:
        p.stop_agent()
        state = dockerlib.state_id(store.root)
        for container in docker_client.containers.list(
            all=True, filters={"label": dockerlib.label_filter({dockerlib.STATE_ID: state})}
        ):
            container.remove(force=True)
        haproxy.remove_lb_container(docker_client, p.lb)
        try:
            docker_client.networks.get(p.net).remove()
        except Exception:  # noqa: BLE001 - best effort
            pass
        if p.figures:
            print("\nartifact figures: " + json.dumps(p.figures, indent=1))


# --------------------------------------------------------------------------- the tests, in order


def test_bring_up_serves_the_first_release(platform: Platform) -> None:
    began = time.monotonic()
    platform.start_agent()
    wait_for("web ready", lambda: platform.status().get("ready"), timeout=180)
    wait_for("api ready", lambda: platform.status(platform.api_app, "api").get("ready"), timeout=180)
    platform.figures["bring-up (2 php + 2 snapshot members), s"] = f"{time.monotonic() - began:.1f}"
    assert platform.served_by_every_member("v1")
    status, body = get("127.0.0.1", platform.web_port)
    assert (status, consistent(body)) == (200, "v1")
    web = platform.status()
    assert web["release"] == run("git", "rev-parse", "HEAD", cwd=platform.web_repo.work)
    assert (web["release_message"], web["degraded"]) == ("web v1", None)
    kinds = [e.kind for e in platform.events()]
    assert "release" in kinds and "release_verified" in kinds


def test_a_pushed_commit_is_served_by_every_member_within_the_poll_interval(platform: Platform) -> None:
    sha = platform.web_repo.commit(web_release("v2"), "web v2")
    began = time.monotonic()
    wait_for("v2 on every member", lambda: platform.served_by_every_member("v2"), timeout=WEB_POLL + 10)
    platform.figures["commit -> served by every member (polling every 5 s, local bare repo), s"] = (
        f"{time.monotonic() - began:.1f}"
    )
    release = [e for e in platform.events() if e.kind == "release"][-1]
    assert (release.details["sha"], release.details["message"]) == (sha, "web v2")


def test_the_webhook_makes_a_commit_visible_within_5_s(platform: Platform) -> None:
    platform.put_artifact(platform.app, "web", poll_interval=3600)
    time.sleep(2)  # the agent has read the new interval
    sha = platform.web_repo.commit(web_release("v3"), "web v3")
    body, signature = signed_push(platform, sha)
    began = time.monotonic()
    status, answer = platform.hook(body, signature)
    assert (status, answer.get("subscriptions")) == (202, ["web"])
    wait_for("v3 on every member", lambda: platform.served_by_every_member("v3"), timeout=5)
    platform.figures["webhook -> served by every member, s"] = f"{time.monotonic() - began:.1f}"


def test_a_webhook_with_a_wrong_or_no_signature_is_401_and_changes_nothing(platform: Platform) -> None:
    sha = platform.web_repo.commit(web_release("v4"), "web v4")
    body, _ = signed_push(platform, sha)
    _, wrong = signed_push(platform, sha, secret="not-the-secret")
    assert platform.hook(body, wrong)[0] == 401
    assert platform.hook(body, None)[0] == 401
    time.sleep(5)
    assert platform.served_by_every_member("v3")
    assert not list((platform.store.agent_dir / "triggers").glob("*"))
    # A correct one then brings v4.
    assert platform.hook(body, signed_push(platform, sha)[1])[0] == 202
    wait_for("v4 on every member", lambda: platform.served_by_every_member("v4"), timeout=5)


def test_five_commits_under_load_fail_no_request_and_mix_no_releases(platform: Platform) -> None:
    seconds = []
    with Load(platform.web_port) as load:
        time.sleep(1)
        for n in range(5, 10):
            sha = platform.web_repo.commit(web_release(f"v{n}"), f"web v{n}")
            began = time.monotonic()
            assert platform.hook(*signed_push(platform, sha))[0] == 202
            wait_for(f"v{n} on every member", lambda n=n: platform.served_by_every_member(f"v{n}"), timeout=5)
            seconds.append(time.monotonic() - began)
            time.sleep(1)
    versions = load.versions()
    platform.figures["5 commits under load: requests, failed"] = (
        f"{len(load.results)}, {len(load.failures())}"
    )
    platform.figures["5 commits: webhook -> served everywhere, s (each)"] = ", ".join(
        f"{s:.1f}" for s in seconds
    )
    assert load.failures() == []
    assert None not in versions, "a response mixed two releases"
    order = [int(v.removeprefix("v")) for v in versions if v]
    assert set(order) <= set(range(4, 10)) and order[-1] == 9
    # Old or new only: once a member served v(n+1), no response goes back further than v(n).
    for i, version in enumerate(order):
        assert version >= max(order[: i + 1]) - 1


def test_a_commit_failing_its_check_never_goes_live_and_degrades_the_status(platform: Platform) -> None:
    good = run("git", "rev-parse", "HEAD", cwd=platform.web_repo.work)
    with Load(platform.web_port) as load:
        time.sleep(1)
        bad = platform.web_repo.commit(web_release("v10", WEB_BROKEN), "web v10 is broken")
        began = time.monotonic()
        assert platform.hook(*signed_push(platform, bad))[0] == 202
        wait_for("degraded", lambda: platform.status().get("degraded"), timeout=60)
        platform.figures["broken commit -> failure recorded (canary, health_timeout 8 s), s"] = (
            f"{time.monotonic() - began:.1f}"
        )
        time.sleep(2)
    assert load.failures() == []
    assert set(load.versions()) == {"v9"}  # the old content throughout
    web = platform.status()
    assert (web["release"], web["degraded"]) == (good, f"release {bad[:12]} failed health")
    shown = platform.stratos("status")
    assert f"{platform.app}/web: degraded: release {bad[:12]} failed health" in shown.stdout
    events = platform.stratos("events", platform.app)
    assert any("release_failed" in line and bad[:12] in line for line in events.stdout.splitlines())
    failed = [e for e in platform.events() if e.kind == "release_failed"][-1]
    assert (failed.details["sha"], failed.details["message"]) == (bad, "web v10 is broken")
    assert "GET /: 500" in failed.reasons[0]


def test_a_release_failing_on_the_members_after_the_switch_is_switched_back(platform: Platform) -> None:
    good = run("git", "rev-parse", "HEAD~1", cwd=platform.web_repo.work)  # v9 (v10 failed)
    sha = platform.web_repo.commit(web_release("v11", WEB_CANARY_ONLY), "web v11 fails on members")
    began = time.monotonic()
    assert platform.hook(*signed_push(platform, sha))[0] == 202
    wait_for(
        "the switch back",
        lambda: any(e.kind == "rollback" and e.details.get("previous") == sha for e in platform.events()),
        timeout=60,
    )
    platform.figures["release failing after the switch -> switched back (health_timeout 8 s), s"] = (
        f"{time.monotonic() - began:.1f}"
    )
    assert platform.served_by_every_member("v9")
    # The release worker records the rollback; status.json follows at the tick it wakes.
    expected = (good, f"release {sha[:12]} failed health")
    wait_for(
        "the status", lambda: (platform.status()["release"], platform.status()["degraded"]) == expected, 10
    )
    kinds = [e.kind for e in platform.events() if e.details.get("sha") in (sha, good)][-3:]
    assert kinds == ["release", "release_failed", "rollback"]


def test_a_fixed_commit_clears_the_degraded_mark(platform: Platform) -> None:
    sha = platform.web_repo.commit(web_release("v12"), "web v12 fixed")
    assert platform.hook(*signed_push(platform, sha))[0] == 202
    wait_for("v12 on every member", lambda: platform.served_by_every_member("v12"), timeout=10)
    wait_for("not degraded", lambda: platform.status().get("degraded") is None, timeout=5)


def test_stratos_rollback_and_a_pinned_release(platform: Platform) -> None:
    v12 = run("git", "rev-parse", "HEAD", cwd=platform.web_repo.work)
    v9 = run("git", "rev-parse", "HEAD~3", cwd=platform.web_repo.work)
    back = platform.stratos("rollback", platform.app, "--wait", "30")
    assert back.returncode == 0, back.stderr
    assert platform.served_by_every_member("v9")
    assert platform.status()["release"] == v9
    assert "held at" in " ".join(platform.status()["notes"])
    rolled = [e for e in platform.events() if e.kind == "rollback"][-1]
    assert (rolled.details["sha"], rolled.details["previous"]) == (v9, v12)
    # A pin (the Ansible application module writes it through the definition) wins over the branch.
    v5 = run("git", "rev-parse", "HEAD~7", cwd=platform.web_repo.work)
    platform.put_artifact(platform.app, "web", pin=v5[:12])
    wait_for("v5 pinned", lambda: platform.served_by_every_member("v5"), timeout=15)
    platform.put_artifact(platform.app, "web", pin=None)
    # Unpinned, the rollback's hold stands until the branch moves; a new commit ends it.
    sha = platform.web_repo.commit(web_release("v13"), "web v13")
    assert platform.hook(*signed_push(platform, sha))[0] == 202
    wait_for("v13 on every member", lambda: platform.served_by_every_member("v13"), timeout=15)


def _hostile_repository(root: Path) -> Path:
    """A bare repository whose one commit escapes a release checked before it is written: links
    ``a -> .`` ... ``f -> .`` each beside a directory of the same name, then ``up -> ../../../../..``
    (the state directory's releases/<app>/<alias>/<tmp> is five levels under root) and ``up/pwned``."""
    bare = root / "hostile.git"
    run("git", "init", "-q", "--bare", "-b", "main", str(bare))

    def put(data: bytes, kind: str = "blob") -> str:
        args = ["git", "--git-dir", str(bare), "hash-object", "-w", "--stdin", "-t", kind, "--literally"]
        return subprocess.run(args, input=data, capture_output=True, check=True).stdout.decode().strip()

    def tree(*entries: tuple[str, str, str]) -> str:
        return put(b"".join(f"{m} {n}".encode() + b"\0" + bytes.fromhex(i) for m, n, i in entries), "tree")

    level = tree(
        ("120000", "up", put(b"../../../../..")), ("40000", "up", tree(("100644", "pwned", put(b"x"))))
    )
    for name in "fedcba":
        level = tree(("120000", name, put(b".")), ("40000", name, level))
    sha = run("git", "--git-dir", str(bare), "commit-tree", level, "-m", "hostile")
    run("git", "--git-dir", str(bare), "update-ref", "refs/heads/main", sha)
    return bare


def _settled_release(platform: Platform, quiet: float = 3.0, timeout: float = 60.0) -> object:
    """The release the status shows once it stayed the same for ``quiet`` seconds (a rollout the
    previous step asked for runs in its own worker and may still be switching)."""
    deadline = time.monotonic() + timeout
    last, since = platform.status().get("release"), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = platform.status().get("release")
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return last
    raise AssertionError(f"the status release did not settle within {timeout:g}s (last {last!r})")


def test_a_hostile_commit_writes_nothing_outside_and_changes_nothing(platform: Platform) -> None:
    before = platform.store.load().applications[platform.app].subscription("web").artifact
    assert before is not None
    served = _settled_release(platform)
    bare = _hostile_repository(platform.root)
    mark = time.time()
    try:
        platform.put_artifact(platform.app, "web", url=f"file://{bare}")
        assert platform.stratos("sync", platform.app).returncode == 0
        failed = wait_for(
            "fetch_failed naming the hostile tree",
            lambda: [e for e in platform.events() if e.kind == "fetch_failed" and e.time >= mark],
            timeout=30,
        )
        assert "duplicateEntries" in failed[-1].reasons[0], failed[-1].reasons
        assert platform.status().get("release") == served
        assert not (platform.root / "pwned").exists()
        assert list(platform.root.rglob("pwned")) == []
    finally:
        platform.put_artifact(platform.app, "web", **before.model_dump(mode="json"))


def test_git_daemon_on_the_loopback(platform: Platform) -> None:
    port = free_port()
    daemon = subprocess.Popen(
        [
            "git",
            "daemon",
            "--reuseaddr",
            "--export-all",
            "--listen=127.0.0.1",
            f"--port={port}",
            f"--base-path={platform.root}",
            str(platform.root),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for("git daemon", lambda: _listening(port), timeout=10)
        platform.put_artifact(
            platform.app,
            "web",
            url=f"git://127.0.0.1:{port}/web.git",
            allow_plaintext=True,  # git:// is plaintext: an explicit opt-in
            poll_interval=WEB_POLL,
        )
        time.sleep(WEB_POLL + 1)  # one poll through the daemon at least
        platform.web_repo.commit(web_release("v14"), "web v14")
        began = time.monotonic()
        wait_for("v14 on every member", lambda: platform.served_by_every_member("v14"), timeout=WEB_POLL + 10)
        platform.figures["commit -> served by every member (git daemon, polling every 5 s), s"] = (
            f"{time.monotonic() - began:.1f}"
        )
        origin = run(
            "git",
            "--git-dir",
            str(platform.store.releases_dir(platform.app, "web") / "repo.git"),
            "config",
            "remote.origin.url",
        )
        assert origin == f"git://127.0.0.1:{port}/web.git"
    finally:
        daemon.terminate()
        daemon.wait(10)


def test_reload_restart_replaces_members_one_at_a_time_without_a_failed_request(platform: Platform) -> None:
    before = {m["id"] for m in platform.status(platform.api_app, "api")["members"]}
    serving: list[int] = []
    done = threading.Event()

    def count_serving() -> None:
        runtime = haproxy.runtime(platform.store, platform.lb)
        while not done.is_set():
            servers = runtime.servers_state(lbconfig.backend_name(8081))
            serving.append(sum(1 for s in servers if s.serving))
            time.sleep(0.1)

    counter = threading.Thread(target=count_serving, daemon=True)
    counter.start()
    with Load(platform.api_port) as load:
        time.sleep(1)
        sha = platform.api_repo.commit(api_release("a2"), "api a2")
        began = time.monotonic()
        wait_for(
            "a2 on every member",
            lambda: (
                platform.served_by_every_member("a2", platform.api_app, "api")
                and len(platform.status(platform.api_app, "api")["members"]) == 2
            ),
            timeout=120,
        )
        platform.figures["reload restart: commit -> every member replaced and serving, s"] = (
            f"{time.monotonic() - began:.1f}"
        )
        time.sleep(1)
    after = {m["id"] for m in platform.status(platform.api_app, "api")["members"]}
    assert not before & after  # every member was replaced
    assert load.failures() == []
    versions = load.versions()
    assert None not in versions and set(versions) == {"a1", "a2"}
    first_new = versions.index("a2")
    platform.figures["reload restart: requests under load, failed"] = f"{len(load.results)}, 0"
    assert set(versions[first_new:]) <= {"a1", "a2"}
    containers = platform.client.containers.list(
        filters={"label": dockerlib.label_filter({dockerlib.APPLICATION: platform.api_app})}
    )
    assert {c.labels[dockerlib.REVISION].rsplit("+", 1)[1] for c in containers} == {sha}
    done.set()
    counter.join(10)
    events = [e.kind for e in platform.events(platform.api_app)]
    assert events.count("start") >= 4 and "release_verified" in events
    # Never fewer than min (2) members serving in the LB: each old one left after its successor joined.
    platform.figures["reload restart: members serving in the LB during the roll (min, max)"] = (
        f"{min(serving)}, {max(serving)}"
    )
    assert len(serving) > 10 and min(serving) >= 2


# --------------------------------------------------------------------------- private repositories


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


class _GitHttp(BaseHTTPRequestHandler):
    """Smart HTTP through ``git http-backend`` (CGI), Basic authentication with one token."""

    project_root = ""
    expected = ""

    def _serve(self) -> None:
        if self.headers.get("Authorization", "") != self.expected:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        path, _, query = self.path.partition("?")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        env = {
            "PATH": os.environ["PATH"],
            "GIT_PROJECT_ROOT": self.project_root,
            "GIT_HTTP_EXPORT_ALL": "1",
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "REQUEST_METHOD": self.command,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(length),
            "REMOTE_USER": "deploy",
            "REMOTE_ADDR": "127.0.0.1",
            "HTTP_GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
        }
        out = subprocess.run(
            ["git", "http-backend"], input=body, env=env, capture_output=True, timeout=60
        ).stdout
        head, _, payload = out.partition(b"\r\n\r\n")
        status = 200
        headers = []
        for line in head.decode().split("\r\n"):
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.strip().split()[0])
            elif name:
                headers.append((name, value.strip()))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = _serve

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


@pytest.fixture
def https_server(platform: Platform) -> Iterator[tuple[int, Path, str]]:
    """Smart HTTP over TLS on the loopback with a self-signed certificate; (port, CA file, token)."""
    token = "tok-" + uuid.uuid4().hex
    cert, key = platform.root / "tls.crt", platform.root / "tls.key"
    run(
        "openssl",
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=127.0.0.1",
        "-addext",
        "subjectAltName=IP:127.0.0.1",
        "-keyout",
        str(key),
        "-out",
        str(cert),
    )
    handler = type(
        "GitHttp",
        (_GitHttp,),
        {
            "project_root": str(platform.root),
            "expected": "Basic " + base64.b64encode(f"deploy:{token}".encode()).decode(),
        },
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1]), cert, token
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def sshd(platform: Platform) -> Iterator[tuple[int, Path, str]]:
    """sshd on the loopback with its own host key and one authorized key; (port, private key, user)."""
    if shutil.which("sshd") is None and not Path("/usr/sbin/sshd").exists():
        pytest.fail("sshd is not installed (Debian package openssh-server)", pytrace=False)
    d = platform.root / "sshd"
    d.mkdir()
    run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / "host_key"))
    run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "stratos-test", "-f", str(d / "deploy_key"))
    (d / "authorized_keys").write_text((d / "deploy_key.pub").read_text())
    (d / "authorized_keys").chmod(0o600)
    port = free_port()
    user = (
        os.environ.get("USER") or subprocess.run(["id", "-un"], capture_output=True, text=True).stdout.strip()
    )
    (d / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {d / 'host_key'}\nPidFile {d / 'sshd.pid'}\n"
        f"AuthorizedKeysFile {d / 'authorized_keys'}\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        f"UsePAM no\nPermitRootLogin prohibit-password\nStrictModes no\nAllowUsers {user}\n"
        "LogLevel ERROR\n"
    )
    Path("/run/sshd").mkdir(exist_ok=True)
    sshd_bin = shutil.which("sshd") or "/usr/sbin/sshd"
    proc = subprocess.Popen([sshd_bin, "-D", "-e", "-f", str(d / "sshd_config")], stderr=subprocess.PIPE)
    try:
        wait_for("sshd", lambda: _listening(port), timeout=10)
        yield port, d / "deploy_key", user
    finally:
        proc.terminate()
        proc.wait(10)


class ProcessWatch:
    """Reads every process's command line and environment while it runs, looking for secrets."""

    def __init__(self, *secrets: str):
        self.secrets = [s for s in secrets if s]
        self.found: list[str] = []
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> ProcessWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        me = os.getpid()
        while not self._stop.is_set():
            listing = subprocess.run(
                ["ps", "-eww", "-o", "pid=,args="], capture_output=True, text=True
            ).stdout
            self.samples += 1
            for secret in self.secrets:
                if secret in listing:
                    self.found.append(f"ps: {secret[:6]}...")
            for proc in Path("/proc").iterdir():
                if not proc.name.isdigit() or int(proc.name) == me:
                    continue
                try:
                    environ = (proc / "environ").read_bytes()
                except OSError:
                    continue
                for secret in self.secrets:
                    if secret.encode() in environ:
                        self.found.append(f"environ of {proc.name}")
            time.sleep(0.02)


def _no_secret_anywhere(platform: Platform, *secrets: str) -> None:
    assert platform.log is not None
    texts = {
        "agent log": platform.log.read_text(errors="replace"),
        "status.json": platform.store.status_file.read_text(),
        "events": json.dumps([e.__dict__ for e in EventStore(platform.store.database).events(limit=2000)]),
        "definitions": "".join(p.read_text() for p in platform.store.iter_files()),
        "rollout state": (platform.store.releases_dir(platform.app, "web") / "rollout.json").read_text(),
        "mirror config": (
            platform.store.releases_dir(platform.app, "web") / "repo.git" / "config"
        ).read_text(),
    }
    for where, text in texts.items():
        for secret in secrets:
            assert secret not in text, f"a secret appears in the {where}"


def test_a_private_repository_over_https_with_a_token(
    platform: Platform, https_server: tuple[int, Path, str]
) -> None:
    port, ca, token = https_server
    # The agent trusts the test's self-signed certificate (a real one needs nothing).
    platform.stop_agent()
    platform.env["GIT_SSL_CAINFO"] = str(ca)
    platform.start_agent()
    token_file = platform.root / "https.token"
    token_file.write_text(token + "\n")
    token_file.chmod(0o600)
    with ProcessWatch(token) as watch:
        platform.put_artifact(
            platform.app,
            "web",
            url=f"https://127.0.0.1:{port}/web.git",
            credentials={
                "username": "deploy",
                "token_file": str(token_file),
                "webhook_secret_file": str(platform.root / "hook.secret"),
            },
        )
        sha = platform.web_repo.commit(web_release("v15"), "web v15 over https")
        began = time.monotonic()
        assert platform.stratos("sync", platform.app).returncode == 0
        wait_for("v15 on every member", lambda: platform.served_by_every_member("v15"), timeout=30)
        platform.figures["https with a token: sync -> served everywhere, s"] = (
            f"{time.monotonic() - began:.1f}"
        )
        wait_for("the status to show v15", lambda: platform.status().get("release") == sha, timeout=10)
        # A wrong token: fetches fail and name no secret. (A fetch already under way when the file
        # changes may still finish with the old token, so the failure comes first, then the commit.)
        mark = time.time()
        token_file.write_text("wrong-" + token + "\n")
        assert platform.stratos("sync", platform.app).returncode == 0
        failed = wait_for(
            "fetch_failed",
            lambda: [e for e in platform.events() if e.kind == "fetch_failed" and e.time >= mark],
            timeout=30,
        )
        assert "Authentication failed" in failed[-1].reasons[0]
        platform.web_repo.commit(web_release("v16"), "web v16")
        assert platform.stratos("sync", platform.app).returncode == 0
        time.sleep(3)
    assert platform.status()["release"] == sha
    assert watch.samples > 10 and watch.found == []
    _no_secret_anywhere(platform, token)
    token_file.write_text(token + "\n")


def test_a_private_repository_over_ssh_with_a_key(platform: Platform, sshd: tuple[int, Path, str]) -> None:
    port, key, user = sshd
    key_text = key.read_text()
    key_body = key_text.splitlines()[1]  # a line of the private key itself
    host_key = (platform.root / "sshd" / "host_key.pub").read_text().split()
    url = f"ssh://{user}@127.0.0.1:{port}{platform.web_repo.bare}"
    credentials = {"ssh_key_file": str(key), "webhook_secret_file": str(platform.root / "hook.secret")}
    # A host key that is not the server's: refused (never trusted on first use), nothing changes.
    run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(platform.root / "other_key"))
    other = (platform.root / "other_key.pub").read_text().split()
    before = platform.status().get("release")

    def release_over_ssh(known_key: list[str], version: str, message: str) -> float:
        """``web`` from the ssh URL trusting ``known_key``, ``version`` committed, a sync asked
        for; when the sync was asked for."""
        platform.put_artifact(
            platform.app,
            "web",
            url=url,
            credentials=credentials,
            ssh_known_hosts=f"[127.0.0.1]:{port} {known_key[0]} {known_key[1]}\n",
        )
        platform.web_repo.commit(web_release(version), message)
        began = time.monotonic()
        assert platform.stratos("sync", platform.app).returncode == 0
        return began

    release_over_ssh(other, "v16k", "web v16k over ssh, wrong host key")
    failed = wait_for(
        "fetch_failed for the wrong host key",
        lambda: [
            e
            for e in platform.events()
            if e.kind == "fetch_failed" and "Host key verification failed" in " ".join(e.reasons)
        ],
        timeout=30,
    )
    assert failed and platform.status().get("release") == before
    with ProcessWatch(key_body) as watch:
        began = release_over_ssh(host_key, "v17", "web v17 over ssh")
        wait_for("v17 on every member", lambda: platform.served_by_every_member("v17"), timeout=30)
        platform.figures["ssh with a key: sync -> served everywhere, s"] = f"{time.monotonic() - began:.1f}"
    assert watch.samples > 10 and watch.found == []
    _no_secret_anywhere(platform, key_body)
    known = platform.store.releases_dir(platform.app, "web") / "known_hosts"
    # Exactly the keys the definition gives; ssh added none.
    assert known.read_text() == f"[127.0.0.1]:{port} {host_key[0]} {host_key[1]}\n"


def test_ansible_verbose_output_shows_no_credential(platform: Platform, ansible: Ansible) -> None:
    token_file = platform.root / "https.token"
    token = token_file.read_text().strip()
    key_line = (platform.root / "sshd" / "deploy_key").read_text().splitlines()[1]
    definition = json.loads(
        platform.store.load().applications[platform.app].model_dump_json(exclude_defaults=True)
    )
    definition.pop("kind", None)
    definition.pop("name", None)
    definition["subscriptions"][0]["artifact"]["credentials"] = {
        "username": "deploy",
        "token_file": str(token_file),
        "ssh_key_file": str(platform.root / "sshd" / "deploy_key"),
        "webhook_secret_file": str(platform.root / "hook.secret"),
    }
    vars_file = platform.root / "ansible-vars.json"
    vars_file.write_text(
        json.dumps(
            {
                "ansible_python_interpreter": sys.executable,
                "state_dir": str(platform.store.root),
                "def_name": platform.app,
                "def_body": definition,
                "def_wait": True,
                "def_wait_timeout": 60,
            }
        )
    )
    env = {**ansible.environment(), "ANSIBLE_STDOUT_CALLBACK": "default"}
    for verbosity in ("-v", "-vvv"):
        done = subprocess.run(
            playbook_command(
                REPO / "tests" / "integration" / "playbooks" / "application.yml", vars_file, verbosity
            ),
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            cwd=ansible.work_dir,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        output = done.stdout + done.stderr
        for secret in (token, key_line, HOOK_SECRET):
            assert secret not in output, f"ansible-playbook {verbosity} shows a credential"
        assert "token_file" in output or verbosity == "-v"
