from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from stratos.store import StateStore
from stratos.validation import DefinitionSet, load

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


# The standard definitions of the agent's, the planner's and the releases' tests.
DEFINITIONS = """\
kind: Cartridge
name: php
version: "8.2"
image: {ref: "stratos/cartridge-php:8.2"}
ports:
  - {name: http, protocol: http, port: 80, proxy_port: 8080}
health_check: {http: /stratos-health, interval: 2, timeout: 2, retries: 3, start_period: 20}
limits: {cpus: 0.5, memory: 256m}
scales: true
---
kind: Cartridge
name: mysql
version: "10.11"
category: data
image: {ref: "stratos/cartridge-mysql:10.11"}
ports:
  - {name: mysql, protocol: tcp, port: 3306}
health_check: {tcp: true, start_period: 30}
environment: {MYSQL_DATABASE: app, MYSQL_USER: app}
persistence:
  volumes:
    - {name: data, mount_path: /var/lib/mysql}
secrets: [password]
exports:
  host: "{member.hostname}"
  port: "{port.mysql}"
  database: "{env.MYSQL_DATABASE}"
  user: "{env.MYSQL_USER}"
  password: "{secret.password}"
---
kind: NetworkPartition
name: local
partitions:
  - {name: p1}
  - {name: p2}
network: {name: stratos-local}
---
kind: DeploymentPolicy
name: php-spread
network_partitions:
  - name: local
    algorithm: round-robin
    partitions:
      - {name: p1, max: 3}
      - {name: p2, max: 3}
---
kind: DeploymentPolicy
name: single
network_partitions:
  - name: local
    algorithm: one-after-another
    partitions:
      - {name: p1, max: 1}
---
kind: LbCluster
name: web
network_partition: local
listeners:
  - {proxy_port: 8080, port: 80, protocol: http}
---
kind: Application
name: shop
subscriptions:
  - alias: db
    cartridge: mysql
    deployment_policy: single
    environment: {MYSQL_DATABASE: shop, MYSQL_USER: shop}
  - {alias: web, cartridge: php, min: 2, max: 6, deployment_policy: php-spread, lb_cluster: web, links: [db]}
"""


def definitions_from(text: str, tmp_path: Path) -> DefinitionSet:
    path = tmp_path / "definitions.yml"
    path.write_text(text)
    return load([path])


@pytest.fixture
def definitions(tmp_path: Path) -> DefinitionSet:
    """The seed demo's shape: mysql 'db' (1) linked from php 'web' (2-6) behind LB cluster 'web'."""
    return definitions_from(DEFINITIONS, tmp_path)


@pytest.fixture
def edit_definitions(tmp_path: Path) -> Callable[..., DefinitionSet]:
    """A function: the standard definitions with one document's top-level fields changed."""

    def edit(kind: str, name: str, **changes: object) -> DefinitionSet:
        docs = list(yaml.safe_load_all(DEFINITIONS))
        for doc in docs:
            if doc["kind"] == kind and doc["name"] == name:
                doc.update(changes)
        return definitions_from(yaml.safe_dump_all(docs, sort_keys=False), tmp_path)

    return edit


@pytest.fixture
def definitions_yaml() -> str:
    """The standard definitions as YAML documents."""
    return DEFINITIONS
