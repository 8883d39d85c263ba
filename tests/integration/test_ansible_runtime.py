"""The runtime modules of stratos.paas, run with the real ansible-playbook.

- cartridge_image: check mode builds nothing, the real run builds, again changes nothing; with a
  registry (Debian's docker-registry, ``stratos/test-registry:2.8``, on a loopback port) the image is
  pushed and the registry's HTTP API serves its manifest; absent removes the local tag.
- lb_cluster: a real HAProxy container answering on an unusual published port; check mode, --diff,
  idempotency, reload (configuration) and recreate (published port), absent (and purge).
- application: bad input fails naming the field and changes neither the state directory nor Docker;
  ``wait`` against status files written by a stand-in for the agent (fresh and ready, fresh and not
  ready, stale, none) fails after ``wait_timeout`` saying what it saw; absent waits for the members to
  leave and purge_data removes only this state directory's data.
- info: the stored definitions and the live state, never a secret.

The agent itself is not run here (tests/integration/test_demo.py runs the whole demo with it).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import support
import yaml
from ansible_helpers import failed, ok
from support import BAD_PIN_RELEASES, seeded_store, url_get

from stratos.builtin import cartridge_file
from stratos.drivers.docker import state_id
from stratos.store import StateStore, dump_definition
from stratos.validation import parse_definition

if TYPE_CHECKING:
    import docker
    from ansible_helpers import Ansible

    from stratos.images import ImageResult

    Snapshot = Callable[[Path], dict[str, str]]

# Fixtures: ``ansible`` (the collection built and installed once per session, runs playbooks),
# ``state_dir`` (a fresh state directory) and ``snapshot`` (files and modes under a directory).
pytest_plugins = ["ansible_helpers"]

pytestmark = pytest.mark.timeout(600)

MANIFEST_TYPES = (
    "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json"
)


# --------------------------------------------------------------------------- helpers


def wait_for(what: str, check: Callable[[], Any], timeout: float = 30) -> Any:
    """Poll ``check``; an exception (connection refused, not found…) means "not ready yet"."""
    return support.wait_for(what, check, timeout, retry_on=(Exception,))


def http_get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str, dict[str, str]]:
    return url_get(url, headers=headers)


def free_port() -> int:
    """An unusual host port nothing listens on (checked by binding it on every address)."""
    return support.free_port(18000, 999, host="0.0.0.0", shuffle=True)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def files(root: Path) -> dict[str, str]:
    """Like the ``snapshot`` fixture (every path, its mode and content hash) but a socket (HAProxy's
    runtime API under lb/<name>/run) counts by its mode only: it cannot be read."""
    found: dict[str, str] = {}
    if not root.exists():
        return found
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        mode = oct(path.stat().st_mode)
        if path.is_file():
            found[rel] = f"{mode} {hashlib.sha256(path.read_bytes()).hexdigest()}"
        else:
            found[rel] = mode
    return found


def docker_world(client: docker.DockerClient, state: Path, *names: str) -> dict[str, list[str]]:
    """The Docker objects a run with this state directory could touch: what carries its state id,
    the LB containers and the networks named ``names``; for proving that a run changed nothing.
    (Not the whole engine: other suites may be running on it.)"""
    label = {"label": [f"org.stratos.state-id={state_id(state)}"]}
    containers = client.containers.list(all=True, filters=label) + [
        c for name in names for c in client.containers.list(all=True, filters={"name": f"^{name}$"})
    ]
    return {
        "containers": sorted(f"{c.name} {c.id} {c.status}" for c in containers),
        "volumes": sorted(v.name for v in client.volumes.list(filters=label)),
        "networks": sorted(n.id for name in names for n in client.networks.list(names=[name])),
    }


# --------------------------------------------------------------------------- definitions


def builtin(name: str) -> dict[str, Any]:
    """A standard cartridge's definition with absolute file sources, as the cartridge module stores it."""
    path = cartridge_file(name)
    data = yaml.safe_load(path.read_text())
    for entry in data["image"]["build"].get("files", []):
        if "src" in entry:
            entry["src"] = str(path.parent / entry["src"])
    return data


def platform(network: str, lb_port: int) -> list[dict[str, Any]]:
    """The seed demo's cartridges, network partition, policies and LB cluster (not the application)."""
    return [
        builtin("php"),
        builtin("mysql"),
        {
            "kind": "NetworkPartition",
            "name": "local",
            "partitions": [{"name": "p1", "zone": "a"}, {"name": "p2", "zone": "b"}],
            "network": {"name": network},
        },
        {
            "kind": "DeploymentPolicy",
            "name": "php-spread",
            "network_partitions": [
                {"name": "local", "partitions": [{"name": "p1", "max": 3}, {"name": "p2", "max": 3}]}
            ],
        },
        {
            "kind": "DeploymentPolicy",
            "name": "single",
            "network_partitions": [{"name": "local", "partitions": [{"name": "p1", "max": 1}]}],
        },
        {"kind": "AutoscalingPolicy", "name": "php-load", "thresholds": {"requests_in_flight": 20}},
        {
            "kind": "LbCluster",
            "name": "web",
            "network_partition": "local",
            "listeners": [{"proxy_port": 8080, "port": 80, "publish": lb_port}],
        },
    ]


def application(**web: Any) -> dict[str, Any]:
    """The seed demo's application body; ``web`` overrides fields of its web subscription."""
    return {
        "subscriptions": [
            {
                "alias": "db",
                "cartridge": "mysql",
                "deployment_policy": "single",
                "environment": {"MYSQL_DATABASE": "shop"},
            },
            {
                "alias": "web",
                "cartridge": "php",
                "min": 2,
                "max": 6,
                "autoscaling_policy": "php-load",
                "deployment_policy": "php-spread",
                "lb_cluster": "web",
                "links": ["db"],
                "artifact": {"url": "https://git.example.com/shop.git"},
                **web,
            },
        ],
        "dependencies": {"startup_order": [["db", "web"]]},
    }


def run_app(
    ansible: Ansible, state_dir: Path, name: str, *, check: bool = False, diff: bool = False, **params: Any
):
    extra = {"state_dir": str(state_dir), "def_name": name}
    extra.update({f"def_{key}": value for key, value in params.items()})
    return ansible.run_playbook("application.yml", extra, check=check, diff=diff)


def run_lb(
    ansible: Ansible, state_dir: Path, name: str, *, check: bool = False, diff: bool = False, **params: Any
):
    extra = {"state_dir": str(state_dir), "def_name": name}
    extra.update({f"def_{key}": value for key, value in params.items()})
    return ansible.run_playbook("lb_cluster.yml", extra, check=check, diff=diff)


def run_image(ansible: Ansible, state_dir: Path, *, check: bool = False, diff: bool = False, **params: Any):
    extra = {"state_dir": str(state_dir), **{f"img_{key}": value for key, value in params.items()}}
    return ansible.run_playbook("cartridge_image.yml", extra, check=check, diff=diff)


def run_info(ansible: Ansible, state_dir: Path, *, check: bool = False, **params: Any):
    extra = {"state_dir": str(state_dir), **{f"info_{key}": value for key, value in params.items()}}
    return ansible.run_playbook("info.yml", extra, check=check)


# --------------------------------------------------------------------------- a stand-in for the agent


def member(member_id: str, health: str = "healthy", in_lb: bool | None = True) -> dict[str, Any]:
    return {
        "id": member_id,
        "partition": "local/p1",
        "health": health,
        "in_lb": in_lb,
        "address": "172.18.0.9",
        "current_revision": True,
    }


def subscription(minimum: int, members: list[dict[str, Any]], lb: bool = True) -> dict[str, Any]:
    healthy = [m for m in members if m["health"] == "healthy"]
    in_lb = sum(1 for m in healthy if m["in_lb"]) if lb else None
    return {
        "min": minimum,
        "max": 6,
        "desired": minimum,
        "healthy": len(healthy),
        "in_lb": in_lb,
        "ready": len(healthy) >= minimum and (in_lb is None or in_lb >= minimum),
        "waiting_for": [],
        "notes": [],
        "members": members,
    }


def write_status(store: StateStore, applications: dict[str, Any], at: float | None = None) -> None:
    data = {
        "version": 1,
        "time": time.time() if at is None else at,
        "tick": {"ok": True, "error": None, "seconds": 0.01},
        "applications": applications,
    }
    store.status_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = store.status_file.with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    tmp.replace(store.status_file)


@contextmanager
def ticking(store: StateStore, applications: dict[str, Any], every: float = 0.3) -> Iterator[None]:
    """Write a fresh status.json every ``every`` seconds, as a running agent does."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            write_status(store, applications)
            stop.wait(every)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)


READY = {
    "db": subscription(1, [member("shop-db-000001", in_lb=None)], lb=False),
    "web": subscription(2, [member("shop-web-000001"), member("shop-web-000002")]),
}


# =========================================================================== cartridge_image


@pytest.mark.docker
def test_cartridge_image_build_push_and_remove(
    ansible: Ansible,
    state_dir: Path,
    tmp_path: Path,
    docker_client: docker.DockerClient,
    docker_names: Callable[[str], str],
    base_image: str,
    registry_image: str,
) -> None:
    name = unique("tiny")
    tag = f"stratos-test/{name}:1"
    folder = tmp_path / "tiny"
    (folder / "files").mkdir(parents=True)
    (folder / "files" / "motd").write_text("from a file next to the definition\n")
    (folder / "cartridge.yml").write_text(
        yaml.safe_dump(
            {
                "kind": "Cartridge",
                "name": name,
                "version": "1",
                "image": {
                    "build": {
                        "files": [
                            {"path": "/etc/motd", "src": "files/motd"},
                            {"path": "/etc/tiny.txt", "content": "hello\n"},
                        ],
                        "command": ["sleep", "infinity"],
                        "tag": tag,
                    }
                },
            }
        )
    )
    src = str(folder / "cartridge.yml")
    registry = docker_client.containers.run(
        registry_image, name=docker_names("registry"), detach=True, ports={"5000/tcp": ("127.0.0.1", None)}
    )
    pushed: list[str] = []
    try:
        # check mode: the plan, nothing built
        result = ok(run_image(ansible, state_dir, src=src, base_image=base_image, check=True, diff=True))
        assert (result["changed"], result["built"], result["image_id"]) == (True, False, None)
        assert result["tag"] == tag and result["reason"] == f"no image tagged {tag}"
        assert result["build_hash"] and result["build_hash"] in result["diff"]["after"]
        assert not docker_client.images.list(name=tag)

        # the real run builds; the image carries the build hash
        started = time.monotonic()
        result = ok(run_image(ansible, state_dir, src=src, base_image=base_image))
        build_seconds = time.monotonic() - started
        assert (result["changed"], result["built"], result["pushed_ref"]) == (True, True, None)
        image = docker_client.images.get(tag)
        assert image.id == result["image_id"]
        assert image.labels["org.stratos.build-hash"] == result["build_hash"]
        assert image.labels["org.stratos.cartridge"] == name

        # again, for real and in check mode: nothing to do
        for check in (False, True):
            again = ok(run_image(ansible, state_dir, src=src, base_image=base_image, check=check))
            assert (again["changed"], again["built"], again["image_id"]) == (False, False, image.id)

        # push to the loopback registry (plain http: 127.0.0.0/8 is an insecure registry by default)
        wait_for("the registry", lambda: registry.reload() or registry.status == "running")
        registry.reload()
        address = f"127.0.0.1:{registry.ports['5000/tcp'][0]['HostPort']}"
        wait_for("the registry API", lambda: http_get(f"http://{address}/v2/")[0] == 200)
        ref = f"{address}/{tag}"
        pushed.append(ref)
        result = ok(
            run_image(ansible, state_dir, src=src, base_image=base_image, registry=address, check=True)
        )
        assert (result["changed"], result["push_ref"], result["pushed_ref"]) == (True, ref, None)
        assert http_get(f"http://{address}/v2/stratos-test/{name}/tags/list")[0] == 404

        result = ok(run_image(ansible, state_dir, src=src, base_image=base_image, registry=address))
        assert (result["changed"], result["built"], result["pushed_ref"]) == (True, False, ref)
        code, body, headers = http_get(
            f"http://{address}/v2/stratos-test/{name}/manifests/1", {"Accept": MANIFEST_TYPES}
        )
        assert code == 200, body
        local = {d.split("@", 1)[1] for d in docker_client.images.get(tag).attrs["RepoDigests"]}
        assert headers["Docker-Content-Digest"] in local
        assert json.loads(body)["config"]["digest"] == image.id

        result = ok(run_image(ansible, state_dir, src=src, base_image=base_image, registry=address))
        assert (result["changed"], result["pushed_ref"]) == (False, None)

        # absent removes the local tag (the registry keeps its copy), then has nothing to do
        result = ok(run_image(ansible, state_dir, src=src, state="absent", check=True))
        assert result["changed"] is True and docker_client.images.list(name=tag)
        result = ok(run_image(ansible, state_dir, src=src, state="absent"))
        assert result["changed"] is True and not docker_client.images.list(name=tag)
        assert ok(run_image(ansible, state_dir, src=src, state="absent"))["changed"] is False
        print(f"tiny image built in {build_seconds:.1f}s (ansible-playbook included)")
    finally:
        for ref in [tag, *pushed]:
            try:
                docker_client.images.remove(ref, force=True)
            except Exception:  # noqa: BLE001 - already gone
                pass


@pytest.mark.docker
@pytest.mark.parametrize(
    ("params", "expected"),
    [
        (
            {"body": "image:\n  build:\n    packages: ['Not A Package']\n"},
            "image.build.packages[0] ('Not A Package'): must be a Debian package name",
        ),
        ({"body": "image:\n  biuld: {}\n"}, "image.biuld ({}): is not a known field; did you mean 'build'?"),
        ({"body": "image:\n  ref: redis:7\n"}, "image.ref is 'redis:7': a ready image, nothing to build"),
        ({"name": "nowhere"}, "cartridge 'nowhere' is not defined in"),
        ({"registry": "not a registry"}, "registry ('not a registry'): must be host or host:port"),
    ],
    ids=["bad-package", "unknown-field", "ready-image", "not-stored", "bad-registry"],
)
def test_cartridge_image_bad_input_builds_nothing(
    ansible: Ansible,
    state_dir: Path,
    tmp_path: Path,
    docker_client: docker.DockerClient,
    base_image: str,
    params: dict[str, Any],
    expected: str,
) -> None:
    name = unique("bad")
    path = tmp_path / "cartridge.yml"
    body = params.pop("body", "image:\n  build:\n    command: [sleep, infinity]\n")
    path.write_text(f"kind: Cartridge\nname: {name}\n{body}")
    if "name" not in params:
        params["src"] = str(path)
    result = failed(run_image(ansible, state_dir, base_image=base_image, **params))
    assert expected in result["msg"]
    assert not docker_client.images.list(filters={"label": f"org.stratos.cartridge={name}"})
    assert not docker_client.images.list(name=f"stratos/cartridge-{name}")


# =========================================================================== lb_cluster


@pytest.fixture
def lb_platform(
    state_dir: Path,
    docker_client: docker.DockerClient,
    docker_names: Callable[[str], str],
    haproxy_image: ImageResult,
) -> Iterator[dict[str, Any]]:
    """A network partition with its Docker network (and the HAProxy image the LB runs), and a
    unique LB cluster name whose container is removed at teardown."""
    network = docker_names("net")
    docker_client.networks.create(network, labels={"org.stratos.network-partition": "local"})
    store = seeded_store(state_dir, [d for d in platform(network, 18000) if d["kind"] == "NetworkPartition"])
    name = unique("lb")
    yield {"store": store, "network": network, "name": name, "container": f"stratos-lb-{name}"}
    for container in docker_client.containers.list(all=True, filters={"name": f"^stratos-lb-{name}$"}):
        container.remove(force=True)


@pytest.mark.docker
def test_lb_cluster_lifecycle_with_a_real_haproxy(
    ansible: Ansible, state_dir: Path, docker_client: docker.DockerClient, lb_platform: dict[str, Any]
) -> None:
    name, container_name, store = lb_platform["name"], lb_platform["container"], lb_platform["store"]
    port = free_port()
    body = {"network_partition": "local", "listeners": [{"proxy_port": 8080, "port": 80, "publish": port}]}
    definition_path = store.definition_path("LbCluster", name)
    config = store.lb_dir(name) / "haproxy.cfg"

    def container() -> Any:
        found = docker_client.containers.list(all=True, filters={"name": f"^{container_name}$"})
        return found[0] if found else None

    # check mode: the plan and its diff, nothing written or created
    before = files(state_dir)
    result = ok(run_lb(ansible, state_dir, name, body=body, check=True, diff=True))
    assert result["changed"] is True
    [planned] = result["containers"]
    assert (planned["action"], planned["container_id"], planned["url"]) == (
        "create",
        None,
        f"http://127.0.0.1:{port}/",
    )
    assert result["diff"][1]["before"] == "" and "frontend fe_8080" in result["diff"][1]["after"]
    assert f'"{lb_platform["network"]}"' in result["diff"][1]["after"]
    assert files(state_dir) == before and container() is None

    # the real run: the container publishes the listener, HAProxy answers (503: no member yet)
    result = ok(run_lb(ansible, state_dir, name, body=body))
    [created] = result["containers"]
    assert result["changed"] is True and created["action"] == "create"
    running = container()
    assert running is not None and running.id == created["container_id"] and running.status == "running"
    assert running.labels["org.stratos.role"] == "lb" and running.labels["org.stratos.lb-cluster"] == name
    assert created["ports"] == [
        {"proxy_port": 8080, "port": 80, "protocol": "http", "host_ip": "0.0.0.0", "host_port": port}
    ]
    assert wait_for("HAProxy on its published port", lambda: http_get(created["url"])[0] == 503)
    assert definition_path.is_file() and "backend be_8080" in config.read_text()
    assert (store.lb_dir(name) / "run" / "admin.sock").exists()

    # again: nothing to do, and the diff says so
    written = files(state_dir)
    for check in (False, True):
        result = ok(run_lb(ansible, state_dir, name, body=body, check=check, diff=True))
        assert result["changed"] is False and result["containers"][0]["action"] == "none"
        assert all(d["before"] == d["after"] for d in result["diff"])
    assert files(state_dir) == written and container().id == running.id

    # only the configuration changes: check mode shows it, the real run reloads the same container
    leastconn = {**body, "algorithm": "leastconn"}
    result = ok(run_lb(ansible, state_dir, name, body=leastconn, check=True, diff=True))
    assert result["containers"][0]["action"] == "reload"
    assert "balance roundrobin" in result["diff"][1]["before"]
    assert "balance leastconn" in result["diff"][1]["after"]
    assert "balance roundrobin" in config.read_text()
    result = ok(run_lb(ansible, state_dir, name, body=leastconn))
    assert result["changed"] is True and result["containers"][0]["action"] == "reload"
    assert "balance leastconn" in config.read_text() and container().id == running.id
    assert ok(run_lb(ansible, state_dir, name, body=leastconn))["changed"] is False

    # another published port: only a new container can have it
    other = free_port()
    moved = {**leastconn, "listeners": [{"proxy_port": 8080, "port": 80, "publish": other}]}
    result = ok(run_lb(ansible, state_dir, name, body=moved, diff=True))
    assert result["containers"][0]["action"] == "recreate" and container().id != running.id
    assert f"{port}" in result["diff"][1]["before"] and f"{other}" in result["diff"][1]["after"]
    assert wait_for("HAProxy on the new port", lambda: http_get(f"http://127.0.0.1:{other}/")[0] == 503)

    # info: HAProxy's own view of the backend, and the container
    info = ok(run_info(ansible, state_dir, kind="LbCluster", name=name))
    view = info["load_balancers"][name]
    assert view["available"] is True and view["backends"]["be_8080"]["servers"] == []
    assert view["frontends"]["fe_8080"]["status"] == "OPEN"
    assert [c["name"] for c in info["containers"]] == [container_name]

    # absent: check mode keeps everything; the real run removes the container, keeps the directory
    result = ok(run_lb(ansible, state_dir, name, state="absent", check=True, diff=True))
    assert result["changed"] is True and result["containers"][0]["action"] == "remove"
    assert container() is not None and definition_path.is_file()
    result = ok(run_lb(ansible, state_dir, name, state="absent"))
    assert result["changed"] is True and container() is None and not definition_path.exists()
    assert config.is_file()
    result = ok(run_lb(ansible, state_dir, name, state="absent"))
    assert result["changed"] is False and result["containers"] == []

    # purge: the configuration and runtime API directory go too
    result = ok(run_lb(ansible, state_dir, name, state="absent", purge=True))
    assert result["changed"] is True and not store.lb_dir(name).exists()
    assert ok(run_lb(ansible, state_dir, name, state="absent", purge=True))["changed"] is False


@pytest.mark.docker
def test_lb_cluster_bad_input_creates_nothing(
    ansible: Ansible,
    state_dir: Path,
    snapshot: Snapshot,
    docker_client: docker.DockerClient,
    lb_platform: dict[str, Any],
) -> None:
    name = lb_platform["name"]
    world = (docker_client, state_dir, lb_platform["container"], lb_platform["network"])
    before = snapshot(state_dir), docker_world(*world)
    cases = [
        (
            {"network_partition": "locale", "listeners": [{"proxy_port": 8080, "port": 80}]},
            f"lb_clusters/{name}.network_partition ('locale'): must name a defined network partition; "
            "did you mean 'local'?",
        ),
        (
            {"network_partition": "local", "listeners": [{"proxy_port": 8080, "port": 80}] * 2},
            f"lb_clusters/{name}.listeners[1].proxy_port (8080): must be unique within the LB cluster",
        ),
        (
            {"network_partition": "local", "listeners": [{"proxy_port": 8080, "prot": 80}]},
            f"lb_clusters/{name}.listeners[0].prot (80): is not a known field; did you mean 'port'?",
        ),
    ]
    for body, expected in cases:
        result = failed(run_lb(ansible, state_dir, name, body=body))
        assert expected in result["msg"], result["msg"]
    assert (snapshot(state_dir), docker_world(*world)) == before


# =========================================================================== application


@pytest.fixture
def app_platform(state_dir: Path) -> StateStore:
    """The demo's platform definitions and a valid application 'shop' (no Docker object)."""
    store = seeded_store(state_dir, platform("stratos-test-unused", free_port()))
    store.apply(store.plan_put(parse_definition({"kind": "Application", "name": "shop", **application()})))
    return store


# (id, application name, body, fragment of the message naming the field, the value and the rule)
BAD_APPLICATIONS = [
    (
        "undefined-deployment-policy",
        "shop",
        application(deployment_policy="php-spred"),
        "applications/shop.subscriptions[1].deployment_policy ('php-spred'): must name a defined "
        "deployment policy; did you mean 'php-spread'?",
    ),
    (
        "undefined-lb-cluster",
        "shop",
        application(lb_cluster="wbe"),
        "applications/shop.subscriptions[1].lb_cluster ('wbe'): must name a defined LB cluster; "
        "did you mean 'web'?",
    ),
    (
        "min-above-max",
        "shop",
        application(min=3, max=2),
        "applications/shop.subscriptions[1].max (2): must be >= min (3)",
    ),
    (
        "min-above-capacity",
        "shop",
        application(min=7, max=8),
        "applications/shop.subscriptions[1].min (7): must fit the partitions of deployment policy "
        "'php-spread' (their max adds up to 6)",
    ),
    (
        "proxy-port-clash",
        "blog",
        application(),
        "applications/blog.subscriptions[1].lb_cluster ('web'): proxy_port 8080 must be unique per LB "
        "cluster; 'shop/web' uses it on 'web'",
    ),
    (
        "unknown-field",
        "shop",
        application(mn=2),
        "applications/shop.subscriptions[1].mn (2): is not a known field; did you mean 'min'?",
    ),
    (
        "bad-artifact-url",
        "shop",
        application(artifact={"url": "http://git.example.com/shop.git"}),
        "applications/shop.subscriptions[1].artifact.url ('http://git.example.com/shop.git'): "
        "http:// is plaintext",
    ),
    (
        "token-in-artifact-url",
        "shop",
        application(artifact={"url": "https://deploy:s3cr3t@git.example.com/shop.git"}),
        "applications/shop.subscriptions[1].artifact.url ('https://***@git.example.com/shop.git'): "
        "must not contain credentials",
    ),
    (
        "missing-cartridge",
        "shop",
        application(cartridge="tomcat"),
        "applications/shop.subscriptions[1].cartridge ('tomcat'): must name a defined cartridge",
    ),
    (
        "data-cartridge-max",
        "shop",
        {**application(), "subscriptions": [{**application()["subscriptions"][0], "max": 2}]},
        "applications/shop.subscriptions[0].max (2): must be 1 for data cartridge 'mysql' with persistence",
    ),
    (
        "self-link",
        "shop",
        application(links=["db", "web"]),
        "applications/shop.subscriptions[1].links[1] ('web'): must not link to itself",
    ),
]


@pytest.mark.docker
@pytest.mark.parametrize(
    ("name", "body", "expected"),
    [(n, b, e) for _, n, b, e in BAD_APPLICATIONS],
    ids=[i for i, _, _, _ in BAD_APPLICATIONS],
)
def test_application_bad_input_fails_naming_the_field_and_changes_nothing(
    ansible: Ansible,
    state_dir: Path,
    snapshot: Snapshot,
    docker_client: docker.DockerClient,
    app_platform: StateStore,
    name: str,
    body: dict[str, Any],
    expected: str,
) -> None:
    world = (docker_client, state_dir, "stratos-lb-web", "stratos-test-unused")
    before = snapshot(state_dir), docker_world(*world)
    result = failed(run_app(ansible, state_dir, name, body=body, wait_timeout=5))
    assert expected in result["msg"], result["msg"]
    assert any(expected in problem for problem in result["problems"]), result["problems"]
    assert "s3cr3t" not in result["msg"]
    assert (snapshot(state_dir), docker_world(*world)) == before


def test_application_check_mode_diff_and_idempotency_without_waiting(
    ansible: Ansible, state_dir: Path, snapshot: Snapshot, app_platform: StateStore
) -> None:
    path = app_platform.definition_path("Application", "shop")
    stored = path.read_text()
    changed = application(max=4)
    before = snapshot(state_dir)
    result = ok(run_app(ansible, state_dir, "shop", body=changed, check=True, diff=True))
    assert result["changed"] is True and result["status"] is None
    assert "  max: 6\n" in result["diff"][0]["before"] and "  max: 4\n" in result["diff"][0]["after"]
    assert snapshot(state_dir) == before

    result = ok(run_app(ansible, state_dir, "shop", body=changed, wait=False))
    assert result["changed"] is True and path.read_text() != stored
    assert result["definition"]["subscriptions"][1]["max"] == 4
    assert path.read_text() == dump_definition(
        parse_definition({"kind": "Application", "name": "shop", **changed})
    )
    written = snapshot(state_dir)
    for check in (False, True):
        assert (
            ok(run_app(ansible, state_dir, "shop", body=changed, wait=False, check=check))["changed"] is False
        )
    assert snapshot(state_dir) == written


def test_application_wait_returns_once_the_agent_reports_ready(
    ansible: Ansible, state_dir: Path, app_platform: StateStore
) -> None:
    with ticking(app_platform, {"shop": {"subscriptions": READY}}):
        result = ok(run_app(ansible, state_dir, "shop", body=application(), wait_timeout=20))
    assert result["changed"] is False
    assert result["status"]["subscriptions"]["web"]["in_lb"] == 2
    assert result["status"]["age"] < 5 and result["status"]["tick"]["ok"] is True


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (None, ["application 'shop': no agent status after 2s (is the agent running?)"]),
        (
            "stale",
            [
                "application 'shop' not ready after 2s",
                "the agent's last status is",
                "older than the definition (is the agent running?)",
            ],
        ),
        (
            "not-ready",
            [
                "application 'shop' not ready after 2s: web: 1 healthy, 0 in LB, min 2",
                "members seen:",
                "web: 2 member(s) [shop-web-000001 healthy, not in LB, shop-web-000002 starting, not in LB]"
                ", 1 healthy, 0 in LB, min 2",
            ],
        ),
    ],
    ids=["no-agent", "stale-status", "fresh-but-not-ready"],
)
def test_application_wait_times_out_saying_what_it_saw(
    ansible: Ansible, state_dir: Path, app_platform: StateStore, status: str | None, expected: list[str]
) -> None:
    not_ready = {
        "db": READY["db"],
        "web": subscription(
            2, [member("shop-web-000001", in_lb=False), member("shop-web-000002", "starting", in_lb=False)]
        ),
    }
    started = time.monotonic()
    if status == "stale":
        write_status(app_platform, {"shop": {"subscriptions": READY}}, at=time.time() - 600)
        result = failed(run_app(ansible, state_dir, "shop", body=application(max=5), wait_timeout=2))
    elif status == "not-ready":
        with ticking(app_platform, {"shop": {"subscriptions": not_ready}}):
            result = failed(run_app(ansible, state_dir, "shop", body=application(max=5), wait_timeout=2))
        assert result["status"]["subscriptions"]["web"]["healthy"] == 1
    else:
        result = failed(run_app(ansible, state_dir, "shop", body=application(max=5), wait_timeout=2))
        assert result["status"] is None
    assert time.monotonic() - started < 30
    for fragment in expected:
        assert fragment in result["msg"], result["msg"]
    # the definition was written before the wait: a later run only waits again
    assert result["changed"] is True
    assert "max: 5" in app_platform.definition_path("Application", "shop").read_text()


# --------------------------------------------------------------------------- absent (Docker)


@pytest.mark.docker
def test_application_absent_waits_for_its_members_then_purges_only_its_data(
    ansible: Ansible,
    state_dir: Path,
    snapshot: Snapshot,
    docker_client: docker.DockerClient,
    docker_names: Callable[[str], str],
    base_image: str,
    app_platform: StateStore,
) -> None:
    app = "shop"
    sid = state_id(state_dir)
    labels = {"org.stratos.application": app, "org.stratos.subscription": "db", "org.stratos.state-id": sid}
    ours = docker_names("data")
    theirs = docker_names("data")  # the same application name, another state directory's
    docker_client.volumes.create(ours, labels=labels)
    docker_client.volumes.create(theirs, labels={**labels, "org.stratos.state-id": "0123456789ab"})
    app_platform.secret(app, "db", "password")
    (state_dir / "releases" / app / "web").mkdir(parents=True)
    # A member nobody removes (no agent runs here)
    member_name = docker_names("member")
    docker_client.containers.run(
        base_image,
        ["sleep", "300"],
        name=member_name,
        detach=True,
        labels={**labels, "org.stratos.role": "member", "org.stratos.member-id": f"{app}-db-abcdef"},
    )
    path = app_platform.definition_path("Application", app)

    # check mode: says what purge_data would remove, removes nothing, waits for nothing
    world = (docker_client, state_dir, member_name)
    before = snapshot(state_dir), docker_world(*world)
    result = ok(run_app(ansible, state_dir, app, state="absent", purge_data=True, check=True, diff=True))
    assert result["changed"] is True
    assert result["purged"] == {
        "volumes": [ours],
        "paths": [str(state_dir / "secrets" / app), str(state_dir / "releases" / app)],
    }
    assert result["diff"][1]["after"] == "" and ours in result["diff"][1]["before"]
    assert (snapshot(state_dir), docker_world(*world)) == before

    # the member stays: the wait fails naming it, the definition is gone, the data is kept
    result = failed(run_app(ansible, state_dir, app, state="absent", purge_data=True, wait_timeout=2))
    assert (
        f"application '{app}' removed, but after 2s 1 member(s) still exist: {app}-db-abcdef (running)"
        in (result["msg"])
    )
    assert "its data is kept until they are gone" in result["msg"]
    assert result["members"] == [f"{app}-db-abcdef (running)"]
    assert not path.exists() and docker_client.volumes.get(ours)
    assert (state_dir / "secrets" / app).is_dir()

    # once the member is gone: only this state directory's volume goes, and the application's dirs
    docker_client.containers.get(member_name).remove(force=True)
    result = ok(run_app(ansible, state_dir, app, state="absent", purge_data=True, wait_timeout=5))
    assert result["changed"] is True and result["members"] == [] and result["definition"] is None
    assert result["purged"]["volumes"] == [ours]
    assert not docker_client.volumes.list(filters={"name": ours})
    assert docker_client.volumes.get(theirs)
    assert not (state_dir / "secrets" / app).exists() and not (state_dir / "releases" / app).exists()
    assert ok(run_app(ansible, state_dir, app, state="absent", purge_data=True))["changed"] is False


@pytest.mark.docker
def test_application_absent_keeps_the_data_by_default(
    ansible: Ansible,
    state_dir: Path,
    docker_client: docker.DockerClient,
    docker_names: Callable[[str], str],
    app_platform: StateStore,
) -> None:
    volume = docker_names("data")
    docker_client.volumes.create(
        volume, labels={"org.stratos.application": "shop", "org.stratos.state-id": state_id(state_dir)}
    )
    app_platform.secret("shop", "db", "password")
    result = ok(run_app(ansible, state_dir, "shop", state="absent", wait_timeout=5))
    assert result["changed"] is True and result["members"] == [] and "purged" not in result
    assert (
        docker_client.volumes.get(volume) and (state_dir / "secrets" / "shop" / "db" / "password").is_file()
    )
    assert ok(run_app(ansible, state_dir, "shop", state="absent"))["changed"] is False


# =========================================================================== info


def test_info_returns_definitions_and_the_agents_view_without_secrets(
    ansible: Ansible, state_dir: Path, snapshot: Snapshot, app_platform: StateStore
) -> None:
    token = "tok3n-" + uuid.uuid4().hex
    body = application(artifact={"url": "https://git.example.com/shop.git"})
    app_platform.apply(
        app_platform.plan_put(parse_definition({"kind": "Application", "name": "shop", **body}))
    )
    password = app_platform.secret("shop", "db", "password")
    link = app_platform.link_file("shop", "db")
    link.parent.mkdir(parents=True, exist_ok=True)
    link.write_text(f"DB_PASSWORD={password}\n")
    write_status(app_platform, {"shop": {"subscriptions": READY}})
    before = snapshot(state_dir)

    for check in (False, True):
        result = ok(run_info(ansible, state_dir, check=check))
        assert result["changed"] is False
        dumped = json.dumps(result)
        assert token not in dumped and password not in dumped
        assert set(result["definitions"]) == {
            "cartridges",
            "network_partitions",
            "deployment_policies",
            "autoscaling_policies",
            "lb_clusters",
            "applications",
        }
        shop = result["definitions"]["applications"]["shop"]
        assert shop["subscriptions"][1]["artifact"]["url"] == "https://git.example.com/shop.git"
        assert sorted(result["definitions"]["cartridges"]) == ["mysql", "php"]
        assert result["problems"] == []
        assert result["applications"]["shop"]["subscriptions"]["web"]["healthy"] == 2
        assert result["agent"]["tick"]["ok"] is True
        # the LB cluster is defined but its HAProxy does not run here
        assert result["load_balancers"]["web"]["available"] is False
        assert "does not exist" in result["load_balancers"]["web"]["error"]
    assert snapshot(state_dir) == before

    # filtered by kind and name, and without the live state
    result = ok(run_info(ansible, state_dir, kind="Cartridge", name="php", live=False))
    stored = yaml.safe_load(dump_definition(parse_definition(builtin("php"))))
    assert result["definitions"] == {"cartridges": {"php": stored}}
    assert "applications" not in result and "containers" not in result


# =========================================================================== pin_release


@pytest.mark.parametrize(("pins", "expected"), list(BAD_PIN_RELEASES.values()), ids=list(BAD_PIN_RELEASES))
def test_pin_release_bad_input_changes_nothing(
    ansible: Ansible, state_dir: Path, snapshot: Snapshot, app_platform: StateStore, pins: dict, expected: str
) -> None:
    before = snapshot(state_dir)
    result = failed(run_app(ansible, state_dir, "shop", body=application(), pin_release=pins, wait=False))
    assert expected in result["msg"], result["msg"]
    assert snapshot(state_dir) == before


def test_pin_release_sets_and_clears_the_pin(
    ansible: Ansible, state_dir: Path, app_platform: StateStore
) -> None:
    pinned = ok(
        run_app(ansible, state_dir, "shop", body=application(), pin_release={"web": "3f2c1a9"}, wait=False)
    )
    assert pinned["changed"] is True
    assert pinned["definition"]["subscriptions"][1]["artifact"]["pin"] == "3f2c1a9"
    again = ok(
        run_app(ansible, state_dir, "shop", body=application(), pin_release={"web": "3f2c1a9"}, wait=False)
    )
    assert again["changed"] is False
    cleared = ok(
        run_app(ansible, state_dir, "shop", body=application(), pin_release={"web": None}, wait=False)
    )
    assert cleared["changed"] is True and "pin" not in cleared["definition"]["subscriptions"][1]["artifact"]
