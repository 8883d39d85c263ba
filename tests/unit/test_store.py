from __future__ import annotations

import stat
from pathlib import Path

import pytest
from support import seed_documents

from stratos.errors import ValidationError
from stratos.store import StateStore
from stratos.validation import parse_definition


def test_put_plan_apply_and_idempotency(tmp_path: Path, seed_dir: Path) -> None:
    store = StateStore(tmp_path)
    store.ensure()
    for data in seed_documents(seed_dir):
        change = store.plan_put(parse_definition(data))
        assert change.changed and change.before is None
        store.apply(change)
    for data in seed_documents(seed_dir):
        assert not store.plan_put(parse_definition(data)).changed
    assert set(store.load().applications) == {"shop"}


def test_bad_reference_changes_nothing(tmp_path: Path, seed_dir: Path) -> None:
    store = StateStore(tmp_path)
    app = seed_documents(seed_dir)[-1]
    with pytest.raises(ValidationError, match=r"subscriptions\[1\].cartridge \('php'\): must name a defined"):
        store.plan_put(parse_definition(app))
    assert list(store.iter_files()) == []


def test_remove_refuses_while_used(tmp_path: Path, seed_dir: Path) -> None:
    store = StateStore(tmp_path)
    for data in seed_documents(seed_dir):
        store.apply(store.plan_put(parse_definition(data)))
    with pytest.raises(ValidationError, match="cannot be removed while it is used"):
        store.plan_remove("Cartridge", "php")
    store.apply(store.plan_remove("Application", "shop"))
    store.apply(store.plan_remove("Cartridge", "php"))
    assert store.read("Cartridge", "php") is None


def test_secret_is_generated_once_and_private(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    store.ensure()
    first = store.secret("shop", "db", "password")
    assert store.secret("shop", "db", "password") == first and len(first) >= 24
    path = store.secrets_dir("shop", "db") / "password"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_updating_an_app_into_a_proxy_port_clash_is_refused(tmp_path: Path, seed_dir: Path) -> None:
    store = StateStore(tmp_path)
    for data in seed_documents(seed_dir):
        store.apply(store.plan_put(parse_definition(data)))
    blog = {
        "kind": "Application",
        "name": "blog",
        "subscriptions": [{"alias": "www", "cartridge": "php", "deployment_policy": "php-spread"}],
    }
    store.apply(store.plan_put(parse_definition(blog)))
    blog["subscriptions"][0]["lb_cluster"] = "web"
    with pytest.raises(ValidationError, match="proxy_port 8080 must be unique per LB cluster; 'shop/web'"):
        store.plan_put(parse_definition(blog))


def test_ensure_makes_the_http_sides_directories_group_writable_and_keeps_a_setgid_bit(
    tmp_path: Path,
) -> None:
    import stat as st

    store = StateStore(tmp_path / "state")
    store.ensure()
    (store.root / "definitions").chmod(0o2755)  # given to the agent's group from outside
    store.ensure()
    assert (store.root / "definitions").stat().st_mode & 0o7777 == 0o2755
    for sub in ("triggers", "http"):
        assert st.S_IMODE((store.agent_dir / sub).stat().st_mode) == 0o770
    assert st.S_IMODE(store.agent_dir.stat().st_mode) == 0o750
