"""Import of Apache Stratos 4.1 JSON artifacts into native definitions.

Stratos 4.1 users hold JSON artifacts: cartridges, cartridge groups, autoscaling, deployment and
application policies, network partitions and applications. This module turns them into the six
native kinds of :mod:`stratos.model`:

- :func:`detect_kind` tells what an artifact is by its keys (and, when the keys do not decide, by
  its file or directory name);
- ``convert_*`` turn one artifact into a native definition plus :class:`Unmapped` notes;
- :func:`convert_artifacts` converts a whole set and resolves what crosses files: the application
  policy of each application, group members, ``cartridge.``/``group.`` references, generated LB
  clusters, and a final cross-reference check;
- :func:`read_artifacts` (the only function here that touches the file system) and :func:`render`
  sit at the edges.

Nothing is dropped silently: every field without an equivalent becomes a note naming the file and
the JSON path. Credentials (``repoPassword``, secret-looking properties, passwords embedded in
URLs) are never copied into a definition nor into a note; notes name them, never their values.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any, Literal, TypeVar

from stratos.documents import dump_definition
from stratos.errors import ImportProblem, ValidationError
from stratos.model import (
    KINDS,
    Application,
    AutoscalingPolicy,
    Cartridge,
    DefinitionModel,
    DeploymentPolicy,
    LbCluster,
    NetworkPartition,
    Subscription,
)
from stratos.validation import DefinitionSet, check_references, parse_definition

ArtifactKind = Literal[
    "cartridge",
    "cartridge-group",
    "autoscaling-policy",
    "deployment-policy",
    "network-partition",
    "application-policy",
    "application",
    "kubernetes-cluster",
]

NoteKind = Literal[
    "error",  # the artifact could not be converted at all
    "credential",  # a secret was present; it was not written anywhere
    "unmapped",  # a field or artifact without an equivalent
    "renamed",  # an id had to become a DNS label
    "changed",  # a value was adapted (a default filled in, a limit applied)
    "generated",  # a definition the source did not have
    "flattened",  # groups turned into plain subscriptions
    "resolved",  # a cross-file decision (which policy applies)
    "invalid",  # the converted set still breaks a cross-reference rule
]

#: The order in which the report lists the notes.
NOTE_KINDS: tuple[NoteKind, ...] = (
    "error",
    "credential",
    "unmapped",
    "invalid",
    "changed",
    "renamed",
    "flattened",
    "generated",
    "resolved",
)

GENERATED = "(generated)"


@dataclass(frozen=True)
class Unmapped:
    """One thing the import could not carry over as it was, and why."""

    source_file: str
    json_path: str
    reason: str
    kind: NoteKind = "unmapped"

    def __str__(self) -> str:
        return f"{self.source_file}: {self.json_path}: {self.reason}"


@dataclass(frozen=True)
class Artifact:
    """One JSON artifact: where it came from, its content and the path used for name hints."""

    source: str
    data: Mapping[str, Any]
    hint: str = ""


@dataclass(frozen=True)
class Converted:
    """A native definition and the artifact it came from (or :data:`GENERATED`)."""

    definition: DefinitionModel
    source: str

    @property
    def path(self) -> str:
        return output_path(self.definition)


@dataclass
class ImportResult:
    definitions: list[Converted] = field(default_factory=list)
    notes: list[Unmapped] = field(default_factory=list)

    @property
    def errors(self) -> list[Unmapped]:
        return self.of_kind("error")

    def of_kind(self, kind: NoteKind) -> list[Unmapped]:
        return [n for n in self.notes if n.kind == kind]


@dataclass(frozen=True)
class ApplicationPolicy:
    """A 4.1 application policy; it has no native kind and is folded into applications."""

    name: str
    algorithm: str
    network_partitions: tuple[str, ...]
    source: str


@dataclass(frozen=True)
class GroupDefinition:
    """A 4.1 cartridge group definition; used to order the members of its instances."""

    name: str
    cartridges: tuple[str, ...]
    groups: tuple[str, ...]
    startup_orders: tuple[tuple[str, ...], ...]
    scaling_dependants: tuple[tuple[str, ...], ...]
    source: str


@dataclass(frozen=True)
class ImportContext:
    """What an application refers to, already converted."""

    cartridges: Mapping[str, Cartridge] = field(default_factory=dict)
    deployment_policies: Mapping[str, DeploymentPolicy] = field(default_factory=dict)
    autoscaling_policies: Mapping[str, AutoscalingPolicy] = field(default_factory=dict)
    groups: Mapping[str, GroupDefinition] = field(default_factory=dict)
    builtin_cartridges: frozenset[str] = frozenset()


# --------------------------------------------------------------------------- small helpers

_NOT_LABEL = re.compile(r"[^a-z0-9-]+")
_SECRET_WORDS = re.compile(r"(pass(word|wd)?|secret|token|private[_-]?key|credential)", re.IGNORECASE)
_URL_USERINFO = re.compile(
    r"^(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^/@:]*)(?P<password>:[^/@]*)?@(?P<rest>.*)$", re.I
)
_PAYLOAD = "payload_parameter."
_CONTAINER_IAAS = ("docker", "kubernetes")

T = TypeVar("T", bound=DefinitionModel)


def dns_label(value: str) -> str:
    """Lowercase, every run of invalid characters becomes '-', at most 63 characters."""
    label = _NOT_LABEL.sub("-", value.strip().lower())
    label = re.sub(r"-{2,}", "-", label).strip("-")
    return label[:63].rstrip("-") or "unnamed"


def looks_secret(name: str) -> bool:
    return bool(_SECRET_WORDS.search(name))


def _join(base: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{base}[{key}]"
    return f"{base}.{key}" if base else key


def _as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*-?[0-9]+\s*", value):
        return int(value)
    return None


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else []


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _properties(value: Any) -> list[tuple[int, str, Any]]:
    """A 4.1 ``property[]`` list of ``{name, value}`` as (index, name, value)."""
    out = []
    for i, item in enumerate(_list(value)):
        if isinstance(item, Mapping) and isinstance(item.get("name"), str):
            out.append((i, item["name"], item.get("value")))
    return out


class _Notes:
    """Collects the notes of one artifact."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.items: list[Unmapped] = []

    def add(self, path: str, reason: str, kind: NoteKind = "unmapped") -> None:
        self.items.append(Unmapped(self.source, path or "(artifact)", reason, kind))

    def label(self, value: Any, path: str, what: str) -> str:
        text = str(value)
        new = dns_label(text)
        if new != text:
            self.add(
                path,
                f"{what} '{text}' renamed to '{new}' (names must be DNS labels: lowercase letters, "
                "digits and '-'); references follow",
                "renamed",
            )
        return new

    def leftovers(
        self, data: Mapping[str, Any], handled: Iterable[str], path: str, reasons: Mapping[str, str] = {}
    ) -> None:
        """Report every key the converter did not use."""
        done = set(handled)
        for key in data:
            if key in done:
                continue
            reason = reasons.get(key, "is not a field this import knows; not converted")
            self.add(_join(path, key), reason)


def _build(model: type[T], data: dict[str, Any], notes: _Notes) -> T | None:
    """Construct a native definition; a rule it breaks becomes an error note."""
    try:
        spec = parse_definition(data, notes.source)
    except ValidationError as exc:
        for problem in exc.problems:
            shown = f" ({problem.value!r})" if problem.has_value else ""
            notes.add("(converted)", f"{problem.path}{shown}: {problem.rule}", "error")
        return None
    assert isinstance(spec, model)
    return spec


def _require_id(data: Mapping[str, Any], key: str, notes: _Notes, what: str) -> str | None:
    value = data.get(key)
    if not isinstance(value, str | int) or isinstance(value, bool) or str(value).strip() == "":
        notes.add(key, f"is required: it names the {what}; not converted", "error")
        return None
    return notes.label(value, key, f"{what} id")


_Conversion = tuple[T | None, list[Unmapped]]
_Body = Callable[[Mapping[str, Any], str, _Notes], dict[str, Any] | None]


def _converter(
    model: type[T], what: str, required: tuple[str, str, str]
) -> Callable[[_Body], Callable[[Mapping[str, Any], str], _Conversion[T]]]:
    """The frame every converter of a 4.1 artifact with an ``id`` shares: notes, the required id,
    then the model. The body turns ``(data, name, notes)`` into the native fields (without kind and
    name), or None when it said in a note why nothing is converted. ``required``: (field, 4.1 key,
    rule) of the field that must not be empty, else nothing is converted either."""

    def wrap(body: _Body) -> Callable[[Mapping[str, Any], str], _Conversion[T]]:
        @functools.wraps(body)
        def convert(data: Mapping[str, Any], source: str) -> _Conversion[T]:
            n = _Notes(source)
            name = _require_id(data, "id", n, what)
            fields = None if name is None else body(data, name, n)
            if fields is not None and not fields[required[0]]:
                n.add(required[1], f"{required[2]}; not converted", "error")
                fields = None
            if fields is None:
                return None, n.items
            kind = model.model_fields["kind"].default
            return _build(model, {"kind": kind, "name": name, **fields}, n), n.items

        return convert

    return wrap


def _objects(
    items: Any, path: str, n: _Notes, expected: str = "an object with an id", key: str | None = "id"
) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """``(path[i], item)`` for each item of a 4.1 list that is an object (with ``key`` set); a note
    skips each other one."""
    for i, item in enumerate(_list(items)):
        at = f"{path}[{i}]"
        if not isinstance(item, Mapping) or (key is not None and not item.get(key)):
            n.add(at, f"must be {expected}; skipped")
            continue
        yield at, item


# --------------------------------------------------------------------------- detection

_HINTS: tuple[tuple[str, ArtifactKind], ...] = (
    ("application-polic", "application-policy"),
    ("autoscal", "autoscaling-policy"),
    ("deployment-polic", "deployment-policy"),
    ("network-partition", "network-partition"),
    ("kubernetes-cluster", "kubernetes-cluster"),
    ("cartridge-group", "cartridge-group"),
    ("group", "cartridge-group"),
    ("cartridge", "cartridge"),
    ("application", "application"),
)


def hint_kind(hint: str) -> ArtifactKind | None:
    """The kind suggested by a file or directory name, nearest part first."""
    for part in reversed(PurePath(hint).parts):
        name = PurePath(part).stem.lower().replace("_", "-")
        for prefix, kind in _HINTS:
            if name.startswith(prefix):
                return kind
    return None


def detect_kind(data: Mapping[str, Any], hint: str = "") -> ArtifactKind | None:
    """What a 4.1 artifact is, by its keys; the name hint decides only when the keys do not."""
    if "applicationId" in data or "components" in data:
        return "application"
    if "loadThresholds" in data:
        return "autoscaling-policy"
    partitions = data.get("networkPartitions")
    if isinstance(partitions, list):
        if "algorithm" in data or (partitions and all(isinstance(p, str) for p in partitions)):
            return "application-policy"
        if partitions and all(isinstance(p, Mapping) for p in partitions):
            return "deployment-policy"
    if "kubernetesMaster" in data or "kubernetesHosts" in data:
        return "kubernetes-cluster"
    if "iaasProvider" in data or "portMapping" in data:
        return "cartridge"
    if "partitions" in data and ("provider" in data or "id" in data):
        return "network-partition"
    if "type" in data and "category" in data:
        return "cartridge"
    if "name" in data and ("cartridges" in data or "groups" in data):
        return "cartridge-group"
    return hint_kind(hint)


# --------------------------------------------------------------------------- cartridge

_CATEGORIES = ("framework", "data", "load-balancer")
_DATA_TYPES = re.compile(
    r"(mysql|mariadb|postgres|mongo|redis|cassandra|couch|oracle|mssql|db2|memcache|elastic|database|db$)"
)
_LB_TYPES = re.compile(r"(haproxy|nginx|lvs|stratos-lb|^lb$|load-?balancer|-lb$)")
_HOST_EXPORTS = {"host", "hostname", "host_name", "server_ip", "serverip", "ip", "address"}
_ENV_EXPORT_SUFFIXES = {
    "username": ("USERNAME", "USER"),
    "user": ("USER", "USERNAME"),
    "database": ("DATABASE", "DB", "DB_NAME"),
    "db": ("DB", "DATABASE"),
}

_CARTRIDGE_FIELDS = {
    "type",
    "category",
    "displayName",
    "description",
    "version",
    "multiTenant",
    "portMapping",
    "deployment",
    "iaasProvider",
    "persistence",
    "property",
    "exportingProperties",
    "metadataKeys",
}
_CARTRIDGE_REASONS = {
    "provider": "the cartridge's provider (vendor) name has no equivalent",
    "host": "cluster host names are not managed; members are reached through the LB cluster",
    "loadBalancingIPType": "has no equivalent; LB clusters bind to bind_address",
    "loadBalancer": "LB settings per cartridge have no equivalent; LB clusters are their own definitions",
    "container": "container settings have no equivalent; the image comes from iaasProvider imageId",
    "tenantPartitions": "has no equivalent (no multi-tenancy)",
    "serviceGroup": "has no equivalent",
}


def _category(data: Mapping[str, Any], name: str, n: _Notes) -> str:
    raw = data.get("category")
    if isinstance(raw, str) and raw.lower() in _CATEGORIES:
        return raw.lower()
    guessed = (
        "data" if _DATA_TYPES.search(name) else "load-balancer" if _LB_TYPES.search(name) else "framework"
    )
    if raw is None:
        n.add("category", f"missing; '{guessed}' inferred from the type '{name}'", "changed")
    else:
        n.add(
            "category",
            f"'{raw}' has no equivalent (framework, data, load-balancer); '{guessed}' used",
            "changed",
        )
    return guessed


def _ports(data: Mapping[str, Any], n: _Notes) -> list[dict[str, Any]]:
    ports: list[dict[str, Any]] = []
    names: set[str] = set()
    for path, pm in _objects(
        data.get("portMapping"), "portMapping", n, "an object with protocol, port and proxyPort", None
    ):
        source_protocol = str(pm.get("protocol", "http")).lower()
        port = _as_int(pm.get("port"))
        if port is None or not 1 <= port <= 65535:
            n.add(_join(path, "port"), "must be a port number 1-65535; port mapping skipped")
            continue
        if source_protocol == "http":
            protocol = "http"
        elif source_protocol in ("tcp", "https"):
            protocol = "tcp"
            if source_protocol == "https":
                n.add(
                    _join(path, "protocol"),
                    "'https' is passed through as 'tcp': TLS termination in the LB has no equivalent",
                    "changed",
                )
        else:
            n.add(_join(path, "protocol"), f"'{source_protocol}' has no equivalent (http, tcp); skipped")
            continue
        proxy = _as_int(pm.get("proxyPort"))
        if proxy is not None and not 0 <= proxy <= 65535:
            n.add(_join(path, "proxyPort"), "must be a port number 1-65535; no proxy port")
            proxy = None
        raw_name = pm.get("name")
        name = (
            n.label(raw_name, _join(path, "name"), "port name") if raw_name else f"{source_protocol}-{port}"
        )
        base, k = name, 2
        while name in names:
            name, k = f"{base}-{k}", k + 1
        names.add(name)
        entry: dict[str, Any] = {"name": name, "protocol": protocol, "port": port}
        if proxy:
            entry["proxy_port"] = proxy
        ports.append(entry)
        n.leftovers(
            pm,
            ("protocol", "port", "proxyPort", "name"),
            path,
            {"kubernetesPortType": "Kubernetes service types have no equivalent; the LB cluster publishes"},
        )
    return ports


def _image(data: Mapping[str, Any], name: str, version: str, n: _Notes) -> dict[str, Any]:
    chosen: str | None = None
    for path, provider in _objects(data.get("iaasProvider"), "iaasProvider", n, "an object", None):
        kind = str(provider.get("type", "")).lower()
        image = provider.get("imageId")
        if kind not in _CONTAINER_IAAS:
            n.add(
                path,
                f"iaasProvider '{kind or '?'}' has no equivalent (members are Docker containers; only "
                "a docker or kubernetes imageId maps to image.ref); not converted",
            )
            continue
        if chosen is not None:
            n.add(path, f"a second container image ({kind}); only the first one is used")
            continue
        if not isinstance(image, str) or not image.strip():
            n.add(_join(path, "imageId"), f"iaasProvider '{kind}' names no image; skipped")
            continue
        chosen = image.strip()
        for key in provider:
            if key in ("type", "imageId"):
                continue
            value = provider[key]
            if key == "property":
                names = [p for _, p, _ in _properties(value)]
                if names:
                    n.add(_join(path, key), f"iaasProvider '{kind}' properties {names} have no equivalent")
            elif key == "networkInterfaces":
                if _list(value):
                    n.add(
                        _join(path, key),
                        "network interfaces have no equivalent; members join the network partition's "
                        "Docker network",
                    )
            elif value not in (None, "", [], {}):
                n.add(_join(path, key), f"iaasProvider '{kind}' field has no equivalent")
    if chosen is None:
        ref = f"stratos/cartridge-{name}:{version}"
        n.add(
            "iaasProvider",
            f"no docker or kubernetes iaasProvider with an imageId: image.ref set to '{ref}'; build or "
            "supply that image (or replace image with a build)",
            "changed",
        )
        chosen = ref
    return {"ref": chosen}


def _persistence(data: Mapping[str, Any], n: _Notes) -> list[dict[str, Any]]:
    persistence = data.get("persistence")
    if persistence is None:
        return []
    if not isinstance(persistence, Mapping):
        n.add("persistence", "must be an object; not converted")
        return []
    required = _as_bool(persistence.get("isRequired", persistence.get("required", False)))
    volumes = _list(persistence.get("volume", persistence.get("volumes")))
    n.leftovers(persistence, ("isRequired", "required", "volume", "volumes"), "persistence")
    if not required:
        if volumes:
            n.add(
                "persistence.isRequired",
                f"is false: Stratos creates none of its {len(volumes)} volume(s); none converted",
            )
        return []
    out: list[dict[str, Any]] = []
    names: set[str] = set()
    for i, volume in enumerate(volumes):
        path = f"persistence.volume[{i}]"
        if not isinstance(volume, Mapping):
            n.add(path, "must be an object; skipped")
            continue
        mount = volume.get("mappingPath")
        if not isinstance(mount, str) or not mount.startswith("/"):
            n.add(_join(path, "mappingPath"), "must be an absolute path; volume skipped")
            continue
        raw = volume.get("id") or PurePath(mount).name or "data"
        name = n.label(raw, _join(path, "id"), "volume") if volume.get("id") else dns_label(str(raw))
        base, k = name, 2
        while name in names:
            name, k = f"{base}-{k}", k + 1
        names.add(name)
        remove = _as_bool(volume.get("removeOnTermination", False))
        out.append({"name": name, "mount_path": mount, "keep_on_termination": not remove})
        n.leftovers(
            volume,
            ("id", "mappingPath", "removeOnTermination"),
            path,
            {
                "size": "Docker named volumes have no size; the host's disk limits it",
                "device": "volumes are mounted by path, not attached as block devices",
                "snapshotId": "volume snapshots have no equivalent",
                "volumeId": "existing IaaS volumes cannot be attached; a named volume is created",
            },
        )
    return out


def _payload_environment(properties: Any, path: str, n: _Notes, owner: str) -> dict[str, str]:
    """``payload_parameter.X`` properties become environment variables; secrets never do."""
    env: dict[str, str] = {}
    for i, name, value in _properties(properties):
        at = f"{path}[{i}]"
        if name.startswith(_PAYLOAD):
            var = name[len(_PAYLOAD) :]
            if looks_secret(var):
                n.add(
                    at,
                    f"{owner} property '{name}' holds a credential; it was not written: provide it as "
                    "a secret instead",
                    "credential",
                )
            elif value is None:
                n.add(at, f"{owner} property '{name}' has no value; skipped")
            else:
                env[var] = str(value)
        elif looks_secret(name):
            n.add(at, f"{owner} property '{name}' holds a credential; it was not written", "credential")
        else:
            n.add(at, f"{owner} property '{name}' has no equivalent")
    return env


def _export_names(data: Mapping[str, Any], n: _Notes) -> list[str]:
    names: list[str] = []
    for key in ("exportingProperties", "metadataKeys"):
        value = data.get(key)
        if value is None:
            continue
        if isinstance(value, Mapping):
            items: list[Any] = list(value)
        elif isinstance(value, list):
            items = [v.get("name") if isinstance(v, Mapping) else v for v in value]
        else:
            n.add(key, "must be a list of names; not converted")
            continue
        for item in items:
            if isinstance(item, str) and item and item not in names:
                names.append(item)
    return names


def _exports(
    data: Mapping[str, Any],
    name: str,
    category: str,
    ports: Sequence[Mapping[str, Any]],
    env: Mapping[str, str],
    n: _Notes,
) -> tuple[dict[str, str], list[str]]:
    exports: dict[str, str] = {}
    secrets: list[str] = []
    source_key = "exportingProperties" if "exportingProperties" in data else "metadataKeys"
    for key in _export_names(data, n):
        low = key.lower()
        if low in _HOST_EXPORTS:
            exports[key] = "{member.hostname}"
        elif low == "port":
            if ports:
                exports[key] = str(ports[0]["port"])
            else:
                n.add(source_key, f"export '{key}': the cartridge has no port mapping; add exports.{key}")
        elif looks_secret(low):
            secret = dns_label(low)
            if secret not in secrets:
                secrets.append(secret)
            exports[key] = f"{{secret.{secret}}}"
            n.add(
                source_key,
                f"export '{key}' now reads secret '{secret}'; provide its value when deploying",
                "changed",
            )
        else:
            suffixes = _ENV_EXPORT_SUFFIXES.get(low, (low.upper(),))
            found = sorted(var for var in env if any(var == s or var.endswith("_" + s) for s in suffixes))
            if len(found) == 1:
                exports[key] = f"{{env.{found[0]}}}"
            else:
                n.add(
                    source_key,
                    f"export '{key}' has no value the import can derive; add exports.{key} by hand",
                )
    if category == "data" and not exports:
        port = ports[0]["port"] if ports else "PORT"
        n.add(
            "(cartridge)",
            f"data cartridge '{name}' declares no exported properties (metadataKeys or "
            "exportingProperties): subscriptions linked to it receive nothing; add exports such as "
            f"host: '{{member.hostname}}' and port: '{port}'",
        )
    return exports, secrets


def convert_cartridge(data: Mapping[str, Any], source: str) -> tuple[Cartridge | None, list[Unmapped]]:
    """A 4.1 cartridge definition → :class:`Cartridge`."""
    n = _Notes(source)
    name = _require_id(data, "type", n, "cartridge")
    if name is None:
        return None, n.items
    version = str(data.get("version") or "1.0")
    out: dict[str, Any] = {"kind": "Cartridge", "name": name, "version": version}
    if data.get("displayName"):
        out["display_name"] = str(data["displayName"])
    if data.get("description"):
        out["description"] = str(data["description"])
    category = _category(data, name, n)
    out["category"] = category
    if _as_bool(data.get("multiTenant", False)):
        n.add("multiTenant", "multi-tenant cartridges have no equivalent; converted as single-tenant")
    out["image"] = _image(data, name, version, n)
    ports = _ports(data, n)
    out["ports"] = ports
    deployment = _mapping(data.get("deployment"))
    base_dir = deployment.get("baseDir")
    if isinstance(base_dir, str) and base_dir.startswith("/"):
        out["deployment_dir"] = base_dir
    elif base_dir is not None:
        n.add("deployment.baseDir", "must be an absolute path; not converted")
    n.leftovers(deployment, ("baseDir",), "deployment")
    volumes = _persistence(data, n)
    if volumes:
        out["persistence"] = {"volumes": volumes}
    env = _payload_environment(data.get("property"), "property", n, "cartridge")
    if env:
        out["environment"] = env
    exports, secrets = _exports(data, name, category, ports, env, n)
    if exports:
        out["exports"] = exports
    if secrets:
        out["secrets"] = secrets
    n.leftovers(data, _CARTRIDGE_FIELDS, "", _CARTRIDGE_REASONS)
    return _build(Cartridge, out, n), n.items


# --------------------------------------------------------------------------- policies


_THRESHOLDS = {
    "requestsInFlight": ("requests_in_flight", None),
    "memoryConsumption": ("memory_consumption", 100.0),
    "loadAverage": ("load_average", 100.0),
}


@_converter(
    AutoscalingPolicy, "autoscaling policy", ("thresholds", "loadThresholds", "holds no usable threshold")
)
def convert_autoscaling_policy(data: Mapping[str, Any], name: str, n: _Notes) -> dict[str, Any] | None:
    """``loadThresholds.*.threshold`` → thresholds (memory and load are percentages in 4.1 too)."""
    loads = _mapping(data.get("loadThresholds"))
    thresholds: dict[str, float] = {}
    for key, (target, ceiling) in _THRESHOLDS.items():
        entry = loads.get(key)
        if entry is None:
            continue
        path = f"loadThresholds.{key}"
        raw = entry.get("threshold") if isinstance(entry, Mapping) else entry
        value = _as_number(raw)
        if value is None or value <= 0 or (ceiling is not None and value > ceiling):
            limit = f"a number in (0, {ceiling:g}]" if ceiling else "a number > 0"
            n.add(_join(path, "threshold"), f"must be {limit}; this threshold is not converted")
        else:
            thresholds[target] = value
        if isinstance(entry, Mapping):
            n.leftovers(entry, ("threshold",), path)
    n.leftovers(loads, _THRESHOLDS, "loadThresholds")
    n.leftovers(data, ("id", "loadThresholds"), "", {"isPublic": "policies are not shared between tenants"})
    return {"thresholds": thresholds}


_ALGORITHMS = ("round-robin", "one-after-another")


@_converter(
    DeploymentPolicy,
    "deployment policy",
    ("network_partitions", "networkPartitions", "lists no usable network partition"),
)
def convert_deployment_policy(data: Mapping[str, Any], name: str, n: _Notes) -> dict[str, Any] | None:
    """``networkPartitions[].{id, partitionAlgo, partitions[].{id, partitionMax}}``."""
    refs: list[dict[str, Any]] = []
    for path, np in _objects(data.get("networkPartitions"), "networkPartitions", n):
        np_name = dns_label(str(np["id"]))
        algo = str(np.get("partitionAlgo", "round-robin")).lower()
        if algo not in _ALGORITHMS:
            n.add(_join(path, "partitionAlgo"), f"'{algo}' has no equivalent; 'round-robin' used", "changed")
            algo = "round-robin"
        parts: list[dict[str, Any]] = []
        for ppath, part in _objects(np.get("partitions"), f"{path}.partitions", n):
            most = _as_int(part.get("partitionMax", 1))
            if most is None or most < 1:
                n.add(
                    _join(ppath, "partitionMax"),
                    f"({part.get('partitionMax')!r}) must be >= 1; 1 used",
                    "changed",
                )
                most = 1
            parts.append({"name": dns_label(str(part["id"])), "max": most})
            n.leftovers(part, ("id", "partitionMax"), ppath)
        if not parts:
            n.add(path, f"network partition '{np_name}' lists no partition; skipped")
            continue
        refs.append({"name": np_name, "algorithm": algo, "partitions": parts})
        n.leftovers(np, ("id", "partitionAlgo", "partitions"), path)
    n.leftovers(data, ("id", "networkPartitions"), "")
    return {"network_partitions": refs}


_PROVIDERS = ("docker", "openstack")


@_converter(NetworkPartition, "network partition", ("partitions", "partitions", "lists no usable partition"))
def convert_network_partition(data: Mapping[str, Any], name: str, n: _Notes) -> dict[str, Any] | None:
    """Only docker and openstack providers have equivalents; partitions keep region and zone."""
    provider = str(data.get("provider", "")).lower()
    if not provider:
        n.add("provider", "missing; 'docker' assumed", "changed")
        provider = "docker"
    if provider not in _PROVIDERS:
        n.add(
            "provider",
            f"'{provider}' has no equivalent (docker, openstack): network partition '{name}' not converted",
        )
        return None
    partitions: list[dict[str, Any]] = []
    for path, part in _objects(data.get("partitions"), "partitions", n):
        entry: dict[str, Any] = {"name": n.label(part["id"], _join(path, "id"), "partition id")}
        for j, prop, value in _properties(part.get("property")):
            if prop in ("region", "zone") and value is not None:
                entry[prop] = str(value)
            else:
                n.add(f"{path}.property[{j}]", f"partition property '{prop}' has no equivalent")
        partitions.append(entry)
        n.leftovers(part, ("id", "property"), path, {"isPublic": "partitions are not shared between tenants"})
    n.leftovers(data, ("id", "provider", "partitions"), "")
    return {"provider": provider, "partitions": partitions}


_NP_POLICIES = ("one-after-another", "all-at-once")


def convert_application_policy(
    data: Mapping[str, Any], source: str
) -> tuple[ApplicationPolicy | None, list[Unmapped]]:
    """No native kind: its algorithm becomes the applications' ``network_partition_policy``."""
    n = _Notes(source)
    name = _require_id(data, "id", n, "application policy")
    if name is None:
        return None, n.items
    algorithm = str(data.get("algorithm", "one-after-another")).lower()
    if algorithm not in _NP_POLICIES:
        n.add("algorithm", f"'{algorithm}' has no equivalent (one-after-another, all-at-once); not used")
        algorithm = ""
    nps = tuple(dns_label(str(p)) for p in _list(data.get("networkPartitions")) if isinstance(p, str | int))
    for i, prop, _ in _properties(data.get("properties", data.get("property"))):
        key = "properties" if "properties" in data else "property"
        n.add(f"{key}[{i}]", f"application policy property '{prop}' has no equivalent")
    n.leftovers(data, ("id", "algorithm", "networkPartitions", "properties", "property"), "")
    return ApplicationPolicy(name, algorithm, nps, source), n.items


def _ref_list(item: Any) -> tuple[str, ...]:
    """A startup order / scaling dependant entry: ``{aliases: [...]}``, a list, or "a, b"."""
    if isinstance(item, Mapping):
        item = item.get("aliases")
    if isinstance(item, str):
        return tuple(x.strip() for x in item.split(",") if x.strip())
    if isinstance(item, list):
        return tuple(str(x).strip() for x in item if str(x).strip())
    return ()


def convert_group_definition(
    data: Mapping[str, Any], source: str
) -> tuple[GroupDefinition | None, list[Unmapped]]:
    """A cartridge group definition: groups are flattened, only its dependencies carry over."""
    n = _Notes(source)
    name = data.get("name")
    if not isinstance(name, str) or not name:
        n.add("name", "is required: it names the cartridge group; not converted", "error")
        return None, n.items
    deps = _mapping(data.get("dependencies"))
    group = GroupDefinition(
        name=name,
        cartridges=tuple(str(c) for c in _list(data.get("cartridges"))),
        groups=tuple(
            str(g.get("name")) if isinstance(g, Mapping) else str(g) for g in _list(data.get("groups"))
        ),
        startup_orders=tuple(_ref_list(x) for x in _list(deps.get("startupOrders"))),
        scaling_dependants=tuple(
            _ref_list(x) for x in _list(deps.get("scalingDependants", deps.get("scalingDependents")))
        ),
        source=source,
    )
    n.add(
        "(group)",
        f"cartridge group '{name}' has no native kind: its instances in applications become plain "
        "subscriptions, ordered by its startup orders",
        "flattened",
    )
    for key in ("groupScalingEnabled", "isGroupScalingEnabled"):
        if _as_bool(data.get(key)):
            n.add(key, "group scaling has no equivalent; each subscription scales on its own")
    if deps.get("terminationBehaviour") not in (None, "terminate-none"):
        n.add(
            "dependencies.terminationBehaviour",
            "a group's termination behaviour has no equivalent; the application's applies",
        )
    n.leftovers(
        deps,
        ("startupOrders", "scalingDependants", "scalingDependents", "terminationBehaviour"),
        "dependencies",
    )
    n.leftovers(
        data,
        ("name", "cartridges", "groups", "dependencies", "groupScalingEnabled", "isGroupScalingEnabled"),
        "",
    )
    return group, n.items


# --------------------------------------------------------------------------- application


@dataclass
class _Member:
    source_alias: str
    alias: str
    type: str
    cartridge: str
    entry: Mapping[str, Any]
    path: str
    inherited_policy: str | None


@dataclass
class _GroupInstance:
    alias: str
    name: str
    path: str
    members: list[_Member]
    groups: list[_GroupInstance]

    def aliases(self) -> list[str]:
        return [m.alias for m in self.members] + [a for g in self.groups for a in g.aliases()]

    def walk(self) -> Iterable[_GroupInstance]:
        yield self
        for g in self.groups:
            yield from g.walk()


def _flatten(
    components: Mapping[str, Any], path: str, inherited: str | None, n: _Notes
) -> tuple[list[_Member], list[_GroupInstance]]:
    members: list[_Member] = []
    for i, entry in enumerate(_list(components.get("cartridges"))):
        cpath = f"{path}.cartridges[{i}]"
        if not isinstance(entry, Mapping) or not entry.get("type"):
            n.add(cpath, "must be an object with a type; skipped")
            continue
        info = _mapping(entry.get("subscribableInfo"))
        raw_alias = info.get("alias")
        if not raw_alias:
            raw_alias = entry["type"]
            n.add(_join(cpath, "subscribableInfo.alias"), f"missing; the type '{raw_alias}' used", "changed")
        alias = n.label(raw_alias, _join(cpath, "subscribableInfo.alias"), "alias")
        members.append(
            _Member(
                str(raw_alias),
                alias,
                str(entry["type"]),
                dns_label(str(entry["type"])),
                entry,
                cpath,
                inherited,
            )
        )
    groups: list[_GroupInstance] = []
    for i, group in enumerate(_list(components.get("groups"))):
        gpath = f"{path}.groups[{i}]"
        if not isinstance(group, Mapping):
            n.add(gpath, "must be an object; skipped")
            continue
        alias = str(group.get("alias") or group.get("name") or f"group-{i}")
        policy = group.get("deploymentPolicy") or inherited
        sub_members, sub_groups = _flatten(group, gpath, policy, n)
        instance = _GroupInstance(alias, str(group.get("name", alias)), gpath, sub_members, sub_groups)
        groups.append(instance)
        for key in ("groupMinInstances", "groupMaxInstances"):
            count = _as_int(group.get(key, 1))
            if count is not None and count > 1:
                n.add(
                    _join(gpath, key), f"{count} group instances have no equivalent; members converted once"
                )
        for key in ("groupScalingEnabled", "isGroupScalingEnabled"):
            if _as_bool(group.get(key)):
                n.add(
                    _join(gpath, key), "group scaling has no equivalent; each subscription scales on its own"
                )
        n.leftovers(
            group,
            (
                "name",
                "alias",
                "cartridges",
                "groups",
                "deploymentPolicy",
                "groupMinInstances",
                "groupMaxInstances",
                "groupScalingEnabled",
                "isGroupScalingEnabled",
            ),
            gpath,
        )
    return members, groups


class _Resolver:
    """Turns ``cartridge.x`` / ``group.y`` / bare references into native aliases."""

    def __init__(self, members: Sequence[_Member], groups: Sequence[_GroupInstance]) -> None:
        self.members = list(members)
        self.by_alias = {m.source_alias: m.alias for m in members}
        self.by_alias.update({m.alias: m.alias for m in members})
        self.groups = [g for top in groups for g in top.walk()]

    def resolve(self, ref: str, scope: _GroupInstance | None = None) -> list[str]:
        ref = ref.strip()
        kinds: tuple[str, ...] = ("cartridge", "group")
        for prefix in ("cartridge.", "group."):
            if ref.startswith(prefix):
                kinds, ref = (prefix[:-1],), ref[len(prefix) :]
        members = scope.members if scope else self.members
        groups = scope.groups if scope else self.groups
        if "cartridge" in kinds:
            if scope is None and ref in self.by_alias:
                return [self.by_alias[ref]]
            typed = [m.alias for m in members if m.type == ref]
            if typed:
                return typed
        if "group" in kinds:
            for g in groups:
                if g.alias == ref:
                    return g.aliases()
            named = [a for g in groups if g.name == ref for a in g.aliases()]
            if named:
                return named
        return []


def _chains(resolved: Sequence[Sequence[str]]) -> list[list[str]]:
    """A 4.1 startup order over resolved references → native chains (pairs when groups expand)."""
    steps = [list(dict.fromkeys(r)) for r in resolved if r]
    if len(steps) < 2:
        return []
    if all(len(s) == 1 for s in steps):
        chain = list(dict.fromkeys(s[0] for s in steps))
        return [chain] if len(chain) >= 2 else []
    out: list[list[str]] = []
    for before, after in zip(steps, steps[1:], strict=False):
        for a in before:
            for b in after:
                if a != b and [a, b] not in out:
                    out.append([a, b])
    return out


def _resolve_orders(
    orders: Iterable[tuple[str, tuple[str, ...]]],
    resolver: _Resolver,
    n: _Notes,
    scope: _GroupInstance | None = None,
) -> list[list[list[str]]]:
    out = []
    for path, refs in orders:
        resolved = []
        for ref in refs:
            aliases = resolver.resolve(ref, scope)
            if not aliases:
                n.add(path, f"'{ref}' names no converted subscription or group; dropped from the order")
            elif ref.strip().startswith("group.") or len(aliases) > 1:
                n.add(path, f"'{ref}' expanded to its members {aliases}", "flattened")
            resolved.append(aliases)
        out.append(resolved)
    return out


def _artifact(repo: Mapping[str, Any], path: str, n: _Notes) -> dict[str, Any] | None:
    url = repo.get("repoUrl")
    if not isinstance(url, str) or not url.strip():
        n.add(_join(path, "repoUrl"), "is missing; no artifact converted")
        return None
    url = url.strip()
    credentials: dict[str, Any] = {}
    userinfo = _URL_USERINFO.match(url)
    embedded = bool(userinfo and userinfo["password"])
    if userinfo and userinfo["scheme"].lower() in ("http://", "https://"):
        # Credentials of an https URL belong in credentials, not in the URL.
        url = f"{userinfo['scheme']}{userinfo['rest']}"
        if userinfo["user"]:
            credentials["username"] = userinfo["user"]
    elif userinfo and embedded:
        url = f"{userinfo['scheme']}{userinfo['user']}@{userinfo['rest']}"
    if embedded:
        n.add(
            _join(path, "repoUrl"),
            "the URL carried a password; it was removed and not written: supply it as credentials.token_file",
            "credential",
        )
    artifact: dict[str, Any] = {"url": url, "branch": "main"}
    username = repo.get("repoUsername")
    if isinstance(username, str) and username.strip():
        credentials["username"] = username.strip()
    password = repo.get("repoPassword")
    if password not in (None, ""):
        n.add(
            _join(path, "repoPassword"),
            "a credential was present; it was not written: supply it as credentials.token_file "
            "(a file holding the token or password)",
            "credential",
        )
    elif _as_bool(repo.get("privateRepo")) and not embedded:
        n.add(
            _join(path, "privateRepo"),
            "the repository is private: supply credentials.token_file or credentials.ssh_key_file",
            "credential",
        )
    if credentials:
        artifact["credentials"] = credentials
    n.add(
        path,
        "Stratos 4.1 deployed the repository's default branch; branch set to 'main': check it",
        "changed",
    )
    n.leftovers(repo, ("repoUrl", "repoUsername", "repoPassword", "privateRepo"), path)
    return artifact


_INFO_FIELDS = (
    "alias",
    "autoscalingPolicy",
    "deploymentPolicy",
    "artifactRepository",
    "dependencyAliases",
    "property",
)
_INFO_REASONS = {
    "persistence": "per-subscription persistence has no equivalent; the cartridge's volumes apply",
    "minMembers": "has no equivalent; cartridgeMin is used",
    "maxMembers": "has no equivalent; cartridgeMax is used",
    "lvsVirtualIP": "LVS virtual IPs have no equivalent; the LB cluster publishes",
}


def _subscription(
    member: _Member,
    resolver: _Resolver,
    context: ImportContext,
    n: _Notes,
) -> dict[str, Any] | None:
    entry, path = member.entry, member.path
    info = _mapping(entry.get("subscribableInfo"))
    ipath = _join(path, "subscribableInfo")
    sub: dict[str, Any] = {"alias": member.alias, "cartridge": member.cartridge}
    low = _as_int(entry.get("cartridgeMin", 1))
    high = _as_int(entry.get("cartridgeMax", low if low and low > 0 else 1))
    if low is None or low < 1:
        n.add(_join(path, "cartridgeMin"), f"({entry.get('cartridgeMin')!r}) must be >= 1; 1 used", "changed")
        low = 1
    if high is None or high < low:
        n.add(
            _join(path, "cartridgeMax"),
            f"({entry.get('cartridgeMax')!r}) must be >= cartridgeMin; {low} used",
            "changed",
        )
        high = low
    cartridge = context.cartridges.get(member.cartridge)
    if cartridge is not None and cartridge.category == "data" and cartridge.persistence.volumes:
        if not cartridge.scales and high != 1:
            n.add(
                _join(path, "cartridgeMax"),
                f"{high} lowered to 1: data cartridge '{cartridge.name}' keeps its data on volumes and "
                "does not replicate (set scales: true on the cartridge if it does)",
                "changed",
            )
            low, high = 1, 1
    elif cartridge is None and member.cartridge in context.builtin_cartridges:
        n.add(
            _join(path, "type"),
            f"cartridge '{member.cartridge}' is not among the imported artifacts; the built-in one applies "
            "(validate with --builtin-cartridges)",
            "resolved",
        )
    sub["min"], sub["max"] = low, high
    if info.get("autoscalingPolicy"):
        sub["autoscaling_policy"] = dns_label(str(info["autoscalingPolicy"]))
    policy = info.get("deploymentPolicy") or member.inherited_policy
    if policy:
        sub["deployment_policy"] = dns_label(str(policy))
        if not info.get("deploymentPolicy"):
            n.add(_join(ipath, "deploymentPolicy"), f"inherited from its group: '{policy}'", "resolved")
    elif len(context.deployment_policies) == 1:
        only = next(iter(context.deployment_policies))
        sub["deployment_policy"] = only
        n.add(
            _join(ipath, "deploymentPolicy"), f"missing; the only deployment policy '{only}' used", "resolved"
        )
    else:
        n.add(_join(ipath, "deploymentPolicy"), "is required (here or on the group); not converted", "error")
        return None
    repo = info.get("artifactRepository")
    if isinstance(repo, Mapping):
        artifact = _artifact(repo, _join(ipath, "artifactRepository"), n)
        if artifact:
            sub["artifact"] = artifact
    env = _payload_environment(info.get("property"), _join(ipath, "property"), n, "subscription")
    if env:
        sub["environment"] = env
    links: list[str] = []
    for j, ref in enumerate(_list(info.get("dependencyAliases"))):
        targets = resolver.resolve(str(ref))
        if not targets:
            n.add(
                f"{ipath}.dependencyAliases[{j}]",
                f"'{ref}' names no subscription of the application; dropped",
            )
        for target in targets:
            if target != member.alias and target not in links:
                links.append(target)
    if links:
        sub["links"] = links
    n.leftovers(info, _INFO_FIELDS, ipath, _INFO_REASONS)
    n.leftovers(entry, ("type", "cartridgeMin", "cartridgeMax", "subscribableInfo"), path)
    return sub


def _dependencies(
    deps: Mapping[str, Any],
    groups: Sequence[_GroupInstance],
    resolver: _Resolver,
    context: ImportContext,
    n: _Notes,
) -> dict[str, Any]:
    base = "components.dependencies"
    orders = [
        (f"{base}.startupOrders[{i}]", _ref_list(x)) for i, x in enumerate(_list(deps.get("startupOrders")))
    ]
    scaling_key = "scalingDependants" if "scalingDependants" in deps else "scalingDependents"
    dependants = [
        (f"{base}.{scaling_key}[{i}]", _ref_list(x)) for i, x in enumerate(_list(deps.get(scaling_key)))
    ]
    chains: list[list[str]] = []
    scaling: list[list[str]] = []

    def add(
        orders: Sequence[tuple[str, tuple[str, ...]]],
        dependants: Sequence[tuple[str, tuple[str, ...]]],
        scope: _GroupInstance | None,
    ) -> None:
        for resolved in _resolve_orders(orders, resolver, n, scope):
            chains.extend(c for c in _chains(resolved) if c not in chains)
        for (path, _), resolved in zip(
            dependants, _resolve_orders(dependants, resolver, n, scope), strict=True
        ):
            together = list(dict.fromkeys(a for r in resolved for a in r))
            if len(together) < 2:
                n.add(path, "names fewer than two converted subscriptions; dropped")
            elif together not in scaling:
                scaling.append(together)

    add(orders, dependants, None)
    for top in groups:
        for instance in top.walk():
            definition = context.groups.get(instance.name)
            if definition is None:
                n.add(
                    instance.path,
                    f"group '{instance.alias}': cartridge group definition '{instance.name}' is not among the "
                    "imported artifacts; any startup order or scaling dependants it declares are not converted",
                )
                continue
            where = f"{instance.path} (group '{definition.name}' in {definition.source})"
            add(
                [(f"{where}.startupOrders[{i}]", refs) for i, refs in enumerate(definition.startup_orders)],
                [
                    (f"{where}.scalingDependants[{i}]", refs)
                    for i, refs in enumerate(definition.scaling_dependants)
                ],
                instance,
            )
    out: dict[str, Any] = {}
    if chains:
        out["startup_order"] = chains
    if scaling:
        out["scaling_dependents"] = scaling
    behaviour = deps.get("terminationBehaviour")
    if behaviour is not None:
        if behaviour in ("terminate-all", "terminate-dependents", "terminate-none"):
            out["termination_behaviour"] = behaviour
        else:
            n.add(
                f"{base}.terminationBehaviour",
                f"'{behaviour}' has no equivalent; 'terminate-none' used",
                "changed",
            )
    n.leftovers(
        deps, ("startupOrders", "scalingDependants", "scalingDependents", "terminationBehaviour"), base
    )
    return out


def convert_application(
    data: Mapping[str, Any], source: str, context: ImportContext | None = None
) -> tuple[Application | None, list[Unmapped]]:
    """A 4.1 application → :class:`Application`; groups are flattened into subscriptions."""
    context = context or ImportContext()
    n = _Notes(source)
    name = _require_id(data, "applicationId", n, "application")
    if name is None:
        return None, n.items
    components = _mapping(data.get("components"))
    members, groups = _flatten(components, "components", None, n)
    for top in groups:
        for instance in top.walk():
            n.add(
                instance.path,
                f"group '{instance.alias}' ({instance.name}) flattened into subscriptions {instance.aliases()}",
                "flattened",
            )
    seen: dict[str, str] = {}
    kept: list[_Member] = []
    for member in members + [m for top in groups for g in top.walk() for m in g.members]:
        cartridge = context.cartridges.get(member.cartridge)
        if cartridge is not None and cartridge.category == "load-balancer":
            n.add(
                member.path,
                f"subscription '{member.alias}' to load-balancer cartridge '{cartridge.name}' has no "
                "equivalent: LB clusters are their own definitions (one is generated for proxy ports)",
            )
            continue
        if member.alias in seen:
            n.add(member.path, f"alias '{member.alias}' is also used at {seen[member.alias]}; not converted")
            continue
        seen[member.alias] = member.path
        kept.append(member)
    resolver = _Resolver(kept, groups)
    subscriptions = []
    for member in kept:
        sub = _subscription(member, resolver, context, n)
        if sub is not None:
            subscriptions.append(sub)
    if not subscriptions:
        n.add("components", "holds no convertible subscription; not converted", "error")
        return None, n.items
    out: dict[str, Any] = {"kind": "Application", "name": name, "subscriptions": subscriptions}
    description = data.get("description") or (
        data.get("name") if data.get("name") != data.get("applicationId") else None
    )
    if description:
        out["description"] = str(description)
    dependencies = _dependencies(_mapping(components.get("dependencies")), groups, resolver, context, n)
    if dependencies:
        out["dependencies"] = dependencies
    if data.get("alias") not in (None, "", data.get("applicationId")):
        n.add("alias", "the application alias has no equivalent; the applicationId names the application")
    if _as_bool(data.get("multiTenant", False)):
        n.add("multiTenant", "multi-tenant applications have no equivalent")
    for i, prop, _ in _properties(data.get("property")):
        n.add(f"property[{i}]", f"application property '{prop}' has no equivalent")
    n.leftovers(components, ("cartridges", "groups", "dependencies"), "components")
    n.leftovers(
        data,
        ("applicationId", "alias", "name", "description", "components", "multiTenant", "property"),
        "",
        {"status": "runtime state; ignored", "signUpsExist": "runtime state; ignored"},
    )
    return _build(Application, out, n), n.items


# --------------------------------------------------------------------------- the whole set


def _choose_policy(
    app: Application,
    policies: Sequence[ApplicationPolicy],
    deployment_policies: Mapping[str, DeploymentPolicy],
    source: str,
) -> tuple[ApplicationPolicy | None, list[Unmapped]]:
    notes: list[Unmapped] = []
    used_dps = sorted({s.deployment_policy for s in app.subscriptions})
    used_nps = sorted(
        {
            np.name
            for d in used_dps
            if d in deployment_policies
            for np in deployment_policies[d].network_partitions
        }
    )
    where = f"network partitions {used_nps} via deployment policies {used_dps}"
    if not policies:
        notes.append(
            Unmapped(
                source,
                "(application)",
                f"no application policy among the artifacts: network_partition_policy keeps its default; "
                f"the application uses {where}",
                "resolved",
            )
        )
        return None, notes
    covering = [p for p in policies if set(used_nps) <= set(p.network_partitions)]
    if len(policies) == 1:
        chosen = policies[0]
    elif covering:
        chosen = sorted(covering, key=lambda p: p.name)[0]
        if len(covering) > 1:
            names = sorted(p.name for p in covering)
            notes.append(
                Unmapped(
                    source,
                    "(application)",
                    f"application policies {names} all fit; '{chosen.name}' used",
                    "resolved",
                )
            )
    else:
        notes.append(
            Unmapped(
                source,
                "(application)",
                f"none of the application policies {sorted(p.name for p in policies)} lists all of {used_nps}; "
                "network_partition_policy keeps its default",
            )
        )
        return None, notes
    missing = [np for np in used_nps if np not in chosen.network_partitions]
    if missing:
        notes.append(
            Unmapped(
                chosen.source,
                "networkPartitions",
                f"application '{app.name}' uses network partitions {missing} that application policy "
                f"'{chosen.name}' does not list (Stratos 4.1 would refuse to deploy it)",
            )
        )
    unused = [np for np in chosen.network_partitions if np not in used_nps]
    if unused:
        notes.append(
            Unmapped(
                chosen.source,
                "networkPartitions",
                f"network partitions {unused} are used by no deployment policy of application '{app.name}'",
            )
        )
    notes.append(
        Unmapped(
            source,
            "(application)",
            f"application policy '{chosen.name}' ({chosen.source}) applies: network_partition_policy "
            f"'{chosen.algorithm or 'one-after-another'}'; the application uses {where}",
            "resolved",
        )
    )
    return chosen, notes


def _lb_name(network_partition: str) -> str:
    return f"{network_partition[:60].rstrip('-')}-lb"


def _generate_lb_clusters(
    applications: list[Converted],
    cartridges: Mapping[str, Cartridge],
    deployment_policies: Mapping[str, DeploymentPolicy],
    network_partitions: Mapping[str, NetworkPartition],
) -> tuple[list[Converted], list[Converted], list[Unmapped]]:
    """One haproxy LB cluster per network partition that serves cartridge ports with a proxyPort."""
    notes: list[Unmapped] = []
    listeners: dict[str, list[dict[str, Any]]] = {}
    claimed: dict[tuple[str, int], str] = {}
    served: dict[str, list[str]] = {}
    updated: list[Converted] = []
    for item in applications:
        app = item.definition
        assert isinstance(app, Application)
        subscriptions: list[Subscription] = []
        for i, sub in enumerate(app.subscriptions):
            cartridge = cartridges.get(sub.cartridge)
            proxied = [p for p in cartridge.ports if p.proxy_port] if cartridge else []
            dp = deployment_policies.get(sub.deployment_policy)
            if not proxied or dp is None or sub.lb_cluster is not None:
                subscriptions.append(sub)
                continue
            np = dp.network_partitions[0].name
            at = f"applications/{app.name}.subscriptions[{i}]"
            if np not in network_partitions:
                notes.append(
                    Unmapped(
                        item.source,
                        at,
                        f"network partition '{np}' was not converted; no LB cluster for "
                        f"proxy ports of '{sub.alias}'",
                    )
                )
                subscriptions.append(sub)
                continue
            owner = f"{app.name}/{sub.alias}"
            clash = [p.proxy_port for p in proxied if claimed.get((np, p.proxy_port or 0), owner) != owner]
            if clash:
                notes.append(
                    Unmapped(
                        item.source,
                        at,
                        f"proxy ports {clash} of '{sub.alias}' are already served in network partition '{np}'; "
                        "the subscription gets no LB cluster: give it other proxy ports",
                    )
                )
                subscriptions.append(sub)
                continue
            for port in proxied:
                assert port.proxy_port is not None
                if (np, port.proxy_port) not in claimed:
                    claimed[(np, port.proxy_port)] = owner
                    listeners.setdefault(np, []).append(
                        {"proxy_port": port.proxy_port, "port": port.port, "protocol": port.protocol}
                    )
            served.setdefault(np, []).append(owner)
            if len(dp.network_partitions) > 1:
                notes.append(
                    Unmapped(
                        item.source,
                        at,
                        f"the LB cluster is in the first network partition '{np}' of deployment policy "
                        f"'{dp.name}'; members in the others are not behind it",
                        "changed",
                    )
                )
            subscriptions.append(sub.model_copy(update={"lb_cluster": _lb_name(np)}))
        updated.append(Converted(app.model_copy(update={"subscriptions": subscriptions}), item.source))
    generated: list[Converted] = []
    for np, entries in listeners.items():
        lb = LbCluster.model_validate({"name": _lb_name(np), "network_partition": np, "listeners": entries})
        generated.append(Converted(lb, GENERATED))
        ports = ", ".join(f"{e['proxy_port']}->{e['port']}" for e in entries)
        notes.append(
            Unmapped(
                GENERATED,
                f"lb_clusters/{lb.name}",
                f"LB cluster '{lb.name}' (haproxy) generated in network partition '{np}' with listeners "
                f"{ports} for {served[np]}: Stratos 4.1 cartridges declared these proxyPorts and no LB "
                "cluster is defined",
                "generated",
            )
        )
    return updated, generated, notes


def _register(
    found: Converted | None, notes: list[Unmapped], out: list[Converted], index: dict[tuple[str, str], str]
) -> bool:
    if found is None:
        return False
    spec = found.definition
    key = (spec.kind, spec.name)  # type: ignore[attr-defined]
    if key in index:
        notes.append(
            Unmapped(
                found.source,
                "(artifact)",
                f"a second {spec.kind} named '{spec.name}' (also in {index[key]}); "  # type: ignore[attr-defined]
                "not converted: keep one of them",
                "error",
            )
        )
        return False
    index[key] = found.source
    out.append(found)
    return True


def convert_artifacts(artifacts: Iterable[Artifact], builtin_cartridges: Iterable[str] = ()) -> ImportResult:
    """Convert a set of 4.1 artifacts, resolving what crosses files. Pure: no I/O."""
    result = ImportResult()
    notes = result.notes
    buckets: dict[ArtifactKind, list[Artifact]] = {}
    for artifact in artifacts:
        kind = detect_kind(artifact.data, artifact.hint or artifact.source)
        if kind is None:
            notes.append(
                Unmapped(
                    artifact.source,
                    "(artifact)",
                    "not recognised as a Stratos 4.1 artifact (cartridge, cartridge group, policy, network "
                    "partition or application); skipped",
                )
            )
        elif kind == "kubernetes-cluster":
            notes.append(
                Unmapped(
                    artifact.source,
                    "(artifact)",
                    "kubernetes cluster definitions have no equivalent: network partitions run members on "
                    "Docker Engines; not converted",
                )
            )
        else:
            buckets.setdefault(kind, []).append(artifact)

    index: dict[tuple[str, str], str] = {}
    defs = result.definitions

    def take(
        kind: ArtifactKind, convert: Callable[[Mapping[str, Any], str], tuple[Any, list[Unmapped]]]
    ) -> list[Any]:
        converted = []
        for artifact in buckets.get(kind, []):
            spec, found = convert(artifact.data, artifact.source)
            notes.extend(found)
            if spec is not None:
                converted.append((spec, artifact.source))
        return converted

    def take_registered(
        kind: ArtifactKind, convert: Callable[[Mapping[str, Any], str], tuple[Any, list[Unmapped]]]
    ) -> dict[str, Any]:
        """What :func:`take` converts and the set registers (a duplicate is a note), by name."""
        return {
            spec.name: spec
            for spec, source in take(kind, convert)
            if _register(Converted(spec, source), notes, defs, index)
        }

    cartridges: dict[str, Cartridge] = take_registered("cartridge", convert_cartridge)
    network_partitions: dict[str, NetworkPartition] = take_registered(
        "network-partition", convert_network_partition
    )
    skipped_nps = {
        dns_label(str(a.data.get("id"))) for a in buckets.get("network-partition", []) if a.data.get("id")
    } - set(network_partitions)
    autoscaling: dict[str, AutoscalingPolicy] = take_registered(
        "autoscaling-policy", convert_autoscaling_policy
    )
    deployment_policies: dict[str, DeploymentPolicy] = {}
    for spec, source in take("deployment-policy", convert_deployment_policy):
        dp = spec
        dropped = [np.name for np in dp.network_partitions if np.name in skipped_nps]
        if dropped:
            kept = [np for np in dp.network_partitions if np.name not in skipped_nps]
            for name in dropped:
                notes.append(
                    Unmapped(
                        source,
                        "networkPartitions",
                        f"network partition '{name}' was not converted; removed from deployment policy '{dp.name}'",
                    )
                )
            if not kept:
                notes.append(
                    Unmapped(
                        source,
                        "(artifact)",
                        f"deployment policy '{dp.name}' has no converted network partition left; not converted",
                    )
                )
                continue
            dp = dp.model_copy(update={"network_partitions": kept})
        if _register(Converted(dp, source), notes, defs, index):
            deployment_policies[dp.name] = dp
    policies: list[ApplicationPolicy] = [p for p, _ in take("application-policy", convert_application_policy)]
    groups: dict[str, GroupDefinition] = {}
    for group, source in take("cartridge-group", convert_group_definition):
        if group.name in groups:
            notes.append(
                Unmapped(
                    source,
                    "name",
                    f"a second cartridge group '{group.name}' (also in "
                    f"{groups[group.name].source}); not used",
                    "error",
                )
            )
            continue
        groups[group.name] = group

    context = ImportContext(
        cartridges=cartridges,
        deployment_policies=deployment_policies,
        autoscaling_policies=autoscaling,
        groups=groups,
        builtin_cartridges=frozenset(builtin_cartridges),
    )
    applications: list[Converted] = []
    for app, source in take("application", lambda d, s: convert_application(d, s, context)):
        chosen, found = _choose_policy(app, policies, deployment_policies, source)
        notes.extend(found)
        if chosen is not None and chosen.algorithm:
            app = app.model_copy(update={"network_partition_policy": chosen.algorithm})
        applications.append(Converted(app, source))
    applications, generated, found = _generate_lb_clusters(
        applications, cartridges, deployment_policies, network_partitions
    )
    notes.extend(found)
    for item in applications + generated:
        _register(item, notes, defs, index)
    notes.extend(check_converted(defs, context.builtin_cartridges))
    return result


def check_converted(
    definitions: Sequence[Converted], builtin_cartridges: Iterable[str] = ()
) -> list[Unmapped]:
    """The cross-reference rules ``stratos validate`` applies, as notes on the converted set."""
    builtins = set(builtin_cartridges)
    ds = DefinitionSet()
    for item in definitions:
        ds.add(item.definition, item.source)
    notes = []
    for problem in check_references(ds):
        if problem.path.endswith(".cartridge") and problem.value in builtins:
            continue
        shown = f" ({problem.value!r})" if problem.has_value else ""
        notes.append(
            Unmapped(
                problem.file or GENERATED,
                problem.path,
                f"{problem.rule}{shown}; fix it before applying",
                "invalid",
            )
        )
    return notes


# --------------------------------------------------------------------------- edges: read, render


def read_artifacts(paths: Iterable[str | Path]) -> list[Artifact]:
    """Read JSON artifacts from files and directories (``*.json``, sorted, recursive).

    Raises :class:`ImportProblem` naming the file for anything unreadable.
    """
    artifacts: list[Artifact] = []
    for path in paths:
        p = Path(path)
        if p.is_dir():
            files = sorted(f for f in p.rglob("*.json") if f.is_file())
            if not files:
                raise ImportProblem(f"{p}: holds no .json file")
        elif p.is_file():
            files = [p]
        else:
            raise ImportProblem(f"{p}: does not exist")
        for f in files:
            try:
                text = f.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise ImportProblem(f"{f}: cannot be read: {exc}") from exc
            try:
                data = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ImportProblem(
                    f"{f}: line {exc.lineno} column {exc.colno}: is not valid JSON: {exc.msg}"
                ) from exc
            items = data if isinstance(data, list) else [data]
            for i, item in enumerate(items):
                if not isinstance(item, Mapping):
                    where = f"[{i}]" if isinstance(data, list) else ""
                    raise ImportProblem(f"{f}{where}: must be a JSON object (a Stratos 4.1 artifact)")
                source = str(f) if len(items) == 1 else f"{f}[{i}]"
                artifacts.append(Artifact(source, item, str(f)))
    return artifacts


def output_path(definition: DefinitionModel) -> str:
    """Where a definition is written, relative to the output directory: ``<plural>/<name>.yml``."""
    plural = KINDS[definition.kind][1]  # type: ignore[attr-defined]
    return f"{plural}/{definition.name}.yml"  # type: ignore[attr-defined]


def render(result: ImportResult) -> dict[str, str]:
    """Output file (relative path) → YAML text, one definition per file."""
    files: dict[str, str] = {}
    for item in result.definitions:
        origin = (
            "generated by 'stratos import'"
            if item.source == GENERATED
            else f"converted by 'stratos import' from {item.source}"
        )
        text = dump_definition(item.definition, only_set=True, readable=True)
        files[item.path] = f"# {origin}\n{text}"
    return files
