"""From the components' typed inputs to the core's definitions, validated by the core.

Pure and Pulumi-free apart from recognising Outputs: every function here runs before a component
registers anything, and every problem it reports is a :class:`stratos.errors.Problem` with the
core's path and rule (``applications/shop.subscriptions[1].max (1): must be >= min (2)``).

A component's args hold the definition's own fields (named as in the core model) plus settings
only Pulumi needs; the latter are the TypedDict's keys that are not fields of the model, so a typo
in a definition field still reaches the core and gets its "did you mean" hint.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pydantic

from pulumi_stratos import inputs
from stratos import builtin, settings
from stratos.documents import RawDocument, dump_definition
from stratos.errors import Problem, ValidationError
from stratos.model import (
    KINDS,
    Cartridge,
    DefinitionModel,
    DeploymentPolicy,
    NetworkPartition,
)
from stratos.operations.definition import read_definition_file, read_definition_text
from stratos.store import StateStore
from stratos.validation import DefinitionSet, build_set, parse_document

#: Args keys of each kind that are Pulumi settings, not fields of the definition.
_PULUMI_ONLY: dict[str, frozenset[str]] = {
    kind: frozenset(args.__annotations__) - frozenset(KINDS[kind][0].model_fields)
    for kind, args in (
        ("NetworkPartition", inputs.NetworkPartitionArgs),
        ("LbCluster", inputs.LbClusterArgs),
        ("Application", inputs.ApplicationArgs),
        ("AutoscalingPolicy", inputs.AutoscalingPolicy),
        ("DeploymentPolicy", inputs.DeploymentPolicy),
    )
}


def source_label(component: str, name: str, where: str = "") -> str:
    """How problems name the input they come from, in place of a file name."""
    return f"{component} '{name}'" + (f" {where}" if where else "")


# --------------------------------------------------------------------------- plain values


def _is_deferred(value: Any) -> bool:
    return isinstance(value, pulumi.Output | pulumi.Resource) or inspect.isawaitable(value)


def deferred_problems(value: Any, source: str, path: str) -> list[Problem]:
    """Definition fields must be plain: the core validates them before anything is registered."""
    if _is_deferred(value):
        return [
            Problem(
                source,
                path,
                "must be a plain value known when the program runs (definitions are validated "
                "before any resource is registered), not an Output",
                has_value=False,
            )
        ]
    if isinstance(value, Mapping):
        return [p for k, v in value.items() for p in deferred_problems(v, source, f"{path}.{k}")]
    if isinstance(value, list | tuple):
        return [p for i, v in enumerate(value) for p in deferred_problems(v, source, f"{path}[{i}]")]
    return []


def _mapping(value: Any) -> dict[str, Any]:
    """A typed value as a mapping; a core model instance (``stratos.model.*``) is accepted too."""
    if isinstance(value, pydantic.BaseModel):
        return value.model_dump(mode="json", exclude_defaults=True)
    return dict(value)


# --------------------------------------------------------------------------- documents


def definition_document(kind: str, args: Any, source: str, default_name: str | None = None) -> RawDocument:
    """The raw definition of ``kind`` held by ``args`` (Pulumi-only keys dropped, kind added)."""
    data = {k: v for k, v in _mapping(args).items() if k not in _PULUMI_ONLY.get(kind, ())}
    if kind == "LbCluster" and "network_partition" in data:
        data["network_partition"] = _name_of(data["network_partition"])
    if default_name is not None:
        data.setdefault("name", default_name)
    data.pop("kind", None)
    return RawDocument(source, {"kind": kind, **data})


def _name_of(value: Any) -> Any:
    if isinstance(value, Mapping | pydantic.BaseModel):
        return _mapping(value).get("name")
    return value


def parse(doc: RawDocument) -> DefinitionModel:
    """One definition, field rules only; raises the core's ValidationError."""
    problems = deferred_problems(doc.data, doc.source, _prefix(doc))
    if problems:
        raise ValidationError(problems)
    spec, problems = parse_document(doc)
    if problems:
        raise ValidationError(problems)
    assert spec is not None
    return spec


def validate(docs: Iterable[RawDocument]) -> DefinitionSet:
    """A set of definitions, every rule of the core (references, capacities, cycles, ports)."""
    docs = list(docs)
    problems = [p for doc in docs for p in deferred_problems(doc.data, doc.source, _prefix(doc))]
    if problems:
        raise ValidationError(problems)
    return build_set(_unique(docs))


def _prefix(doc: RawDocument) -> str:
    data = doc.data if isinstance(doc.data, Mapping) else {}
    plural = KINDS.get(str(data.get("kind")), (None, "definitions"))[1]
    return f"{plural}/{data.get('name') or '?'}"


def _unique(docs: list[RawDocument]) -> list[RawDocument]:
    """A network partition given twice with the same value (its LB clusters nest it) counts once;
    any other repetition is left to the core, which reports it."""
    seen: set[str] = set()
    out = []
    for doc in docs:
        if isinstance(doc.data, Mapping) and doc.data.get("kind") == "NetworkPartition":
            key = json.dumps(doc.data, sort_keys=True, default=str)
            if key in seen:
                continue
            seen.add(key)
        out.append(doc)
    return out


# --------------------------------------------------------------------------- cartridges


@dataclass(frozen=True)
class CartridgeSource:
    """A cartridge definition as given, and the directory its ``src`` files are relative to."""

    document: RawDocument
    source_dir: Path


def cartridge_source(args: Mapping[str, Any], source: str) -> CartridgeSource:
    """Read the definition a CartridgeArgs names; raises ValidationError naming the arg."""
    given = [key for key in ("builtin", "definition_file", "definition_yaml") if args.get(key) is not None]
    if len(given) != 1:
        raise ValidationError(
            [
                Problem(
                    source,
                    "cartridge",
                    "exactly one of 'builtin', 'definition_file' or 'definition_yaml' must be set",
                    ", ".join(given) or "(none)",
                )
            ]
        )
    problems = [
        p
        for key in ("image_ref", "base_image", *given)
        for p in deferred_problems(args.get(key), source, key)
    ]
    if problems:
        raise ValidationError(problems)
    key = given[0]
    if key == "builtin":
        try:
            path = builtin.cartridge_file(str(args["builtin"]))
        except FileNotFoundError as exc:
            known = ", ".join(p.name for p in builtin.cartridge_dirs())
            rule = f"must name a built-in cartridge ({known})"
            raise ValidationError([Problem(source, "builtin", rule, args["builtin"])]) from exc
        where, source_dir = str(path), path.parent
        data = read_definition_file(where, key)
    elif key == "definition_file":
        path = Path(str(args["definition_file"]))
        if not path.is_file():
            raise ValidationError([Problem(source, "definition_file", "does not exist", str(path))])
        where, source_dir = str(path), path.parent
        data = read_definition_file(where, key)
    else:
        where = source
        data = read_definition_text(str(args["definition_yaml"]), where, key)
        source_dir = Path(str(args.get("source_dir") or Path.cwd()))
    data.setdefault("kind", "Cartridge")
    if args.get("image_ref") is not None:
        data["image"] = {"ref": args["image_ref"]}
    return CartridgeSource(RawDocument(where, data), source_dir)


def cartridge_documents(cartridges: Iterable[Mapping[str, Any]], source: str) -> list[RawDocument]:
    """The documents of several CartridgeArgs; every problem of every one raised together."""
    docs, problems = [], []
    for i, args in enumerate(cartridges):
        try:
            docs.append(cartridge_source(args, f"{source} cartridges[{i}]").document)
        except ValidationError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ValidationError(problems)
    return docs


def served_checks(cartridges: Iterable[Cartridge]) -> dict[int, str]:
    """proxy_port -> http health path of the cartridges served behind a load balancer."""
    checks: dict[int, str] = {}
    for cartridge in cartridges:
        path = cartridge.health_check.http if cartridge.health_check is not None else None
        for port in cartridge.ports:
            if port.proxy_port is not None and path:
                checks.setdefault(port.proxy_port, path)
    return checks


# --------------------------------------------------------------------------- an application's set


def application_documents(args: Mapping[str, Any], name: str, source: str) -> list[RawDocument]:
    """Every definition an Application hands to its agent, as documents (not yet validated)."""
    docs = [definition_document("Application", args, source, default_name=name)]
    docs += cartridge_documents(args.get("cartridges") or [], source)
    for i, lb in enumerate(args.get("lb_clusters") or []):
        where = f"{source} lb_clusters[{i}]"
        docs.append(definition_document("LbCluster", lb, where))
        nested = _mapping(lb).get("network_partition")
        if nested is not None and isinstance(nested, Mapping | pydantic.BaseModel):
            docs.append(definition_document("NetworkPartition", nested, f"{where}.network_partition"))
    for i, np in enumerate(args.get("network_partitions") or []):
        docs.append(definition_document("NetworkPartition", np, f"{source} network_partitions[{i}]"))
    for field, kind in (
        ("deployment_policies", "DeploymentPolicy"),
        ("autoscaling_policies", "AutoscalingPolicy"),
    ):
        for i, value in enumerate(args.get(field) or []):
            docs.append(definition_document(kind, value, f"{source} {field}[{i}]"))
    return docs


def definition_files(definitions: DefinitionSet, state_dir: str) -> dict[str, str]:
    """Path on the agent's host -> content: exactly what ``StateStore.apply`` writes for each one."""
    store = StateStore(state_dir)
    return {
        str(store.definition_path(spec.kind, spec.name)): dump_definition(spec)  # type: ignore[attr-defined]
        for spec in sorted(definitions.all(), key=lambda s: (KINDS[s.kind][1], s.name))  # type: ignore[attr-defined]
    }


# --------------------------------------------------------------------------- placement


def first_endpoint(definitions: DefinitionSet, policy: DeploymentPolicy) -> tuple[NetworkPartition, str]:
    """The network partition and Docker endpoint of a deployment policy's first partition."""
    ref = policy.network_partitions[0]
    np = definitions.network_partitions[ref.name]
    partitions = {p.name: p for p in np.partitions}
    return np, partitions[ref.partitions[0].name].endpoint


def state_dir(value: str | None) -> str:
    """The host's state directory: given, else the core's default (never this machine's env)."""
    return value or settings.DEFAULT_STATE_DIR
