"""Loading and validating a whole set of definitions in one pass.

Every problem names the file, the path to the field, the rule and the offending value, e.g.
``app.yml: applications/shop/subscriptions[1].max (0): must be >= min (2)``.
All problems are collected and raised together as one :class:`~stratos.errors.ValidationError`.
"""

from __future__ import annotations

import difflib
import re
import reprlib
import typing
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pydantic

from stratos import model, settings
from stratos.documents import MAX_DEPTH, RawDocument, read_documents
from stratos.errors import Problem, ValidationError
from stratos.model import KINDS, DefinitionModel

_PATH_NAME = re.compile(r"[A-Za-z0-9_.-]{1,63}")


@dataclass
class DefinitionSet:
    """A validated set of definitions, by kind and name, with the file each came from."""

    cartridges: dict[str, model.Cartridge] = field(default_factory=dict)
    network_partitions: dict[str, model.NetworkPartition] = field(default_factory=dict)
    deployment_policies: dict[str, model.DeploymentPolicy] = field(default_factory=dict)
    autoscaling_policies: dict[str, model.AutoscalingPolicy] = field(default_factory=dict)
    lb_clusters: dict[str, model.LbCluster] = field(default_factory=dict)
    applications: dict[str, model.Application] = field(default_factory=dict)
    sources: dict[tuple[str, str], str] = field(default_factory=dict)

    def by_plural(self, plural: str) -> dict[str, Any]:
        return typing.cast(dict[str, Any], getattr(self, plural))

    def all(self) -> Iterator[DefinitionModel]:
        for _, plural in KINDS.values():
            yield from self.by_plural(plural).values()

    def add(self, definition: DefinitionModel, source: str = "") -> None:
        plural = KINDS[definition.kind][1]  # type: ignore[attr-defined]
        self.by_plural(plural)[definition.name] = definition  # type: ignore[attr-defined]
        self.sources[(plural, definition.name)] = source  # type: ignore[attr-defined]

    def source(self, plural: str, name: str) -> str:
        return self.sources.get((plural, name), "")


# --------------------------------------------------------------------------- parsing


def parse_document(doc: RawDocument) -> tuple[DefinitionModel | None, list[Problem]]:
    """Turn one raw document into a typed definition, or into problems."""
    data = doc.data
    if not isinstance(data, Mapping):
        return None, [
            Problem(
                doc.source, f"document {doc.index}", "must be a mapping with 'kind' and 'name'", _short(data)
            )
        ]
    kind = data.get("kind")
    if not isinstance(kind, str) or kind not in KINDS:
        hint = _hint(kind, KINDS) if isinstance(kind, str) else ""
        return None, [
            Problem(
                doc.source,
                f"document {doc.index}.kind",
                f"must be one of {', '.join(KINDS)}{hint}",
                _short(kind),
            )
        ]
    kind_model, plural = KINDS[kind]
    name = data.get("name")
    shown = name if isinstance(name, str) and _PATH_NAME.fullmatch(name) else "?"
    prefix = f"{plural}/{shown}"
    try:
        return kind_model.model_validate(dict(data)), []
    except pydantic.ValidationError as exc:
        return None, [_problem_from_pydantic(doc.source, prefix, kind_model, err) for err in exc.errors()]
    except RecursionError:
        return None, [Problem(doc.source, prefix, f"nests deeper than {MAX_DEPTH} levels", has_value=False)]


def parse_definition(data: Mapping[str, Any], source: str = "") -> DefinitionModel:
    """Parse one definition mapping, raising :class:`ValidationError` with every problem."""
    spec, problems = parse_document(RawDocument(source, data))
    if problems:
        raise ValidationError(problems)
    assert spec is not None
    return spec


def load(paths: Iterable[str | Path]) -> DefinitionSet:
    """Read, parse and cross-validate definitions; raise :class:`ValidationError` listing every problem.

    Files read from disk also have their image file sources checked (:func:`check_sources`).
    """
    docs, problems = read_documents(paths)
    return build_set(docs, problems, check_files=True)


def build_set(
    docs: Iterable[RawDocument], problems: list[Problem] | None = None, *, check_files: bool = False
) -> DefinitionSet:
    problems = list(problems or [])
    result = DefinitionSet()
    for doc in docs:
        spec, found = parse_document(doc)
        problems.extend(found)
        if spec is None:
            continue
        plural = KINDS[spec.kind][1]  # type: ignore[attr-defined]
        name = spec.name  # type: ignore[attr-defined]
        if name in result.by_plural(plural):
            problems.append(
                Problem(
                    doc.source,
                    f"{plural}/{name}.name",
                    f"must be unique within its kind; also defined in {result.source(plural, name)}",
                    name,
                )
            )
            continue
        result.add(spec, doc.source)
    problems.extend(check_references(result))
    if check_files:
        problems.extend(check_sources(result))
    if problems:
        raise ValidationError(problems)
    return result


# --------------------------------------------------------------------------- pydantic errors


def _problem_from_pydantic(
    source: str, prefix: str, kind_model: type[DefinitionModel], err: Mapping[str, Any]
) -> Problem:
    loc = tuple(err.get("loc", ()))
    kind = err.get("type", "")
    # Model-level validators report at the model's own location; pydantic adds no field there.
    path = prefix + _format_loc(loc)
    value = err.get("input")
    if kind == "extra_forbidden":
        owner = _model_at(kind_model, loc[:-1])
        known = list(owner.model_fields) if owner else []
        return Problem(source, path, "is not a known field" + _hint(str(loc[-1]), known), _short(value))
    if kind == "missing":
        return Problem(source, path, "is required", has_value=False)
    ctx = err.get("ctx") or {}
    rule = _RULES.get(kind)
    if rule is not None:
        text = rule.format(**{k: _plain(v) for k, v in ctx.items()})
    else:
        text = str(err.get("msg", "is invalid"))
        text = text.removeprefix("Value error, ").removeprefix("Assertion failed, ")
        text = text[0].lower() + text[1:] if text else "is invalid"
    if isinstance(value, Mapping) and kind == "value_error":
        # A model-level rule: the value is the whole mapping; do not dump it.
        return Problem(source, path, text, has_value=False)
    return Problem(source, path, text, _short(value))


_RULES = {
    "greater_than": "must be > {gt}",
    "greater_than_equal": "must be >= {ge}",
    "less_than": "must be < {lt}",
    "less_than_equal": "must be <= {le}",
    "literal_error": "must be one of {expected}",
    "int_parsing": "must be an integer",
    "finite_number": "must be a finite number (not .inf or .nan)",
    "string_too_long": "must be at most {max_length} characters",
    "string_too_short": "must be at least {min_length} characters",
    "int_type": "must be an integer (a string such as '1' is not one: write 1)",
    "int_from_float": "must be an integer",
    "float_parsing": "must be a number",
    "float_type": "must be a number (a string such as '1' is not one: write 1)",
    "string_type": "must be a string",
    "bool_parsing": "must be true or false",
    "bool_type": "must be true or false (not a string or a number)",
    "list_type": "must be a list",
    "dict_type": "must be a mapping",
    "model_type": "must be a mapping",
    "model_attributes_type": "must be a mapping",
    "too_short": "must have at least {min_length} item(s)",
    "too_long": "must have at most {max_length} item(s)",
    "string_pattern_mismatch": "must match {pattern}",
    "ip_v4_network": "must be an IPv4 network such as 10.10.0.0/24",
}


def _plain(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _format_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, str) and part.startswith(("function-", "union[", "nullable[")):
            continue
        else:
            out += f".{part}"
    return out


def _model_at(kind_model: type[DefinitionModel], loc: tuple[Any, ...]) -> type[pydantic.BaseModel] | None:
    """Follow a pydantic error location through the model's annotations to the owning model."""
    current: Any = kind_model
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, pydantic.BaseModel)):
            return None
        info = current.model_fields.get(part)
        if info is None:
            continue
        current = _inner_model(info.annotation)
    return current if isinstance(current, type) and issubclass(current, pydantic.BaseModel) else None


def _inner_model(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def _hint(word: str, candidates: Iterable[str]) -> str:
    if len(word) > 100:
        return ""
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 60
_REPR.maxlevel = 3


def _short(value: Any) -> Any:
    """A value fit for a message: small values as they are, others as a bounded repr.

    reprlib stops after a few items and levels, so even a value of billions of (shared) nodes
    costs nothing to show.
    """
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str) and len(value) <= 60:
        return value
    return _Shown(_REPR.repr(value))


class _Shown(str):
    """Text already made to show a value: printed as it is, without quotes."""

    def __repr__(self) -> str:
        return str(self)


# --------------------------------------------------------------------------- image file sources


def source_file(source_dir: Path, src: str) -> Path:
    """The file an image file's ``src`` names, symbolic links resolved.

    Raises ``ValueError`` (the rule) when it resolves outside the definition's directory (and
    outside the ``STRATOS_FILES_ROOT`` setting's directory, when set) or is not a regular file.
    """
    roots = [source_dir.resolve()]
    extra = settings.files_root()
    if extra is not None:
        roots.append(extra.resolve())
    candidate = Path(src) if Path(src).is_absolute() else source_dir / src
    resolved = candidate.resolve()
    if not any(resolved.is_relative_to(root) for root in roots):
        raise ValueError(
            "must stay inside the definition's directory"
            + (" or STRATOS_FILES_ROOT" if extra is not None else "")
            + f" (it resolves to {resolved})"
        )
    if not resolved.is_file():
        raise ValueError(f"must name an existing regular file (no such file {candidate})")
    return resolved


def check_sources(ds: DefinitionSet) -> list[Problem]:
    """Image file sources of cartridges loaded from files: inside their directory, existing files."""
    problems = []
    for name, cartridge in ds.cartridges.items():
        source = ds.source("cartridges", name)
        build = cartridge.image.build
        if build is None or not source or not Path(source).is_file():
            continue
        for i, f in enumerate(build.files):
            if f.src is None:
                continue
            try:
                source_file(Path(source).parent, f.src)
            except ValueError as exc:
                problems.append(
                    Problem(source, f"cartridges/{name}.image.build.files[{i}].src", str(exc), f.src)
                )
    return problems


# --------------------------------------------------------------------------- cross-references


def check_references(ds: DefinitionSet) -> list[Problem]:
    """Rules that need more than one definition: references, cycles, capacities, port clashes."""
    problems: list[Problem] = []
    for lb in ds.lb_clusters.values():
        problems.extend(_check_lb(ds, lb))
    for dp in ds.deployment_policies.values():
        problems.extend(_check_deployment(ds, dp))
    for app in ds.applications.values():
        problems.extend(_check_application(ds, app))
    problems.extend(_check_proxy_ports(ds))
    return problems


#: What a reference to each kind must name, for the error.
_WHAT = {
    "cartridges": "cartridge",
    "network_partitions": "network partition",
    "deployment_policies": "deployment policy",
    "autoscaling_policies": "autoscaling policy",
    "lb_clusters": "LB cluster",
}


def _ref_problem(
    ds: DefinitionSet, plural: str, owner: str, path: str, target_plural: str, ref: str
) -> Problem:
    hint = _hint(ref, ds.by_plural(target_plural))
    rule = f"must name a defined {_WHAT[target_plural]}{hint}"
    return Problem(ds.source(plural, owner), f"{plural}/{owner}.{path}", rule, ref)


def _check_lb(ds: DefinitionSet, lb: model.LbCluster) -> list[Problem]:
    problems = []
    src = ds.source("lb_clusters", lb.name)
    missing = partial(_ref_problem, ds, "lb_clusters", lb.name)
    if lb.network_partition not in ds.network_partitions:
        problems.append(missing("network_partition", "network_partitions", lb.network_partition))
    seen: dict[int, int] = {}
    for i, listener in enumerate(lb.listeners):
        if listener.proxy_port in seen:
            problems.append(
                Problem(
                    src,
                    f"lb_clusters/{lb.name}.listeners[{i}].proxy_port",
                    f"must be unique within the LB cluster; listeners[{seen[listener.proxy_port]}] "
                    "uses it too",
                    listener.proxy_port,
                )
            )
        else:
            seen[listener.proxy_port] = i
    if lb.stats.enabled and lb.stats.port in seen:
        problems.append(
            Problem(
                src,
                f"lb_clusters/{lb.name}.stats.port",
                "must differ from every listener's proxy_port",
                lb.stats.port,
            )
        )
    return problems


def _check_deployment(ds: DefinitionSet, dp: model.DeploymentPolicy) -> list[Problem]:
    problems = []
    src = ds.source("deployment_policies", dp.name)
    missing = partial(_ref_problem, ds, "deployment_policies", dp.name)
    seen_np: set[str] = set()
    for i, npref in enumerate(dp.network_partitions):
        base = f"deployment_policies/{dp.name}.network_partitions[{i}]"
        if npref.name in seen_np:
            problems.append(Problem(src, f"{base}.name", "must appear once in the policy", npref.name))
        seen_np.add(npref.name)
        np = ds.network_partitions.get(npref.name)
        if np is None:
            problems.append(missing(f"network_partitions[{i}].name", "network_partitions", npref.name))
            continue
        names = [p.name for p in np.partitions]
        for j, pref in enumerate(npref.partitions):
            if pref.name not in names:
                problems.append(
                    Problem(
                        src,
                        f"{base}.partitions[{j}].name",
                        f"must name a partition of network partition '{np.name}'{_hint(pref.name, names)}",
                        pref.name,
                    )
                )
    return problems


def _check_application(ds: DefinitionSet, app: model.Application) -> list[Problem]:
    problems: list[Problem] = []
    src = ds.source("applications", app.name)
    missing = partial(_ref_problem, ds, "applications", app.name)
    base = f"applications/{app.name}"
    aliases: dict[str, int] = {}
    for i, sub in enumerate(app.subscriptions):
        at = f"{base}.subscriptions[{i}]"
        if sub.alias in aliases:
            problems.append(
                Problem(
                    src,
                    f"{at}.alias",
                    f"must be unique; subscriptions[{aliases[sub.alias]}] uses it too",
                    sub.alias,
                )
            )
        else:
            aliases[sub.alias] = i
        if sub.max < sub.min:
            problems.append(Problem(src, f"{at}.max", f"must be >= min ({sub.min})", sub.max))
        cartridge = ds.cartridges.get(sub.cartridge)
        if cartridge is None:
            problems.append(missing(f"subscriptions[{i}].cartridge", "cartridges", sub.cartridge))
        if sub.autoscaling_policy is not None and sub.autoscaling_policy not in ds.autoscaling_policies:
            problems.append(
                missing(
                    f"subscriptions[{i}].autoscaling_policy", "autoscaling_policies", sub.autoscaling_policy
                )
            )
        dp = ds.deployment_policies.get(sub.deployment_policy)
        if dp is None:
            problems.append(
                missing(f"subscriptions[{i}].deployment_policy", "deployment_policies", sub.deployment_policy)
            )
        elif dp.capacity() < sub.min:
            problems.append(
                Problem(
                    src,
                    f"{at}.min",
                    f"must fit the partitions of deployment policy "
                    f"'{dp.name}' (their max adds up to {dp.capacity()})",
                    sub.min,
                )
            )
        if sub.lb_cluster is not None:
            lb = ds.lb_clusters.get(sub.lb_cluster)
            if lb is None:
                problems.append(missing(f"subscriptions[{i}].lb_cluster", "lb_clusters", sub.lb_cluster))
            elif dp is not None and lb.network_partition not in {n.name for n in dp.network_partitions}:
                problems.append(
                    Problem(
                        src,
                        f"{at}.lb_cluster",
                        f"must be in a network partition of deployment "
                        f"policy '{dp.name}' (it is in '{lb.network_partition}')",
                        sub.lb_cluster,
                    )
                )
            elif cartridge is not None and lb is not None:
                listened = {(li.proxy_port, li.port) for li in lb.listeners}
                for port in cartridge.ports:
                    if port.proxy_port is not None and (port.proxy_port, port.port) not in listened:
                        problems.append(
                            Problem(
                                src,
                                f"{at}.lb_cluster",
                                f"must have a listener proxy_port {port.proxy_port} -> port "
                                f"{port.port} for cartridge '{cartridge.name}' port "
                                f"'{port.name}'",
                                sub.lb_cluster,
                            )
                        )
        if (
            cartridge is not None
            and cartridge.category == "data"
            and cartridge.persistence.volumes
            and not cartridge.scales
            and sub.max != 1
        ):
            problems.append(
                Problem(
                    src,
                    f"{at}.max",
                    f"must be 1 for data cartridge '{cartridge.name}' with "
                    "persistence (set scales: true on the cartridge if it replicates)",
                    sub.max,
                )
            )
    for i, sub in enumerate(app.subscriptions):
        for j, link in enumerate(sub.links):
            if link not in aliases:
                problems.append(
                    Problem(
                        src,
                        f"{base}.subscriptions[{i}].links[{j}]",
                        f"must name a subscription alias of the application{_hint(link, aliases)}",
                        link,
                    )
                )
            elif link == sub.alias:
                problems.append(
                    Problem(src, f"{base}.subscriptions[{i}].links[{j}]", "must not link to itself", link)
                )
    link_edges = [
        (sub.alias, link)
        for sub in app.subscriptions
        for link in sub.links
        if link in aliases and link != sub.alias
    ]
    cycle = find_cycle(link_edges)
    if cycle:
        problems.append(
            Problem(src, f"{base}.subscriptions.links", "must not form a cycle", " -> ".join(cycle))
        )
    for group_name in ("startup_order", "scaling_dependents"):
        groups = getattr(app.dependencies, group_name)
        for i, chain in enumerate(groups):
            for j, alias in enumerate(chain):
                if alias not in aliases:
                    problems.append(
                        Problem(
                            src,
                            f"{base}.dependencies.{group_name}[{i}][{j}]",
                            f"must name a subscription alias of the application{_hint(alias, aliases)}",
                            alias,
                        )
                    )
    order_edges = [
        (a, b)
        for chain in app.dependencies.startup_order
        for a, b in zip(chain, chain[1:], strict=False)
        if a in aliases and b in aliases
    ]
    cycle = find_cycle(order_edges)
    if cycle:
        problems.append(
            Problem(src, f"{base}.dependencies.startup_order", "must not form a cycle", " -> ".join(cycle))
        )
    return problems


def _check_proxy_ports(ds: DefinitionSet) -> list[Problem]:
    """Two subscriptions behind one LB cluster must not claim the same proxy_port.

    Every claimant is told, so the clash blocks whichever application is being written.
    """
    claims: dict[tuple[str, int], list[tuple[str, int, str]]] = {}
    for app in ds.applications.values():
        for i, sub in enumerate(app.subscriptions):
            cartridge = ds.cartridges.get(sub.cartridge)
            if sub.lb_cluster is None or cartridge is None:
                continue
            for port in cartridge.ports:
                if port.proxy_port is not None:
                    claims.setdefault((sub.lb_cluster, port.proxy_port), []).append((app.name, i, sub.alias))
    problems = []
    for (lb, proxy_port), owners in claims.items():
        if len(owners) < 2:
            continue
        for app_name, i, alias in owners:
            others = ", ".join(f"'{a}/{s}'" for a, _, s in owners if (a, s) != (app_name, alias))
            problems.append(
                Problem(
                    ds.source("applications", app_name),
                    f"applications/{app_name}.subscriptions[{i}].lb_cluster",
                    f"proxy_port {proxy_port} must be unique per LB cluster; {others} uses it on '{lb}'",
                    lb,
                )
            )
    return problems


def find_cycle(edges: Iterable[tuple[str, str]]) -> list[str]:
    """Return one cycle (first node repeated at the end) in a directed graph, or []."""
    graph: dict[str, list[str]] = {}
    for a, b in edges:
        graph.setdefault(a, []).append(b)
        graph.setdefault(b, [])
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        stack.append(node)
        for nxt in graph[node]:
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return []

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return []


def startup_order(app: model.Application) -> list[str]:
    """Aliases in an order that honours links (linked first) and startup_order chains."""
    edges = [(link, sub.alias) for sub in app.subscriptions for link in sub.links]
    edges += [
        (a, b) for chain in app.dependencies.startup_order for a, b in zip(chain, chain[1:], strict=False)
    ]
    order: list[str] = []
    remaining = [s.alias for s in app.subscriptions]
    while remaining:
        ready = [a for a in remaining if not any(b == a and src in remaining for src, b in edges)]
        if not ready:  # a cycle; validation reports it, keep declaration order
            ready = remaining[:1]
        for alias in ready:
            order.append(alias)
            remaining.remove(alias)
    return order
