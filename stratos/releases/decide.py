"""Release decisions (pure): which commit a subscription should serve, and what to do next.

:func:`target` names the release (the ``pin``, else the release a rollback holds while the branch
stays where it was, else the branch head unless that commit failed before); :func:`decide_release` says the
next step (:class:`Deploy`, :class:`Confirm`, :class:`Revert`, :class:`Wait` or nothing) from the
state, the live release and the members' release checks; :func:`gate` is a ``restart`` member's
health as the planner must see it while a release rolls out. The agent's executor
(:mod:`stratos.agent.rollout`) observes, checks out, switches and records.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from stratos.model import Cartridge
from stratos.planning.health import Health
from stratos.releases.state import Pending, RolloutState

#: ``reload`` of the cartridge: ``none`` (the release is switched under running members) or
#: ``restart`` (members are replaced one at a time by members of the release).
Mode = Literal["none", "restart"]

_SHA = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")


def is_sha(text: str) -> bool:
    """Whether ``text`` is a full commit id (SHA-1 or SHA-256): what names a release."""
    return bool(_SHA.match(text))


@dataclass(frozen=True)
class MemberCheck:
    """A member as the release verification sees it.

    ``release``: the commit it runs (``restart`` members; ``None`` for shared ``current``);
    ``health``: the liveness verdict (the cartridge's own check); ``passed``: the release check.
    """

    member_id: str
    release: str | None
    health: Health
    started_at: float
    passed: bool
    detail: str = ""


@dataclass(frozen=True)
class ReleaseStep:
    """What the steps about one release share: the release (``sha``) they act on.

    The executor dispatches on the concrete class (:class:`Deploy`, :class:`Confirm`,
    :class:`Revert`); this base only holds the common field, so each step keeps its own type.
    """

    sha: str


@dataclass(frozen=True)
class Deploy(ReleaseStep):
    """Check ``sha`` out and put it live; ``previous`` is what a failure goes back to."""

    previous: str | None
    why: str


@dataclass(frozen=True)
class Confirm(ReleaseStep):
    """``sha`` passed its release check: it is the last good release."""

    why: str


@dataclass(frozen=True)
class Revert(ReleaseStep):
    """``sha`` failed its release check: go back to ``to`` (``None``: nothing to go back to)."""

    to: str | None
    why: str


@dataclass(frozen=True)
class Wait:
    """The release is live but not yet checked everywhere."""

    why: str


Step = Deploy | Confirm | Revert | Wait | None


def target(state: RolloutState, pin: str | None) -> tuple[str | None, str]:
    """The release the subscription should serve, and why (``None``: keep what it serves)."""
    if pin is not None:
        if pin in state.failed:
            return None, f"pinned release {pin[:12]} failed health"
        return pin, f"pinned to {pin[:12]}"
    if state.hold is not None and state.hold.head == state.head:
        return state.hold.sha, state.hold.reason
    if state.head is None:
        return None, "the branch has not been fetched yet"
    if state.head in state.failed:
        return None, f"branch head {state.head[:12]} failed health; waiting for a new commit"
    return state.head, f"branch head is {state.head[:12]}"


def decide_release(
    state: RolloutState,
    *,
    current: str | None,
    pin: str | None,
    mode: Mode,
    members: Sequence[MemberCheck],
    now: float,
    timeout: float,
) -> Step:
    """What to do next for one subscription. ``timeout``: seconds a release (``none``, counted from
    its switch) or each of its members (``restart``, counted from its start) has to pass the check."""
    want, why = target(state, pin)
    pending = state.pending
    if pending is not None:
        if want is not None and want != pending.sha:
            return Deploy(want, pending.previous, f"{why}, superseding {pending.sha[:12]}")
        if mode == "none" and current != pending.sha:
            return Deploy(pending.sha, pending.previous, "resuming the switch to it")
        return _verify(pending, mode, members, now, timeout)
    if want is not None and want != current:
        previous = current if current is None or current not in state.failed else state.good
        return Deploy(want, previous, why)
    if current is not None and state.good is None and current not in state.failed:
        return Confirm(current, "adopted: it was live before the agent kept a rollout state")
    return None


def _verify(pending: Pending, mode: Mode, checks: Sequence[MemberCheck], now: float, timeout: float) -> Step:
    if mode == "none":
        checked = [m for m in checks if m.health == "healthy"]
        failing = [m for m in checked if not m.passed]
        if not failing:
            return Confirm(pending.sha, f"{len(checked)} healthy member(s) answer the release check")
        if now - pending.since >= timeout:
            worst = failing[0]
            return Revert(
                pending.sha,
                pending.previous,
                f"{worst.member_id} does not pass the release check {timeout:g}s after the switch"
                + (f" ({worst.detail})" if worst.detail else ""),
            )
        return Wait(f"{len(failing)} of {len(checked)} member(s) do not pass the release check yet")
    for m in checks:
        if m.release != pending.sha or m.passed:
            continue
        if m.health == "dead":
            return Revert(
                pending.sha, pending.previous, f"{m.member_id} exited before passing the release check"
            )
        if m.health == "unhealthy":
            return Revert(
                pending.sha,
                pending.previous,
                f"{m.member_id} is unhealthy" + (f" ({m.detail})" if m.detail else ""),
            )
        if now - m.started_at >= timeout:
            return Revert(
                pending.sha,
                pending.previous,
                f"{m.member_id} does not pass the release check {timeout:g}s after its start"
                + (f" ({m.detail})" if m.detail else ""),
            )
    live = [m for m in checks if m.health != "dead"]
    done = [m for m in live if m.release == pending.sha and m.passed]
    if live and len(done) == len(live):
        return Confirm(pending.sha, f"all {len(live)} member(s) run it and answer the release check")
    return Wait(f"{len(done)} of {len(live)} member(s) run it")


def gate(
    health: Health, release: str | None, passed: bool, state: RolloutState, current: str | None
) -> Health:
    """A ``restart`` member's health as the planner should see it: one of the release being rolled
    out is *starting* until it passes the release check (so it is not registered and no old member
    leaves for it); one that never passed it and runs neither the current release nor one that went
    live before (a failed or superseded release) is *unhealthy*: it is replaced, never registered."""
    if release is None or passed or health in ("dead", "unhealthy"):
        return health
    if state.pending is not None and release == state.pending.sha:
        return "starting"
    if release in (current, state.good) or release in state.history:
        return health
    return "unhealthy"


# --------------------------------------------------------------------------- revisions and ports


def release_revision(base: str, sha: str | None) -> str:
    """The revision label of a ``restart`` member: the definitions' hash and the commit it runs."""
    return f"{base}+{sha}" if sha else base


def release_of(revision: str) -> str | None:
    """The commit in a member's revision label (``None``: the member serves the shared ``current``)."""
    _, _, sha = revision.partition("+")
    return sha if is_sha(sha) else None


def release_port(cartridge: Cartridge) -> int | None:
    """The port the release check asks: the health check's, else the first http port."""
    if cartridge.health_check is not None and cartridge.health_check.port:
        return cartridge.health_check.port
    http_ports = [p.port for p in cartridge.ports if p.protocol == "http"]
    return http_ports[0] if http_ports else None
