"""The Docker API allow-list, pure: which calls pass, which create bodies are refused, and the
configuration it renders (tests/integration/test_docker_proxy.py runs it in HAProxy)."""

from __future__ import annotations

import json
import re

import pytest

from stratos.drivers import docker_proxy as dp
from stratos.errors import StratosError

SPEC = dp.ProxySpec(
    name="stratos-agent-docker-proxy",
    image="stratos/cartridge-haproxy:2.6",
    docker_socket="/var/run/docker.sock",
    socket_dir="/run/stratos-docker-proxy/stratos-agent",
    state_dir="/var/lib/stratos",
    uid=10001,
    gid=10001,
)


def allowed(method: str, path: str) -> bool:
    return any(method in rule.methods and re.search(rule.pattern, path) for rule in dp.RULES)


@pytest.mark.parametrize(
    ("method", "path", "ok"),
    [
        ("GET", "/_ping", True),
        ("HEAD", "/v1.41/_ping", True),
        ("GET", "/v1.41/version", True),
        ("GET", "/v1.41/events", True),
        ("GET", "/v1.41/containers/json", True),
        ("POST", "/v1.41/containers/create", True),
        ("GET", "/v1.41/containers/stratos-shop-web-1/json", True),
        ("GET", "/v1.41/containers/abc123/stats", True),
        ("POST", "/v1.41/containers/abc123/stop", True),
        ("DELETE", "/v1.41/containers/abc123", True),
        ("GET", "/v1.41/images/stratos/cartridge-php:8.2/json", True),
        ("POST", "/v1.41/volumes/create", True),
        ("DELETE", "/v1.41/volumes/stratos-shop-db-data", True),
        ("POST", "/v1.41/containers/abc123/exec", False),
        ("POST", "/v1.41/exec/abc/start", False),
        ("PUT", "/v1.41/containers/abc123/archive", False),
        ("POST", "/v1.41/containers/abc123/update", False),
        ("POST", "/v1.41/containers/prune", False),
        ("POST", "/v1.41/volumes/prune", False),
        ("POST", "/v1.41/build", False),
        ("POST", "/v1.41/images/create", False),
        ("POST", "/v1.41/images/load", False),
        ("GET", "/v1.41/info", False),
        ("POST", "/v1.41/swarm/init", False),
        ("GET", "/v1.41/plugins", False),
        ("POST", "/v1.41/secrets/create", False),
        ("POST", "/v1.41/networks/create", False),
        ("POST", "/v1.41/networks/n/connect", False),
        ("GET", "/v1.41/containers/abc/json/../../../info", False),
        ("GET", "/v1.41/containers/json?x=/exec", True),
        ("DELETE", "/v1.41/containers/json", True),
        ("POST", "/v1.41/containers/create/../../build", False),
    ],
)
def test_the_allow_list(method: str, path: str, ok: bool) -> None:
    # HAProxy matches the path without the query string.
    assert allowed(method, path.split("?", 1)[0]) is ok


def refused(path: str, body: str) -> list[str]:
    return [
        c.reason
        for c in dp.body_checks(SPEC.state_dir)
        if re.search(c.path, path) and re.search(c.pattern, body, re.IGNORECASE)
    ]


def member_body(**host_config: object) -> str:
    """A create body as the docker SDK writes it for a member (json.dumps)."""
    host = {
        "Binds": [
            "/var/lib/stratos/secrets/shop/db:/run/secrets/stratos:ro",
            "/var/lib/stratos/releases/shop/web:/srv/stratos/app:ro",
            "stratos-shop-db-data:/var/lib/mysql:rw",
        ],
        "NanoCpus": 500000000,
        "Memory": 268435456,
        "NetworkMode": "stratos-local",
        "RestartPolicy": {"Name": "no"},
        **host_config,
    }
    return json.dumps(
        {"Image": "stratos/cartridge-php:8.2", "Env": ['A=é \\ "Privileged": true'], "HostConfig": host}
    )


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (member_body(), None),
        (member_body(SecurityOpt=["no-new-privileges"]), None),
        (member_body(CapAdd=[]), None),
        (member_body(Privileged=True), "privileged"),
        (member_body(CapAdd=["NET_ADMIN"]), "added capabilities"),
        (member_body(NetworkMode="host"), "host or shared namespace"),
        (member_body(PidMode="container:abc"), "host or shared namespace"),
        (member_body(Devices=[{"PathOnHost": "/dev/sda"}]), "devices"),
        (member_body(SecurityOpt=["no-new-privileges", "seccomp=unconfined"]), "security options"),
        (member_body(Mounts=[{"Type": "bind", "Source": "/"}]), "mounts"),
        (member_body(VolumesFrom=["other"]), "volumes-from"),
        (member_body(Binds=["/:/host"]), "a bind mount outside"),
        (member_body(Binds=["x:/y", "/etc:/etc"]), "a bind mount outside"),
        (member_body(Binds=["/var/lib/stratos/../../../etc:/x"]), "a bind mount outside"),
        (member_body(Binds=["/var/lib/stratos-other:/x"]), "a bind mount outside"),
        ('{"HostConfig": {"\\u0050rivileged": true}}', "escaped ASCII"),
        ('{"hostconfig": {"privileged" : true}}', "privileged"),
    ],
)
def test_create_bodies(body: str, reason: str | None) -> None:
    found = refused("/v1.41/containers/create", body)
    if reason is None:
        assert found == []
    else:
        assert any(reason in r for r in found), found


def test_volume_bodies() -> None:
    path = "/v1.41/volumes/create"
    assert refused(path, json.dumps({"Name": "v", "Driver": None, "DriverOpts": None, "Labels": {}})) == []
    assert refused(path, json.dumps({"Name": "v", "Driver": "local", "DriverOpts": {}})) == []
    assert refused(path, json.dumps({"Name": "v", "DriverOpts": {"device": "/"}})) == ["driver options"]
    assert refused(path, json.dumps({"Name": "v", "Driver": "sshfs"})) == ["a volume driver"]


def test_the_configuration_listens_for_the_agent_and_logs_no_body() -> None:
    text = dp.render_config(SPEC)
    assert "bind /run/stratos-docker/docker.sock mode 660 uid 10001 gid 10001" in text
    assert "server engine /var/run/docker.sock" in text
    assert 'log-format "docker-proxy %HM %HPO %ST %B"' in text
    assert "option http-buffer-request" in text
    assert text.count("acl allow_") == 2 * len(dp.RULES)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"state_dir": "relative"}, "state_dir ('relative'): must be an absolute path"),
        ({"state_dir": "/a'b"}, 'state_dir ("/a\'b"): must be an absolute path without quotes'),
        (
            {"socket_dir": "/var/lib/stratos/"},
            "socket_dir ('/var/lib/stratos/'): must not be the state directory",
        ),
        ({"uid": 0}, "uid (0): must be between 1"),
    ],
    ids=["relative", "quote", "socket-in-state", "root-uid"],
)
def test_bad_specs_name_the_field(changes: dict[str, object], message: str) -> None:
    with pytest.raises(StratosError, match=re.escape(message)):
        dp.ProxySpec(**{**SPEC.__dict__, **changes})
