from __future__ import annotations

import json
import math
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from stratos.drivers import docker as dockerlib
from stratos.drivers import haproxy
from stratos.errors import DriverError, NotFoundError, StratosError
from stratos.model import LbCluster, NetworkPartition
from stratos.store import StateStore


def lb(**fields: object) -> LbCluster:
    base = {"name": "web", "network_partition": "local", "listeners": [{"proxy_port": 8080, "port": 80}]}
    return LbCluster.model_validate({**base, **fields})


# --------------------------------------------------------------------------- statistics credentials

PASSWORD = "correct-horse-battery"


@pytest.fixture
def stats_file(tmp_path: Path) -> Path:
    path = tmp_path / "stats.auth"
    path.write_text(f"admin:{PASSWORD}\n")
    path.chmod(0o600)
    return path


def test_the_stats_page_is_off_by_default_and_published_nowhere(tmp_path: Path) -> None:
    s = spec(tmp_path)
    assert "listen stats" not in s.config and "stats auth" not in s.config
    assert list(s.ports) == ["8080/tcp"]


@pytest.mark.parametrize(
    ("content", "mode", "rule"),
    [
        (f"admin:{PASSWORD}\n", 0o644, "readable by its owner only"),
        (f"admin {PASSWORD}\n", 0o600, "one line user:password"),
        ("admin:short\n", 0o600, "one line user:password"),
        (f"admin:{PASSWORD}\nlisten pwn\n", 0o600, "one line user:password"),
        (f"admin:{PASSWORD} #x\n", 0o600, "one line user:password"),
        (None, 0o600, "cannot be read"),
    ],
    ids=["world-readable", "no-colon", "short-password", "two-lines", "space-and-comment", "missing"],
)
def test_bad_stats_credentials_are_refused_without_showing_them(
    tmp_path: Path, content: str | None, mode: int, rule: str
) -> None:
    path = tmp_path / "stats.auth"
    if content is not None:
        path.write_text(content)
        path.chmod(mode)
    enabled = lb(stats={"enabled": True, "credentials_file": str(path)})
    with pytest.raises(StratosError, match=rule) as err:
        haproxy.read_stats_auth(enabled)
    assert str(path) in str(err.value) and PASSWORD not in str(err.value)


def test_the_stats_password_reaches_no_label_or_diff(tmp_path: Path, stats_file: Path) -> None:
    import hashlib

    s = spec(tmp_path, stats={"enabled": True, "port": 9000, "credentials_file": str(stats_file)})
    assert s.ports["9000/tcp"] == ("127.0.0.1", 9000)
    assert "bind :9000" in s.config
    assert f"stats auth admin:{PASSWORD}" in s.config
    change = haproxy.compare_lb(s, None, None, None)
    shown = json.dumps([change.before, change.after]) + json.dumps(s.labels())
    assert PASSWORD not in shown
    assert hashlib.sha256(s.config.encode()).hexdigest() not in shown
    # another password still changes the configuration, so the LB reloads
    other = spec(tmp_path, stats={"enabled": True, "port": 9000, "credentials_file": str(stats_file)})
    stats_file.write_text("admin:another-long-password\n")
    changed = spec(tmp_path, stats={"enabled": True, "port": 9000, "credentials_file": str(stats_file)})
    assert other.config != changed.config
    assert haproxy.compare_lb(changed, other.labels(), "running", other.config).action == "reload"


# --------------------------------------------------------------------------- parsing

SHOW_STAT = """\
# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,hanafail,req_rate,req_rate_max,req_tot,cli_abrt,srv_abrt,comp_in,comp_out,comp_byp,comp_rsp,lastsess,last_chk,last_agt,qtime,ctime,rtime,ttime,agent_status,agent_code,agent_duration,check_desc,agent_desc,check_rise,check_fall,check_health,agent_rise,agent_fall,agent_health,addr,cookie,mode,algo
fe_8080,FRONTEND,,,0,1,4096,1,96,154,0,0,0,,,,,OPEN,,,,,,,,,1,2,0,,,,0,1,0,1,,,,0,1,0,0,0,0,,1,1,1,,,0,0,0,0,,,,,,,,,,,,,,,,,,,,,http,
be_8080,shop-web-1a2b3c,2,3,7,9,,120,96,154,,0,,0,0,0,0,UP,1,1,0,0,0,3,0,,1,3,1,,1,,2,5,,1,L7OK,200,6,0,1,0,0,4,0,,,,1,0,0,,,,,1,,,0,0,5,5,,,,Layer7 check passed,,1,2,2,,,,172.18.0.3:80,,http,
be_8080,BACKEND,0,0,7,9,410,120,96,154,0,0,,0,0,0,0,UP,1,1,0,,0,3,0,,1,3,0,,1,,1,5,,1,,,,0,1,0,0,0,0,,,,1,0,0,0,0,0,0,1,,,0,0,5,5,,,,,,,,,,,,,,http,roundrobin
"""


def test_show_stat_rows_are_typed() -> None:
    rows = haproxy.parse_stat(SHOW_STAT)
    assert [(r.proxy, r.name, r.type) for r in rows] == [
        ("fe_8080", "FRONTEND", "frontend"),
        ("be_8080", "shop-web-1a2b3c", "server"),
        ("be_8080", "BACKEND", "backend"),
    ]
    server = rows[1]
    assert (server.status, server.current_sessions, server.queued, server.total_sessions) == ("UP", 7, 2, 120)
    assert (server.check_status, server.addr, server.rate) == ("L7OK", "172.18.0.3:80", 5)
    assert server.number("hrsp_5xx") == 4
    assert rows[0].queued == 0  # an empty field is 0


@pytest.mark.parametrize("text", ["", "\n"], ids=["empty", "newline"])
def test_show_stat_without_rows(text: str) -> None:
    assert haproxy.parse_stat(text) == []


def test_show_stat_refuses_an_error_answer() -> None:
    with pytest.raises(DriverError, match="did not answer CSV"):
        haproxy.parse_stat("Unknown command.\n")


SERVERS_STATE = """\
1
# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port
3 be_8080 1 m-ready 172.18.0.3 2 0 1 1 2 15 3 2 6 0 0 0 - 80 - 0 0 - - 0
3 be_8080 2 m-new 172.18.0.4 0 1 1 1 0 1 0 0 2 0 0 0 - 80 - 0 0 - - 0
3 be_8080 3 m-drain 172.18.0.5 2 8 1 1 9 15 3 2 6 0 0 0 - 80 - 0 0 - - 0
3 be_8080 4 m-down 172.18.0.6 0 0 1 1 9 15 2 0 6 0 0 0 - 80 - 0 0 - - 0

"""


@pytest.mark.parametrize(
    ("name", "maintenance", "draining", "up", "serving"),
    [
        ("m-ready", False, False, True, True),
        ("m-new", True, False, False, False),
        ("m-drain", False, True, True, False),
        ("m-down", False, False, False, False),
    ],
    ids=["ready", "just-added-in-maintenance", "draining", "failing-checks"],
)
def test_servers_state_flags(name: str, maintenance: bool, draining: bool, up: bool, serving: bool) -> None:
    server = next(s for s in haproxy.parse_servers_state(SERVERS_STATE) if s.name == name)
    assert (server.in_maintenance, server.draining, server.up, server.serving) == (
        maintenance,
        draining,
        up,
        serving,
    )
    assert server.backend == "be_8080"
    assert server.port == 80


def test_servers_state_of_an_empty_backend() -> None:
    assert haproxy.parse_servers_state(SERVERS_STATE.split("\n3 ")[0]) == []


def test_servers_state_refuses_another_format_version() -> None:
    with pytest.raises(DriverError, match="format version"):
        haproxy.parse_servers_state("2\n# be_id\n")


def test_show_info() -> None:
    info = haproxy.parse_info("Name: HAProxy\nVersion: 2.6.12-1+deb12u4\nPid: 11\nUptime_sec: 18\n")
    assert info["Pid"] == "11"
    assert info["Version"].startswith("2.6")


@pytest.mark.parametrize(
    ("answer", "failed"),
    [
        ("", False),
        ("\n", False),
        ("New server registered.\n", False),
        ("Server deleted.\n", False),
        ("No such server.\n", True),
        ("Only servers in maintenance mode can be deleted.\n", True),
        ("Already exists a server with the same name in backend.\n", True),
        ("Server still has connections attached to it, cannot remove it.\n", True),
        ("Unknown command. Please enter one of the following commands only :\n", True),
    ],
    ids=[
        "empty",
        "newline",
        "added",
        "deleted",
        "no-such-server",
        "not-in-maintenance",
        "duplicate",
        "still-connected",
        "unknown-command",
    ],
)
def test_answer_failed(answer: str, failed: bool) -> None:
    assert haproxy.answer_failed(answer) is failed


# --------------------------------------------------------------------------- the runtime client, against a fake socket


class FakeHaproxy:
    """A unix socket that answers one command per connection from a table, and records them."""

    def __init__(self, path: Path, answer: Callable[[str], str]):
        self.path = path
        self.answer = answer
        self.commands: list[str] = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(path))
        self.sock.listen(8)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                data = b""
                while not data.endswith(b"\n"):
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                line = data.decode().strip()
                self.commands.append(line)
                conn.sendall(self.answer(line).encode())

    def close(self) -> None:
        self.sock.close()


MakeFake = Callable[[Callable[[str], str]], FakeHaproxy]


@pytest.fixture
def fake_socket(tmp_path: Path) -> Iterator[MakeFake]:
    made: list[FakeHaproxy] = []

    def make(answer: Callable[[str], str]) -> FakeHaproxy:
        fake = FakeHaproxy(tmp_path / f"s{len(made)}.sock", answer)
        made.append(fake)
        return fake

    yield make
    for fake in made:
        fake.close()


HEADER = SERVERS_STATE.splitlines()[1]


def state_with(*lines: str) -> str:
    return "1\n" + HEADER + "\n" + "".join(line + "\n" for line in lines)


def showing(state: str, otherwise: str = "\n") -> Callable[[str], str]:
    """The answers of a runtime socket that shows ``state`` and answers every other command with
    ``otherwise``."""
    return lambda line: state if line.startswith("show") else otherwise


def test_add_member_adds_enables_health_and_puts_in_service(fake_socket: MakeFake) -> None:
    def answer(line: str) -> str:
        if line.startswith("show servers state"):
            return state_with()
        return "New server registered.\n" if line.startswith("add server") else "\n"

    fake = fake_socket(answer)
    haproxy.Runtime(fake.path).add_member("be_8080", "m1", "10.0.0.5", 80, inter=2, fall=3, rise=2)
    assert fake.commands == [
        "show servers state be_8080",
        "add server be_8080/m1 10.0.0.5:80 check inter 2s fall 3 rise 2",
        "enable health be_8080/m1",
        "set server be_8080/m1 state ready",
    ]


def test_add_member_of_an_existing_server_only_puts_it_back_in_service(fake_socket: MakeFake) -> None:
    fake = fake_socket(
        showing(state_with("3 be_8080 2 m1 10.0.0.5 2 8 1 1 9 15 3 2 6 0 0 0 - 80 - 0 0 - - 0"))
    )
    haproxy.Runtime(fake.path).add_member("be_8080", "m1", "10.0.0.5", 80, check=False, sticky=True)
    assert fake.commands == [
        "show servers state be_8080",
        "set server be_8080/m1 state ready",
        "enable dynamic-cookie backend be_8080",
    ]


def test_add_member_failure_is_a_driver_error(fake_socket: MakeFake) -> None:
    fake = fake_socket(showing(state_with(), "Backend 'be_8080' uses a non dynamic LB algorithm.\n"))
    with pytest.raises(DriverError, match="add server be_8080/m1 failed"):
        haproxy.Runtime(fake.path).add_member("be_8080", "m1", "10.0.0.5", 80)


def deleting_after(refusals: float) -> Callable[[str], str]:
    """The answers of a runtime socket whose server ``be_8080/m1`` (in service) refuses its first
    ``refusals`` deletes (``math.inf``: every one) for connections still attached."""
    attempts: list[str] = []

    def answer(line: str) -> str:
        if line.startswith("show servers state"):
            return state_with("3 be_8080 2 m1 10.0.0.5 2 1 1 1 9 15 3 2 6 0 0 0 - 80 - 0 0 - - 0")
        if line.startswith("del server"):
            attempts.append(line)
            if len(attempts) <= refusals:
                return "Server still has connections attached to it, cannot remove it.\n"
            return "Server deleted.\n"
        return "\n"

    return answer


@pytest.mark.parametrize(
    ("refusals", "expected"),
    [
        (0, ["set server be_8080/m1 state maint", "del server be_8080/m1"]),
        (
            2,
            ["set server be_8080/m1 state maint"] + ["del server be_8080/m1"] * 3,
        ),
        (
            4,
            ["set server be_8080/m1 state maint"]
            + ["del server be_8080/m1"] * 3
            + ["shutdown sessions server be_8080/m1"]
            + ["del server be_8080/m1"] * 2,
        ),
    ],
    ids=["deleted-at-once", "deleted-when-connections-end", "sessions-shut-down-half-way"],
)
def test_remove_member_maintenance_then_delete_retried(
    fake_socket: MakeFake, refusals: int, expected: list[str]
) -> None:
    fake = fake_socket(deleting_after(refusals))
    clock = iter(range(100))
    runtime = haproxy.Runtime(fake.path, clock=lambda: float(next(clock)), sleep=lambda s: None)
    runtime.remove_member("be_8080", "m1", timeout=5)
    assert [c for c in fake.commands if not c.startswith("show")] == expected


def test_remove_member_without_wait_tries_once(fake_socket: MakeFake) -> None:
    fake = fake_socket(deleting_after(math.inf))
    assert haproxy.Runtime(fake.path).remove_member("be_8080", "m1", wait=False) is False
    assert [c for c in fake.commands if not c.startswith("show")] == [
        "set server be_8080/m1 state maint",
        "del server be_8080/m1",
    ]


def test_remove_member_gives_up_after_its_timeout(fake_socket: MakeFake) -> None:
    fake = fake_socket(deleting_after(math.inf))
    clock = iter(range(100))
    runtime = haproxy.Runtime(fake.path, clock=lambda: float(next(clock)) * 5, sleep=lambda s: None)
    with pytest.raises(DriverError, match="del server be_8080/m1 failed"):
        runtime.remove_member("be_8080", "m1", timeout=10)


def test_remove_member_of_an_absent_server_does_nothing(fake_socket: MakeFake) -> None:
    fake = fake_socket(lambda line: state_with())
    haproxy.Runtime(fake.path).remove_member("be_8080", "gone")
    assert fake.commands == ["show servers state be_8080"]


def test_wait_drained_until_no_session(fake_socket: MakeFake) -> None:
    sessions = iter([3, 1, 0])
    header = SHOW_STAT.splitlines()[0]

    def answer(line: str) -> str:
        return f"{header}\nbe_8080,m1,0,0,{next(sessions)},9,,1,,,,,,,,,,DRAIN,1,1,0,0,0,3,0,,1,3,1,,1,,2\n"

    fake = fake_socket(answer)
    sleeps: list[float] = []
    runtime = haproxy.Runtime(fake.path, clock=lambda: 0.0, sleep=sleeps.append)
    assert runtime.wait_drained("be_8080", "m1", timeout=30, poll=0.5) is True
    assert sleeps == [0.5, 0.5]


def test_a_missing_socket_is_a_driver_error(tmp_path: Path) -> None:
    runtime = haproxy.Runtime(tmp_path / "absent.sock")
    with pytest.raises(DriverError, match="does not exist"):
        runtime.info()
    assert runtime.available() is False


# --------------------------------------------------------------------------- the LB container (pure comparison)


def spec(tmp_path: Path, **fields: object) -> haproxy.LbContainerSpec:
    np = NetworkPartition.model_validate(
        {"name": "local", "partitions": [{"name": "p1"}], "network": {"name": "n1"}}
    )
    return haproxy.desired_lb(lb(**fields), np, StateStore(tmp_path), {8080: "/h"}, image="img:1")


def test_desired_lb_container(tmp_path: Path) -> None:
    s = spec(
        tmp_path, listeners=[{"proxy_port": 8080, "port": 80, "publish": 18080}], bind_address="127.0.0.1"
    )
    assert s.name == "stratos-lb-web"
    assert s.network == "n1"
    assert s.ports == {"8080/tcp": ("127.0.0.1", 18080)}
    assert s.shape()["mounts"] == [
        f"{tmp_path}/lb/web:/usr/local/etc/stratos:ro",
        f"{tmp_path}/lb/web/run:/run/stratos-lb:rw",
    ]
    assert s.labels()[dockerlib.LB_CLUSTER] == "web"
    assert s.labels()[dockerlib.ROLE] == "lb"


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("absent", "create"),
        ("same", "none"),
        ("stopped", "start"),
        ("config-changed", "reload"),
        ("listeners-changed", "recreate"),
    ],
    ids=lambda v: str(v),
)
def test_compare_lb(tmp_path: Path, case: str, expected: str) -> None:
    want = spec(tmp_path)
    labels: dict[str, str] | None = want.labels()
    status, config = "running", want.config
    if case == "absent":
        labels = None
    elif case == "stopped":
        status = "exited"
    elif case == "config-changed":
        config = want.config.replace("/h", "/old")
    elif case == "listeners-changed":
        labels = spec(tmp_path, listeners=[{"proxy_port": 9090, "port": 80}]).labels()
    assert haproxy.compare_lb(want, labels, status, config).action == expected


def test_compare_lb_refuses_a_foreign_container(tmp_path: Path) -> None:
    with pytest.raises(DriverError, match="is not the load balancer"):
        haproxy.compare_lb(spec(tmp_path), {"maintainer": "someone"}, "running", "")


class _Images:
    def __init__(self, present: set[str]) -> None:
        self.present = present

    def get(self, ref: str) -> object:
        import docker as docker_sdk

        if ref not in self.present:
            raise docker_sdk.errors.ImageNotFound(f"no such image: {ref}")
        return object()


class _Client:
    def __init__(self, present: set[str]) -> None:
        self.images = _Images(present)


def test_require_image_passes_when_the_image_is_there() -> None:
    haproxy._require_image(_Client({"stratos/haproxy:1"}), "stratos/haproxy:1")  # type: ignore[arg-type]


def test_require_image_says_to_build_the_haproxy_image_when_it_is_missing() -> None:
    with pytest.raises(NotFoundError, match=r"image stratos/haproxy:1 does not exist.*build the haproxy"):
        haproxy._require_image(_Client(set()), "stratos/haproxy:1")  # type: ignore[arg-type]
