"""Two watchers beside the loop, each in its own thread, that react in well under a tick:

- :class:`LbWatch` notices that an LB cluster's HAProxy restarted or reloaded (``show info``: its
  ``Pid`` changed, or its ``Uptime_sec`` went back, or it did not answer and answers again), which
  drops every server added at run time, and puts the agent's members back at once (``add server``),
  instead of leaving every application behind it answering 503 until the next tick;
- :class:`EngineEvents` follows the Docker engine's event stream of this state directory's members
  (filtered by the platform's labels) and hands ``kill``, ``die``, ``oom`` and ``health_status:
  unhealthy`` to the agent, which takes the member out of HAProxy at once (``set server .. state
  maint``) and wakes the loop to replace it.

Both call back into the agent; what to do is the agent's (:meth:`stratos.agent.loop.Agent.check_lbs`,
:meth:`stratos.agent.loop.Agent.member_event`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from stratos.drivers import docker as dockerlib
from stratos.drivers import haproxy
from stratos.errors import StratosError

log = logging.getLogger("stratos.agent.watch")

#: Engine events that take a member out of HAProxy at once.
MEMBER_EVENTS = ("kill", "die", "oom", "health_status: unhealthy")


@dataclass(frozen=True)
class Seen:
    pid: str
    uptime: float
    at: float  # monotonic


class LbWatch:
    """Which LB clusters restarted since the last look (see the module doc)."""

    def __init__(self, runtime_for: Callable[[str], haproxy.Runtime], monotonic: Callable[[], float]):
        self.runtime_for = runtime_for
        self.monotonic = monotonic
        self._seen: dict[str, Seen] = {}
        self._lost: set[str] = set()

    def restarted(self, lb_names: Iterable[str]) -> list[str]:
        found = []
        for name in lb_names:
            try:
                info = self.runtime_for(name).info()
            except StratosError:
                if name in self._seen:
                    self._lost.add(name)
                continue
            now = self.monotonic()
            try:
                seen = Seen(info.get("Pid", ""), float(info.get("Uptime_sec", "0")), now)
            except ValueError:
                continue
            last = self._seen.get(name)
            self._seen[name] = seen
            if name in self._lost:
                self._lost.discard(name)
                found.append(name)
            elif last is not None and (
                seen.pid != last.pid or seen.uptime + 2.0 < last.uptime + (now - last.at)
            ):
                found.append(name)
        return found


class EngineEvents:
    """The event stream of one Docker endpoint, for this state directory's members, in a thread."""

    def __init__(
        self,
        client: Callable[[], Any],
        state_id: str,
        handle: Callable[[str, str], None],
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
