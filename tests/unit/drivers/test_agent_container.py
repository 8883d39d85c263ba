"""Planning the agent container: pure comparisons and a recording fake Docker client (no Docker)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

import docker
import pytest

from stratos.drivers import agent_container as ac
from stratos.drivers import docker_proxy
from stratos.errors import NotFoundError, StratosError

# Most tests look at the agent and its proxy alone; the HTTP side (on by default) has its own below.
SPEC = ac.AgentSpec(
    image="stratos/agent:test",
    state_dir="/srv/stratos",
    interval=5,
    proxy_image="stratos/haproxy:test",
    http_split=False,
)
SPLIT = replace(SPEC, http_split=None)
PROXY = "stratos-agent-docker-proxy"
IMAGE_ID = "sha256:" + "a" * 64
OLD_IMAGE_ID = "sha256:" + "b" * 64


def container_attrs(
    spec: ac.AgentSpec, *, status: str = "running", image_id: str = IMAGE_ID, **labels: str
) -> dict:
    """Inspect data of a container made by apply_agent from ``spec``."""
    want = ac.desired(spec)
    base_labels = {
        ac.ROLE_LABEL: ac.AGENT_ROLE,
        ac.CONFIG_HASH_LABEL: ac.config_hash(spec),
        ac.CONFIG_LABEL: json.dumps(want, sort_keys=True),
    }
    base_labels.update(labels)
    return {
        "Name": f"/{spec.name}",
        "Image": image_id,
        "State": {"Status": status},
        "Config": {
            "Image": spec.image_ref,
            "Cmd": want["command"],
            "Env": [f"{k}={v}" for k, v in want["environment"].items()] + ["PATH=/usr/bin"],
            "Labels": {k: v for k, v in base_labels.items() if v is not None},
        },
        "HostConfig": {
            "RestartPolicy": {"Name": spec.restart},
            "NetworkMode": "host",
            "Binds": want["mounts"],
        },
    }


@dataclass
class FakeContainer:
    attrs: dict[str, Any]
    calls: list[str]

    @property
    def name(self) -> str:
        return self.attrs["Name"].lstrip("/")

    def stop(self, timeout: int) -> None:
        self.calls.append(f"stop {self.name} timeout={timeout}")

    def remove(self, force: bool = False) -> None:
        self.calls.append(f"remove {self.name}")

    def start(self) -> None:
        self.calls.append(f"start {self.name}")


@dataclass
class FakeImage:
    id: str


@dataclass
class FakeClient:
    """Just enough of docker.DockerClient: containers.get/run, images.get."""

    containers_by_name: dict[str, dict[str, Any]] = field(default_factory=dict)
    images_by_ref: dict[str, str] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    run_kwargs: dict[str, Any] = field(default_factory=dict)
    runs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def containers(self) -> FakeClient:
        return self

    @property
    def images(self) -> _Images:
        return _Images(self)

    def get(self, name: str) -> FakeContainer:
        if name not in self.containers_by_name:
            raise docker.errors.NotFound(f"no container {name}")
        return FakeContainer(self.containers_by_name[name], self.calls)

    def run(self, image: str, **kwargs: Any) -> None:
        self.calls.append(f"run {kwargs.get('name', '(one-shot)')} from {image}")
        self.runs.append(kwargs)
        if "name" in kwargs and kwargs["name"] == SPEC.name:
            self.run_kwargs = kwargs


@dataclass
class _Images:
    client: FakeClient

    def get(self, ref: str) -> FakeImage:
        if ref not in self.client.images_by_ref:
            raise docker.errors.ImageNotFound(f"no image {ref}")
        return FakeImage(self.client.images_by_ref[ref])


# --------------------------------------------------------------------------- the spec


def test_command_and_summary() -> None:
    want = ac.desired(replace(SPEC, interval=2.5, environment={"B": "2", "A": "1"}))
    assert want["command"] == [
        "agent",
        "--state-dir",
        "/srv/stratos",
        "--interval",
        "2.5",
        "--bind",
        "127.0.0.1",
        "--metrics-port",
        "9464",
    ]
    assert want["network_mode"] == "host"
    assert want["restart"] == "unless-stopped"
    assert want["mounts"] == [
        "/run/stratos-docker-proxy/stratos-agent:/run/stratos-docker:ro",
        "/srv/stratos:/srv/stratos:rw",
    ]
    assert list(want["environment"]) == ["STRATOS_STATE_DIR", "HOME", "A", "B"]


def test_integral_interval_is_written_without_decimals() -> None:
    assert ac.desired(SPEC)["command"][4] == "5"


def test_default_image_follows_the_package_version() -> None:
    assert ac.AgentSpec().image_ref == f"stratos/agent:{ac.package_version()}"


@pytest.mark.parametrize(
    "other",
    [
        replace(SPEC, image="stratos/agent:other"),
        replace(SPEC, state_dir="/other"),
        replace(SPEC, interval=6),
        replace(SPEC, restart="always"),
        replace(SPEC, environment={"X": "1"}),
        replace(SPEC, name="stratos-agent-2"),
    ],
    ids=["image", "state-dir", "interval", "restart", "environment", "name"],
)
def test_every_setting_changes_the_hash(other: ac.AgentSpec) -> None:
    assert ac.config_hash(other) != ac.config_hash(SPEC)


def test_the_hash_is_stable() -> None:
    assert ac.config_hash(SPEC) == ac.config_hash(ac.AgentSpec(**{**SPEC.__dict__}))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": ""}, "name ('')"),
        ({"name": "a/b"}, "name ('a/b')"),
        ({"state_dir": "relative"}, "state_dir ('relative'): must be an absolute path"),
        ({"interval": 0}, "interval (0): must be greater than 0"),
        ({"restart": "sometimes"}, "restart ('sometimes'): must be one of"),
        ({"docker_socket": "docker.sock"}, "docker_socket ('docker.sock')"),
        ({"docker_access": "tcp"}, "docker_access ('tcp'): must be one of proxy, external, socket"),
        ({"proxy_dir": "run/x"}, "proxy_dir ('run/x'): must be an absolute path"),
        ({"docker_access": "external"}, "proxy_dir: is required with docker_access 'external'"),
        ({"state_dir": "/root/stratos"}, "state_dir ('/root/stratos'): must not be below /root"),
        (
            {"http_split": True, "docker_access": "socket"},
            "http_split: cannot be true with docker_access 'socket'",
        ),
        ({"http_port": 0}, "http_port (0): must be an integer from 1 to 65535"),
        ({"http_port": 70000}, "http_port (70000): must be an integer from 1 to 65535"),
        ({"http_bind": "localhost; rm"}, "http_bind ('localhost; rm'): must be an IP address"),
    ],
    ids=[
        "empty-name",
        "slash-in-name",
        "relative-state-dir",
        "zero-interval",
        "bad-restart",
        "relative-socket",
        "bad-access",
        "relative-proxy-dir",
        "external-without-dir",
        "state-dir-below-root",
        "split-with-socket",
        "port-zero",
        "port-too-big",
        "bind-not-an-address",
    ],
)
def test_invalid_specs_name_the_field(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(StratosError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ac.AgentSpec(**changes)


# --------------------------------------------------------------------------- comparing


def observed(spec: ac.AgentSpec = SPEC, **kwargs: Any) -> ac.Observed:
    return ac.observe(FakeContainer(container_attrs(spec, **kwargs), []))


@pytest.mark.parametrize(
    ("current", "image_id", "action", "reason"),
    [
        (None, IMAGE_ID, "create", "does not exist"),
        (None, None, "create", "does not exist"),
        (observed(), IMAGE_ID, "none", None),
        (observed(), None, "none", None),
        (observed(status="restarting"), IMAGE_ID, "none", None),
        (observed(status="exited"), IMAGE_ID, "start", "the container is exited"),
        (observed(status="created"), IMAGE_ID, "start", "the container is created"),
        (observed(replace(SPEC, interval=30)), IMAGE_ID, "recreate", "configuration changed: command"),
        (
            observed(replace(SPEC, image="stratos/agent:old")),
            IMAGE_ID,
            "recreate",
            "configuration changed: image",
        ),
        (observed(image_id=OLD_IMAGE_ID), IMAGE_ID, "recreate", "now resolves to aaaaaaaaaaaa"),
        (observed(**{ac.CONFIG_HASH_LABEL: "stale"}), IMAGE_ID, "recreate", "configuration hash changed"),
        (observed(status="exited", image_id=OLD_IMAGE_ID), IMAGE_ID, "recreate", "now resolves"),
    ],
    ids=[
        "absent",
        "absent-image-missing",
        "same",
        "same-image-missing",
        "restarting-counts-as-running",
        "stopped",
        "created-not-started",
        "interval-changed",
        "image-ref-changed",
        "image-rebuilt",
        "hash-label-stale",
        "stopped-and-rebuilt",
    ],
)
def test_compare(current: ac.Observed | None, image_id: str | None, action: str, reason: str | None) -> None:
    change = ac.compare(SPEC, current, image_id)
    assert change.action == action
    assert change.changed == (action != "none")
    if reason is None:
        assert change.reasons == ()
        assert change.before == change.after
    else:
        assert any(reason in r for r in change.reasons), change.reasons


@pytest.mark.parametrize(
    ("current", "image_id", "present"),
    [
        (None, None, False),
        (None, IMAGE_ID, True),
        (observed(replace(SPEC, interval=30)), None, False),
        (observed(), None, True),
    ],
    ids=["create-without-image", "create-with-image", "recreate-without-image", "nothing-to-make"],
)
def test_a_missing_image_is_flagged_only_when_a_container_is_to_be_made(
    current: ac.Observed | None, image_id: str | None, present: bool
) -> None:
    assert ac.image_missing(ac.compare(SPEC, current, image_id), image_id) is not present


def test_restart_policy_changed_with_docker_update_is_drift() -> None:
    attrs = container_attrs(SPEC)
    attrs["HostConfig"]["RestartPolicy"] = {"Name": "no"}
    change = ac.compare(SPEC, ac.observe(FakeContainer(attrs, [])), IMAGE_ID)
    assert change.action == "recreate"
    assert change.reasons == ("configuration changed: restart",)


def test_a_container_without_the_config_label_is_read_from_inspect_data() -> None:
    current = observed(**{ac.CONFIG_LABEL: None})
    assert current.summary["command"] == ac.desired(SPEC)["command"]
    assert current.summary["mounts"] == ac.desired(SPEC)["mounts"]
    assert current.summary["environment"] == {"STRATOS_STATE_DIR": "/srv/stratos"}
    assert current.summary["docker_access"] is None
    # How it reaches Docker cannot be read back (a container of an earlier version, say): it is
    # recreated, unprivileged.
    change = ac.compare(SPEC, current, IMAGE_ID)
    assert change.action == "recreate"
    assert "docker_access" in change.reasons[0]


@pytest.mark.parametrize("role", [None, "member"], ids=["unlabelled", "member"])
def test_a_foreign_container_with_the_name_is_refused(role: str | None) -> None:
    current = observed(**{ac.ROLE_LABEL: role})
    with pytest.raises(StratosError, match="is not a Stratos agent"):
        ac.compare(SPEC, current, IMAGE_ID)
    with pytest.raises(StratosError, match="is not a Stratos agent"):
        ac.compare_removal(current, SPEC.name)


@pytest.mark.parametrize(
    ("current", "action"),
    [(None, "none"), (observed(), "remove"), (observed(status="exited"), "remove")],
    ids=["absent", "running", "stopped"],
)
def test_compare_removal(current: ac.Observed | None, action: str) -> None:
    change = ac.compare_removal(current, SPEC.name)
    assert change.action == action
    assert change.after is None


def test_the_change_shows_the_summaries() -> None:
    change = ac.compare(SPEC, None, IMAGE_ID)
    assert change.before is None and change.label == "container/stratos-agent"
    assert isinstance(change.after, dict)
    assert change.after["state"] == "running"
    assert change.after["config_hash"] == ac.config_hash(SPEC)


# --------------------------------------------------------------------------- planning and applying with a fake client


def proxy_attrs(
    spec: ac.AgentSpec = SPEC, *, status: str = "running", config_hash: str | None = None
) -> dict:
    proxy = spec.proxy()
    assert proxy is not None
    return {
        "Name": f"/{proxy.name}",
        "Image": IMAGE_ID,
        "State": {"Status": status},
        "Config": {
            "Labels": {
                ac.ROLE_LABEL: ac.PROXY_ROLE,
                ac.CONFIG_HASH_LABEL: config_hash or docker_proxy.config_hash(proxy),
            }
        },
        "HostConfig": {},
    }


IMAGES = {SPEC.image_ref: IMAGE_ID, "stratos/haproxy:test": OLD_IMAGE_ID}


def test_plan_reads_and_changes_nothing() -> None:
    client = FakeClient({SPEC.name: container_attrs(SPEC, status="exited")}, dict(IMAGES))
    plan = ac.plan_agent(client, SPEC)  # type: ignore[arg-type]
    assert plan.changes[0].action == "start"
    assert plan.report["companions"] == {PROXY: "create", "stratos-agent-http": "none"}
    assert [c.name for c in plan.changes] == [SPEC.name, PROXY, "stratos-agent-http"]
    assert ac.plan_agent_removal(client, SPEC.name).changes[0].action == "remove"  # type: ignore[arg-type]
    assert client.calls == []


def test_ensure_creates_the_proxy_gives_the_state_dir_then_starts_the_agent_unprivileged() -> None:
    client = FakeClient(images_by_ref=dict(IMAGES))
    change = ac.ensure_agent(client, SPEC).changes[0]  # type: ignore[arg-type]
    assert change.action == "create"
    assert client.calls == [
        f"run {PROXY} from stratos/haproxy:test",
        "run (one-shot) from stratos/agent:test",
        "run stratos-agent from stratos/agent:test",
    ]
    proxy, owner, kwargs = client.runs
    assert proxy["labels"][ac.ROLE_LABEL] == "docker-proxy"
    assert proxy["network_mode"] == "none"
    assert proxy["read_only"] is True
    assert (proxy["cap_drop"], proxy["cap_add"]) == (["ALL"], ["CHOWN", "FOWNER"])
    assert "/var/run/docker.sock:/var/run/docker.sock:rw" in proxy["volumes"]
    assert f"/run/stratos-docker-proxy/stratos-agent:{docker_proxy.LISTEN_DIR}:rw" in proxy["volumes"]
    assert owner["remove"] is True and owner["network_mode"] == "none" and owner["user"] == "0:0"
    assert owner["volumes"] == ["/srv/stratos:/srv/stratos:rw"]
    assert "10001:10001" in owner["command"] and "/srv/stratos/agent" in owner["command"]
    assert owner["cap_add"] == ["CHOWN", "DAC_READ_SEARCH", "FOWNER", "FSETID"]
    assert kwargs["command"][:5] == ["agent", "--state-dir", "/srv/stratos", "--interval", "5"]
    assert kwargs["restart_policy"] == {"Name": "unless-stopped"}
    assert kwargs["network_mode"] == "host"
    assert kwargs["user"] == "10001:10001"
    assert kwargs["read_only"] is True
    assert kwargs["tmpfs"] == {"/tmp": "rw,nosuid,nodev,size=64m"}
    assert kwargs["cap_drop"] == ["ALL"]
    assert kwargs["security_opt"] == ["no-new-privileges"]
    assert sorted(kwargs["volumes"]) == [
        "/run/stratos-docker-proxy/stratos-agent:/run/stratos-docker:ro",
        "/srv/stratos:/srv/stratos:rw",
    ]
    assert not any("docker.sock" in v for v in kwargs["volumes"])
    assert kwargs["labels"][ac.ROLE_LABEL] == "agent"
    assert kwargs["labels"][ac.CONFIG_HASH_LABEL] == ac.config_hash(SPEC)


def test_ensure_recreates_a_changed_container() -> None:
    old = replace(SPEC, interval=30)
    client = FakeClient({SPEC.name: container_attrs(old), PROXY: proxy_attrs()}, dict(IMAGES))
    assert ac.ensure_agent(client, SPEC).changes[0].action == "recreate"  # type: ignore[arg-type]
    assert client.calls == [
        f"stop stratos-agent timeout={ac.STOP_TIMEOUT}",
        "remove stratos-agent",
        "run (one-shot) from stratos/agent:test",
        "run stratos-agent from stratos/agent:test",
    ]


def test_ensure_leaves_a_matching_container_alone() -> None:
    client = FakeClient({SPEC.name: container_attrs(SPEC), PROXY: proxy_attrs()}, dict(IMAGES))
    change = ac.ensure_agent(client, SPEC)  # type: ignore[arg-type]
    assert change.changed is False
    assert client.calls == []


@pytest.mark.parametrize(
    ("proxy", "action", "calls"),
    [
        (None, "create", [f"run {PROXY} from stratos/haproxy:test"]),
        (proxy_attrs(status="exited"), "start", [f"start {PROXY}"]),
        (
            proxy_attrs(config_hash="stale"),
            "recreate",
            [
                f"stop {PROXY} timeout={ac.STOP_TIMEOUT}",
                f"remove {PROXY}",
                f"run {PROXY} from stratos/haproxy:test",
            ],
        ),
    ],
    ids=["missing", "stopped", "stale"],
)
def test_a_missing_stopped_or_stale_proxy_alone_is_put_right(
    proxy: dict | None, action: str, calls: list[str]
) -> None:
    containers = {SPEC.name: container_attrs(SPEC)}
    if proxy is not None:
        containers[PROXY] = proxy
    client = FakeClient(containers, dict(IMAGES))
    plan = ac.ensure_agent(client, SPEC)  # type: ignore[arg-type]
    assert (plan.changes[0].action, plan.report["companions"][PROXY], plan.changed) == ("none", action, True)
    reasons = [r for change in plan.changes for r in change.reasons]
    assert any(r.startswith(f"{PROXY}: ") for r in reasons), reasons
    assert client.calls == calls


def test_a_foreign_container_with_the_proxys_name_is_refused() -> None:
    foreign = {**proxy_attrs(), "Config": {"Labels": {ac.ROLE_LABEL: "lb"}}}
    client = FakeClient({SPEC.name: container_attrs(SPEC), PROXY: foreign}, dict(IMAGES))
    with pytest.raises(StratosError, match=f"container '{PROXY}' exists but is not the agent's docker-proxy"):
        ac.plan_agent(client, SPEC)  # type: ignore[arg-type]


def test_ensure_fails_clearly_when_the_image_is_missing() -> None:
    client = FakeClient(images_by_ref={"stratos/haproxy:test": OLD_IMAGE_ID})
    with pytest.raises(
        NotFoundError, match=r"image stratos/agent:test does not exist .*build-agent-image.sh"
    ):
        ac.ensure_agent(client, SPEC)  # type: ignore[arg-type]
    assert client.calls == [f"run {PROXY} from stratos/haproxy:test"]


def test_ensure_fails_clearly_when_the_proxy_image_is_missing() -> None:
    client = FakeClient(images_by_ref={SPEC.image_ref: IMAGE_ID})
    with pytest.raises(NotFoundError, match=r"the Docker proxy's image stratos/haproxy:test does not exist"):
        ac.ensure_agent(client, SPEC)  # type: ignore[arg-type]
    assert client.calls == []


def test_remove_stops_then_removes_the_agent_then_its_proxy() -> None:
    client = FakeClient({SPEC.name: container_attrs(SPEC), PROXY: proxy_attrs()})
    assert ac.remove_agent(client, SPEC.name).changes[0].action == "remove"  # type: ignore[arg-type]
    assert client.calls == [
        f"stop stratos-agent timeout={ac.STOP_TIMEOUT}",
        "remove stratos-agent",
        f"stop {PROXY} timeout={ac.STOP_TIMEOUT}",
        f"remove {PROXY}",
    ]
    assert ac.remove_agent(FakeClient(), SPEC.name).changed is False  # type: ignore[arg-type]


# --------------------------------------------------------------------------- privileges


def test_socket_access_is_the_old_root_agent_with_the_engines_socket() -> None:
    spec = replace(SPEC, docker_access="socket")
    want = ac.desired(spec)
    assert want["user"] == "0:0"
    assert "/var/run/docker.sock:/run/stratos-docker/docker.sock:rw" in want["mounts"]
    assert want["docker_proxy"] is None
    assert spec.proxy() is None
    assert dict(ac.companions(spec)) == {
        PROXY: ("docker-proxy", None),
        "stratos-agent-http": ("agent-http", None),
    }


def test_external_access_mounts_the_given_proxy_directory_and_runs_no_proxy() -> None:
    spec = replace(SPEC, docker_access="external", proxy_dir="/run/my-socket-proxy")
    want = ac.desired(spec)
    assert want["user"] == "10001:10001"
    assert "/run/my-socket-proxy:/run/stratos-docker:ro" in want["mounts"]
    assert spec.proxy() is None


def http_attrs(spec: ac.AgentSpec = SPLIT, *, status: str = "running") -> dict:
    want = ac.desired_http(spec)
    assert want is not None
    return {
        "Name": f"/{want['name']}",
        "Image": IMAGE_ID,
        "State": {"Status": status},
        "Config": {"Labels": {ac.ROLE_LABEL: ac.HTTP_ROLE, ac.CONFIG_HASH_LABEL: ac.http_config_hash(want)}},
        "HostConfig": {},
    }


def test_the_http_side_is_on_by_default_with_no_docker_access_its_own_uid_and_agent_dir_read_only() -> None:
    assert ac.AgentSpec().split is True
    assert ac.desired(SPEC)["http"] is None
    want = ac.desired(SPLIT)
    assert want["command"][-2:] == ["--metrics-port", "0"]
    http = want["http"]
    assert http["command"] == [
        "agent-http",
        "--state-dir",
        "/srv/stratos",
        "--bind",
        "127.0.0.1",
        "--port",
        "9464",
    ]
    assert http["user"] == "10002:10001"
    assert http["mounts"] == [
        "/srv/stratos/agent/http:/srv/stratos/agent/http:rw",
        "/srv/stratos/agent/triggers:/srv/stratos/agent/triggers:rw",
        "/srv/stratos/agent:/srv/stratos/agent:ro",
    ]
    assert (http["read_only"], http["cap_drop"], http["network_mode"]) == (True, ["ALL"], "host")
    client = FakeClient({SPLIT.name: container_attrs(SPLIT), PROXY: proxy_attrs(SPLIT)}, dict(IMAGES))
    plan = ac.ensure_agent(client, SPLIT)  # type: ignore[arg-type]
    assert plan.report["companions"]["stratos-agent-http"] == "create"
    assert client.calls == ["run stratos-agent-http from stratos/agent:test"]
    assert client.runs[-1]["user"] == "10002:10001"
    assert not any("docker" in v for v in client.runs[-1]["volumes"])
    # Running as described: nothing to do; the split turned off removes it.
    client.containers_by_name["stratos-agent-http"] = http_attrs()
    assert ac.plan_agent(client, SPLIT).changed is False  # type: ignore[arg-type]
    off = ac.plan_agent(client, SPEC)  # type: ignore[arg-type]
    assert off.report["companions"]["stratos-agent-http"] == "remove"


def test_the_http_port_and_bind_go_to_the_http_side_or_without_the_split_to_the_agent() -> None:
    split = replace(SPLIT, http_bind="0.0.0.0", http_port=9500)
    assert ac.desired(split)["http"]["command"][-4:] == ["--bind", "0.0.0.0", "--port", "9500"]
    assert ac.desired(replace(split, http_split=False))["command"][-4:] == [
        "--bind",
        "0.0.0.0",
        "--metrics-port",
        "9500",
    ]
    # A root agent (the engine's socket) writes files the HTTP side could not read: no split by default.
    assert ac.desired(replace(SPLIT, docker_access="socket"))["http"] is None


def test_every_privilege_setting_changes_the_hash() -> None:
    hashes = {
        ac.config_hash(spec)
        for spec in (
            SPEC,
            replace(SPEC, docker_access="socket"),
            replace(SPEC, docker_access="external", proxy_dir="/run/x"),
            replace(SPEC, proxy_dir="/run/y"),
            replace(SPEC, proxy_image="stratos/haproxy:other"),
            replace(SPEC, http_split=True),
            replace(SPEC, http_port=9500),
            replace(SPEC, http_bind="127.0.0.2"),
        )
    }
    assert len(hashes) == 8


def test_owner_command_gives_the_agent_its_directories_only() -> None:
    command = ac.owner_command(SPEC)
    assert command[:2] == ["/bin/sh", "-c"]
    assert command[3:] == [
        "stratos-owner",
        "10001:10001",
        "/srv/stratos",
        "/srv/stratos/definitions",
        "/srv/stratos/lb",
        "/srv/stratos/agent",
        "/srv/stratos/releases",
        "/srv/stratos/secrets",
        "/srv/stratos/links",
        "/srv/stratos/git",  # the file:// root: git reads no repository another uid owns
    ]
    assert 'chown "$owner" "$1" "$2" "$3"; shift 3; chown -R "$owner" "$@"' in command[2]
    # The definitions' group becomes the agent's (setgid directories keep it for later files), and the
    # HTTP side's two directories are group-writable.
    assert 'chgrp -R "${owner#*:}" "$defs"; find "$defs" -type d -exec chmod g+rxs {} +' in command[2]
    assert 'chmod 0770 "$agent/triggers" "$agent/http"' in command[2]
