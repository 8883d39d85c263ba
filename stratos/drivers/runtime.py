"""Where members run: the interface the agent talks to members through, and its Docker Engine form.

The agent starts, lists, inspects, measures and stops members, and follows their events, only
through a :class:`MemberRuntime`, so that a second runtime (Docker Swarm services) is a class
beside :class:`DockerEngine`, not an edit across the agent. Everything is addressed by
*endpoint* (where a partition's members run: a Docker Engine URL here) and *container id* (what
the runtime calls one member), both carried by :class:`~stratos.drivers.members.ObservedMember`.

:class:`DockerEngine` is the one implementation today: the functions of
:mod:`stratos.drivers.members` over a :class:`~stratos.drivers.docker.ClientPool`, and
:class:`EngineEvents`, the event stream of one endpoint filtered by the platform's labels.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from stratos import endpoints as endpointslib
from stratos.drivers import docker as dockerlib
from stratos.drivers import members
from stratos.drivers.members import MemberSpec, ObservedMember

if TYPE_CHECKING:
    from stratos.validation import DefinitionSet

log = logging.getLogger("stratos.drivers.runtime")

#: Engine events that take a member out of HAProxy at once.
MEMBER_EVENTS = ("kill", "die", "oom", "health_status: unhealthy")

#: ``(member id, action)``: what a runtime's event watch hands to the agent.
EventHandler = Callable[[str, str], None]


@runtime_checkable
class EventWatch(Protocol):
    """A running watch of one endpoint's member events."""

    def close(self) -> None:
        """Stop watching (best effort; returns at once)."""


@runtime_checkable
class MemberRuntime(Protocol):
    """What the agent does to members (see the module doc)."""

    def endpoints(self, definitions: DefinitionSet) -> list[str]:
        """Every endpoint the definitions place members on (the default one first)."""

    def list_members(self, endpoint: str) -> list[ObservedMember]:
        """Every member of this state directory on ``endpoint``, in any state; raises when the
        endpoint does not answer (its members are then unseen, not gone)."""

    def start_member(self, spec: MemberSpec, endpoint: str) -> ObservedMember:
        """Create and start one member (and its named volumes); return it as observed."""

    def stop_member(self, endpoint: str, container_id: str, grace: float) -> None:
        """Stop (``grace`` seconds between SIGTERM and SIGKILL) and remove; named volumes stay."""

    def remove_member(self, endpoint: str, container_id: str) -> None:
        """Remove at once, without a grace period (a release's canary, whose check is over)."""

    def remove_leftovers(self, endpoint: str, role: str) -> list[str]:
        """Remove every container of this state directory with ``role`` on ``endpoint`` (canaries an
        earlier agent left behind); return their names."""

    def inspect_member(self, endpoint: str, container_id: str) -> ObservedMember | None:
        """The member as it is now; ``None`` when it is gone."""

    def stats(self, endpoint: str, container_id: str) -> Mapping[str, Any]:
        """One resource read of a member (the Docker stats JSON)."""

    def watch_events(self, endpoint: str, handle: EventHandler, stop: threading.Event) -> EventWatch:
        """Follow ``endpoint``'s member events in a thread: ``handle(member id, action)`` for each
        of :data:`MEMBER_EVENTS`, until ``stop`` is set or the watch is closed."""


class DockerEngine:
    """:class:`MemberRuntime` on one or more Docker Engines (one per endpoint), by label."""

    def __init__(self, pool: dockerlib.ClientPool, state_id: str):
        self.pool = pool
        self.state_id = state_id

    def endpoints(self, definitions: DefinitionSet) -> list[str]:
        return endpointslib.of_definitions(definitions, always_local=True)

    def list_members(self, endpoint: str) -> list[ObservedMember]:
        return members.list_members(self.pool.get(endpoint), self.state_id, endpoint)

    def start_member(self, spec: MemberSpec, endpoint: str) -> ObservedMember:
        return members.start_member(self.pool.get(endpoint), spec, endpoint)

    def stop_member(self, endpoint: str, container_id: str, grace: float) -> None:
        members.stop_member(self.pool.get(endpoint), container_id, grace)

    def remove_member(self, endpoint: str, container_id: str) -> None:
        self.pool.get(endpoint).containers.get(container_id).remove(force=True)

    def remove_leftovers(self, endpoint: str, role: str) -> list[str]:
        labels = {dockerlib.ROLE: role, dockerlib.STATE_ID: self.state_id}
        removed = []
        for container in self.pool.get(endpoint).containers.list(
            all=True, filters={"label": dockerlib.label_filter(labels)}
        ):
            container.remove(force=True)
            removed.append(str(container.name))
        return removed

    def inspect_member(self, endpoint: str, container_id: str) -> ObservedMember | None:
        import docker as docker_sdk

        try:
            container = self.pool.get(endpoint).containers.get(container_id)
        except docker_sdk.errors.NotFound:
            return None
        return members.observe_container(container, endpoint)

    def stats(self, endpoint: str, container_id: str) -> Mapping[str, Any]:
        stats = self.pool.get(endpoint).api.stats(container_id, stream=False)
        if not isinstance(stats, Mapping):
            raise TypeError(f"stats of {container_id[:12]}: unexpected answer {type(stats).__name__}")
        return stats

    def watch_events(self, endpoint: str, handle: EventHandler, stop: threading.Event) -> EngineEvents:
        return EngineEvents(
            lambda: self.pool.get(endpoint), self.state_id, handle, stop, endpoint=endpoint
        ).start()


class EngineEvents:
    """The event stream of one Docker endpoint, for this state directory's members, in a thread.

    The stream is re-opened (from the last event's time) when the engine goes away and comes back.
    """

    def __init__(
        self,
        client: Callable[[], Any],
        state_id: str,
        handle: EventHandler,
        stop: threading.Event,
        *,
        endpoint: str = dockerlib.DEFAULT_ENDPOINT,
        retry: float = 2.0,
    ):
        self.client = client
        self.state_id = state_id
        self.handle = handle
        self.stop = stop
        self.endpoint = endpoint
        self.retry = retry
        self._stream: Any = None
        self.thread = threading.Thread(target=self._run, name=f"stratos-events-{endpoint}", daemon=True)

    def start(self) -> EngineEvents:
        self.thread.start()
        return self

    def close(self) -> None:
        self.stop.set()
        stream = self._stream
        if stream is not None:
            try:
                stream.close()
            except Exception:  # noqa: BLE001 - closing is best effort
                pass

    def _run(self) -> None:
        since: int | None = None
        filters = {
            "type": "container",
            "label": dockerlib.label_filter(
                {dockerlib.ROLE: dockerlib.ROLE_MEMBER, dockerlib.STATE_ID: self.state_id}
            ),
        }
        while not self.stop.is_set():
            try:
                self._stream = self.client().events(decode=True, filters=filters, since=since)
                for event in self._stream:
                    if self.stop.is_set():
                        break
                    since = int(event.get("time") or 0) or since
                    action = str(event.get("Action") or event.get("status") or "")
                    attributes = (event.get("Actor") or {}).get("Attributes") or {}
                    member_id = attributes.get(dockerlib.MEMBER_ID)
                    if member_id and action in MEMBER_EVENTS:
                        try:
                            self.handle(member_id, action)
                        except Exception:  # noqa: BLE001 - one event never ends the watch
                            log.exception("reacting to %s of %s failed", action, member_id)
            except Exception as exc:  # noqa: BLE001 - the engine went away: try again
                if not self.stop.is_set():
                    log.debug("events of %s: %s; again in %gs", self.endpoint, exc, self.retry)
            self.stop.wait(self.retry)
