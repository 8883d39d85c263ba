"""Planning the agent container: pure comparisons and a recording fake Docker client (no Docker)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

import docker
import pytest
import yaml

from stratos.drivers import agent_container as ac
from stratos.errors import NotFoundError, StratosError

SPEC = ac.AgentSpec(image="stratos/agent:test", state_dir="/srv/stratos", interval=5)
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
        self.calls.append(f"run {kwargs['name']} from {image}")
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
    assert want["command"] == ["agent", "--state-dir", "/srv/stratos", "--interval", "2.5"]
    assert want["network_mode"] == "host"
    assert want["restart"] == "unless-stopped"
    assert want["mounts"] == ["/srv/stratos:/srv/stratos:rw", "/var/run/docker.sock:/var/run/docker.sock:rw"]
    assert list(want["environment"]) == ["STRATOS_STATE_DIR", "A", "B"]


def test_integral_interval_is_written_without_decimals() -> None:
    assert ac.desired(SPEC)["command"][-1] == "5"


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
    ],
    ids=[
        "empty-name",
        "slash-in-name",
        "relative-state-dir",
        "zero-interval",
        "bad-restart",
        "relative-socket",
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
    assert ac.compare(SPEC, current, image_id).image_present is present


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
    assert ac.compare(SPEC, current, IMAGE_ID).action == "none"


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


def test_diff_shows_the_summaries() -> None:
    change = ac.compare(SPEC, None, IMAGE_ID)
    diff = change.diff()
    assert diff["before"] == "" and diff["before_header"] == "(absent)"
    assert diff["after_header"] == "container/stratos-agent"
    after = yaml.safe_load(diff["after"])
    assert after["state"] == "running"
    assert after["config_hash"] == ac.config_hash(SPEC)


# --------------------------------------------------------------------------- planning and applying with a fake client


def test_plan_reads_and_changes_nothing() -> None:
    client = FakeClient({SPEC.name: container_attrs(SPEC, status="exited")}, {SPEC.image_ref: IMAGE_ID})
    assert ac.plan_agent(client, SPEC).action == "start"  # type: ignore[arg-type]
    assert ac.plan_agent_removal(client, SPEC.name).action == "remove"  # type: ignore[arg-type]
    assert client.calls == []


def test_ensure_creates_with_labels_socket_state_dir_and_host_network() -> None:
    client = FakeClient(images_by_ref={SPEC.image_ref: IMAGE_ID})
    change = ac.ensure_agent(client, SPEC)  # type: ignore[arg-type]
    assert change.action == "create"
    assert client.calls == ["run stratos-agent from stratos/agent:test"]
    kwargs = client.run_kwargs
    assert kwargs["command"] == ["agent", "--state-dir", "/srv/stratos", "--interval", "5"]
    assert kwargs["restart_policy"] == {"Name": "unless-stopped"}
    assert kwargs["network_mode"] == "host"
    assert "/var/run/docker.sock:/var/run/docker.sock:rw" in kwargs["volumes"]
    assert "/srv/stratos:/srv/stratos:rw" in kwargs["volumes"]
    assert kwargs["labels"][ac.ROLE_LABEL] == "agent"
    assert kwargs["labels"][ac.CONFIG_HASH_LABEL] == ac.config_hash(SPEC)


def test_ensure_recreates_a_changed_container() -> None:
    old = replace(SPEC, interval=30)
    client = FakeClient({SPEC.name: container_attrs(old)}, {SPEC.image_ref: IMAGE_ID})
    assert ac.ensure_agent(client, SPEC).action == "recreate"  # type: ignore[arg-type]
    assert client.calls == [
        f"stop stratos-agent timeout={ac.STOP_TIMEOUT}",
        "remove stratos-agent",
        "run stratos-agent from stratos/agent:test",
    ]


def test_ensure_leaves_a_matching_container_alone() -> None:
    client = FakeClient({SPEC.name: container_attrs(SPEC)}, {SPEC.image_ref: IMAGE_ID})
    assert ac.ensure_agent(client, SPEC).changed is False  # type: ignore[arg-type]
    assert client.calls == []


def test_ensure_fails_clearly_when_the_image_is_missing() -> None:
    client = FakeClient()
    with pytest.raises(
        NotFoundError, match=r"image stratos/agent:test does not exist .*build-agent-image.sh"
    ):
        ac.ensure_agent(client, SPEC)  # type: ignore[arg-type]
    assert client.calls == []


def test_remove_stops_then_removes() -> None:
    client = FakeClient({SPEC.name: container_attrs(SPEC)})
    assert ac.remove_agent(client, SPEC.name).action == "remove"  # type: ignore[arg-type]
    assert client.calls == [f"stop stratos-agent timeout={ac.STOP_TIMEOUT}", "remove stratos-agent"]
    assert ac.remove_agent(FakeClient(), SPEC.name).changed is False  # type: ignore[arg-type]
