"""The pure rollout decisions: target, decide (both reload modes), gate, rollback choice, state."""

from __future__ import annotations

from pathlib import Path

import pytest

from stratos.agent import rollout
from stratos.agent.rollout import (
    Confirm,
    Deploy,
    Hold,
    MemberCheck,
    Pending,
    Revert,
    RolloutState,
    Wait,
)
from stratos.drivers import docker as dockerlib
from stratos.drivers import members

A, B, C, D = ("a" * 40, "b" * 40, "c" * 40, "d" * 40)


def check(member: str, passed: bool, health: str = "healthy", release: str | None = None, started: float = 0):
    return MemberCheck(member, release, health, started, passed, "GET /: 500" if not passed else "GET /: 200")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- target


@pytest.mark.parametrize(
    ("state", "pin", "expected"),
    [
        (RolloutState(head=B), None, B),
        (RolloutState(), None, None),
        (RolloutState(head=B, failed={B: "GET /: 500"}), None, None),
        (RolloutState(head=B, hold=Hold(A, B, "stratos rollback")), None, A),
        (RolloutState(head=C, hold=Hold(A, B, "stratos rollback")), None, C),
        (RolloutState(head=B, hold=Hold(A, B, "stratos rollback")), C, C),
        (RolloutState(head=B, failed={C: "GET /: 500"}), C, None),
    ],
    ids=[
        "branch-head",
        "not-fetched-yet",
        "failed-head-is-not-retried",
        "rollback-holds-while-the-branch-stays",
        "rollback-hold-ends-when-the-branch-moves",
        "pin-wins-over-a-hold",
        "failed-pin-is-not-retried",
    ],
)
def test_target(state: RolloutState, pin: str | None, expected: str | None) -> None:
    assert rollout.target(state, pin)[0] == expected


# --------------------------------------------------------------------------- decide


CASES = [
    # (id, state, current, mode, checks, now, expected)
    ("new-commit-deploys", RolloutState(head=B, good=A), A, "none", [], 100, Deploy(B, A, "")),
    ("first-release-deploys", RolloutState(head=A), None, "none", [], 100, Deploy(A, None, "")),
    ("nothing-new", RolloutState(head=A, good=A), A, "none", [], 100, None),
    ("adopts-a-live-release", RolloutState(head=A), A, "none", [], 100, Confirm(A, "")),
    (
        "failed-head-keeps-the-good-release",
        RolloutState(head=B, good=A, failed={B: "x"}),
        A,
        "none",
        [],
        100,
        None,
    ),
    (
        "previous-skips-a-failed-current",
        RolloutState(head=C, good=A, failed={B: "x"}),
        B,
        "none",
        [],
        100,
        Deploy(C, A, ""),
    ),
    (
        "none-all-pass",
        RolloutState(head=B, good=A, pending=Pending(B, A, 90)),
        B,
        "none",
        [check("m1", True), check("m2", True)],
        100,
        Confirm(B, ""),
    ),
    (
        "none-no-healthy-member-to-check",
        RolloutState(head=B, good=A, pending=Pending(B, A, 90)),
        B,
        "none",
        [check("m1", False, health="starting")],
        100,
        Confirm(B, ""),
    ),
    (
        "none-failing-within-the-bound-waits",
        RolloutState(head=B, good=A, pending=Pending(B, A, 90)),
        B,
        "none",
        [check("m1", True), check("m2", False)],
        100,
        Wait(""),
    ),
    (
        "none-failing-past-the-bound-reverts",
        RolloutState(head=B, good=A, pending=Pending(B, A, 60)),
        B,
        "none",
        [check("m1", True), check("m2", False)],
        100,
        Revert(B, A, ""),
    ),
    (
        "none-resumes-an-interrupted-switch",
        RolloutState(head=B, good=A, pending=Pending(B, A, 90)),
        A,
        "none",
        [],
        100,
        Deploy(B, A, ""),
    ),
    (
        "a-newer-commit-supersedes-the-one-verified",
        RolloutState(head=C, good=A, pending=Pending(B, A, 90)),
        B,
        "none",
        [check("m1", False)],
        100,
        Deploy(C, A, ""),
    ),
    (
        "restart-new-member-exits",
        RolloutState(head=B, good=A, pending=Pending(B, A, 90)),
        B,
        "restart",
        [check("old", True, release=A), check("new", False, "dead", B, 95)],
        100,
        Revert(B, A, ""),
    ),
    (
        "restart-new-member-unhealthy",
        RolloutState(head=B, good=A, pending=Pending(B, A, 90)),
        B,
        "restart",
        [check("old", True, release=A), check("new", False, "unhealthy", B, 95)],
        100,
        Revert(B, A, ""),
    ),
    (
        "restart-new-member-too-slow",
        RolloutState(head=B, good=A, pending=Pending(B, A, 0)),
        B,
        "restart",
        [check("old", True, release=A), check("new", False, "healthy", B, 10)],
        100,
        Revert(B, A, ""),
    ),
    (
        "restart-half-way",
        RolloutState(head=B, good=A, pending=Pending(B, A, 90)),
        B,
        "restart",
        [check("old", True, release=A), check("new", True, "healthy", B, 95)],
        100,
        Wait(""),
    ),
    (
        "restart-new-member-still-checking",
        RolloutState(head=B, good=A, pending=Pending(B, A, 90)),
        B,
        "restart",
        [check("old", True, release=A), check("new", False, "healthy", B, 95)],
        100,
        Wait(""),
    ),
    (
        "restart-all-replaced",
        RolloutState(head=B, good=A, pending=Pending(B, A, 90)),
        B,
        "restart",
        [check("n1", True, release=B), check("n2", True, release=B), check("gone", False, "dead", A)],
        100,
        Confirm(B, ""),
    ),
]


@pytest.mark.parametrize(
    ("state", "current", "mode", "checks", "now", "expected"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_decide(state, current, mode, checks, now, expected) -> None:  # type: ignore[no-untyped-def]
    step = rollout.decide_release(
        state, current=current, pin=None, mode=mode, members=checks, now=now, timeout=30
    )
    if expected is None:
        assert step is None
        return
    assert type(step) is type(expected)
    for name in ("sha", "previous", "to"):
        if hasattr(expected, name):
            assert getattr(step, name) == getattr(expected, name), name
    if isinstance(step, Revert):
        assert step.why  # says which member and what it answered


def test_a_revert_says_which_member_and_what_it_answered() -> None:
    state = RolloutState(head=B, good=A, pending=Pending(B, A, 0))
    step = rollout.decide_release(
        state, current=B, pin=None, mode="none", members=[check("shop-web-1", False)], now=31, timeout=30
    )
    assert isinstance(step, Revert)
    assert step.why == "shop-web-1 does not pass the release check 30s after the switch (GET /: 500)"


def test_a_pinned_commit_is_deployed_whatever_the_branch_does() -> None:
    step = rollout.decide_release(
        RolloutState(head=C, good=C), current=C, pin=A, mode="none", members=[], now=0, timeout=30
    )
    assert isinstance(step, Deploy) and (step.sha, step.previous) == (A, C)


# --------------------------------------------------------------------------- gate (restart members)


GATES = [
    ("no-release-label", "healthy", None, False, RolloutState(), None, "healthy"),
    ("new-release-not-checked", "healthy", B, False, RolloutState(pending=Pending(B, A, 0)), B, "starting"),
    ("new-release-checked", "healthy", B, True, RolloutState(pending=Pending(B, A, 0)), B, "healthy"),
    ("old-good-release", "healthy", A, False, RolloutState(good=A, pending=Pending(B, A, 0)), B, "healthy"),
    ("earlier-good-release", "healthy", A, False, RolloutState(good=C, history=(A, C)), C, "healthy"),
    (
        "failed-release-never-checked",
        "healthy",
        B,
        False,
        RolloutState(good=A, failed={B: "x"}),
        A,
        "unhealthy",
    ),
    (
        "failed-release-checked-rolls-gently",
        "healthy",
        B,
        True,
        RolloutState(good=A, failed={B: "x"}),
        A,
        "healthy",
    ),
    ("failed-first-release-stays", "healthy", B, False, RolloutState(failed={B: "x"}), B, "healthy"),
    (
        "superseded-release-never-checked",
        "healthy",
        B,
        False,
        RolloutState(good=A, pending=Pending(C, A, 0)),
        C,
        "unhealthy",
    ),
    ("dead-stays-dead", "dead", B, False, RolloutState(pending=Pending(B, A, 0)), B, "dead"),
]


@pytest.mark.parametrize(
    ("health", "release", "passed", "state", "current", "expected"),
    [g[1:] for g in GATES],
    ids=[g[0] for g in GATES],
)
def test_gate(health, release, passed, state, current, expected) -> None:  # type: ignore[no-untyped-def]
    assert rollout.gate(health, release, passed, state, current) == expected


# --------------------------------------------------------------------------- rollback choice


@pytest.mark.parametrize(
    ("history", "failed", "current", "expected"),
    [
        ((A, B, C), {}, C, B),
        ((A, B, C), {B: "x"}, C, A),
        ((A, B), {}, C, B),
        ((A,), {}, A, None),
        ((), {}, None, None),
    ],
    ids=["previous-good", "skips-failed", "current-not-in-history", "only-current", "nothing"],
)
def test_rollback_target(
    history: tuple[str, ...], failed: dict[str, str], current: str | None, expected: str | None
) -> None:
    state = RolloutState(history=history, failed=failed)
    assert rollout.rollback_target(state, current) == expected


def test_a_rollback_holds_clears_the_failure_of_its_target_and_the_degraded_mark() -> None:
    state = RolloutState(head=C, good=B, failed={A: "x", C: "y"}, degraded="release ccc failed health")
    held = rollout.apply_rollback(state, A, "stratos rollback")
    assert held.hold == Hold(A, C, "stratos rollback")
    assert dict(held.failed) == {C: "y"}
    assert held.degraded is None
    assert rollout.target(held, None)[0] == A


def test_failure_marks_degraded_until_a_new_release_passes() -> None:
    state = rollout.with_failed(RolloutState(head=B, good=A, pending=Pending(B, A, 0)), B, "GET /: 500")
    assert (state.degraded, state.pending) == (f"release {B[:12]} failed health", None)
    # Confirming the old release again (an adoption) keeps the mark: the head is still failed.
    assert rollout.with_good(state, A).degraded == state.degraded
    moved = rollout.with_good(RolloutState(head=C, good=A, failed={B: "x"}, degraded="d"), C)
    assert (moved.degraded, moved.good, moved.history[-1]) == (None, C, C)


def test_state_round_trips_through_json() -> None:
    state = RolloutState(
        head=B,
        good=A,
        pending=Pending(B, A, 12.5, "webhook (github)"),
        failed={C: "GET /: 500"},
        hold=Hold(A, B, "stratos rollback"),
        degraded="release c failed health",
        history=(D, A),
    )
    assert RolloutState.from_json(state.as_json()) == state


# --------------------------------------------------------------------------- revisions and specs


def test_release_revision_round_trip() -> None:
    assert rollout.release_of(rollout.release_revision("0123456789abcdef", A)) == A
    assert rollout.release_of("0123456789abcdef") is None
    assert rollout.release_revision("0123456789abcdef", None) == "0123456789abcdef"


def _spec() -> members.MemberSpec:
    return members.MemberSpec(
        member_id="shop-web-abc123",
        name="stratos-shop-web-abc123",
        hostname="shop-web-abc123",
        image="stratos/cartridge-php:8.2",
        network="stratos-local",
        aliases=("web.shop",),
        environment={"STRATOS_MEMBER_ID": "shop-web-abc123"},
        labels={
            dockerlib.ROLE: dockerlib.ROLE_MEMBER,
            dockerlib.STATE_ID: "s1",
            dockerlib.APPLICATION: "shop",
            dockerlib.SUBSCRIPTION: "web",
            dockerlib.MEMBER_ID: "shop-web-abc123",
            dockerlib.REVISION: "r1",
        },
        binds=(
            "/state/secrets/shop/web:/run/stratos/secrets:ro",
            f"/state/releases/shop/web:{members.APP_MOUNT}:ro",
        ),
        volumes={"stratos-shop-web-data": "/data"},
        nano_cpus=None,
        mem_limit=None,
    )


def test_a_pinned_member_mounts_its_release_as_current() -> None:
    spec = rollout.pinned_spec(_spec(), Path(f"/state/releases/shop/web/{A}"))
    assert spec.binds == (
        "/state/secrets/shop/web:/run/stratos/secrets:ro",
        f"/state/releases/shop/web/{A}:{members.APP_MOUNT}/current:ro",
    )


def test_a_canary_is_no_member_has_no_alias_and_no_data() -> None:
    spec = rollout.canary_spec(_spec(), Path(f"/state/releases/shop/web/{B}"), "ff00ff")
    assert spec.name == "stratos-shop-web-canary-ff00ff"
    assert spec.labels == {
        dockerlib.ROLE: rollout.ROLE_CANARY,
        dockerlib.STATE_ID: "s1",
        dockerlib.APPLICATION: "shop",
        dockerlib.SUBSCRIPTION: "web",
    }
    assert (spec.aliases, spec.volumes) == ((), {})
    assert f"/state/releases/shop/web/{B}:{members.APP_MOUNT}/current:ro" in spec.binds
    assert spec.environment["STRATOS_CANARY"] == "1"
