"""haproxy.cfg of an LB cluster, rendered from the model (no container, no HAProxy)."""

from __future__ import annotations

import pytest

from stratos.errors import DriverError, StratosError
from stratos.lb import config as lbconfig
from stratos.model import LbCluster
from stratos.validation import DefinitionSet


def lb(**fields: object) -> LbCluster:
    base = {"name": "web", "network_partition": "local", "listeners": [{"proxy_port": 8080, "port": 80}]}
    return LbCluster.model_validate({**base, **fields})


def test_names_of_a_listener() -> None:
    (listener,) = lbconfig.listeners(lb())
    assert (
        (listener.frontend, listener.backend)
        == ("fe_8080", "be_8080")
        == (
            lbconfig.frontend_name(8080),
            lbconfig.backend_name(8080),
        )
    )


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(5, "5s"), (2.0, "2s"), (0.5, "500ms"), (1.25, "1250ms")],
    ids=["whole", "whole-float", "half", "finer"],
)
def test_durations_in_haproxy_format(seconds: float, text: str) -> None:
    assert lbconfig.duration(seconds) == text


def test_the_digest_masks_the_statistics_credentials() -> None:
    one = "global\n    stats auth admin:one-long-password\n"
    two = "global\n    stats auth admin:two-long-password\n"
    assert lbconfig.config_digest(one) == lbconfig.config_digest(two)
    assert lbconfig.config_digest(one) != lbconfig.config_digest("global\n")


def test_a_value_that_could_end_a_line_is_refused() -> None:
    with pytest.raises(DriverError, match="health check path of listener 8080"):
        lbconfig.render_config(lb(), {8080: "/h\nlisten pwn"})


def test_global_section_has_the_runtime_api_and_server_state() -> None:
    text = lbconfig.render_config(lb())
    assert (
        "stats socket /run/stratos-lb/admin.sock mode 660 gid 10001 level admin expose-fd listeners" in text
    )
    assert "server-state-file /run/stratos-lb/server-state" in text
    assert "load-server-state-from-file global" in text


def test_defaults_retry_and_redispatch() -> None:
    text = lbconfig.render_config(lb(retries=5))
    assert "    retries 5\n" in text
    assert "option redispatch 1\n" in text


def test_a_frontend_and_a_backend_per_listener_and_no_server() -> None:
    text = lbconfig.render_config(
        lb(
            listeners=[
                {"proxy_port": 8080, "port": 80},
                {"proxy_port": 3307, "port": 3306, "protocol": "tcp"},
            ]
        )
    )
    assert "frontend fe_8080\n    mode http\n    bind :8080\n" in text
    assert "default_backend be_8080" in text
    assert "frontend fe_3307\n    mode tcp\n    bind :3307\n" in text
    assert "backend be_3307\n    mode tcp\n    balance roundrobin\n" in text
    assert "\n    server " not in text


@pytest.mark.parametrize(
    ("checks", "expected", "absent"),
    [
        ({8080: "/stratos-health"}, "http-check send meth GET uri /stratos-health", None),
        ({}, None, "option httpchk"),
    ],
    ids=["known-health-path", "no-health-path-layer4-checks"],
)
def test_http_health_check_path_comes_from_the_cartridge(
    checks: dict[int, str], expected: str | None, absent: str | None
) -> None:
    text = lbconfig.render_config(lb(), checks)
    if expected:
        assert expected in text
        assert "http-check expect status 200" in text
    if absent:
        assert absent not in text


def test_http_backends_retry_on_errors_but_replay_only_get() -> None:
    text = lbconfig.render_config(lb())
    assert "retry-on all-retryable-errors" in text
    assert "http-request disable-l7-retry unless METH_GET" in text


def test_tcp_backends_have_no_http_options() -> None:
    text = lbconfig.render_config(
        lb(listeners=[{"proxy_port": 3307, "port": 3306, "protocol": "tcp"}]), {3307: "/x"}
    )
    assert "retry-on" not in text
    assert "httpchk" not in text
    assert "option tcplog" in text


@pytest.mark.parametrize(
    ("algorithm", "hash_type"),
    [("roundrobin", False), ("leastconn", False), ("source", True)],
    ids=["roundrobin", "leastconn", "source-needs-consistent-hashing"],
)
def test_algorithms_stay_dynamic(algorithm: str, hash_type: bool) -> None:
    text = lbconfig.render_config(lb(algorithm=algorithm))
    assert f"balance {algorithm}\n" in text
    assert ("hash-type consistent" in text) is hash_type


def test_sticky_sessions_use_dynamic_cookies() -> None:
    text = lbconfig.render_config(lb(sticky={"enabled": True, "cookie": "SRV"}))
    assert "cookie SRV insert indirect nocache dynamic" in text
    assert "dynamic-cookie-key " in text


PASSWORD = "correct-horse-battery"


def test_stats_listener_only_when_enabled() -> None:
    assert "listen stats" not in lbconfig.render_config(lb())
    enabled = lb(stats={"enabled": True, "port": 9000, "credentials_file": "/etc/stratos/stats.auth"})
    text = lbconfig.render_config(enabled, stats_auth=f"admin:{PASSWORD}")
    assert "bind :9000" in text
    assert f"    stats auth admin:{PASSWORD}\n" in text


@pytest.mark.parametrize(
    ("stats", "rule"),
    [
        ({"enabled": True}, "needs 'credentials_file'"),
        ({"enabled": True, "credentials_file": "/x", "bind": "0.0.0.0"}, "must be a loopback address"),
        ({"bind": "192.0.2.7"}, "must be a loopback address"),
        ({"enabled": True, "credentials_file": "relative/file"}, "must be an absolute path"),
    ],
    ids=["no-credentials", "all-interfaces", "public-address", "relative-file"],
)
def test_an_unprotected_stats_page_is_refused(stats: dict[str, object], rule: str) -> None:
    with pytest.raises(ValueError, match=rule):
        lb(stats=stats)


def test_the_stats_page_needs_its_credentials_to_render() -> None:
    enabled = lb(stats={"enabled": True, "credentials_file": "/nonexistent"})
    with pytest.raises(StratosError, match="needs its credentials"):
        lbconfig.render_config(enabled)


def test_rendering_is_deterministic() -> None:
    assert lbconfig.render_config(lb(), {8080: "/h"}) == lbconfig.render_config(lb(), {8080: "/h"})


def test_listener_checks_from_the_subscriptions_behind_the_lb(definitions: DefinitionSet) -> None:
    assert lbconfig.listener_checks(definitions.lb_clusters["web"], definitions) == {8080: "/stratos-health"}


def test_server_options_follow_the_lb_health_check() -> None:
    assert lbconfig.server_options(lb(health_check={"interval": 3, "fall": 4, "rise": 2})) == {
        "check": True,
        "inter": 3,
        "fall": 4,
        "rise": 2,
    }
