"""Release rollout, the executor: which commit each subscription serves, tried before and checked
after it goes live.

The decisions are pure and live in :mod:`stratos.releases` (:func:`~stratos.releases.decide.target`,
:func:`~stratos.releases.decide.decide_release`, :func:`~stratos.releases.decide.gate`, the state and its
changes in :mod:`stratos.releases.state`, the request files in :mod:`stratos.releases.triggers`);
:class:`Rollouts` performs them for the agent's loop (git, the canary container, the switch of
``current``), once per tick and per subscription with an artifact:

1. requests are taken from ``<state>/agent/triggers/<app>.<alias>.<kind>`` (``sync``: written by the
   webhook and by ``stratos sync``; ``rollback``: by ``stratos rollback``);
2. the branch is fetched when ``poll_interval`` has passed or a ``sync`` asks for it;
3. the target is the ``pin``, else the release a rollback holds while the branch stays where it was,
   else the branch head, unless that commit failed before (it is not tried again until the branch
   moves);
4. ``reload: none`` (PHP): the target is checked out and tried on a *canary*, a container made like
   a member, off the LB, with the new release mounted as its ``current``; when the canary answers
   the release check (``Artifact.health_path``, 2xx) ``current`` is switched, and every healthy
   member must answer it within ``health_timeout`` or ``current`` goes back to the previous release.
   A release that fails on the canary never goes live;
5. ``reload: restart``: ``current`` names the release new members start from, the member revision
   carries the commit (:meth:`Rollouts.revisions`), so the planner replaces the members one at a time
   (new first, drain old). A member of the new release counts as *starting*, hence is neither
   registered in the LB nor lets an old one go, until it answers the release check; one that dies,
   turns unhealthy or does not answer within ``health_timeout`` (after its start-up) rolls the
   release back: its members are then replaced by members of the previous release;
6. every release, rollback and failure is an event (``release``, ``rollback``, ``release_failed``;
   ``release_verified`` once a release passed everywhere; ``fetch_failed``) with the commit id and
   message, and :meth:`Rollouts.status` gives ``release`` and ``degraded`` for ``status.json``.

The state of each subscription (last good release, failed commits, a rollback's hold, the release
being verified, the releases that went live) is kept in ``<state>/releases/<app>/<alias>/rollout.json``
so a restarted agent neither retries a failed commit nor forgets what it was verifying.

Off the reconcile path. The loop calls :meth:`Rollouts.hand_off`, which returns at once: each
subscription's release work (fetch, canary, switch, verification) runs in that subscription's own
worker thread, at most one at a time, so a hung git remote or a slow canary of one subscription
never delays the replacement of a dead member of another. The reconcile tick only reads the
release state (:meth:`Rollouts.revisions`, :meth:`Rollouts.gate`, :meth:`Rollouts.status`).
``--once`` waits for the workers (:meth:`Rollouts.join`); :meth:`Rollouts.tick` does the same work
in the caller's thread. Every wait (poll interval, canary, verification) is measured on a
monotonic clock; the wall clock only stamps what is recorded.
"""

from __future__ import annotations

import http.client
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from stratos import artifacts
from stratos.drivers import docker as dockerlib
from stratos.drivers import members
from stratos.drivers.runtime import DockerEngine, MemberRuntime
from stratos.errors import DriverError, StratosError
from stratos.model import Application, Artifact, Cartridge, NetworkPartition, Subscription, redact_url
from stratos.planning import health as healthlib
from stratos.planning.health import Health
from stratos.planning.revision import revision as member_revision
from stratos.releases.decide import (
    Confirm,
    MemberCheck,
    Mode,
    Revert,
    Step,
    Wait,
    decide_release,
    gate,
    release_of,
    release_port,
    release_revision,
)
from stratos.releases.state import (
    Pending,
    RolloutState,
    apply_rollback,
    load_state,
    rollback_target,
    save_state,
    with_failed,
    with_good,
)
from stratos.releases.triggers import Key, Request, has_requests, take_requests
from stratos.status import AgentStatus, SubscriptionStatus
from stratos.store import StateStore

if TYPE_CHECKING:
    from stratos.validation import DefinitionSet

log = logging.getLogger("stratos.agent.rollout")

#: Docker label value of a canary container (``org.stratos.role``).
ROLE_CANARY = dockerlib.ROLE_CANARY
#: Seconds between two release checks while waiting for a release.
CHECK_POLL = 0.5

# --------------------------------------------------------------------------- member specs


def pinned_spec(spec: members.MemberSpec, release_path: Path) -> members.MemberSpec:
    """A member (or canary) that runs one release: it is mounted as ``current``, not the whole
    releases directory, so switching ``current`` on the host does not change what it runs."""
    binds = [b for b in spec.binds if not b.split(":")[1:2] == [members.APP_MOUNT]]
    binds.append(f"{release_path}:{members.APP_MOUNT}/current:ro")
    return replace(spec, binds=tuple(binds))


def canary_spec(spec: members.MemberSpec, release_path: Path, suffix: str) -> members.MemberSpec:
    """A canary: like a member, but no member labels, no service alias, no data volume."""
    name = f"{spec.labels[dockerlib.APPLICATION]}-{spec.labels[dockerlib.SUBSCRIPTION]}-canary-{suffix}"
    labels = {
        dockerlib.ROLE: ROLE_CANARY,
        dockerlib.STATE_ID: spec.labels[dockerlib.STATE_ID],
        dockerlib.APPLICATION: spec.labels[dockerlib.APPLICATION],
        dockerlib.SUBSCRIPTION: spec.labels[dockerlib.SUBSCRIPTION],
    }
    pinned = pinned_spec(spec, release_path)
    return replace(
        pinned,
        member_id=name,
        name=members.container_name(name),
        hostname=name[:63].rstrip("-"),
        aliases=(),
        labels=labels,
        volumes={},
        volume_labels={},
        environment={**spec.environment, "STRATOS_MEMBER_ID": name, "STRATOS_CANARY": "1"},
    )


# --------------------------------------------------------------------------- the release check (I/O)


def check_release(address: str | None, port: int, path: str, timeout: float) -> tuple[bool, str]:
    """An http GET of ``path`` on the member; 2xx passes."""
    if address is None:
        return False, "no address"
    conn = http.client.HTTPConnection(address, port, timeout=timeout)
    try:
        conn.request(
            "GET", path, headers={"User-Agent": "stratos-agent (release check)", "Connection": "close"}
        )
        response = conn.getresponse()
        response.read(65536)
        return 200 <= response.status < 300, f"GET {path}: {response.status}"
    except (OSError, http.client.HTTPException) as exc:
        return False, f"GET {path}: {exc or type(exc).__name__}"
    finally:
        conn.close()


class ReleaseProbe(Protocol):
    def __call__(self, address: str | None, port: int, path: str, timeout: float) -> tuple[bool, str]: ...


class RecordEvent(Protocol):
    """Records one event (the agent's event store); only reasons and details are given here."""

    def __call__(
        self,
        now: float,
        application: str,
        subscription: str,
        kind: str,
        *,
        reasons: Iterable[str],
        details: dict[str, Any],
    ) -> None: ...


class _CanaryUnavailable(StratosError):
    """The canary could not be run (Docker): the release is tried again later, not failed."""

    temporary = True


# --------------------------------------------------------------------------- the executor


@dataclass(frozen=True)
class _Job:
    """One subscription's release work of one tick: its definitions, its members as observed (with
    their health) and the requests taken for it."""

    definitions: DefinitionSet
    app: Application
    sub: Subscription
    artifact: Artifact
    observed: Sequence[tuple[members.ObservedMember, Health]]
    requests: Sequence[Request]

    @classmethod
    def of(
        cls,
        definitions: DefinitionSet,
        app: Application,
        sub: Subscription,
        observed: Sequence[tuple[members.ObservedMember, Health]],
        requests: Sequence[Request],
    ) -> _Job:
        """The job of ``sub`` (which has an artifact), with only its own members of ``observed``."""
        assert sub.artifact is not None
        mine = [(m, h) for m, h in observed if (m.application, m.subscription) == (app.name, sub.alias)]
        return cls(definitions, app, sub, sub.artifact, mine, requests)

    @property
    def key(self) -> Key:
        return (self.app.name, self.sub.alias)

    @property
    def cartridge(self) -> Cartridge:
        return self.definitions.cartridges[self.sub.cartridge]


class Rollouts:
    """Performs the rollout decisions for the agent's loop (one instance per agent)."""

    def __init__(
        self,
        store: StateStore,
        *,
        docker: dockerlib.ClientPool,
        record: RecordEvent,
        git: artifacts.Runner = artifacts.run_git,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        probe: ReleaseProbe = check_release,
        member_probe: Callable[..., members.ProbeResult] = members.probe,
        poll: float = CHECK_POLL,
        monotonic: Callable[[], float] | None = None,
        runtime: MemberRuntime | None = None,
    ):
        self.store = store
        self.docker = docker
        self.record = record
        self.git = git
        self.clock = clock
        #: Durations and deadlines. By default time.monotonic, or the injected ``clock`` (tests).
        self.monotonic = monotonic or (time.monotonic if clock is time.time else clock)
        self.sleep = sleep
        self.probe = probe
        self.member_probe = member_probe
        self.poll = poll
        self.state_id = dockerlib.state_id(store.root)
        #: Canaries start and go through the agent's member runtime (by default Docker's).
        self.runtime: MemberRuntime = runtime or DockerEngine(docker, self.state_id)
        self._wake = threading.Event()
        self._states: dict[Key, RolloutState] = {}
        self._fetched: dict[Key, float] = {}
        self._fetch_errors: dict[Key, str] = {}
        self._passed: dict[str, str] = {}  # member id -> the release whose check it passed
        self._subjects: dict[str, str] = {}
        self._status: dict[Key, dict[str, Any]] = {}
        self._canaries_swept = False
        self._lock = threading.RLock()
        #: The worker of each subscription (at most one at a time) and when it began (monotonic).
        self._workers: dict[Key, tuple[threading.Thread, float]] = {}
        #: Requests taken while the subscription's worker was busy: the next worker gets them.
        self._queued: dict[Key, list[Request]] = {}
        #: When a release went live in this process (monotonic), so its verification is timed on it.
        self._live_since: dict[Key, tuple[str, float]] = {}

    # ------------------------------------------------------------------ for the loop
    def wake(self) -> None:
        """Make the loop tick now (the webhook calls it after writing its request)."""
        self._wake.set()

    def wait(self, stop: threading.Event, seconds: float, step: float = 0.25) -> bool:
        """Wait until ``stop`` (True), ``seconds`` pass or a request arrives (False)."""
        deadline = time.monotonic() + seconds
        while True:
            remaining = deadline - time.monotonic()  # real time: it waits on a real Event
            if stop.wait(max(0.0, min(step, remaining))):
                return True
            if self._wake.is_set() or has_requests(self.store):
                self._wake.clear()
                return False
            if remaining <= step:
                return stop.is_set()

    @staticmethod
    def _mode(definitions: DefinitionSet, sub: Subscription) -> Mode | None:
        """The reload mode of a subscription with an artifact (``None`` without one)."""
        cartridge = definitions.cartridges.get(sub.cartridge)
        if sub.artifact is None or cartridge is None:
            return None
        return cartridge.reload

    def revisions(self, definitions: DefinitionSet) -> dict[Key, str]:
        """Member revisions of ``restart`` subscriptions: the definitions' hash and the release."""
        found = {}
        for app in definitions.applications.values():
            for sub in app.subscriptions:
                if self._mode(definitions, sub) == "restart":
                    found[(app.name, sub.alias)] = self.revision(definitions, app, sub)
        return found

    def revision(self, definitions: DefinitionSet, app: Application, sub: Subscription) -> str:
        base = member_revision(definitions, app, sub)
        if self._mode(definitions, sub) != "restart":
            return base
        return release_revision(base, artifacts.current_release(self.store, app.name, sub.alias))

    def new_member_spec(
        self,
        definitions: DefinitionSet,
        app: Application,
        sub: Subscription,
        np: NetworkPartition,
        partition: str,
        *,
        revision: str,
        releases_dir: Path | None,
    ) -> members.MemberSpec:
        """The container of a new member (or canary) of ``sub`` in ``np``/``partition``, its secrets
        and link files written on the host first: the one way the actor and the canary build one."""
        cartridge = definitions.cartridges[sub.cartridge]
        secrets_dir = members.prepare_secrets(self.store, app, sub, cartridge)
        links = members.prepare_links(self.store, definitions, app, sub)
        if links:
            secrets_dir = self.store.secrets_dir(app.name, sub.alias)
        return members.member_spec(
            app=app,
            sub=sub,
            cartridge=cartridge,
            np=np,
            partition=partition,
            member=members.member_id(app.name, sub.alias),
            state_id=self.state_id,
            revision=revision,
            secrets_dir=secrets_dir,
            releases_dir=releases_dir,
            links=links,
        )

    def member_spec(self, definitions: DefinitionSet, spec: members.MemberSpec) -> members.MemberSpec:
        """A ``restart`` member runs the release in its revision, mounted as its ``current``."""
        sha = release_of(spec.labels.get(dockerlib.REVISION, ""))
        if sha is None:
            return spec
        app, alias = spec.labels[dockerlib.APPLICATION], spec.labels[dockerlib.SUBSCRIPTION]
        return pinned_spec(spec, artifacts.release_dir(self.store, app, alias, sha))

    def gate(self, member: members.ObservedMember, health: Health) -> Health:
        release = release_of(member.revision)
        if release is None:
            return health
        state = self._states.get((member.application, member.subscription))
        if state is None:
            return health
        current = artifacts.current_release(self.store, member.application, member.subscription)
        return gate(health, release, self._passed.get(member.member_id) == release, state, current)

    def admit(self, definitions: DefinitionSet, member: members.ObservedMember) -> bool:
        """Whether a new member may join its LB: its release check passed, if it must pass one."""
        release = release_of(member.revision)
        state = self._states.get((member.application, member.subscription))
        if release is None or state is None or state.pending is None or state.pending.sha != release:
            return True
        if self._passed.get(member.member_id) == release:
            return True
        app = definitions.applications.get(member.application)
        if app is None:
            return True
        sub = app.subscription(member.subscription)
        cartridge = definitions.cartridges[sub.cartridge]
        ok, detail = self._check(cartridge, sub.artifact, member.address)
        if ok:
            with self._lock:
                self._passed[member.member_id] = release
            log.info("%s answers the release check of %s (%s)", member.member_id, release[:12], detail)
        return ok

    def status(self) -> dict[Key, dict[str, Any]]:
        found = {key: dict(value) for key, value in list(self._status.items())}
        now = self.monotonic()
        for key, (worker, began) in list(self._workers.items()):
            if worker.is_alive() and now - began >= 1.0:
                entry = found.setdefault(key, {})
                entry["notes"] = [
                    *(entry.get("notes") or []),
                    f"release work (fetch, canary or verification) under way for {now - began:.0f}s",
                ]
        return found

    # ------------------------------------------------------------------ off the reconcile path
    def hand_off(
        self, definitions: DefinitionSet, observed: Sequence[tuple[members.ObservedMember, Health]]
    ) -> None:
        """Start each subscription's release work in its own worker, unless one runs already;
        return at once (the loop's way to call :meth:`tick`)."""
        if not self._canaries_swept:
            self._canaries_swept = True
            threading.Thread(
                target=self._sweep_canaries, args=(definitions,), name="stratos-canary-sweep", daemon=True
            ).start()
        requests = take_requests(self.store)
        wanted = set()
        for app, sub in self._subscriptions(definitions):
            key = (app.name, sub.alias)
            wanted.add(key)
            with self._lock:
                self._queued.setdefault(key, []).extend(requests.get(key, []))
                running = self._workers.get(key)
                if running is not None and running[0].is_alive():
                    continue
                job = _Job.of(definitions, app, sub, observed, self._queued.pop(key, []))
                worker = threading.Thread(
                    target=self._work,
                    args=(job,),
                    name=f"stratos-release-{app.name}-{sub.alias}",
                    daemon=True,
                )
                self._workers[key] = (worker, self.monotonic())
                worker.start()
        self._forget(definitions, observed, requests, wanted)

    def join(self, timeout: float | None = None) -> None:
        """Wait for the workers under way (``--once``; tests)."""
        deadline = None if timeout is None else self.monotonic() + timeout
        for worker, _ in list(self._workers.values()):
            worker.join(None if deadline is None else max(0.0, deadline - self.monotonic()))

    def busy(self) -> list[Key]:
        """Subscriptions whose worker is running."""
        return sorted(key for key, (worker, _) in list(self._workers.items()) if worker.is_alive())

    def _work(self, job: _Job) -> None:
        if self._one(job, self.clock()):
            self.wake()  # what members run changed: the loop acts on it now

    def _one(self, job: _Job, now: float) -> bool:
        try:
            return self._subscription(job, now)
        except StratosError as exc:
            log.warning("release of %s/%s: %s", *job.key, exc)
            self._status.setdefault(job.key, {})["notes"] = [f"release: {exc}"]
        except Exception:  # noqa: BLE001 - one subscription's failure does not stop the others
            log.exception("release of %s/%s failed", *job.key)
        return False

    @staticmethod
    def _subscriptions(definitions: DefinitionSet) -> list[tuple[Application, Subscription]]:
        return [
            (app, sub)
            for app in sorted(definitions.applications.values(), key=lambda a: a.name)
            for sub in app.subscriptions
            if sub.artifact is not None
        ]

    def _forget(
        self,
        definitions: DefinitionSet,
        observed: Sequence[tuple[members.ObservedMember, Health]],
        requests: Mapping[Key, Sequence[Request]],
        wanted: set[Key],
    ) -> None:
        for key in set(requests) - wanted:
            log.warning("request for %s/%s ignored: no such subscription with an artifact", *key)
        with self._lock:
            for key in set(self._states) - wanted:
                del self._states[key]
                self._status.pop(key, None)
            for key in set(self._queued) - wanted:
                del self._queued[key]
            alive = {m.member_id for m, _ in observed}
            for member_id in set(self._passed) - alive:
                del self._passed[member_id]

    # ------------------------------------------------------------------ one tick
    def tick(
        self,
        definitions: DefinitionSet,
        observed: Sequence[tuple[members.ObservedMember, Health]],
        now: float,
    ) -> None:
        """Every subscription's release work, in this thread (see :meth:`hand_off`)."""
        if not self._canaries_swept:
            self._canaries_swept = True
            self._sweep_canaries(definitions)
        requests = take_requests(self.store)
        wanted: set[Key] = set()
        for app, sub in self._subscriptions(definitions):
            key = (app.name, sub.alias)
            wanted.add(key)
            self._one(_Job.of(definitions, app, sub, observed, requests.get(key, [])), now)
        self._forget(definitions, observed, requests, wanted)

    def _subscription(self, job: _Job, now: float) -> bool:
        """One subscription's release step; whether it changed its state or ``current``."""
        key, artifact, observed, requests = job.key, job.artifact, job.observed, job.requests
        cartridge = job.cartridge
        mode: Mode = cartridge.reload
        state = self._states.get(key) or load_state(self.store, *key)
        before = state
        current = artifacts.current_release(self.store, *key)
        syncs = [r for r in requests if r.kind == "sync"]
        due = self.monotonic() - self._fetched.get(key, float("-inf")) >= artifact.poll_interval
        if syncs or due:
            self._fetched[key] = self.monotonic()
            head = self._fetch(key, artifact, syncs)
            if head is not None and head != state.head:
                state = replace(state, head=head)
                if state.hold is not None and state.hold.head != head:
                    log.info("%s/%s: the branch moved to %s; the rollback's hold ends", *key, head[:12])
                    state = replace(state, hold=None)
        for request in (r for r in requests if r.kind == "rollback" and r.sha):
            assert request.sha is not None
            state = apply_rollback(state, request.sha, f"stratos rollback to {request.sha[:12]}")
        pin = self._pin(key, artifact)
        timeout = artifact.health_timeout
        if mode == "restart":
            timeout += healthlib.startup_timeout(cartridge.health_check)
            self._admit_all(cartridge, artifact, state, observed)
        checks = self._checks(cartridge, artifact, state, mode, current, observed) if state.pending else []
        step = decide_release(
            state,
            current=current,
            pin=pin,
            mode=mode,
            members=checks,
            now=self._verification_now(key, state, now),
            timeout=timeout,
        )
        source = syncs[-1].source if syncs else "poll"
        state = self._perform(job, mode, state, step, pin, source)
        self._states[key] = state
        if state != before:
            save_state(self.store, *key, state)
        self._prune(key, artifact, state, pin, observed)
        self._status[key] = self._describe(key, state, pin)
        return state != before or artifacts.current_release(self.store, *key) != current

    def _verification_now(self, key: Key, state: RolloutState, now: float) -> float:
        """The ``now`` a verification is timed with: for a release that went live in this process,
        its ``since`` plus the monotonic time elapsed (a step of the wall clock changes nothing);
        else the wall clock (the release went live before the agent restarted)."""
        pending = state.pending
        live = self._live_since.get(key)
        if pending is None or live is None or live[0] != pending.sha:
            return now
        return pending.since + (self.monotonic() - live[1])

    # ------------------------------------------------------------------ steps
    def _perform(
        self, job: _Job, mode: Mode, state: RolloutState, step: Step, pin: str | None, source: str
    ) -> RolloutState:
        key, artifact, cartridge = job.key, job.artifact, job.cartridge
        if step is None or isinstance(step, Wait):
            return state
        if isinstance(step, Confirm):
            return self._confirm(key, state, step)
        if isinstance(step, Revert):
            return self._revert(key, state, step)
        if state.hold is not None and step.sha == state.hold.sha:
            source = "rollback"
        elif pin is not None and step.sha == pin:
            source = "pin"
        try:
            with artifacts.lock(self.store, *key):
                artifacts.prepare(self.store, *key, step.sha, git=self.git)
        except artifacts.RefusedTree as exc:
            return self._refused(key, state, step.sha, str(exc))
        message = self._subject(key, step.sha)
        healthy = [m for m, h in job.observed if h == "healthy"]
        if mode == "none" and artifact.health_path and healthy and release_port(cartridge):
            try:
                ok, detail = self._canary(job, step.sha)
            except _CanaryUnavailable as exc:
                log.warning("%s/%s: release %s waits: %s", *key, step.sha[:12], exc)
                return state
            if not ok:
                why = f"on a canary, {detail}"
                log.warning("%s/%s: release %s failed health %s", *key, step.sha[:12], why)
                self._event(
                    key,
                    "release_failed",
                    step.sha,
                    message,
                    [f"release {step.sha[:12]} '{message}' failed health {why}"],
                    why=why,
                )
                return with_failed(state, step.sha, why)
        since = self.clock()
        self._live_since[key] = (step.sha, self.monotonic())
        state = replace(state, pending=Pending(step.sha, step.previous, since, source))
        save_state(self.store, *key, state)
        with artifacts.lock(self.store, *key):
            previous = artifacts.switch(self.store, *key, step.sha)
        verb = "rolling out" if mode == "restart" else "serving"
        log.info("%s/%s: %s release %s (%s, %s)", *key, verb, step.sha[:12], message, step.why)
        self._event(
            key,
            "rollback" if source == "rollback" else "release",
            step.sha,
            message,
            [f"{step.why}: {verb} {step.sha[:12]} '{message}'"],
            previous=previous,
            source=source,
        )
        if mode == "restart":
            return state
        return self._verify_live(key, cartridge, artifact, state, healthy, pin)

    def _refused(self, key: Key, state: RolloutState, sha: str, why: str) -> RolloutState:
        """A commit git would not check out safely: a failed release, never retried, nothing written."""
        message = self._subject(key, sha)
        log.warning("%s/%s: release %s refused: %s", *key, sha[:12], why)
        self._event(
            key, "release_failed", sha, message, [f"release {sha[:12]} '{message}' refused: {why}"], why=why
        )
        return replace(
            with_failed(state, sha, why), degraded=f"release {sha[:12]} refused: its tree is unsafe"
        )

    def _verify_live(
        self,
        key: Key,
        cartridge: Cartridge,
        artifact: Artifact,
        state: RolloutState,
        healthy: Sequence[members.ObservedMember],
        pin: str | None,
    ) -> RolloutState:
        """``reload: none``: probe every healthy member until all pass or ``health_timeout`` ends."""
        assert state.pending is not None
        sha = state.pending.sha
        while True:
            checks = self._probe_all(cartridge, artifact, healthy, sha)
            step = decide_release(
                state,
                current=sha,
                pin=pin,
                mode="none",
                members=checks,
                now=self._verification_now(key, state, self.clock()),
                timeout=artifact.health_timeout,
            )
            if isinstance(step, Confirm):
                return self._confirm(key, state, step)
            if isinstance(step, Revert):
                return self._revert(key, state, step)
            if not isinstance(step, Wait):
                return state  # a newer target: the next tick deploys it
            self.sleep(self.poll)

    def _confirm(self, key: Key, state: RolloutState, step: Confirm) -> RolloutState:
        pending = state.pending
        if pending is not None and pending.sha == step.sha:
            seconds = round(self._verification_now(key, state, self.clock()) - pending.since, 2)
            log.info("%s/%s: release %s verified: %s", *key, step.sha[:12], step.why)
            self._event(
                key,
                "release_verified",
                step.sha,
                self._subject(key, step.sha),
                [step.why],
                seconds=seconds,
                source=pending.source,
            )
        return with_good(state, step.sha)

    def _revert(self, key: Key, state: RolloutState, step: Revert) -> RolloutState:
        message = self._subject(key, step.sha)
        log.warning("%s/%s: release %s failed health: %s", *key, step.sha[:12], step.why)
        self._event(
            key,
            "release_failed",
            step.sha,
            message,
            [f"release {step.sha[:12]} '{message}' failed health: {step.why}"],
            why=step.why,
        )
        state = with_failed(state, step.sha, step.why)
        if step.to is None:
            log.warning("%s/%s: no earlier release to go back to; %s stays", *key, step.sha[:12])
            return state
        with artifacts.lock(self.store, *key):
            artifacts.prepare(self.store, *key, step.to, git=self.git)
            artifacts.switch(self.store, *key, step.to)
        self._event(
            key,
            "rollback",
            step.to,
            self._subject(key, step.to),
            [f"release {step.sha[:12]} failed health; back to {step.to[:12]}"],
            previous=step.sha,
            source="health",
        )
        return replace(state, good=step.to)

    # ------------------------------------------------------------------ checks
    def _check(
        self, cartridge: Cartridge, artifact: Artifact | None, address: str | None
    ) -> tuple[bool, str]:
        port = release_port(cartridge)
        if artifact is None or not artifact.health_path or port is None:
            return True, "no release check"
        return self.probe(address, port, artifact.health_path, min(5.0, artifact.health_timeout))

    def _probe_all(
        self, cartridge: Cartridge, artifact: Artifact, targets: Sequence[members.ObservedMember], sha: str
    ) -> list[MemberCheck]:
        if not targets:
            return []

        def one(member: members.ObservedMember) -> MemberCheck:
            ok, detail = self._check(cartridge, artifact, member.address)
            return MemberCheck(member.member_id, sha, "healthy", member.started_at, ok, detail)

        with ThreadPoolExecutor(max_workers=min(8, len(targets))) as pool:
            return list(pool.map(one, targets))

    def _admit_all(
        self,
        cartridge: Cartridge,
        artifact: Artifact,
        state: RolloutState,
        observed: Sequence[tuple[members.ObservedMember, Health]],
    ) -> None:
        """``restart``: release-check the members of the release being rolled out, once each."""
        if state.pending is None:
            return
        sha = state.pending.sha
        for member, health in observed:
            if release_of(member.revision) != sha or self._passed.get(member.member_id) == sha:
                continue
            if health != "healthy":
                continue
            ok, detail = self._check(cartridge, artifact, member.address)
            if ok:
                with self._lock:
                    self._passed[member.member_id] = sha

    def _checks(
        self,
        cartridge: Cartridge,
        artifact: Artifact,
        state: RolloutState,
        mode: Mode,
        current: str | None,
        observed: Sequence[tuple[members.ObservedMember, Health]],
    ) -> list[MemberCheck]:
        assert state.pending is not None
        if mode == "none":
            healthy = [m for m, h in observed if h == "healthy"]
            return self._probe_all(cartridge, artifact, healthy, state.pending.sha) if current else []
        return [
            MemberCheck(
                m.member_id,
                release_of(m.revision),
                h,
                m.started_at,
                self._passed.get(m.member_id) == release_of(m.revision),
            )
            for m, h in observed
        ]

    # ------------------------------------------------------------------ the canary
    def _canary(self, job: _Job, sha: str) -> tuple[bool, str]:
        """Run the release on a canary off the LB: (passed, what it answered)."""
        definitions, app, sub, cartridge, artifact = (
            job.definitions,
            job.app,
            job.sub,
            job.cartridge,
            job.artifact,
        )
        dp = definitions.deployment_policies[sub.deployment_policy]
        np = definitions.network_partitions[dp.network_partitions[0].name]
        partition = next(p for p in np.partitions if p.name == dp.network_partitions[0].partitions[0].name)
        try:
            releases = self.store.releases_dir(app.name, sub.alias)
            spec = self.new_member_spec(
                definitions, app, sub, np, partition.name, revision="canary", releases_dir=releases
            )
            spec = canary_spec(
                spec, artifacts.release_dir(self.store, app.name, sub.alias, sha), secrets.token_hex(3)
            )
            began = self.monotonic()
            canary = self.runtime.start_member(spec, partition.endpoint)
        except DriverError as exc:
            raise _CanaryUnavailable(f"the canary could not start: {exc}") from exc
        try:
            ports = [p.port for p in cartridge.ports]
            limit = max(5.0, healthlib.startup_timeout(cartridge.health_check))
            while True:
                alive = self.member_probe(canary.address, cartridge.health_check, ports)
                if alive.ok:
                    break
                if self.monotonic() - began >= limit:
                    return (
                        False,
                        f"the cartridge's health check did not pass within {limit:g}s ({alive.detail})",
                    )
                self.sleep(0.1)
            checked = self.monotonic()
            while True:
                ok, detail = self._check(cartridge, artifact, canary.address)
                if ok:
                    log.info(
                        "%s/%s: canary of %s passes (%s) after %.1fs",
                        app.name,
                        sub.alias,
                        sha[:12],
                        detail,
                        self.monotonic() - began,
                    )
                    return True, detail
                if self.monotonic() - checked >= artifact.health_timeout:
                    return False, f"{detail} for {artifact.health_timeout:g}s"
                self.sleep(self.poll)
        finally:
            self._remove(partition.endpoint, canary.container_id)

    def _remove(self, endpoint: str, container_id: str) -> None:
        try:
            self.runtime.remove_member(endpoint, container_id)
        except Exception as exc:  # noqa: BLE001 - a leftover canary is swept on the agent's next start
            log.warning("removing canary %s failed: %s", container_id[:12], exc)

    def _sweep_canaries(self, definitions: DefinitionSet) -> None:
        """Canaries an earlier agent left behind (it stopped while one ran)."""
        self._canaries_swept = True
        for endpoint in sorted(self.runtime.endpoints(definitions)):
            try:
                for name in self.runtime.remove_leftovers(endpoint, ROLE_CANARY):
                    log.info("removed canary %s left by an earlier agent", name)
            except Exception as exc:  # noqa: BLE001 - best effort
                log.debug("sweeping canaries on %s: %s", endpoint, exc)

    # ------------------------------------------------------------------ git and bookkeeping
    def _fetch(self, key: Key, artifact: Artifact, syncs: Sequence[Request]) -> str | None:
        try:
            with artifacts.lock(self.store, *key):
                head = artifacts.fetch(self.store, *key, artifact, git=self.git)
        except StratosError as exc:
            message = str(exc)
            log.warning("fetching the artifact of %s/%s: %s", *key, message)
            if self._fetch_errors.get(key) != message:
                self._fetch_errors[key] = message
                # When it failed (the tick's clock is older: a fetch can take a while).
                self.record(
                    self.clock(),
                    *key,
                    "fetch_failed",
                    reasons=[message],
                    details={"url": redact_url(artifact.url)},
                )
            return None
        if key in self._fetch_errors:
            del self._fetch_errors[key]
            log.info("fetching the artifact of %s/%s works again", *key)
        if syncs:
            log.info("%s/%s: fetched on request (%s): %s", *key, syncs[-1].source, head[:12])
        return head

    def _pin(self, key: Key, artifact: Artifact) -> str | None:
        if artifact.pin is None:
            return None
        with artifacts.lock(self.store, *key):
            return artifacts.resolve(self.store, *key, artifact.pin, git=self.git)

    def _subject(self, key: Key, sha: str) -> str:
        if sha not in self._subjects:
            self._subjects[sha] = artifacts.commit_subject(self.store, *key, sha, git=self.git)
        return self._subjects[sha]

    def _event(
        self, key: Key, kind: str, sha: str, message: str, reasons: Sequence[str], **details: Any
    ) -> None:
        self.record(
            self.clock(),
            *key,
            kind,
            reasons=reasons,
            details={"sha": sha, "message": message, **{k: v for k, v in details.items() if v is not None}},
        )

    def _prune(
        self,
        key: Key,
        artifact: Artifact,
        state: RolloutState,
        pin: str | None,
        observed: Sequence[tuple[members.ObservedMember, Health]],
    ) -> None:
        protect = {state.good, pin, *(release_of(m.revision) for m, _ in observed)}
        if state.pending is not None:
            protect |= {state.pending.sha, state.pending.previous}
        if state.hold is not None:
            protect.add(state.hold.sha)
        with artifacts.lock(self.store, *key):
            artifacts.prune(self.store, *key, artifact.keep_releases, {s for s in protect if s})

    def _describe(self, key: Key, state: RolloutState, pin: str | None) -> dict[str, Any]:
        current = artifacts.current_release(self.store, *key)
        notes = []
        if state.pending is not None:
            notes.append(f"release {state.pending.sha[:12]} is being verified")
        if pin is not None:
            notes.append(f"pinned to {pin[:12]}")
        elif state.hold is not None and state.hold.head == state.head:
            notes.append(f"held at {state.hold.sha[:12]} by a rollback until the branch moves")
        if key in self._fetch_errors:
            notes.append(f"fetch failing: {self._fetch_errors[key]}")
        return {
            "release": current,
            "release_message": self._subject(key, current) if current else None,
            "degraded": state.degraded,
            "notes": notes,
        }


def annotate_status(data: AgentStatus, releases: Mapping[Key, Mapping[str, Any]]) -> None:
    """Give status.json's subscriptions ``release``, ``release_message`` and ``degraded`` (and notes)."""
    for (app, alias), info in releases.items():
        sub = data.subscription(app, alias)
        if sub is None:
            continue
        sub.release = info.get("release")
        sub.release_message = info.get("release_message")
        sub.degraded = info.get("degraded")
        sub.notes = [*sub.notes, *(n for n in info.get("notes") or [] if n)]


# --------------------------------------------------------------------------- the command line's side


def artifact_aliases(definitions: DefinitionSet, application: str, alias: str | None = None) -> list[str]:
    """The subscriptions of ``application`` with an artifact (only ``alias`` if given)."""
    app = definitions.applications.get(application)
    if app is None:
        raise StratosError(f"application '{application}' is not defined")
    found = [s.alias for s in app.subscriptions if s.artifact is not None]
    if alias is not None:
        if alias not in found:
            raise StratosError(f"application '{application}' has no subscription '{alias}' with an artifact")
        return [alias]
    if not found:
        raise StratosError(f"application '{application}' has no subscription with an artifact")
    return found


def sync_now(
    store: StateStore,
    definitions: DefinitionSet,
    application: str,
    alias: str,
    *,
    git: artifacts.Runner = artifacts.run_git,
) -> str:
    """``stratos sync --now``: fetch and check out the branch head here (the agent switches to it)."""
    sub = definitions.applications[application].subscription(alias)
    assert sub.artifact is not None
    with artifacts.lock(store, application, alias):
        head = artifacts.fetch(store, application, alias, sub.artifact, git=git)
        artifacts.prepare(store, application, alias, head, git=git)
    return head


def choose_rollback(
    store: StateStore,
    definitions: DefinitionSet,
    application: str,
    alias: str | None,
    to: str | None,
    *,
    git: artifacts.Runner = artifacts.run_git,
) -> tuple[str, str, str | None]:
    """(alias, the commit to go back to, the current one) for ``stratos rollback``."""
    aliases = artifact_aliases(definitions, application, alias)
    if len(aliases) > 1:
        raise StratosError(
            f"application '{application}' has several subscriptions with an artifact "
            f"({', '.join(aliases)}): name one with --alias"
        )
    chosen = aliases[0]
    current = artifacts.current_release(store, application, chosen)
    if to is not None:
        with artifacts.lock(store, application, chosen):
            return chosen, artifacts.resolve(store, application, chosen, to, git=git), current
    target_sha = rollback_target(load_state(store, application, chosen), current)
    if target_sha is None:
        raise StratosError(f"{application}/{chosen}: no earlier good release to roll back to (give --to SHA)")
    return chosen, target_sha, current


def wait_for_release(
    store: StateStore,
    application: str,
    alias: str,
    sha: str,
    timeout: float,
    *,
    since: float,
    poll: float = 0.5,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] | None = None,
) -> SubscriptionStatus:
    """Wait (bounded, on the monotonic clock) until a status written after ``since`` shows ``sha``
    live (or failed)."""
    from stratos.status import read_status

    monotonic = monotonic or (time.monotonic if clock is time.time else clock)
    deadline = monotonic() + timeout
    while True:
        data = read_status(store)
        sub = (data.subscription(application, alias) if data else None) or SubscriptionStatus()
        fresh = data is not None and data.time >= since
        if fresh and (sub.release == sha or sha[:12] in (sub.degraded or "")):
            return sub
        if monotonic() >= deadline:
            raise StratosError(
                f"{application}/{alias}: the agent did not switch to {sha[:12]} within {timeout:g}s "
                f"(serving {str(sub.release)[:12]}; is the agent running?)"
            )
        sleep(poll)
