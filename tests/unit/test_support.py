"""tests/support.py: the shared helpers do what every test relying on them assumes."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import support


def test_wait_for_returns_the_first_truthy_answer() -> None:
    answers = iter([None, 0, "", "ready", "later"])
    assert support.wait_for("an answer", lambda: next(answers), timeout=5, every=0) == "ready"


def test_wait_for_times_out_naming_what_and_the_last_answer() -> None:
    with pytest.raises(TimeoutError, match=r"waiting for the moon \(last: 0\)"):
        support.wait_for("the moon", lambda: 0, timeout=0.05, every=0.01)


def test_wait_for_retries_only_the_exceptions_it_is_told_to() -> None:
    calls: list[int] = []

    def refused_then_ready() -> bool:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionRefusedError("not yet")
        return True

    assert support.wait_for("a port", refused_then_ready, timeout=5, every=0, retry_on=(OSError,)) is True
    assert len(calls) == 3
    with pytest.raises(ZeroDivisionError):
        support.wait_for("a bug", lambda: 1 / 0, timeout=5, every=0, retry_on=(OSError,))


def test_wait_for_reports_the_last_retried_exception() -> None:
    def refused() -> None:
        raise ConnectionRefusedError("refused")

    with pytest.raises(TimeoutError, match="ConnectionRefusedError"):
        support.wait_for("a port", refused, timeout=0.05, every=0.01, retry_on=(OSError,))


def test_free_port_skips_a_port_in_use_and_the_ones_to_avoid() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        taken = int(busy.getsockname()[1])
        assert support.free_port(taken, 3, avoid={taken + 1}) == taken + 2
        with pytest.raises(RuntimeError, match=f"no free port in {taken}-{taken}"):
            support.free_port(taken, 1)
    assert support.free_port() > 0


def test_run_fails_with_the_command_and_its_output() -> None:
    assert support.run("sh", "-c", "echo out") == "out"
    with pytest.raises(AssertionError, match=r"(?s)sh -c echo oops >&2; exit 3 failed \(3\).*oops"):
        support.run("sh", "-c", "echo oops >&2; exit 3")


def test_new_repository_and_commit_give_the_commit_ids(tmp_path: Path) -> None:
    first = support.new_repository(tmp_path / "r", {"a.txt": "1"}, "first")
    second = support.commit(tmp_path / "r", {"sub/b.txt": "2"}, "second")
    assert support.git("rev-parse", "HEAD~1", cwd=tmp_path / "r") == first
    assert support.git("log", "-1", "--format=%s %an", cwd=tmp_path / "r") == "second t"
    assert support.git("ls-tree", "-r", "--name-only", second, cwd=tmp_path / "r").split() == [
        "a.txt",
        "sub/b.txt",
    ]


def test_seeded_store_holds_the_definitions(tmp_path: Path) -> None:
    docs = [
        *support.one_partition_platform(),
        support.git_application("shop", support.hooked("web", "https://git.example.com/shop.git", None)),
    ]
    store = support.seeded_store(tmp_path / "state", docs)
    ds = store.load()
    assert sorted(ds.applications) == ["shop"]
    assert ds.applications["shop"].subscriptions[0].artifact is not None


def test_member_spec_is_named_after_its_member_and_takes_any_field() -> None:
    spec = support.member_spec("shop-web-abc123", binds=("/a:/b:ro",))
    assert (spec.member_id, spec.name, spec.hostname) == (
        "shop-web-abc123",
        "stratos-shop-web-abc123",
        "shop-web-abc123",
    )
    assert (spec.binds, spec.labels, spec.volumes, spec.mem_limit) == (("/a:/b:ro",), {}, {}, None)
