"""The agent's knobs, shared by the loop and the parts it drives."""

from __future__ import annotations

from dataclasses import dataclass

from stratos.drivers import members


@dataclass
class AgentConfig:
    """Knobs of the loop. Times are seconds."""

    interval: float = 5.0
    dry_run: bool = False
    #: How long a removed member may keep sessions in HAProxy before it is deleted anyway.
    drain_timeout: float = 30.0
    #: Upper bound of the wait for new members to become healthy within one tick.
    start_wait_cap: float = 120.0
    #: How often new members are probed while waiting for them.
    start_poll: float = 0.25
    stop_grace: float = members.STOP_GRACE
    probe_workers: int = 8
    #: Members drained (and removed) at once.
    drain_workers: int = 8
    #: React to the runtime's member events (kill, die, oom, unhealthy) by taking the member out of
    #: HAProxy at once (``False``: the tick alone notices, as before; the kill benchmark's baseline).
    watch_events: bool = True
    #: How often each LB cluster's HAProxy is asked whether it restarted (0: never between ticks).
    lb_watch_interval: float = 0.5
    #: Resource reads at once, and how old a read may be to count.
    stats_workers: int = 4
    stats_max_age: float = 10.0
    #: How often each subscription's figures are kept in the samples table, and for how long.
    sample_interval: float = 60.0
    sample_retention: float = 7 * 86400.0
