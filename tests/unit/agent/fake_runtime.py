"""A :class:`~stratos.drivers.runtime.MemberRuntime` held in memory, for the agent's unit tests."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from stratos.drivers import docker as dockerlib
from stratos.drivers.members import MemberSpec, ObservedMember
from stratos.drivers.runtime import EventHandler
from stratos.errors import DriverError
from stratos.validation import DefinitionSet


class FakeWatch:
    def __init__(self, endpoint: str, handle: EventHandler) -> None:
        self.endpoint = endpoint
        self.handle = handle
        self.closed = False

    def close(self) -> None:
        self.closed = True


class FakeMemberRuntime:
    """Members as a dict; ``down`` endpoints raise as an unreachable engine does."""

    def __init__(self) -> None:
        self.members: dict[str, ObservedMember] = {}
        self.specs: dict[str, MemberSpec] = {}
        self.down: set[str] = set()
        self.calls: list[str] = []
        self.watches: list[FakeWatch] = []
        self._addresses = itertools.count(10)

    def endpoints(self, definitions: DefinitionSet) -> list[str]:
        found = [dockerlib.DEFAULT_ENDPOINT]
        for np in definitions.network_partitions.values():
            found.extend(p.endpoint for p in np.partitions)
        return list(dict.fromkeys(found))

    def list_members(self, endpoint: str) -> list[ObservedMember]:
        if endpoint in self.down:
            raise DriverError(f"cannot reach {endpoint}")
        return [m for m in self.members.values() if m.endpoint == endpoint]

    def start_member(self, spec: MemberSpec, endpoint: str) -> ObservedMember:
        self.calls.append(f"start {spec.member_id}")
        labels = spec.labels
        member = ObservedMember(
            member_id=spec.member_id,
            container_id=f"c-{spec.member_id}",
            name=spec.name,
            application=labels[dockerlib.APPLICATION],
            subscription=labels[dockerlib.SUBSCRIPTION],
            cartridge=labels[dockerlib.CARTRIDGE],
            network_partition=labels[dockerlib.NETWORK_PARTITION],
            partition=labels[dockerlib.PARTITION],
            revision=labels[dockerlib.REVISION],
            status="running",
            started_at=1_000_000.0,
            address=f"10.1.0.{next(self._addresses)}",
            endpoint=endpoint,
        )
        self.members[member.container_id] = member
        self.specs[member.container_id] = spec
        return member

    def stop_member(self, endpoint: str, container_id: str, grace: float) -> None:
        self.calls.append(f"stop {container_id}")
        self.members.pop(container_id, None)

    def remove_member(self, endpoint: str, container_id: str) -> None:
        self.calls.append(f"remove {container_id}")
        self.members.pop(container_id, None)

    def remove_leftovers(self, endpoint: str, role: str) -> list[str]:
        return []

    def inspect_member(self, endpoint: str, container_id: str) -> ObservedMember | None:
        return self.members.get(container_id)

    def stats(self, endpoint: str, container_id: str) -> Mapping[str, Any]:
        return {}

    def watch_events(self, endpoint: str, handle: EventHandler, stop: threading.Event) -> FakeWatch:
        watch = FakeWatch(endpoint, handle)
        self.watches.append(watch)
        return watch

    # ------------------------------------------------------------------ test helpers
    def of(self, alias: str) -> list[ObservedMember]:
        return sorted(
            (m for m in self.members.values() if m.subscription == alias), key=lambda m: m.member_id
        )

    def exit(self, member: ObservedMember) -> None:
        self.members[member.container_id] = replace(member, status="exited", exit_code=137)
