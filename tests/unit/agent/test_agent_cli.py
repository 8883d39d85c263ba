from __future__ import annotations

from pathlib import Path

import pytest

from stratos import cli, status
from stratos.agent.events import Event, EventStore
from stratos.planning.reconcile import MemberView, SubscriptionView
from stratos.store import StateStore


def test_agent_commands_are_registered() -> None:
    parser = cli.build_parser()
    args = parser.parse_args(["agent", "--state-dir", "/s", "--interval", "2", "--once", "--dry-run"])
    assert (args.command, args.state_dir, args.interval, args.once, args.dry_run) == (
        "agent",
        "/s",
        2.0,
        True,
        True,
    )
    assert parser.parse_args(["status"]).command == "status"
    assert parser.parse_args(["events", "shop", "--limit", "5"]).limit == 5


def test_only_existing_commands_are_registered() -> None:
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["no-such-command", "shop"])
    for command in ("sync", "rollback"):
        assert cli.build_parser().parse_args([command, "shop"]).command == command


def test_status_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = StateStore(tmp_path)
    view = SubscriptionView(
        "shop",
        "web",
        2,
        6,
        2,
        2,
        1,
        False,
        (),
        (),
        (MemberView("m1", "local/p1", "healthy", True, "10.0.0.2", True),),
    )
    status.write_status(store, status.build_status(1.0, [view]))
    assert cli.main(["status", "--state-dir", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == [
        "APPLICATION",
        "SUBSCRIPTION",
        "MEMBERS",
        "HEALTHY",
        "IN",
        "LB",
        "CPU",
        "%",
        "MEM",
        "%",
        "IN",
        "FLIGHT",
        "DESIRED",
        "MIN-MAX",
        "READY",
    ]
    assert lines[1].split() == ["shop", "web", "1", "2", "1", "-", "-", "-", "2", "2-6", "no"]


def test_status_without_agent(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["status", "--state-dir", str(tmp_path)]) == 1
    assert "no agent status yet" in capsys.readouterr().err


def test_events_with_reasons(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = StateStore(tmp_path)
    EventStore(store.database).record(
        Event(0.0, "shop", "web", "start", 0, 1, ("below min",), {"member": "m1"})
    )
    assert cli.main(["events", "shop", "--state-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.split() == ["1970-01-01", "00:00:00", "web", "start", "0->1", "m1", "below", "min"]
