"""Figures per subscription, their Prometheus rendering, status.json annotation and the tables of
``stratos status`` and ``stratos metering``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from stratos.agent import cli, metrics
from stratos.agent.observe import MemberMetrics
from stratos.model import AutoscalingPolicy, DeploymentPolicy
from stratos.planning.reconcile import MemberView, SubscriptionView
from stratos.scaling import Observations, ScalingState, decide
from stratos.scaling.observations import MemberObservation, Placement
from stratos.status import build_status

P1 = Placement("local", "p1")


def view(app: str = "shop", alias: str = "web", ids: tuple[str, ...] = ("m1", "m2")) -> SubscriptionView:
    return SubscriptionView(
        app,
        alias,
        1,
        4,
        len(ids),
        len(ids),
        len(ids),
        True,
        (),
        (),
        tuple(MemberView(i, "local/p1", "healthy", True, "10.0.0.1", True) for i in ids),
    )


def a_decision():  # type: ignore[no-untyped-def]
    policy = AutoscalingPolicy.model_validate(
        {
            "name": "p",
            "thresholds": {"requests_in_flight": 4, "load_average": 80},
            "behaviour": {"prediction_horizon": 0},
        }
    )
    deployment = DeploymentPolicy.model_validate(
        {"name": "d", "network_partitions": [{"name": "local", "partitions": [{"name": "p1", "max": 4}]}]}
    )
    members = tuple(
        MemberObservation(i, P1, True, 0.0, cpu_percent=40.0, requests_in_flight=6.0) for i in ("m1", "m2")
    )
    decision, _ = decide(
        Observations(100.0, members), policy, deployment, ScalingState(), 100.0, min_members=1, max_members=4
    )
    return decision


MEMBERS = {
    "m1": MemberMetrics(40.0, 20.0, 6.0, 0.0),
    "m2": MemberMetrics(60.0, None, 6.0, 1.0),
    "db1": MemberMetrics(None, None, None, None),
}


def test_subscription_figures() -> None:
    decision = a_decision()
    web, db = metrics.subscription_figures(
        [view(), view(alias="db", ids=("db1",))], MEMBERS, {("shop", "web"): decision}
    )
    assert (web.members, web.healthy, web.desired) == (2, 2, 2)
    assert (web.cpu_percent, web.memory_percent, web.requests_in_flight, web.queued) == (
        50.0,
        20.0,
        12.0,
        1.0,
    )
    assert web.factors == {"requests_in_flight": 12.0, "load_average": 40.0}
    assert web.thresholds == {"requests_in_flight": 4.0, "load_average": 80.0}
    assert web.rule == decision.rule == "scale-up"
    assert (db.cpu_percent, db.requests_in_flight, db.rule, db.factors) == (None, None, None, {})


def test_render_is_prometheus_text() -> None:
    decision = a_decision()
    figures = metrics.subscription_figures([view()], MEMBERS, {("shop", "web"): decision})
    recorder = metrics.LatestSnapshot()
    recorder.tick(1700000000.5, 0.125, True, figures, MEMBERS)
    recorder.tick(1700000001.5, 0.5, False)
    recorder.count_action("shop", "web", "up")
    recorder.count_action("shop", "web", "up")
    text = metrics.render(recorder.snapshot(), {"shop": 3600.0})
    lines = text.splitlines()
    assert 'stratos_members{application="shop",subscription="web"} 2.0' in lines
    assert 'stratos_desired_members{application="shop",subscription="web"} 2.0' in lines
    assert 'stratos_cpu_percent{application="shop",subscription="web"} 50.0' in lines
    assert (
        'stratos_factor_value{application="shop",factor="requests_in_flight",subscription="web"} 12.0'
        in lines
    )
    assert (
        'stratos_factor_threshold{application="shop",factor="load_average",subscription="web"} 80.0' in lines
    )
    assert any(line.startswith('stratos_factor_prediction{application="shop"') for line in lines)
    assert 'stratos_scaling_actions_total{application="shop",direction="up",subscription="web"} 2.0' in lines
    assert 'stratos_member_seconds_total{application="shop"} 3600.0' in lines
    assert "stratos_tick_seconds 0.5" in lines
    assert 'stratos_ticks_total{result="failed"} 1.0' in lines
    assert 'stratos_ticks_total{result="ok"} 1.0' in lines
    assert "stratos_last_tick_timestamp_seconds 1.7000000015e+09" in lines
    # Every sample line belongs to a family declared just before it, once.
    declared = [line.split()[2] for line in lines if line.startswith("# TYPE")]
    assert len(declared) == len(set(declared))
    sample = re.compile(r'^[a-z_]+(\{([a-z_]+="[^"\\]*(\\.[^"\\]*)*",?)*\})? [-+0-9.eEInfa]+$')
    for line in lines:
        assert line.startswith("#") or sample.match(line), line
    assert text.endswith("\n")


def test_labels_are_escaped() -> None:
    figures = [metrics.SubscriptionFigures('we"ird\\app\n', "web", 1, 1, 1, 1, 1)]
    text = metrics.render(metrics.Snapshot(subscriptions=tuple(figures)))
    assert 'stratos_members{application="we\\"ird\\\\app\\n",subscription="web"} 1.0' in text


def test_an_empty_snapshot_renders_the_families_without_samples() -> None:
    text = metrics.render(metrics.Snapshot())
    assert "# TYPE stratos_members gauge" in text
    samples = [line for line in text.splitlines() if not line.startswith("#")]
    assert samples == []


def test_status_is_annotated_and_tabled() -> None:
    decision = a_decision()
    views = [view(), view(alias="db", ids=("db1",))]
    figures = metrics.subscription_figures(views, MEMBERS, {("shop", "web"): decision})
    status = metrics.annotate_status(build_status(1.0, views), figures, MEMBERS)
    data = status.as_json()
    web = data["applications"]["shop"]["subscriptions"]["web"]
    assert (web["cpu_percent"], web["memory_percent"], web["requests_in_flight"], web["queued"]) == (
        50.0,
        20.0,
        12.0,
        1.0,
    )
    assert web["autoscaling"]["rule"] == "scale-up"
    assert web["autoscaling"]["factors"]["requests_in_flight"] == 12.0
    assert [m["cpu_percent"] for m in web["members"]] == [40.0, 60.0]
    assert "autoscaling" not in data["applications"]["shop"]["subscriptions"]["db"]

    lines = cli.status_table(status).splitlines()
    assert lines[0].split() == (
        "APPLICATION SUBSCRIPTION MEMBERS HEALTHY IN LB CPU % MEM % IN FLIGHT DESIRED MIN-MAX READY".split()
    )
    assert lines[1].split() == ["shop", "db", "1", "1", "1", "-", "-", "-", "1", "1-4", "yes"]
    assert lines[2].split() == ["shop", "web", "2", "2", "2", "50", "20", "12+1q", "2", "1-4", "yes"]


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ([], [["APPLICATION", "SUBSCRIPTION", "MEMBERS", "RUNNING", "MEMBER-SECONDS", "MEMBER-HOURS"]]),
        (
            [("shop", "db", 1, 3600.0, 1), ("shop", "web", 5, 9000.0, 2)],
            [
                ["APPLICATION", "SUBSCRIPTION", "MEMBERS", "RUNNING", "MEMBER-SECONDS", "MEMBER-HOURS"],
                ["shop", "db", "1", "1", "3600", "1.000"],
                ["shop", "web", "5", "2", "9000", "2.500"],
                ["shop", "(all)", "12600", "3.500"],
            ],
        ),
    ],
    ids=["empty", "two-subscriptions"],
)
def test_metering_table(rows: list[tuple[str, str, int, float, int]], expected: list[list[str]]) -> None:
    assert [line.split() for line in cli.metering_table(rows).splitlines()] == expected


def test_every_family_keeps_its_name_type_and_help_in_the_official_parser() -> None:
    """The exposition of ``prometheus_client`` parses back to the families /metrics always had."""
    from prometheus_client.parser import text_string_to_metric_families

    snapshot = metrics.Snapshot(
        time=5.0,
        tick_seconds=0.5,
        subscriptions=(metrics.SubscriptionFigures("shop", "web", 2, 2, 2, 1, 4, cpu_percent=10.0),),
        actions={("shop", "web", "up"): 1},
        ticks={"ok": 1},
    )
    text = metrics.exposition(snapshot, {"shop": 1.0}).decode()
    parsed = {f.name: (f.type, f.documentation) for f in text_string_to_metric_families(text)}
    expected = {
        name.removesuffix("_total") if kind == "counter" else name: (kind, help_text)
        for name, kind, help_text, _ in metrics.FAMILIES
    }
    assert parsed == expected
    assert len(expected) == 18  # 17 series of the first agent, plus the event store errors
    assert parsed["stratos_scaling_actions"] == (
        "counter",
        "Scaling decisions that started or stopped members, by direction, since the agent started.",
    )


def test_the_agent_leaves_a_snapshot_for_a_server_in_another_process(tmp_path: Path) -> None:
    from stratos.store import StateStore

    store = StateStore(tmp_path)
    store.ensure()
    recorder = metrics.LatestSnapshot()
    recorder.tick(10.0, 0.5, True)
    metrics.write_snapshot(store, recorder.snapshot(), {"shop": 2.0})
    text = metrics.snapshot_file(store).read_text()
    assert 'stratos_ticks_total{result="ok"} 1.0' in text
    assert 'stratos_member_seconds_total{application="shop"} 2.0' in text
    assert metrics.snapshot_file(store).stat().st_mode & 0o777 == 0o640
