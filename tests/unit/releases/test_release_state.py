"""A subscription's release state: rollback holds, failures, the good release, its file."""

from __future__ import annotations

from stratos.releases import state as releasestate
from stratos.releases.decide import target
from stratos.releases.state import Hold, Pending, RolloutState
from stratos.store import StateStore

A, B, C, D = ("a" * 40, "b" * 40, "c" * 40, "d" * 40)


def test_a_rollback_holds_clears_the_failure_of_its_target_and_the_degraded_mark() -> None:
    state = RolloutState(head=C, good=B, failed={A: "x", C: "y"}, degraded="release ccc failed health")
    held = releasestate.apply_rollback(state, A, "stratos rollback")
    assert held.hold == Hold(A, C, "stratos rollback")
    assert dict(held.failed) == {C: "y"}
    assert held.degraded is None
    assert target(held, None)[0] == A


def test_failure_marks_degraded_until_a_new_release_passes() -> None:
    state = releasestate.with_failed(RolloutState(head=B, good=A, pending=Pending(B, A, 0)), B, "GET /: 500")
    assert (state.degraded, state.pending) == (f"release {B[:12]} failed health", None)
    # Confirming the old release again (an adoption) keeps the mark: the head is still failed.
    assert releasestate.with_good(state, A).degraded == state.degraded
    moved = releasestate.with_good(RolloutState(head=C, good=A, failed={B: "x"}, degraded="d"), C)
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


def test_the_state_file_round_trips(store: StateStore) -> None:
    state = RolloutState(head=B, good=A, history=(A,))
    assert releasestate.load_state(store, "shop", "web") == RolloutState()
    releasestate.save_state(store, "shop", "web", state)
    assert releasestate.load_state(store, "shop", "web") == state


def test_an_unreadable_state_file_starts_empty(store: StateStore) -> None:
    path = store.releases_dir("shop", "web") / "rollout.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{not json")
    assert releasestate.load_state(store, "shop", "web") == RolloutState()


def test_memory_is_bounded() -> None:
    state = RolloutState()
    for n in range(releasestate.MEMORY + 5):
        state = releasestate.with_good(releasestate.with_failed(state, f"{n:040x}", "x"), f"{n + 100:040x}")
    assert len(state.failed) == len(state.history) == releasestate.MEMORY
