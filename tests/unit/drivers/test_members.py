from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from stratos.drivers import docker as dockerlib
from stratos.drivers import members
from stratos.errors import StratosError
from stratos.model import Cartridge, HealthCheck
from stratos.store import StateStore
from stratos.validation import DefinitionSet

EditDefinitions = Callable[..., DefinitionSet]


def cartridge(**fields: object) -> Cartridge:
    data: dict[str, object] = {
        "name": "mysql",
        "image": {"ref": "m:1"},
        "ports": [{"name": "mysql", "protocol": "tcp", "port": 3306}],
        "secrets": ["password"],
    }
    data.update(fields)
    return Cartridge.model_validate(data)


def resolve(exports: dict[str, str], env: dict[str, str] | None = None) -> list[members.Export]:
    return members.resolve_exports(
        cartridge(exports=exports),
        app="shop",
        alias="db",
        environment=env or {"MYSQL_DATABASE": "shop"},
        secret=lambda name: f"<{name}>",
    )


@pytest.mark.parametrize(
    ("template", "value", "secret"),
    [
        ("{member.hostname}", "db.shop", False),
        ("{env.MYSQL_DATABASE}", "shop", False),
        ("{secret.password}", "<password>", True),
        ("{port.mysql}", "3306", False),
        ("3306", "3306", False),
        ("mysql://{member.hostname}:{port.mysql}/{env.MYSQL_DATABASE}", "mysql://db.shop:3306/shop", False),
        ("u:{secret.password}@{member.hostname}", "u:<password>@db.shop", True),
        ("{app.name}-{subscription.alias}", "shop-db", False),
    ],
    ids=["hostname", "env", "secret", "port", "literal", "composed", "composed-with-secret", "names"],
)
def test_resolve_exports(template: str, value: str, secret: bool) -> None:
    assert resolve({"x": template}) == [members.Export("x", value, secret)]


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{env.MISSING}", r"env.MISSING must be set in the cartridge's or the subscription's environment"),
        ("{secret.token}", r"secret.token must be listed in the cartridge's secrets"),
        ("{member.address}", r"unknown reference \{member.address\}"),
        ("{port.http}", r"unknown reference \{port.http\}"),
    ],
    ids=["unset-env", "undeclared-secret", "unknown-member-field", "unknown-port"],
)
def test_resolve_exports_errors_name_the_export(template: str, message: str) -> None:
    with pytest.raises(StratosError, match=r"cartridges/mysql\.exports\.x .*" + message):
        resolve({"x": template})


EXPORTS = [
    members.Export("host", "db.shop"),
    members.Export("port", "3306"),
    members.Export("database", "shop"),
    members.Export("user", "shop"),
    members.Export("password", "s3cret", secret=True),
]


def test_link_environment_convention() -> None:
    assert members.link_environment("db", EXPORTS) == {
        "DB_HOST": "db.shop",
        "DB_PORT": "3306",
        "DB_NAME": "shop",
        "DB_USER": "shop",
        "DB_PASSWORD_FILE": "/run/stratos/secrets/db_password",
    }


def test_a_secret_is_never_an_environment_value() -> None:
    assert "s3cret" not in members.link_environment("db", EXPORTS).values()


@pytest.mark.parametrize(
    ("link", "key", "name"),
    [
        ("db", "host", "DB_HOST"),
        ("main-db", "port", "MAIN_DB_PORT"),
        ("db", "database", "DB_NAME"),
        ("db", "x-y", "DB_X_Y"),
    ],
    ids=["simple", "dash-in-link", "database-is-name", "dash-in-key"],
)
def test_env_key(link: str, key: str, name: str) -> None:
    assert members.env_key(link, key) == name


def test_link_file_holds_everything_including_the_secret() -> None:
    text = members.link_file_text("db", EXPORTS)
    assert text == "DB_HOST=db.shop\nDB_PORT=3306\nDB_NAME=shop\nDB_USER=shop\nDB_PASSWORD=s3cret\n"


def test_link_file_refuses_multiline_values() -> None:
    with pytest.raises(StratosError, match="spans lines"):
        members.link_file_text("db", [members.Export("x", "a\nb")])


# --------------------------------------------------------------------------- member spec


def spec_for(
    definitions: DefinitionSet, tmp_path: Path, alias: str = "web", **kwargs: object
) -> members.MemberSpec:
    app = definitions.applications["shop"]
    sub = app.subscription(alias)
    links = [
        members.LinkFiles("db", tmp_path / "links/shop/db.env", members.link_environment("db", EXPORTS))
        for _ in sub.links
    ]
    args: dict[str, object] = {
        "app": app,
        "sub": sub,
        "cartridge": definitions.cartridges[sub.cartridge],
        "np": definitions.network_partitions["local"],
        "partition": "p2",
        "member": f"shop-{alias}-abc123",
        "state_id": "st",
        "revision": "r1",
        "secrets_dir": tmp_path / f"secrets/shop/{alias}",
        "releases_dir": tmp_path / f"releases/shop/{alias}",
        "links": links,
    }
    args.update(kwargs)
    return members.member_spec(**args)  # type: ignore[arg-type]


def test_member_labels(definitions: DefinitionSet, tmp_path: Path) -> None:
    assert spec_for(definitions, tmp_path).labels == {
        dockerlib.ROLE: "member",
        dockerlib.STATE_ID: "st",
        dockerlib.APPLICATION: "shop",
        dockerlib.SUBSCRIPTION: "web",
        dockerlib.CARTRIDGE: "php",
        dockerlib.NETWORK_PARTITION: "local",
        dockerlib.PARTITION: "p2",
        dockerlib.MEMBER_ID: "shop-web-abc123",
        dockerlib.REVISION: "r1",
    }


def test_member_container_network_and_names(definitions: DefinitionSet, tmp_path: Path) -> None:
    spec = spec_for(definitions, tmp_path)
    assert (spec.name, spec.hostname, spec.image) == (
        "stratos-shop-web-abc123",
        "shop-web-abc123",
        "stratos/cartridge-php:8.2",
    )
    assert spec.network == "stratos-local"
    assert spec.aliases == ("web.shop",)
    assert (spec.nano_cpus, spec.mem_limit) == (500_000_000, "256m")


def test_member_environment_layers(definitions: DefinitionSet, tmp_path: Path) -> None:
    env = spec_for(definitions, tmp_path).environment
    assert env["DB_HOST"] == "db.shop"
    assert env["DB_PASSWORD_FILE"] == "/run/stratos/secrets/db_password"
    assert env["STRATOS_PARTITION"] == "local/p2"
    assert env["STRATOS_MEMBER_ID"] == "shop-web-abc123"
    db_env = spec_for(definitions, tmp_path, alias="db").environment
    assert (db_env["MYSQL_DATABASE"], db_env["MYSQL_USER"]) == ("shop", "shop")  # subscription wins


def test_member_mounts(definitions: DefinitionSet, tmp_path: Path) -> None:
    web = spec_for(definitions, tmp_path)
    assert web.binds == (
        f"{tmp_path}/secrets/shop/web:/run/stratos/secrets:ro",
        f"{tmp_path}/links/shop/db.env:/run/stratos/links/db.env:ro",
        f"{tmp_path}/releases/shop/web:/srv/stratos/app:ro",
    )
    assert web.volumes == {}
    db = spec_for(definitions, tmp_path, alias="db", releases_dir=None)
    assert db.binds == (f"{tmp_path}/secrets/shop/db:/run/stratos/secrets:ro",)
    assert db.volumes == {"stratos-shop-db-data": "/var/lib/mysql"}
    assert db.volume_labels["stratos-shop-db-data"][dockerlib.APPLICATION] == "shop"


# --------------------------------------------------------------------------- host files


def test_prepare_links_writes_private_files(definitions: DefinitionSet, tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state")
    store.ensure()
    app = definitions.applications["shop"]
    links = members.prepare_links(store, definitions, app, app.subscription("web"))
    password = store.secret("shop", "db", "password", create=False)
    env_file = store.link_file("shop", "db")
    copy = store.secrets_dir("shop", "web") / "db_password"
    assert [link.link for link in links] == ["db"]
    assert links[0].env_file == env_file
    assert f"DB_PASSWORD={password}\n" in env_file.read_text()
    assert copy.read_text() == password + "\n"
    for path in (env_file, copy):
        assert path.stat().st_mode & 0o777 == 0o600
    for directory in (env_file.parent, copy.parent, copy.parent.parent):
        assert directory.stat().st_mode & 0o777 == 0o700
    assert password not in "".join(links[0].environment.values())
    # Generated once: a second preparation keeps the same password.
    members.prepare_links(store, definitions, app, app.subscription("web"))
    assert store.secret("shop", "db", "password", create=False) == password


def test_prepare_secrets(definitions: DefinitionSet, tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state")
    store.ensure()
    app = definitions.applications["shop"]
    db = app.subscription("db")
    directory = members.prepare_secrets(store, app, db, definitions.cartridges["mysql"])
    assert directory == store.secrets_dir("shop", "db")
    assert (directory / "password").stat().st_mode & 0o777 == 0o600
    web = app.subscription("web")
    assert members.prepare_secrets(store, app, web, definitions.cartridges["php"]) is None


# --------------------------------------------------------------------------- probes


def test_probe_without_address_fails() -> None:
    assert members.probe(None, HealthCheck(tcp=True), [80]).ok is False


def test_probe_without_check_is_healthy_when_running() -> None:
    assert members.probe("10.0.0.1", None, [80]).ok is True


def test_probe_tcp_and_http_against_a_local_server() -> None:
    import http.server
    import threading

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200 if self.path == "/ok" else 500)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        assert members.probe("127.0.0.1", HealthCheck(http="/ok", port=port), []).ok is True
        failing = members.probe("127.0.0.1", HealthCheck(http="/bad", port=port), [])
        assert (failing.ok, failing.detail) == (False, "GET /bad: 500")
        assert members.probe("127.0.0.1", HealthCheck(tcp=True), [port]).ok is True
    finally:
        server.shutdown()
        server.server_close()
    assert members.probe("127.0.0.1", HealthCheck(tcp=True, timeout=1), [port]).ok is False


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-24T20:08:14.181234567Z", 1795550894.181234),
        ("2026-11-24T20:08:14Z", 1795550894.0),
        ("0001-01-01T00:00:00Z", None),
        ("", None),
    ],
    ids=["nanoseconds", "whole-seconds", "never", "empty"],
)
def test_docker_timestamps(text: str, expected: float | None) -> None:
    assert members._timestamp(text) == (pytest.approx(expected) if expected is not None else None)
