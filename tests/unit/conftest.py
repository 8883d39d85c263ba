from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from stratos.store import StateStore

REPO = Path(__file__).resolve().parents[2]


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
