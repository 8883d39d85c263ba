from __future__ import annotations

import copy
import shutil
from pathlib import Path
from typing import Any

import pytest

from stratos.store import StateStore

REPO = Path(__file__).resolve().parents[2]


#: A cartridge's image build that sets every field reaching the Dockerfile (its one ``src`` is
#: ``files/start.sh`` beside the definition): what the hostile definitions change one field of.
IMAGE_BUILD: dict[str, Any] = {
    "base": "stratos/debian:bookworm",
    "packages": ["curl"],
    "files": [{"path": "/usr/local/bin/start", "src": "files/start.sh", "mode": "0755"}],
    "run": ["true"],
    "workdir": "/app",
    "env": {"A": "1"},
    "entrypoint": ["/usr/local/bin/start"],
    "command": ["serve"],
    "expose": [80],
}


def with_value(document: Any, dotted: str, value: Any) -> Any:
    """A deep copy of ``document`` with ``dotted`` (``a.b[0].c``) set to ``value``: how the tables
    of hostile definitions change one field of a valid one."""
    changed = copy.deepcopy(document)
    target: Any = changed
    parts = dotted.replace("[", ".[").split(".")
    for part in parts[:-1]:
        target = target[int(part[1:-1])] if part.startswith("[") else target[part]
    last = parts[-1]
    if last.startswith("["):
        target[int(last[1:-1])] = value
    else:
        target[last] = value
    return changed


SEED = REPO / "examples" / "seed-demo"

PHP = """\
kind: Cartridge
name: php
version: "8.2"
category: framework
image: {ref: "stratos/cartridge-php:8.2"}
ports:
  - {name: http, protocol: http, port: 80, proxy_port: 8080}
health_check: {http: /stratos-health}
deployment_dir: /var/www/html
"""

MYSQL = """\
kind: Cartridge
name: mysql
version: "10.11"
category: data
image: {ref: "stratos/cartridge-mysql:10.11"}
ports:
  - {name: mysql, protocol: tcp, port: 3306}
health_check: {tcp: true}
persistence:
  volumes:
    - {name: data, mount_path: /var/lib/mysql}
secrets: [password]
exports: {host: "{member.hostname}", port: "3306", password: "{secret.password}"}
"""


@pytest.fixture
def seed_dir(tmp_path: Path) -> Path:
    """A copy of the seed demo's definitions with two simple cartridges, safe to edit."""
    target = tmp_path / "defs"
    shutil.copytree(SEED, target)
    (target / "php.yml").write_text(PHP)
    (target / "mysql.yml").write_text(MYSQL)
    return target


@pytest.fixture
def store(tmp_path: Path) -> StateStore:
    """An empty state store (its directories made) in the test's temporary directory."""
    s = StateStore(tmp_path / "state")
    s.ensure()
    return s
