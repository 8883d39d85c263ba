"""The operations' fixtures: a fake Docker pool and a state directory holding the seed demo's
definitions but its application."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from docker_fakes import FakePool
from support import seed_documents

from stratos.model import Application
from stratos.store import StateStore
from stratos.validation import parse_definition


@pytest.fixture
def pool() -> FakePool:
    return FakePool()


@pytest.fixture
def platform(seed_dir: Path, tmp_path: Path) -> StateStore:
    """A state directory with the seed demo's definitions stored, but its application."""
    store = StateStore(tmp_path / "state")
    store.ensure()
    for data in seed_documents(seed_dir, application=False):
        store.apply(store.plan_put(parse_definition(data)))
    return store


@pytest.fixture
def shop(seed_dir: Path) -> Application:
    app = parse_definition(yaml.safe_load((seed_dir / "application.yml").read_text()))
    assert isinstance(app, Application)
    return app
