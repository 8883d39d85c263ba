"""decide(): one table of named cases on a fixed clock, then a few properties of the data it returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from stratos.model import AutoscalingPolicy, DeploymentPolicy
from stratos.scaling import MemberObservation, Observations, Placement, ScalingState, decide

NOW = 100_000.0
STEP = 15.0
#: A state whose first decision is long past: scale-down is not held back by a missing window.
SETTLED = ScalingState(since=NOW - 3600)


# --------------------------------------------------------------------------- builders


def policy(
    rif: float | None = 80, load: float | None = None, memory: float | None = None, **behaviour: Any
) -> AutoscalingPolicy:
    thresholds = {"requests_in_flight": rif, "load_average": load, "memory_consumption": memory}
    return AutoscalingPolicy(
        name="p", thresholds={k: v for k, v in thresholds.items() if v is not None}, behaviour=behaviour
    )


def deployment(*network_partitions: tuple[str, str, list[tuple[str, int]]]) -> DeploymentPolicy:
    nps = network_partitions or (("np1", "round-robin", [("p1", 5), ("p2", 5)]),)
    return DeploymentPolicy(
        name="d",
        network_partitions=[
            {"name": name, "algorithm": algorithm, "partitions": [{"name": p, "max": m} for p, m in parts]}
            for name, algorithm, parts in nps
        ],
    )


def at(where: str) -> Placement:
    np, p = where.split("/")
    return Placement(np, p)


def member(
    member_id: str,
    where: str = "np1/p1",
    *,
    healthy: bool = True,
    started: float = NOW - 3600,
    rif: float | None = None,
    cpu: float | None = None,
    memory: float | None = None,
    queued: float | None = None,
) -> MemberObservation:
    return MemberObservation(member_id, at(where), healthy, started, cpu, memory, rif, queued)


def cluster(
    count: int, *, rif: float | None = None, cpu: float | None = None, memory: float | None = None
) -> list[MemberObservation]:
    """``count`` healthy members alternating over np1/p1 and np1/p2, all alike."""
    return [
        member(f"m{i + 1}", "np1/p1" if i % 2 == 0 else "np1/p2", rif=rif, cpu=cpu, memory=memory)
        for i in range(count)
    ]


def with_history(factor: str, totals: list[float], base: ScalingState = SETTLED) -> ScalingState:
    """A state that saw ``totals`` of one factor at the ticks before NOW (oldest first)."""
    samples = tuple((NOW - STEP * (len(totals) - i), v) for i, v in enumerate(totals))
    return ScalingState(series=((factor, samples),), recommendations=base.recommendations, since=base.since)


def with_recommendations(*recs: tuple[float, int], since: float = NOW - 3600) -> ScalingState:
    return ScalingState(recommendations=tuple((NOW - age, n) for age, n in recs), since=since)


@dataclass
class Case:
    id: str
    members: list[MemberObservation]
    expect: dict[str, Any]
    policy: AutoscalingPolicy = field(default_factory=policy)
    deployment: DeploymentPolicy = field(default_factory=deployment)
    state: ScalingState = SETTLED
    pending: tuple[str, ...] = ()
    lb_queued: float | None = None
    min_members: int = 1
    max_members: int = 10
    startup_timeout: float = 300.0


CASES = [
    # -- required members per factor
    Case("rif-at-target-holds", cluster(4, rif=80), {"desired": 4, "rule": "hold", "add": [], "remove": []}),
    Case(
        "rif-scale-up",
        cluster(4, rif=120),
        {
            "desired": 6,
            "rule": "scale-up",
            "add": ["np1/p1", "np1/p2"],
            "winning_factor": "requests_in_flight",
        },
    ),
    Case(
        "rif-counts-queued-requests",
        [member(f"m{i}", rif=80, queued=20) for i in range(4)],
        {"desired": 5, "rule": "scale-up"},
    ),
    Case(
        "load-scale-up",
        cluster(4, cpu=75),
        {"desired": 6, "winning_factor": "load_average"},
        policy=policy(rif=None, load=50),
    ),
    Case(
        "memory-scale-up-rounds-up",
        cluster(2, memory=100),
        {"desired": 3, "winning_factor": "memory_consumption"},
        policy=policy(rif=None, memory=80),
    ),
    Case(
        "largest-factor-wins",
        cluster(4, rif=100, cpu=70),
        {"desired": 7, "winning_factor": "load_average"},
        policy=policy(rif=80, load=40),
    ),
    Case(
        "tie-goes-to-first-factor",
        cluster(4, rif=120, cpu=60),
        {"desired": 6, "winning_factor": "requests_in_flight"},
        policy=policy(rif=80, load=40),
    ),
    # -- tolerance band
    Case("within-tolerance-above-holds", cluster(4, rif=86), {"desired": 4, "rule": "hold"}),
    Case("just-outside-tolerance-scales", cluster(4, rif=90), {"desired": 5, "rule": "scale-up"}),
    Case("within-tolerance-below-holds", cluster(4, rif=74), {"desired": 4, "rule": "hold"}),
    Case(
        "zero-tolerance-scales-on-any-excess",
        cluster(4, rif=82),
        {"desired": 5},
        policy=policy(tolerance=0.0),
    ),
    # -- prediction
    Case(
        "rising-load-predicted-ahead",
        cluster(5, rif=80),
        {"desired": 7, "rule": "scale-up", "winning_factor": "requests_in_flight"},
        state=with_history("requests_in_flight", [240, 280, 320, 360]),
    ),
    Case(
        "no-horizon-no-prediction",
        cluster(5, rif=80),
        {"desired": 5, "rule": "hold"},
        policy=policy(prediction_horizon=0),
        state=with_history("requests_in_flight", [240, 280, 320, 360]),
    ),
    Case(
        "stale-samples-are-forgotten",
        cluster(5, rif=80),
        {"desired": 5, "rule": "hold"},
        state=ScalingState(
            series=(("requests_in_flight", ((NOW - 5000, 0.0), (NOW - 4985, 100.0))),), since=NOW - 9000
        ),
    ),
    Case(
        "falling-load-waits-for-the-window",
        cluster(6, rif=50),
        {"desired": 6, "rule": "hold-stabilisation", "remove": []},
        state=with_history("requests_in_flight", [480, 420, 360, 330], base=with_recommendations((60, 6))),
    ),
    # -- scale-down and its stabilisation window
    Case(
        "scale-down-after-window",
        cluster(4, rif=40),
        {"desired": 2, "rule": "scale-down", "remove": ["m4", "m3"]},
    ),
    Case(
        "scale-down-limited-by-window-max",
        cluster(4, rif=40),
        {"desired": 3, "remove": ["m4"]},
        state=with_recommendations((100, 3)),
    ),
    Case(
        "recent-high-recommendation-holds",
        cluster(4, rif=40),
        {"desired": 4, "rule": "hold-stabilisation"},
        state=with_recommendations((100, 4)),
    ),
    Case(
        "old-recommendations-are-forgotten",
        cluster(4, rif=40),
        {"desired": 2, "rule": "scale-down"},
        state=with_recommendations((400, 6)),
    ),
    Case(
        "first-decision-never-scales-down",
        cluster(4, rif=40),
        {"desired": 4, "rule": "hold-stabilisation"},
        state=ScalingState(),
    ),
    Case(
        "short-window-allows-early-scale-down",
        cluster(4, rif=40),
        {"desired": 2},
        policy=policy(scale_down_stabilisation=30),
        state=with_recommendations((60, 4)),
    ),
    # -- scale-up limits
    Case("max-step-limits-scale-up", cluster(4, rif=240), {"desired": 8, "rule": "max-step"}),
    Case("larger-max-step", cluster(4, rif=240), {"desired": 10, "rule": "max"}, policy=policy(max_step=10)),
    Case(
        "scale-up-stabilisation-holds",
        cluster(4, rif=160),
        {"desired": 4, "rule": "hold-stabilisation"},
        policy=policy(scale_up_stabilisation=60),
        state=with_recommendations((30, 4)),
    ),
    Case(
        "scale-up-stabilisation-takes-lowest",
        cluster(4, rif=160),
        {"desired": 6},
        policy=policy(scale_up_stabilisation=60),
        state=with_recommendations((30, 6)),
    ),
    Case("max-members-caps", cluster(4, rif=240), {"desired": 6, "rule": "max"}, max_members=6),
    Case(
        "deployment-capacity-caps",
        cluster(4, rif=240),
        {"desired": 5, "rule": "capacity"},
        deployment=deployment(("np1", "round-robin", [("p1", 3), ("p2", 2)])),
    ),
    # -- min check, failed and starting members
    Case(
        "raised-to-min", cluster(1, rif=10), {"desired": 2, "rule": "min", "add": ["np1/p2"]}, min_members=2
    ),
    Case(
        "empty-cluster-gets-min",
        [],
        {"desired": 2, "rule": "min", "add": ["np1/p1", "np1/p2"]},
        min_members=2,
    ),
    Case("min-overrides-max-step", [], {"desired": 6, "rule": "min"}, min_members=6),
    Case(
        "failed-member-replaced-up-to-min",
        [*cluster(2, rif=80), member("m3", "np1/p1", healthy=False, started=NOW - 3600)],
        {"desired": 3, "rule": "replace-failed", "remove": ["m3"], "add": ["np1/p1"]},
        min_members=3,
    ),
    Case(
        "failed-member-replaced-when-load-needs-it",
        [*cluster(2, rif=120), member("m3", "np1/p1", healthy=False, started=NOW - 3600)],
        {"desired": 3, "rule": "replace-failed", "remove": ["m3"], "add": ["np1/p1"]},
    ),
    Case(
        "failed-member-not-replaced-when-not-needed",
        [*cluster(2, rif=80), member("m3", "np1/p1", healthy=False, started=NOW - 3600)],
        {"desired": 2, "rule": "hold", "remove": ["m3"], "add": []},
    ),
    Case(
        "starting-member-is-not-started-twice",
        [*cluster(3, rif=320 / 3), member("m4", "np1/p2", healthy=False, started=NOW - 30)],
        {"desired": 4, "rule": "hold", "add": [], "remove": []},
    ),
    Case(
        "pending-start-is-not-repeated",
        cluster(3, rif=320 / 3),
        {"desired": 4, "rule": "hold", "add": []},
        pending=("np1/p2",),
    ),
    Case(
        "startup-timeout-makes-a-member-failed",
        [*cluster(3, rif=320 / 3), member("m4", "np1/p2", healthy=False, started=NOW - 100)],
        {"desired": 4, "remove": ["m4"], "add": ["np1/p2"]},
        startup_timeout=60,
        state=with_recommendations((60, 4)),
    ),
    # -- missing data
    Case(
        "missing-factor-blocks-scale-down",
        cluster(4, cpu=10),
        {"desired": 4, "rule": "hold-missing-data"},
        policy=policy(rif=80, load=50),
    ),
    Case(
        "missing-factor-does-not-block-scale-up",
        cluster(4, cpu=90),
        {"desired": 8, "winning_factor": "load_average"},
        policy=policy(rif=80, load=50),
    ),
    Case(
        "partial-data-extrapolated-no-scale-down",
        [member("m1", rif=20), member("m2", "np1/p2", rif=20), member("m3"), member("m4", "np1/p2")],
        {"desired": 4, "rule": "hold-missing-data"},
    ),
    Case(
        "partial-data-scales-up-on-the-average",
        [member("m1", rif=160), member("m2", "np1/p2")],
        {"desired": 4, "rule": "scale-up"},
    ),
    Case("no-data-holds", cluster(3), {"desired": 3, "rule": "no-data"}),
    Case(
        "lb-queue-counts-when-nobody-serves",
        [
            member("m1", healthy=False, started=NOW - 20),
            member("m2", "np1/p2", healthy=False, started=NOW - 20),
        ],
        {"desired": 5, "add": ["np1/p1", "np1/p2", "np1/p1"]},
        lb_queued=400,
    ),
    # -- placement
    Case(
        "round-robin-fewest-first",
        [member("a", "np1/p1", rif=120), member("b", "np1/p1", rif=120), member("c", "np1/p2", rif=120)],
        {"add": ["np1/p2", "np1/p1"]},
    ),
    Case("round-robin-tie-first-listed", cluster(2, rif=160), {"add": ["np1/p1", "np1/p2"]}),
    Case(
        "one-after-another-fills-in-order",
        [member("a", "np1/p1", rif=160), member("b", "np1/p1", rif=160)],
        {"add": ["np1/p1", "np1/p2"]},
        deployment=deployment(("np1", "one-after-another", [("p1", 3), ("p2", 3)])),
    ),
    Case(
        "burst-into-next-network-partition",
        [member("a", "np1/p1", rif=160), member("b", "np1/p2", rif=160)],
        {"desired": 4, "add": ["np2/q1", "np2/q1"]},
        deployment=deployment(
            ("np1", "round-robin", [("p1", 1), ("p2", 1)]), ("np2", "round-robin", [("q1", 4)])
        ),
    ),
    Case(
        "pending-counts-against-partition-max",
        [member("a", "np1/p1", rif=240)],
        {"desired": 3, "add": ["np1/p2"]},
        deployment=deployment(("np1", "one-after-another", [("p1", 2), ("p2", 2)])),
        pending=("np1/p1",),
    ),
    # -- removal
    Case(
        "remove-from-burst-partition-first",
        [
            member("a", "np1/p1", rif=40),
            member("b", "np1/p2", rif=40),
            member("c", "np2/q1", rif=40),
            member("d", "np2/q1", rif=40),
        ],
        {"desired": 2, "remove": ["d", "c"]},
        deployment=deployment(
            ("np1", "round-robin", [("p1", 1), ("p2", 1)]), ("np2", "round-robin", [("q1", 4)])
        ),
    ),
    Case(
        "one-after-another-empties-last-partition",
        [member("a", "np1/p1", rif=20), member("b", "np1/p1", rif=20), member("c", "np1/p2", rif=20)],
        {"desired": 1, "remove": ["c", "b"]},
        deployment=deployment(("np1", "one-after-another", [("p1", 2), ("p2", 2)])),
    ),
    Case(
        "round-robin-takes-from-fullest",
        [member("a", "np1/p1", rif=20), member("b", "np1/p1", rif=20), member("c", "np1/p2", rif=20)],
        {"desired": 2, "remove": ["b"]},
        state=with_recommendations((100, 2)),
    ),
    Case(
        "least-loaded-leaves-first",
        [member("a", "np1/p2", rif=30), member("b", "np1/p2", rif=5), member("c", "np1/p2", rif=25)],
        {"desired": 2, "remove": ["b"]},
        state=with_recommendations((100, 2)),
    ),
    Case(
        "starting-member-leaves-before-serving-ones",
        [*cluster(4, rif=20), member("s", "np1/p1", healthy=False, started=NOW - 30)],
        {"desired": 1, "remove": ["s", "m4", "m3", "m2"]},
    ),
    Case(
        "member-outside-the-policy-leaves-first",
        [
            member("a", "np1/p1", rif=20),
            member("b", "np1/p2", rif=20),
            member("x", "old/gone", rif=0),
            member("y", "np1/p2", rif=20),
        ],
        {"desired": 3, "remove": ["x"]},
        state=with_recommendations((100, 3)),
    ),
    Case(
        "max-lowered-scales-down-at-once",
        cluster(6, rif=80),
        {"desired": 4, "rule": "max", "remove": ["m6", "m5"]},
        max_members=4,
        state=ScalingState(),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_decide(case: Case) -> None:
    observations = Observations(
        now=NOW,
        members=tuple(case.members),
        pending=tuple(at(p) for p in case.pending),
        lb_queued=case.lb_queued,
    )
    decision, _ = decide(
        observations,
        case.policy,
        case.deployment,
        case.state,
        NOW,
        min_members=case.min_members,
        max_members=case.max_members,
        startup_timeout=case.startup_timeout,
    )
    got = {
        "desired": decision.desired,
        "rule": decision.rule,
        "add": [str(p) for p in decision.add],
        "remove": list(decision.remove),
        "winning_factor": decision.winning_factor,
    }
    assert {k: got[k] for k in case.expect} == case.expect, decision.reasons


def test_there_are_at_least_forty_named_cases() -> None:
    assert len(CASES) >= 40
    assert len({c.id for c in CASES}) == len(CASES)


# --------------------------------------------------------------------------- the data decide returns


def _rising() -> tuple[Observations, ScalingState]:
    state = with_history("requests_in_flight", [240, 280, 320, 360])
    return Observations(now=NOW, members=tuple(cluster(5, rif=80))), state


def test_decision_carries_factor_values_and_predictions() -> None:
    observations, state = _rising()
    decision, _ = decide(observations, policy(), deployment(), state, NOW, min_members=1, max_members=10)
    (report,) = decision.factors
    assert report.factor == "requests_in_flight"
    assert report.measured == pytest.approx(400)
    assert report.predicted is not None and report.predicted > 400
    assert report.slope > 0
    assert report.required == pytest.approx(report.predicted / 80)
    assert decision.predictions == {"requests_in_flight": report.predicted}
    record = decision.as_dict()
    assert record["rule"] == "scale-up"
    assert record["factors"][0]["threshold"] == 80
    assert record["add"] == ["np1/p2", "np1/p1"]


def test_state_is_not_mutated_and_the_next_one_remembers() -> None:
    observations, state = _rising()
    before = state.as_dict()
    _, after = decide(
        observations, policy(smoothing_window=4), deployment(), state, NOW, min_members=1, max_members=10
    )
    assert state.as_dict() == before
    assert after.samples("requests_in_flight")[-1] == (NOW, 400.0)
    assert len(after.samples("requests_in_flight")) == 4  # the policy's smoothing_window
    assert after.recommendations[-1] == (NOW, 7)
    assert after.since == state.since


def test_state_round_trips_through_a_dict() -> None:
    observations, state = _rising()
    _, after = decide(observations, policy(), deployment(), state, NOW, min_members=1, max_members=10)
    assert ScalingState.from_dict(after.as_dict()) == after


def test_same_inputs_same_decision() -> None:
    observations, state = _rising()
    first = decide(observations, policy(), deployment(), state, NOW, min_members=1, max_members=10)
    second = decide(observations, policy(), deployment(), state, NOW, min_members=1, max_members=10)
    assert first == second


def test_min_above_max_is_an_error() -> None:
    with pytest.raises(ValueError, match="min_members"):
        decide(
            Observations(now=NOW), policy(), deployment(), ScalingState(), NOW, min_members=3, max_members=2
        )
