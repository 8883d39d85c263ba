"""HAProxy configuration of an LB cluster (pure): the model in, haproxy.cfg text and names out.

One frontend ``fe_<proxy_port>`` and one backend ``be_<proxy_port>`` per listener, with the
cluster's algorithm (``source`` gets ``hash-type consistent``, because HAProxy adds servers at run
time only to backends with a dynamic algorithm), ``retries`` + ``option redispatch 1`` +
``retry-on all-retryable-errors`` (http, replays only GET/HEAD), and an http health check on the
path of the cartridge served on that listener, when one is known.

The configuration holds frontends and backends but no server: backend membership belongs to the
agent, which changes it through HAProxy's runtime API (:class:`stratos.drivers.haproxy.Runtime`),
with the keywords of :func:`server_options`. The planner names backends with :func:`backend_name`;
the driver writes the text :func:`render_config` returns into the LB container
(:mod:`stratos.drivers.haproxy`). Nothing here reads a file other than the template, or talks to
Docker or HAProxy.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import jinja2

from stratos import model
from stratos.errors import DriverError, StratosError
from stratos.model import LbCluster

if TYPE_CHECKING:
    from stratos.validation import DefinitionSet

#: Paths inside the LB container (the haproxy cartridge's entrypoint reads the config from CONF_DIR).
CONF_DIR = "/usr/local/etc/stratos"
RUN_DIR = "/run/stratos-lb"
SOCKET = f"{RUN_DIR}/admin.sock"
SERVER_STATE_FILE = f"{RUN_DIR}/server-state"
CONFIG_NAME = "haproxy.cfg"

_TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


def frontend_name(proxy_port: int) -> str:
    return f"fe_{proxy_port}"


def backend_name(proxy_port: int) -> str:
    return f"be_{proxy_port}"


@dataclass(frozen=True)
class ListenerConfig:
    proxy_port: int
    port: int
    mode: Literal["http", "tcp"]
    check_path: str | None

    @property
    def frontend(self) -> str:
        return frontend_name(self.proxy_port)

    @property
    def backend(self) -> str:
        return backend_name(self.proxy_port)


def listener_checks(lb: LbCluster, definitions: DefinitionSet) -> dict[int, str]:
    """proxy_port -> http health path of the cartridge that subscriptions serve behind ``lb`` there."""
    checks: dict[int, str] = {}
    for app in definitions.applications.values():
        for sub in app.subscriptions:
            cartridge = definitions.cartridges.get(sub.cartridge)
            if sub.lb_cluster != lb.name or cartridge is None or cartridge.health_check is None:
                continue
            path = cartridge.health_check.http
            for port in cartridge.ports:
                if port.proxy_port is not None and path:
                    checks.setdefault(port.proxy_port, path)
    return checks


def listeners(lb: LbCluster, checks: Mapping[int, str] | None = None) -> list[ListenerConfig]:
    checks = checks or {}
    return [
        ListenerConfig(
            li.proxy_port,
            li.port,
            li.protocol,
            checks.get(li.proxy_port) if li.protocol == "http" and lb.health_check.enabled else None,
        )
        for li in lb.listeners
    ]


@cache
def _template() -> jinja2.Template:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(_TEMPLATES)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    return env.get_template("haproxy.cfg.j2")


def render_config(
    lb: LbCluster,
    checks: Mapping[int, str] | None = None,
    maxconn: int = 4096,
    stats_auth: str | None = None,
) -> str:
    """The haproxy.cfg of an LB cluster. ``checks``: proxy_port -> http health path; ``stats_auth``:
    the ``user:password`` of an enabled statistics page (:func:`read_stats_auth`).

    Every value that is written into the file word for word is checked against the model's grammar
    for its place again here (the model refuses them first), so nothing can end a line, start a
    comment or add a section: ``DriverError`` names the value.
    """
    if lb.stats.enabled and not stats_auth:
        raise StratosError(f"LB cluster '{lb.name}': an enabled statistics page needs its credentials")
    for proxy_port, path in (checks or {}).items():
        _config_value(model._uri_path, path, f"health check path of listener {proxy_port}")
    _config_value(model._cookie, lb.sticky.cookie, f"lb_clusters/{lb.name}.sticky.cookie")
    _config_value(model._dns_label, lb.name, "lb_clusters name")
    return _template().render(
        stats_auth=stats_auth,
        lb=lb,
        listeners=listeners(lb, checks),
        socket=SOCKET,
        server_state_file=SERVER_STATE_FILE,
        maxconn=maxconn,
        check_timeout=duration(min(lb.health_check.interval, 5.0)),
        dynamic_cookie_key=hashlib.sha256(f"stratos:{lb.name}".encode()).hexdigest()[:16],
    )


_STATS_AUTH_LINE = re.compile(r"^(\s*stats auth ).*$", re.MULTILINE)


def config_digest(config: str) -> str:
    """SHA-256 of a configuration with the statistics credentials masked (it goes into labels and
    diffs, which must not carry a value derived from a password)."""
    return hashlib.sha256(_STATS_AUTH_LINE.sub(r"\1***", config).encode()).hexdigest()


def _config_value(rule: Callable[[str], str], value: str, what: str) -> None:
    try:
        rule(value)
    except ValueError as exc:
        raise DriverError(f"haproxy: {what} ({value[:80]!r}) cannot go into haproxy.cfg: {exc}") from None


def server_options(lb: LbCluster) -> dict[str, Any]:
    """The health-check keywords of a member added to one of ``lb``'s backends."""
    hc = lb.health_check
    return {"check": hc.enabled, "inter": hc.interval, "fall": hc.fall, "rise": hc.rise}


def duration(seconds: float) -> str:
    """HAProxy's time format: whole seconds as ``5s``, anything finer in milliseconds."""
    millis = int(round(seconds * 1000))
    return f"{millis // 1000}s" if millis % 1000 == 0 else f"{millis}ms"
