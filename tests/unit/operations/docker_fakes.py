"""Fakes of the Docker seams the operations use: a client pool, containers and volumes."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import docker


def _matches(labels: dict[str, str], wanted: list[str]) -> bool:
    pairs = (item.split("=", 1) if "=" in item else (item, None) for item in wanted)
    return all(key in labels and (value is None or labels[key] == value) for key, value in pairs)


@dataclass
class FakeContainer:
    name: str
    labels: dict[str, str] = field(default_factory=dict)
    status: str = "running"
    id: str = "c0ffee"

    @property
    def attrs(self) -> dict[str, Any]:
        return {
            "Id": self.id,
            "Name": f"/{self.name}",
            "Config": {"Labels": self.labels, "Image": "stratos/cartridge-haproxy"},
            "State": {"Status": self.status},
            "HostConfig": {},
            "NetworkSettings": {"Networks": {}},
        }


@dataclass
class FakeVolume:
    name: str
    labels: dict[str, str]
    removed: list[str]

    def remove(self, force: bool = False) -> None:
        self.removed.append(self.name)


class FakeContainers:
    def __init__(self) -> None:
        self.items: list[FakeContainer] = []

    def list(self, all: bool = False, filters: dict[str, Any] | None = None) -> list[FakeContainer]:
        filters = filters or {}
        found = list(self.items)
        if "name" in filters:
            found = [c for c in found if re.search(filters["name"], f"/{c.name}")]
        if "label" in filters:
            found = [c for c in found if _matches(c.labels, filters["label"])]
        return found

    def get(self, name: str) -> FakeContainer:
        for container in self.items:
            if container.name == name:
                return container
        raise docker.errors.NotFound(name)


class FakeVolumes:
    def __init__(self) -> None:
        self.items: list[FakeVolume] = []
        self.removed: list[str] = []

    def add(self, name: str, labels: dict[str, str]) -> None:
        self.items.append(FakeVolume(name, labels, self.removed))

    def list(self, filters: dict[str, Any] | None = None) -> list[FakeVolume]:
        wanted = (filters or {}).get("label", [])
        return [v for v in self.items if v.name not in self.removed and _matches(v.labels, wanted)]

    def get(self, name: str) -> FakeVolume:
        for volume in self.list():
            if volume.name == name:
                return volume
        raise docker.errors.NotFound(name)


class FakeClient:
    def __init__(self) -> None:
        self.containers = FakeContainers()
        self.volumes = FakeVolumes()


class FakePool:
    """One fake Docker Engine behind every endpoint; ``asked`` lists the endpoints used."""

    def __init__(self) -> None:
        self.client = FakeClient()
        self.asked: list[str] = []

    def get(self, endpoint: str = "unix:///var/run/docker.sock") -> FakeClient:
        self.asked.append(endpoint)
        return self.client

    def close(self) -> None:
        pass
