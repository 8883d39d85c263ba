"""A recording Pulumi mock: every registration with its type, name, parent, options and inputs.

``run(program)`` executes ``program`` under ``pulumi.runtime.set_mocks`` (an update, not a preview),
waits for every registration and returns the :class:`Recording` plus the program's return value
with its Outputs resolved.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi.runtime.mocks import MockMonitor

STACK = "pulumi:pulumi:Stack"


@dataclass
class Registered:
    """One resource as the engine saw it."""

    type: str
    name: str
    urn: str
    parent: str
    inputs: dict[str, Any]
    custom: bool
    provider: str = ""
    protect: bool = False
    retain_on_delete: bool = False
    dependencies: list[str] = field(default_factory=list)

    @property
    def parent_name(self) -> str:
        return self.parent.rsplit("::", 1)[-1] if self.parent else ""

    @property
    def provider_name(self) -> str:
        # A provider reference is "<urn>::<id>"; the name is the last part of the urn.
        return self.provider.rsplit("::", 2)[-2] if self.provider else ""


@dataclass
class Call:
    token: str
    args: dict[str, Any]


class RecordingMocks(pulumi.runtime.Mocks):
    """Outputs echo the inputs, ids are "<name>-id"; a few outputs a provider computes are faked."""

    def __init__(self) -> None:
        self.calls: list[Call] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        outputs = dict(args.inputs)
        if args.typ == "docker:index/image:Image":
            outputs["repoDigest"] = f"sha256:{args.name}"
        if args.typ == "docker:index/remoteImage:RemoteImage":
            outputs["imageId"] = f"sha256:{args.name}"
            outputs["repoDigest"] = f"{args.inputs.get('name')}@sha256:{args.name}"
        if args.typ == "openstack:networking/floatingIp:FloatingIp":
            outputs["address"] = f"203.0.113.{10 + sum(map(ord, args.name)) % 200}"
        return f"{args.name}-id", outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:
        self.calls.append(Call(args.token, dict(args.args)))
        if args.token == "openstack:networking/getNetwork:getNetwork":
            return {"id": f"{args.args.get('name')}-net-id", "name": args.args.get("name")}
        return {}


class RecordingMonitor(MockMonitor):
    """The mock monitor, keeping the registration requests (parents and options are only there)."""

    def __init__(self, mocks: RecordingMocks) -> None:
        super().__init__(mocks)
        self.registered: list[Registered] = []

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (the gRPC method's name)
        response = super().RegisterResource(request)
        if request.type != STACK:
            from pulumi.runtime import rpc

            inputs = rpc.deserialize_properties(request.object)
            self.registered.append(
                Registered(
                    type=request.type,
                    name=request.name,
                    urn=response.urn,
                    parent=request.parent,
                    inputs=copy.deepcopy(dict(inputs)),
                    custom=request.custom,
                    provider=request.provider,
                    protect=request.protect,
                    retain_on_delete=request.retainOnDelete,
                    dependencies=list(request.dependencies),
                )
            )
        return response


@dataclass
class Recording:
    resources: list[Registered]
    calls: list[Call]
    value: Any = None

    def named(self, name: str) -> Registered:
        found = [r for r in self.resources if r.name == name]
        assert len(found) == 1, f"{name}: {len(found)} registrations among {self.names()}"
        return found[0]

    def of_type(self, type_: str) -> list[Registered]:
        return [r for r in self.resources if r.type == type_]

    def names(self) -> list[str]:
        return [r.name for r in self.resources]

    def children(self, parent: str) -> list[Registered]:
        return [r for r in self.resources if r.parent_name == parent]


def run(program: Callable[[], Any], project: str = "stratos-test", stack: str = "test") -> Recording:
    """Run ``program`` under the mocks; return what was registered and its resolved return value."""
    mocks = RecordingMocks()
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=False, monitor=monitor)
    result: dict[str, Any] = {}

    @pulumi.runtime.test
    def body() -> Any:
        value = program()
        return pulumi.Output.from_input(value).apply(lambda resolved: result.setdefault("value", resolved))

    body()
    return Recording(monitor.registered, mocks.calls, result.get("value"))


def registrations_during(program: Callable[[], Any]) -> tuple[list[Registered], BaseException | None]:
    """Run ``program`` under the mocks, which may raise; return every registration (after waiting
    for all of them) and the error."""
    mocks = RecordingMocks()
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project="stratos-test", stack="test", preview=False, monitor=monitor)
    caught: list[BaseException] = []

    @pulumi.runtime.test
    def body() -> None:
        try:
            program()
        except Exception as exc:  # noqa: BLE001 (the caller asserts on it)
            caught.append(exc)

    body()
    return monitor.registered, (caught[0] if caught else None)
