"""The pure release decisions: target, decide (both reload modes), gate, rollback choice."""

from __future__ import annotations

from dataclasses import replace

import pytest

from stratos.model import Cartridge
from stratos.releases import decide
from stratos.releases.decide import Confirm, Deploy, MemberCheck, Mode, Revert, Step, Wait
from stratos.releases.state import Hold, Pending, RolloutState, rollback_target

A, B, C, D = ("a" * 40, "b" * 40, "c" * 40, "d" * 40)


def check(member: str, passed: bool, health: str = "healthy", release: str | None = None, started: float = 0):
    return MemberCheck(member, release, health, started, passed, "GET /: 500" if not passed else "GET /: 200")  # type: ignore[arg-type]


#: An old member of release A that passed (``restart`` cases).
OLD = check("old", True, release=A)
#: A release B that failed, A good.
FAILED_B = RolloutState(good=A, failed={B: "x"})


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
    assert decide.target(state, pin)[0] == expected


# --------------------------------------------------------------------------- decide


#: A release B being verified since 90, A before it.
VERIFYING = RolloutState(head=B, good=A, pending=Pending(B, A, 90))


def case(
    id: str,
    state: RolloutState,
    current: str | None,
    expected: Step,
    *checks: MemberCheck,
    mode: Mode = "none",
):  # type: ignore[no-untyped-def]
    """A row of the decide table at ``now`` 100 with a 30 s timeout."""
    return pytest.param(state, current, mode, list(checks), expected, id=id)


def restart(id: str, expected: Step, new: MemberCheck, since: float = 90):  # type: ignore[no-untyped-def]
    """A ``restart`` row: release B verified since ``since``, an old member of A and a new one of B."""
    state = RolloutState(head=B, good=A, pending=Pending(B, A, since))
    return case(id, state, B, expected, OLD, new, mode="restart")


CASES = [
    case("new-commit-deploys", RolloutState(head=B, good=A), A, Deploy(B, A, "")),
    case("first-release-deploys", RolloutState(head=A), None, Deploy(A, None, "")),
    case("nothing-new", RolloutState(head=A, good=A), A, None),
    case("adopts-a-live-release", RolloutState(head=A), A, Confirm(A, "")),
    case("failed-head-keeps-the-good-release", RolloutState(head=B, good=A, failed={B: "x"}), A, None),
    case(
        "previous-skips-a-failed-current", RolloutState(head=C, good=A, failed={B: "x"}), B, Deploy(C, A, "")
    ),
    case("none-all-pass", VERIFYING, B, Confirm(B, ""), check("m1", True), check("m2", True)),
    case(
        "none-no-healthy-member-to-check", VERIFYING, B, Confirm(B, ""), check("m1", False, health="starting")
    ),
    case(
        "none-failing-within-the-bound-waits", VERIFYING, B, Wait(""), check("m1", True), check("m2", False)
    ),
    case(
        "none-failing-past-the-bound-reverts",
        RolloutState(head=B, good=A, pending=Pending(B, A, 60)),
        B,
        Revert(B, A, ""),
        check("m1", True),
        check("m2", False),
    ),
    case("none-resumes-an-interrupted-switch", VERIFYING, A, Deploy(B, A, "")),
    case(
        "a-newer-commit-supersedes-the-one-verified",
        RolloutState(head=C, good=A, pending=Pending(B, A, 90)),
        B,
        Deploy(C, A, ""),
        check("m1", False),
    ),
    restart("restart-new-member-exits", Revert(B, A, ""), check("new", False, "dead", B, 95)),
    restart("restart-new-member-unhealthy", Revert(B, A, ""), check("new", False, "unhealthy", B, 95)),
    restart("restart-new-member-too-slow", Revert(B, A, ""), check("new", False, "healthy", B, 10), since=0),
    restart("restart-half-way", Wait(""), check("new", True, "healthy", B, 95)),
    restart("restart-new-member-still-checking", Wait(""), check("new", False, "healthy", B, 95)),
    case(
        "restart-all-replaced",
        VERIFYING,
        B,
        Confirm(B, ""),
        check("n1", True, release=B),
        check("n2", True, release=B),
        check("gone", False, "dead", A),
        mode="restart",
    ),
]


@pytest.mark.parametrize(("state", "current", "mode", "checks", "expected"), CASES)
def test_decide(state, current, mode, checks, expected) -> None:  # type: ignore[no-untyped-def]
    step = decide.decide_release(
        state, current=current, pin=None, mode=mode, members=checks, now=100, timeout=30
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
    step = decide.decide_release(
        state, current=B, pin=None, mode="none", members=[check("shop-web-1", False)], now=31, timeout=30
    )
    assert isinstance(step, Revert)
    assert step.why == "shop-web-1 does not pass the release check 30s after the switch (GET /: 500)"


def test_a_pinned_commit_is_deployed_whatever_the_branch_does() -> None:
    step = decide.decide_release(
        RolloutState(head=C, good=C), current=C, pin=A, mode="none", members=[], now=0, timeout=30
    )
    assert isinstance(step, Deploy) and (step.sha, step.previous) == (A, C)


# --------------------------------------------------------------------------- gate (restart members)


BEING_VERIFIED = RolloutState(pending=Pending(B, A, 0))


@pytest.mark.parametrize(
    ("health", "release", "passed", "state", "current", "expected"),
    [
        pytest.param("healthy", None, False, RolloutState(), None, "healthy", id="no-release-label"),
        pytest.param("healthy", B, False, BEING_VERIFIED, B, "starting", id="new-release-not-checked"),
        pytest.param("healthy", B, True, BEING_VERIFIED, B, "healthy", id="new-release-checked"),
        pytest.param(
            "healthy", A, False, replace(BEING_VERIFIED, good=A), B, "healthy", id="old-good-release"
        ),
        pytest.param(
            "healthy", A, False, RolloutState(good=C, history=(A, C)), C, "healthy", id="earlier-good-release"
        ),
        pytest.param("healthy", B, False, FAILED_B, A, "unhealthy", id="failed-release-never-checked"),
        pytest.param("healthy", B, True, FAILED_B, A, "healthy", id="failed-release-checked-rolls-gently"),
        pytest.param(
            "healthy", B, False, RolloutState(failed={B: "x"}), B, "healthy", id="failed-first-release-stays"
        ),
        pytest.param(
            "healthy",
            B,
            False,
            RolloutState(good=A, pending=Pending(C, A, 0)),
            C,
            "unhealthy",
            id="superseded-release-never-checked",
        ),
        pytest.param("dead", B, False, BEING_VERIFIED, B, "dead", id="dead-stays-dead"),
    ],
)
def test_gate(health, release, passed, state, current, expected) -> None:  # type: ignore[no-untyped-def]
    assert decide.gate(health, release, passed, state, current) == expected


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
    assert rollback_target(state, current) == expected


# --------------------------------------------------------------------------- revisions, ports


def test_release_revision_round_trip() -> None:
    assert decide.release_of(decide.release_revision("0123456789abcdef", A)) == A
    assert decide.release_of("0123456789abcdef") is None
    assert decide.release_revision("0123456789abcdef", None) == "0123456789abcdef"


@pytest.mark.parametrize(
    ("text", "expected"),
    [(A, True), ("0" * 64, True), (A[:12], False), (A.upper(), False), ("", False)],
    ids=["sha1", "sha256", "short", "upper-case", "empty"],
)
def test_is_sha(text: str, expected: bool) -> None:
    assert decide.is_sha(text) is expected


@pytest.mark.parametrize(
    ("fields", "port"),
    [
        ({"health_check": {"http": "/h", "port": 8081}}, 8081),
        ({"health_check": {"http": "/h"}}, 80),
        ({"ports": [{"name": "db", "protocol": "tcp", "port": 3306}]}, None),
    ],
    ids=["health-check-port", "first-http-port", "no-http-port"],
)
def test_release_port(fields: dict[str, object], port: int | None) -> None:
    data = {
        "name": "php",
        "version": "8.2",
        "image": {"ref": "stratos/cartridge-php:8.2"},
        "ports": [{"name": "http", "protocol": "http", "port": 80}],
        **fields,
    }
    assert decide.release_port(Cartridge.model_validate(data)) == port
