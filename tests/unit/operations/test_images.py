"""build_image: which cartridge, what its image's plan says, removal, and Docker's errors typed."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import pytest
import requests
import yaml

from stratos import images
from stratos.errors import DriverError, ImageBuildError, NotFoundError, ValidationError
from stratos.operations.definition import apply_definition
from stratos.operations.images import build_image, find_cartridge

BASE = "stratos/debian:test"
BASE_ID = "sha256:" + "b" * 64
BODY: dict[str, Any] = {"version": "1.0", "image": {"build": {"base": BASE, "packages": ["curl"]}}}
TAG = "stratos/cartridge-demo:1.0"


@dataclass
class FakeImage:
    id: str
    labels: dict[str, str] = field(default_factory=dict)
    attrs: dict[str, Any] = field(default_factory=dict)


@dataclass
class FakeImages:
    found: dict[str, FakeImage]
    removed: list[str] = field(default_factory=list)
    fail: Exception | None = None

    def get(self, ref: str) -> FakeImage:
        if self.fail is not None:
            raise self.fail
        if ref not in self.found:
            raise docker.errors.ImageNotFound(ref)
        return self.found[ref]

    def remove(self, ref: str, noprune: bool = False) -> None:
        self.removed.append(ref)


@dataclass
class FakeClient:
    images: FakeImages


def client(**found: FakeImage) -> FakeClient:
    return FakeClient(
        FakeImages({BASE: FakeImage(BASE_ID), **{k.replace("_", "/"): v for k, v in found.items()}})
    )


def op(state: Path, fake: FakeClient, **kwargs: Any) -> Any:
    return build_image(state, connect=lambda host, timeout: fake, **kwargs)


@pytest.fixture
def state(tmp_path: Path) -> Path:
    apply_definition(tmp_path, "Cartridge", "demo", definition=BODY).apply()
    return tmp_path


def built_hash(state: Path) -> str:
    cartridge, source_dir = find_cartridge(state, name="demo")
    context = images.render_build(images.CartridgeImage.of(cartridge, source_dir), None)
    return context.digest(BASE_ID)


def test_a_missing_image_is_planned_as_a_build(state: Path) -> None:
    plan = op(state, client(), name="demo")
    (change,) = plan.changes
    assert (change.kind, change.name, change.action) == ("image", TAG, "build")
    assert change.after["image_id"] == "(built)"
    assert plan.report["reason"] == f"no image tagged {TAG}"
    assert (plan.report["cartridge"], plan.report["built"], plan.report["base"]) == ("demo", False, BASE)


@pytest.mark.parametrize(
    ("force", "action", "reason", "image_id"),
    [(False, "none", "is up to date", "sha256:old"), (True, "build", "rebuild forced", "(rebuilt)")],
    ids=["up-to-date", "forced"],
)
def test_an_up_to_date_image_is_left_unless_forced(
    state: Path, force: bool, action: str, reason: str, image_id: str
) -> None:
    labels = {images.BUILD_HASH_LABEL: built_hash(state), images.CARTRIDGE_LABEL: "demo"}
    fake = client()
    fake.images.found[TAG] = FakeImage("sha256:old", labels)
    plan = op(state, fake, name="demo", force=force)
    (change,) = plan.changes
    assert change.action == action and reason in plan.report["reason"]
    assert change.after["image_id"] == image_id
    assert plan.report["image_id"] == "sha256:old"


@pytest.mark.parametrize(
    ("label", "expected"),
    [("demo", "remove"), (None, "none")],
    ids=["ours", "absent"],
)
def test_removal_takes_the_tag_of_this_cartridge(state: Path, label: str | None, expected: str) -> None:
    fake = client()
    if label is not None:
        fake.images.found[TAG] = FakeImage("sha256:x", {images.CARTRIDGE_LABEL: label})
    plan = op(state, fake, name="demo", present=False)
    assert plan.changes[0].action == expected and plan.changes[0].after is None
    plan.apply()
    assert fake.images.removed == ([TAG] if label else [])


def test_an_image_another_cartridge_claims_is_left_alone(state: Path) -> None:
    fake = client()
    fake.images.found[TAG] = FakeImage("sha256:x", {images.CARTRIDGE_LABEL: "other"})
    with pytest.raises(DriverError, match="is not the image of cartridge 'demo'"):
        op(state, fake, name="demo", present=False)


def test_a_ready_image_has_nothing_to_remove(state: Path) -> None:
    apply_definition(
        state, "Cartridge", "redis", definition={"version": "7", "image": {"ref": "redis:7"}}
    ).apply()
    with pytest.raises(ImageBuildError, match="a ready image"):
        op(state, client(), name="redis", present=False)


@pytest.mark.parametrize(
    "error",
    [requests.exceptions.ConnectionError("refused"), docker.errors.DockerException("no engine")],
    ids=["connection-refused", "docker-sdk"],
)
def test_dockers_own_errors_become_driver_errors(state: Path, error: Exception) -> None:
    fake = client()
    fake.images.fail = error
    with pytest.raises(DriverError, match="cartridge 'demo'"):
        op(state, fake, name="demo")


def test_find_cartridge_reads_stored_builtin_or_file(state: Path, tmp_path: Path) -> None:
    stored, where = find_cartridge(state, name="demo")
    assert stored.name == "demo" and where == str(state / "definitions" / "cartridges")
    php, php_dir = find_cartridge(state, builtin="php")
    assert php.name == "php" and (Path(php_dir) / "cartridge.yml").is_file()
    (tmp_path / "c.yml").write_text(yaml.safe_dump({"name": "filed", **BODY}))
    assert find_cartridge(state, src=str(tmp_path / "c.yml"))[0].name == "filed"
    with pytest.raises(NotFoundError, match="cartridge 'nope' is not defined"):
        find_cartridge(state, name="nope")
    (tmp_path / "np.yml").write_text(
        yaml.safe_dump({"kind": "NetworkPartition", "name": "n", "partitions": [{"name": "p"}]})
    )
    with pytest.raises(ValidationError, match="must be 'Cartridge'"):
        find_cartridge(state, src=str(tmp_path / "np.yml"))
