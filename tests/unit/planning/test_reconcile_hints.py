"""The planner follows a scaling decision's placements and removal order where the policy allows."""

from __future__ import annotations

import pytest
from test_reconcile import NOW, Case, M, summary, world

from stratos.planning import reconcile
from stratos.planning.reconcile import ScalingHint
from stratos.scaling.observations import Placement
from stratos.validation import DefinitionSet

P1, P2 = Placement("local", "p1"), Placement("local", "p2")
DB = M("shop-db-1", alias="db", partition="p1", in_lb=False)


def plan(definitions: DefinitionSet, case: Case, hint: ScalingHint) -> reconcile.Plan:
    return reconcile.plan(
        definitions,
        world(definitions, case),
        desired=lambda app, sub: case.desired.get((app.name, sub.alias), sub.min),
        scaling={("shop", "web"): hint},
    )


@pytest.mark.parametrize(
    ("members", "desired", "hint", "expected"),
    [
        (
            (M("w1", partition="p1"), M("w2", partition="p2")),
            4,
            ScalingHint(add=(P2, P2), reasons=("scale-up: test",)),
            ["start web p2", "start web p2"],
        ),
        (
            # p2 holds at most 3: the third hinted p2 is placed by the policy instead.
            (M("w1", partition="p2"), M("w2", partition="p2")),
            4,
            ScalingHint(add=(P2, P2)),
            ["start web p2", "start web p1"],
        ),
        (
            (M("w1", partition="p1"), M("w2", partition="p2")),
            3,
            ScalingHint(),
            ["start web p1"],
        ),
        (
            (M("w1"), M("w2", partition="p2"), M("w3", partition="p1"), M("w4", partition="p2")),
            3,
            ScalingHint(remove=("w1",), reasons=("scale-down: test",)),
            ["drain+remove w1"],
        ),
        (
            # A hinted member that is gone is ignored; the policy chooses.
            (M("w1"), M("w2", partition="p2"), M("w3", partition="p1")),
            2,
            ScalingHint(remove=("w9",)),
            ["drain+remove w3"],
        ),
    ],
    ids=["placements-followed", "partition-max-wins", "no-hint-placements", "removal-order", "stale-removal"],
)
def test_hints(
    definitions: DefinitionSet,
    members: tuple[M, ...],
    desired: int,
    hint: ScalingHint,
    expected: list[str],
) -> None:
    case = Case(members=(DB, *members), desired={("shop", "web"): desired})
    result = plan(definitions, case, hint)
    assert summary(result) == expected
    for action in result.actions:
        assert set(hint.reasons) <= set(action.reasons)
    assert result.now == NOW
