"""The agent container as the drivers make it, on the real Docker Engine: uid 10001, read-only root file
system, no capability, no Docker socket; its Docker calls go through the allow-list proxy, and it still
starts, lists and replaces members (a one-member application of a tiny cartridge) and writes its status
into the state directory it was given. Its HTTP side runs in a container of its own (uid 10002, no
Docker access, only ``<state>/agent`` mounted): a signed push posted there becomes a release by the
agent, ``/status`` and ``/metrics`` answer from it, and it can read no git credential nor generated
secret of the state directory."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
from support import free_port, git

from stratos import images
from stratos.drivers import agent_container as ac
from stratos.drivers import docker as dockerlib
from stratos.drivers import network
from stratos.images import ImageResult
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


@pytest.fixture()
def platform(
    docker_client: docker.DockerClient,
    docker_names: Callable[[str], str],
    agent_image: str,
    haproxy_image: ImageResult,  # the image the agent's Docker proxy runs
    base_image: str,
    tmp_path: Path,
) -> Iterator[tuple[StateStore, ac.AgentSpec, str]]:
    cartridge = Cartridge.model_validate(sleeper(base_image))
    images.build_image(docker_client, cartridge, source_dir=tmp_path, base=base_image)
    net = docker_names("unpriv-net")
    app = f"t{uuid.uuid4().hex[:6]}"
    store = StateStore(tmp_path / "state")
    store.ensure()
    # The followed repository, in <state>/git (the default file:// root), readable by the agent.
    bare, work = store.root / "git" / "web.git", tmp_path / "web-work"
    git("init", "-q", "--bare", "-b", "main", str(bare))
    git("clone", "-q", str(bare), str(work))
    commit(work, "v1")
    # What an operator gives the agent (under secrets/, which is given to uid 10001): the webhook
    # secret, a git token; and a secret the platform generated for a member (a MySQL password).
    secrets = store.root / "secrets" / app
    for path, text in (
        (secrets / "webhook.secret", HOOK_SECRET),
        (secrets / "git.token", "a-git-token"),
        (secrets / "s" / "MYSQL_PASSWORD", "a-mysql-password"),
    ):
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        path.write_text(text + "\n")
        path.chmod(0o600)
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
                {
                    "alias": "s",
                    "cartridge": "sleeper",
                    "min": 1,
                    "max": 1,
                    "deployment_policy": "one",
                    "artifact": {
                        "url": f"file://{bare}",
                        # Only a webhook (or a restart) fetches within the test's time.
                        "poll_interval": 3600,
                        "health_path": None,
                        "credentials": {"webhook_secret_file": str(secrets / "webhook.secret")},
                    },
                }
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
        http_port=free_port(),
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


HOOK_SECRET = "a-webhook-secret"


def commit(work: Path, version: str) -> str:
    (work / "VERSION").write_text(version + "\n")
    git("add", "-A", cwd=work)
    git("-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qm", version, cwd=work)
    # The bare repository belongs to the agent's uid while the agent reads it (git refuses a
    # repository of another owner), to root while root pushes to it.
    bare = Path(git("config", "remote.origin.url", cwd=work))
    give(bare, 0, 0)
    git("push", "-q", "origin", "HEAD:main", cwd=work)
    give(bare, ac.AGENT_UID, ac.AGENT_GID)
    return git("rev-parse", "HEAD", cwd=work)


def give(repository: Path, uid: int, gid: int) -> None:
    for path in (repository.parent, repository, *repository.rglob("*")):
        os.chown(path, uid, gid)


def request(port: int, method: str, path: str, body: bytes = b"", **headers: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=body or None, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    except OSError:
        return 0, b""
    finally:
        conn.close()


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
    plan = ac.ensure_agent(docker_client, spec)
    assert plan.changes[0].action == "create"
    assert plan.report["companions"][f"{spec.name}-docker-proxy"] == "create"
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


def test_the_http_side_runs_apart_and_a_signed_push_to_it_becomes_a_release(
    docker_client: docker.DockerClient, platform: tuple[StateStore, ac.AgentSpec, str]
) -> None:
    store, spec, app = platform
    plan = ac.ensure_agent(docker_client, spec)
    assert plan.report["companions"][f"{spec.name}-http"] == "create"
    agent = docker_client.containers.get(spec.name)
    side = docker_client.containers.get(f"{spec.name}-http")

    def logs() -> str:
        return (
            "agent:\n"
            + agent.logs(tail=30).decode(errors="replace")
            + "\nhttp side:\n"
            + (side.logs(tail=20).decode(errors="replace"))
        )

    # The HTTP side: its own uid in the agent's group, read-only, no capability, no Docker at all.
    attrs = side.attrs
    assert attrs["Config"]["User"] == "10002:10001"
    assert (attrs["HostConfig"]["ReadonlyRootfs"], attrs["HostConfig"]["CapDrop"]) == (True, ["ALL"])
    agent_dir = str(store.agent_dir)
    assert sorted(attrs["HostConfig"]["Binds"]) == [
        f"{agent_dir}/http:{agent_dir}/http:rw",
        f"{agent_dir}/triggers:{agent_dir}/triggers:rw",
        f"{agent_dir}:{agent_dir}:ro",
    ]
    # The agent serves no HTTP of its own.
    assert agent.attrs["Config"]["Cmd"][-2:] == ["--metrics-port", "0"]

    port = spec.http_port
    wait("/status from the HTTP side", lambda: request(port, "GET", "/status")[0] == 200, 60, logs)
    status, body = request(port, "GET", "/status")
    assert json.loads(body)["tick"]["ok"], body
    status, body = request(port, "GET", "/metrics")
    assert status == 200 and b"# TYPE" in body, body[:200]

    # The first release (v1) comes from the first fetch; v2 only from the webhook (poll: 1 h).
    def events(kind: str) -> list[dict[str, Any]]:
        probe = (
            "import json, sys; from stratos.agent.events import EventStore; "
            f"e = EventStore({str(store.database)!r}).events({app!r}); "
            "print(json.dumps([{'kind': x.kind, 'details': x.details} for x in e]))"
        )
        code, out = agent.exec_run(["python", "-c", probe])
        assert code == 0, out
        return [e for e in json.loads(out) if e["kind"] == kind]

    wait("the first release", lambda: events("release"), 60, logs)
    work = store.root.parent / "web-work"
    sha = commit(work, "v2")
    payload = {
        "ref": "refs/heads/main",
        "after": sha,
        "repository": {"clone_url": f"file://{store.root}/git/web.git"},
    }
    body = json.dumps(payload).encode()
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": f"d-{sha[:8]}",
        "X-Hub-Signature-256": "sha256=" + hmac.new(HOOK_SECRET.encode(), body, hashlib.sha256).hexdigest(),
    }
    wrong = {**headers, "X-Hub-Signature-256": "sha256=" + "0" * 64}
    assert request(port, "POST", f"/hooks/git/{app}", body, **wrong)[0] == 401
    posted = time.monotonic()
    status, answer = request(port, "POST", f"/hooks/git/{app}", body, **headers)
    assert status == 202, answer
    released = wait(
        "a release of the pushed commit by the agent",
        lambda: [e for e in events("release") if sha[:12] in json.dumps(e)],
        60,
        logs,
    )
    seconds = time.monotonic() - posted
    assert "webhook (github)" in json.dumps(released[-1]), released
    memory = side.stats(stream=False)["memory_stats"].get("usage", 0) / 2**20
    print(f"\nsplit figures: push to release seen {seconds:.2f} s; HTTP side memory {memory:.1f} MiB")
    assert not any(store.agent_dir.joinpath("triggers").iterdir())  # the request was taken
    assert request(port, "POST", f"/hooks/git/{app}", body, **headers)[0] == 409  # a replay

    # The HTTP side may ask for a sync, never a rollback: a forged rollback request is refused.
    v1 = git("rev-parse", "HEAD~1", cwd=work)
    forge = (
        "from stratos.releases import triggers; from stratos.store import StateStore; "
        f"triggers.request_rollback(StateStore({str(store.root)!r}), {app!r}, 's', {v1!r}, 'forged')"
    )
    code, out = side.exec_run(["python", "-c", forge])
    assert code == 0, out
    wait(
        "the agent refusing the HTTP side's rollback",
        lambda: "refused: a rollback written by uid 10002" in agent.logs(tail=50).decode(errors="replace"),
        30,
        logs,
    )
    assert not any(store.agent_dir.joinpath("triggers").iterdir())
    assert events("rollback") == []

    # Inside the HTTP side: uid 10002; no Docker socket or proxy to reach; no git credential, no
    # generated secret, no definition, no database to read; the webhook table is readable.
    secrets = store.root / "secrets" / app
    targets = {
        "docker.sock": "/var/run/docker.sock",
        "proxy": f"{spec.proxy_dir_ref}/docker.sock",
        "token": str(secrets / "git.token"),
        "mysql": str(secrets / "s" / "MYSQL_PASSWORD"),
        "hook-file": str(secrets / "webhook.secret"),
        "definition": str(store.definition_path("Application", app)),
        "database": str(store.database),
    }
    probe = (
        "import json, os, socket, sys\n"
        "result = {'uid': os.getuid(), 'gid': os.getgid()}\n"
        f"for name, path in {targets!r}.items():\n"
        "    try:\n"
        "        if name in ('docker.sock', 'proxy'):\n"
        "            s = socket.socket(socket.AF_UNIX); s.connect(path); result[name] = 'connected'\n"
        "        else:\n"
        "            open(path, 'rb').read(1); result[name] = 'read'\n"
        "    except OSError as e:\n"
        "        result[name] = type(e).__name__\n"
        f"result['table'] = bool(open({str(store.agent_dir / 'hooks' / (app + '.json'))!r}).read())\n"
        "print(json.dumps(result))\n"
    )
    code, out = side.exec_run(["python", "-c", probe])
    assert code == 0, out
    seen = json.loads(out)
    print("inside the HTTP side:", seen)
    assert (seen.pop("uid"), seen.pop("gid"), seen.pop("table")) == (10002, 10001, True)
    assert seen["database"] == "PermissionError", seen
    for name in ("docker.sock", "proxy", "token", "mysql", "hook-file", "definition"):
        assert seen[name] in ("FileNotFoundError", "PermissionError", "ConnectionRefusedError"), seen
    # The agent itself could read its token and webhook secret (as an operator would give them).
    code, out = agent.exec_run(["cat", str(secrets / "git.token")])
    assert (code, out.strip()) == (0, b"a-git-token")


def test_definitions_root_writes_after_the_agent_started_stay_readable_by_the_agent(
    docker_client: docker.DockerClient, platform: tuple[StateStore, ac.AgentSpec, str]
) -> None:
    """The Ansible modules run as root and write definitions (0640) while the agent (uid 10001)
    runs: each new file must reach the agent's group through the setgid directories, or every tick
    fails on a PermissionError (as the seed demo did: its application came after the agent)."""
    store, spec, _ = platform
    ac.ensure_agent(docker_client, spec)
    agent = docker_client.containers.get(spec.name)

    def logs() -> str:
        return agent.logs(tail=40).decode(errors="replace")

    def tick_after(moment: float) -> dict[str, Any]:
        if not store.status_file.exists():
            return {}
        status = json.loads(store.status_file.read_text())
        return status if status.get("time", 0) > moment else {}

    wait("a first tick", lambda: tick_after(0), 30, logs)
    written = time.time()
    store.apply(
        store.plan_put(
            parse_definition(
                {
                    "kind": "DeploymentPolicy",
                    "name": "later",
                    "network_partitions": [{"name": "local", "partitions": [{"name": "p1", "max": 1}]}],
                }
            )
        )
    )
    path = store.definition_path("DeploymentPolicy", "later")
    assert path.stat().st_gid == ac.AGENT_GID, "a definition written by root belongs to the agent's group"
    status = wait("a tick after the write", lambda: tick_after(written + 1), 30, logs)
    assert status["tick"]["ok"], status["tick"]
