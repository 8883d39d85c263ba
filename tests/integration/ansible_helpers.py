"""Running the collection stratos.paas with the real ``ansible-playbook`` from pytest.

A test module takes the fixtures with ``pytest_plugins = ["ansible_helpers"]``; this is not a
conftest so that it stays out of the way of tests that do not need Ansible.

- :func:`ansible` (session): builds the collection tarball and installs it once per session into a
  directory of its own (not the shared ``.build/collections``, which ``make collection``,
  ``tests/sanity/run.sh`` and Molecule rebuild while other suites may be running), and offers
  :meth:`Ansible.run_playbook`.
- Every run is on ``localhost`` with the local connection and ``ansible_python_interpreter`` set to
  the Python running pytest (the project's venv, where the core package is installed), and records
  every task result as JSON through ``playbooks/callback_plugins/stratos_record.py``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from support import local_playbook

REPO = Path(__file__).resolve().parents[2]
PLAYBOOKS = Path(__file__).resolve().parent / "playbooks"
BIN = Path(sys.executable).parent
PLAYBOOK_TIMEOUT = 300


@dataclass
class PlaybookResult:
    """What one ``ansible-playbook`` run did: exit code, output and every task result."""

    rc: int
    stdout: str
    stderr: str
    tasks: list[dict[str, Any]] = field(default_factory=list)

    def task(self, name: str | None = None) -> dict[str, Any]:
        """The result of the task named ``name`` (or of the only/last task)."""
        found = [t for t in self.tasks if name is None or t["task"] == name]
        if not found:
            raise AssertionError(f"no result for task {name!r}; output:\n{self.output()}")
        return found[-1]["result"]

    def status(self, name: str | None = None) -> str:
        found = [t for t in self.tasks if name is None or t["task"] == name]
        return found[-1]["status"] if found else "missing"

    def output(self) -> str:
        return f"rc={self.rc}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"


def ok(result: PlaybookResult) -> dict[str, Any]:
    """The one task's result of a run that succeeded (else the whole output, as the failure)."""
    assert result.rc == 0 and result.status() == "ok", result.output()
    return result.task()


def failed(result: PlaybookResult) -> dict[str, Any]:
    """The one task's result of a run that failed in that task (else the whole output)."""
    assert result.rc != 0 and result.status() == "failed", result.output()
    return result.task()


def playbook_command(playbook: Path, vars_file: Path, *options: str) -> list[str]:
    """``ansible-playbook`` of this venv on localhost with the local connection, its variables
    from ``vars_file``."""
    return local_playbook(playbook, f"@{vars_file}", options=options)


class Ansible:
    """Runs playbooks against localhost with the collection installed at ``collections_path``."""

    def __init__(self, collections_path: Path, work_dir: Path):
        self.collections_path = collections_path
        self.work_dir = work_dir
        self._runs = 0
        # An empty configuration: nothing from the user's ansible.cfg or ~/.ansible.cfg applies.
        self.config = work_dir / "ansible.cfg"
        self.config.write_text("[defaults]\n")

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
        env.update(
            ANSIBLE_COLLECTIONS_PATH=str(self.collections_path),
            ANSIBLE_CALLBACK_PLUGINS=str(PLAYBOOKS / "callback_plugins"),
            ANSIBLE_STDOUT_CALLBACK="stratos_record",
            ANSIBLE_NOCOLOR="1",
            ANSIBLE_RETRY_FILES_ENABLED="0",
            ANSIBLE_LOCAL_TEMP=str(self.work_dir / "tmp"),
            ANSIBLE_HOME=str(self.work_dir / "home"),
            ANSIBLE_CONFIG=str(self.config),
            PATH=f"{BIN}{os.pathsep}{env.get('PATH', os.defpath)}",
        )
        return env

    def run_playbook(
        self,
        path: str | Path,
        extra_vars: Mapping[str, Any] | None = None,
        check: bool = False,
        diff: bool = False,
    ) -> PlaybookResult:
        """Run a playbook (a path, or a name under tests/integration/playbooks) and parse its results."""
        playbook = Path(path) if Path(path).is_absolute() else PLAYBOOKS / path
        self._runs += 1
        vars_file = self.work_dir / f"vars-{self._runs}.json"
        record = self.work_dir / f"record-{self._runs}.json"
        all_vars = {"ansible_python_interpreter": sys.executable, **(extra_vars or {})}
        vars_file.write_text(json.dumps(all_vars))
        cmd = playbook_command(playbook, vars_file)
        if check:
            cmd.append("--check")
        if diff:
            cmd.append("--diff")
        proc = subprocess.run(
            cmd,
            env={**self.environment(), "STRATOS_RECORD_FILE": str(record)},
            capture_output=True,
            text=True,
            timeout=PLAYBOOK_TIMEOUT,
            cwd=self.work_dir,
        )
        tasks = json.loads(record.read_text())["tasks"] if record.exists() else []
        return PlaybookResult(proc.returncode, proc.stdout, proc.stderr, tasks)


def build_and_install(target: Path) -> Path:
    """Build the collection tarball from the repository and install it under ``target``."""
    dist, collections = target / "dist", target / "collections"
    galaxy = [str(BIN / "ansible-galaxy"), "collection"]
    _run([*galaxy, "build", "--force", "--output-path", str(dist), str(REPO)], collections)
    tarball = next(dist.glob("stratos-paas-*.tar.gz"))
    _run([*galaxy, "install", "--force", "-p", str(collections), str(tarball)], collections)
    return collections


def _run(cmd: list[str], collections: Path) -> None:
    env = {**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(collections)}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}", pytrace=False)


@pytest.fixture(scope="session")
def ansible(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ansible]:
    """The collection built and installed once per session, and a way to run playbooks with it."""
    if not (BIN / "ansible-playbook").exists():
        pytest.fail(f"ansible-playbook is not installed next to {sys.executable}", pytrace=False)
    root = tmp_path_factory.mktemp("ansible")
    collections = build_and_install(root)
    work = root / "work"
    (work / "tmp").mkdir(parents=True)
    yield Ansible(collections, work)
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    """A state directory of its own for one test (not created: the modules create it when writing)."""
    return tmp_path / "state"


@pytest.fixture
def snapshot() -> Callable[[Path], dict[str, str]]:
    """:func:`take_snapshot`, as a fixture."""
    return take_snapshot


def take_snapshot(root: Path) -> dict[str, str]:
    """Every file and directory under ``root`` with a hash of its content and its mode, for proving
    that a run changed nothing."""
    if not root.exists():
        return {}
    found: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        mode = oct(path.stat().st_mode & 0o7777)
        if path.is_dir():
            found[rel + "/"] = mode
        else:
            found[rel] = f"{mode} {hashlib.sha256(path.read_bytes()).hexdigest()}"
    return found
