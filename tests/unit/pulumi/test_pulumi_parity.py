"""Parity with the Ansible path: the seed demo as a Pulumi program (examples/pulumi-php-mysql) hands
the agent exactly the files the Ansible path writes for examples/seed-demo, and the agent's loader
accepts them."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest
from conftest import EXAMPLES, REPO
from mocks import Recording, run

from stratos.builtin import cartridge_file
from stratos.model import KINDS
from stratos.store import StateStore, dump_definition
from stratos.validation import load

STATE = "/var/lib/stratos"
#: The order the Ansible modules are applied in (a definition is stored after what it refers to).
APPLY_ORDER = [
    "Cartridge",
    "NetworkPartition",
    "AutoscalingPolicy",
    "DeploymentPolicy",
    "LbCluster",
    "Application",
]


@pytest.fixture(scope="module")
def program(tmp_path_factory: pytest.TempPathFactory) -> Recording:
    import os

    cwd = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("build"))
    try:
        return run(
            lambda: (
                runpy.run_path(str(EXAMPLES / "pulumi-php-mysql" / "__main__.py"), run_name="__main__")
                and None
            )
        )
    finally:
        os.chdir(cwd)


def handed_to_agent(rec: Recording) -> dict[str, str]:
    """relative path under the state directory -> content, from the agent container's uploads."""
    agent = rec.named("shop-agent")
    files = {u["file"]: u["content"] for u in agent.inputs["uploads"]}
    assert all(path.startswith(f"{STATE}/definitions/") for path in files)
    return {path.removeprefix(f"{STATE}/"): content for path, content in files.items()}


def seed_set():
    return load([REPO / "examples" / "seed-demo", cartridge_file("php"), cartridge_file("mysql")])


def test_uploads_are_the_canonical_dumps_of_the_seed_demo(program: Recording) -> None:
    expected = {
        f"definitions/{KINDS[spec.kind][1]}/{spec.name}.yml": dump_definition(spec)  # type: ignore[attr-defined]
        for spec in seed_set().all()
    }
    assert handed_to_agent(program) == expected


def test_uploads_are_the_bytes_the_ansible_path_writes(program: Recording, tmp_path: Path) -> None:
    store = StateStore(tmp_path / "ansible")
    specs = sorted(seed_set().all(), key=lambda s: APPLY_ORDER.index(s.kind))  # type: ignore[attr-defined]
    for spec in specs:
        store.apply(store.plan_put(spec))
    written = {str(p.relative_to(store.root)): p.read_bytes() for p in store.iter_files()}
    assert {path: content.encode() for path, content in handed_to_agent(program).items()} == written


def test_the_agent_loader_accepts_what_it_is_handed(program: Recording, tmp_path: Path) -> None:
    for relative, content in handed_to_agent(program).items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    loaded = StateStore(tmp_path).load()
    assert set(loaded.applications) == {"shop"}
    assert set(loaded.cartridges) == {"php", "mysql"}
    assert set(loaded.lb_clusters) == {"web"}
    assert set(loaded.network_partitions) == {"local"}
    assert set(loaded.deployment_policies) == {"php-spread", "single"}
    assert set(loaded.autoscaling_policies) == {"php-load"}
    assert loaded.applications["shop"] == seed_set().applications["shop"]
