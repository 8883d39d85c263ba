"""Watchers beside the loop, each in its own thread, that react in well under a tick:

- :class:`LbWatch` notices that an LB cluster's HAProxy restarted or reloaded (``show info``: its
  ``Pid`` changed, or its ``Uptime_sec`` went back, or it did not answer and answers again), which
  drops every server added at run time, and puts the agent's members back at once (``add server``),
  instead of leaving every application behind it answering 503 until the next tick;
- the runtime's event watch (:meth:`stratos.drivers.runtime.MemberRuntime.watch_events`; on
  Docker, :class:`stratos.drivers.runtime.EngineEvents`) follows the event stream of this state
  directory's members (filtered by the platform's labels) and hands ``kill``, ``die``, ``oom`` and ``health_status:
  unhealthy`` to the agent, which takes the member out of HAProxy at once (``set server .. state
  maint``) and wakes the loop to replace it.

Both call back into the agent; what to do is the actor's (:meth:`stratos.agent.actor.Actor.check_lbs`,
:meth:`stratos.agent.actor.Actor.member_event`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from stratos.drivers import haproxy
from stratos.errors import StratosError

log = logging.getLogger("stratos.agent.watch")


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
