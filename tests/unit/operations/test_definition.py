"""apply_definition: one definition written or removed, planned before anything is written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from stratos.changes import Change, Plan
from stratos.errors import ValidationError
from stratos.operations.definition import apply_definition, check_name, read_body, redacted_definition
from stratos.store import StateStore

REDIS: dict[str, Any] = {"version": "7", "image": {"ref": "redis:7"}, "ports": [{"name": "r", "port": 6379}]}


def stored(state: Path, plural: str, name: str) -> Path:
    return state / "definitions" / plural / f"{name}.yml"


@pytest.mark.parametrize(
    ("first", "second", "action"),
    [
        (None, REDIS, "create"),
        (REDIS, {**REDIS, "version": "7.2"}, "update"),
        (REDIS, REDIS, "none"),
        (REDIS, None, "remove"),
        (None, None, "none"),
    ],
    ids=["create", "update", "unchanged", "remove", "remove-absent"],
)
def test_the_plan_says_what_the_apply_does(
    tmp_path: Path, first: dict[str, Any] | None, second: dict[str, Any] | None, action: str
) -> None:
    if first is not None:
        apply_definition(tmp_path, "Cartridge", "redis", definition=first).apply()
    before = stored(tmp_path, "cartridges", "redis").read_text() if first is not None else None
    plan = apply_definition(tmp_path, "Cartridge", "redis", present=second is not None, definition=second)
    (change,) = plan.changes
    assert (change.kind, change.name, change.action) == ("Cartridge", "redis", action)
    assert change.label == "cartridges/redis.yml"
    assert change.before == before
    assert plan.report["path"] == str(stored(tmp_path, "cartridges", "redis"))
    # Planning wrote nothing (check mode is the plan alone).
    path = stored(tmp_path, "cartridges", "redis")
    assert (path.read_text() if path.exists() else None) == before
    plan.apply()
    assert (path.read_text() if path.exists() else None) == change.after
    again = apply_definition(tmp_path, "Cartridge", "redis", present=second is not None, definition=second)
    assert not again.changed


def test_the_report_is_the_canonical_definition_stored_or_removed(tmp_path: Path) -> None:
    plan = apply_definition(tmp_path, "Cartridge", "redis", definition=REDIS)
    assert plan.report["definition"]["kind"] == "Cartridge" and plan.report["definition"]["name"] == "redis"
    plan.apply()
    removed = apply_definition(tmp_path, "Cartridge", "redis", present=False)
    assert removed.report["definition"] == plan.report["definition"]
    assert apply_definition(tmp_path, "Cartridge", "gone", present=False).report["definition"] is None


@pytest.mark.parametrize(
    ("name", "body", "field"),
    [
        ("Bad_Name", REDIS, "name"),
        ("redis", {**REDIS, "name": "other"}, "cartridges/redis.name"),
        ("redis", {**REDIS, "kind": "Application"}, "cartridges/redis.kind"),
        ("redis", {**REDIS, "ports": [{"name": "r", "port": 70000}]}, "ports[0].port"),
    ],
    ids=["name-not-a-dns-label", "name-disagrees", "kind-disagrees", "invalid-field"],
)
def test_a_bad_definition_names_the_field_and_writes_nothing(
    tmp_path: Path, name: str, body: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        apply_definition(tmp_path, "Cartridge", name, definition=body)
    assert any(field in str(p) for p in caught.value.problems), caught.value.problems
    assert not (tmp_path / "definitions").exists()


def test_a_definition_still_referred_to_is_not_removed(tmp_path: Path) -> None:
    apply_definition(
        tmp_path, "NetworkPartition", "local", definition={"partitions": [{"name": "p1"}]}
    ).apply()
    policy = {"network_partitions": [{"name": "local", "partitions": [{"name": "p1", "max": 2}]}]}
    apply_definition(tmp_path, "DeploymentPolicy", "spread", definition=policy).apply()
    with pytest.raises(ValidationError, match="cannot be removed while it is used"):
        apply_definition(tmp_path, "NetworkPartition", "local", present=False)


def test_file_sources_become_absolute_and_must_stay_in_the_directory(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "index.php").write_text("<?php echo 1;\n")
    body = {
        "version": "1",
        "image": {"build": {"files": [{"path": "/var/www/index.php", "src": "index.php"}]}},
    }
    (tmp_path / "src" / "cartridge.yml").write_text(yaml.safe_dump(body))
    data = read_body("Cartridge", "site", src=str(tmp_path / "src" / "cartridge.yml"))
    assert data["image"]["build"]["files"][0]["src"] == str(tmp_path / "src" / "index.php")
    assert (data["kind"], data["name"]) == ("Cartridge", "site")
    body["image"]["build"]["files"][0]["src"] = "../outside.php"
    (tmp_path / "outside.php").write_text("x")
    (tmp_path / "src" / "cartridge.yml").write_text(yaml.safe_dump(body))
    with pytest.raises(ValidationError, match=r"cartridges/site.image.build.files\[0\].src"):
        read_body("Cartridge", "site", src=str(tmp_path / "src" / "cartridge.yml"))


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("a: [1", "is not valid YAML"),
        ("- 1\n- 2\n", "exactly one definition"),
        ("a: 1\n---\nb: 2\n", "exactly one"),
    ],
    ids=["invalid-yaml", "not-a-mapping", "two-documents"],
)
def test_a_file_must_hold_one_definition(tmp_path: Path, text: str, rule: str) -> None:
    (tmp_path / "c.yml").write_text(text)
    with pytest.raises(ValidationError, match=rule):
        read_body("Cartridge", "c", src=str(tmp_path / "c.yml"))


def test_a_builtin_cartridge_is_read_with_absolute_sources(tmp_path: Path) -> None:
    data = read_body("Cartridge", "php", builtin="php")
    sources = [f["src"] for f in data["image"]["build"].get("files", []) if "src" in f]
    assert sources and all(Path(s).is_absolute() for s in sources)
    with pytest.raises(ValidationError, match="builtin"):
        read_body("Cartridge", "ruby", builtin="ruby")


def test_check_name_refuses_a_path() -> None:
    check_name("web-1")
    with pytest.raises(ValidationError):
        check_name("../etc")


@pytest.mark.parametrize("present", [True, False], ids=["present", "absent"])
def test_runtime_steps_follow_the_write_and_precede_the_removal(tmp_path: Path, present: bool) -> None:
    store = StateStore(tmp_path)
    if not present:
        apply_definition(store, "Cartridge", "redis", definition=REDIS).apply()
    path = stored(tmp_path, "cartridges", "redis")
    seen: list[Any] = []

    def runtime(before: Any, after: Any) -> list[Plan]:
        seen.append((before is not None, after is not None))
        step = Change("thing", "t", "create", None, {"x": 1})
        return [Plan((step,), {"t": 1}, lambda: seen.append(("step", path.exists())))]

    plan = apply_definition(
        store, "Cartridge", "redis", present=present, definition=REDIS, runtime=runtime, runtime_key="things"
    )
    assert seen == [(not present, present)]
    assert [c.kind for c in plan.changes] == ["Cartridge", "thing"]
    assert plan.report["things"] == [{"t": 1}]
    plan.apply()
    # The step saw the definition in place both times: written before, removed after.
    assert seen[-1] == ("step", True)
    assert path.exists() is present


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://user:secret@git.example.com/shop.git", "https://***@git.example.com/shop.git"),
        ("ssh://git@git.example.com/shop.git", "ssh://git@git.example.com/shop.git"),
    ],
    ids=["https-credentials", "ssh-user"],
)
def test_redacted_definition(url: str, shown: str) -> None:
    data = {
        "kind": "Application",
        "subscriptions": [{"alias": "web", "artifact": {"url": url}}, {"alias": "db"}],
    }
    shown_data = redacted_definition(data)
    assert shown_data["subscriptions"][0]["artifact"]["url"] == shown
    assert data["subscriptions"][0]["artifact"]["url"] == url  # the input is left as it is
    assert shown_data["subscriptions"][1] == {"alias": "db"}
    assert redacted_definition(None) is None
