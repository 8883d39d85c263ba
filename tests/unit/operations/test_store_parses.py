"""Each operation parses the stored definitions once: a module run reads the whole store one time,
whatever it plans (the definition's check, the LB clusters it reloads)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from docker_fakes import FakePool

from stratos.model import Application
from stratos.operations import application as ops
from stratos.operations.definition import apply_definition
from stratos.operations.lb_cluster import apply_lb_cluster
from stratos.store import StateStore


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many times the store's files were listed for a parse of the whole set."""
    counted = [0]
    real = StateStore.iter_files

    def counting(self: StateStore) -> Iterator[Path]:
        counted[0] += 1
        return real(self)

    monkeypatch.setattr(StateStore, "iter_files", counting)
    return counted


def test_apply_application_parses_the_store_once(
    platform: StateStore, shop: Application, pool: FakePool, parses: list[int]
) -> None:
    plan = ops.apply_application(platform, shop, pool=pool, wait=False)  # type: ignore[arg-type]
    assert parses[0] == 1
    plan.apply()
    assert parses[0] == 1


def test_apply_definition_parses_the_store_once(platform: StateStore, parses: list[int]) -> None:
    body: dict[str, Any] = {"image": {"ref": "example/redis:7"}, "ports": [{"name": "redis", "port": 6379}]}
    apply_definition(platform, "Cartridge", "redis", definition=body).apply()
    assert parses[0] == 1


def test_apply_lb_cluster_removal_parses_the_store_once(
    platform: StateStore, pool: FakePool, parses: list[int]
) -> None:
    apply_lb_cluster(platform, "web", None, pool=pool)  # type: ignore[arg-type]
    assert parses[0] == 1
