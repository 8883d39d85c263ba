# Copyright (c) Stratos as code contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0) or, at your option,
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: Apache-2.0 OR GPL-3.0-or-later

# This module utility is private to stratos.paas: its API may change without notice and other
# collections must not import it.
#
# The edge between Ansible and the Stratos core. It holds the argument specs matching the doc
# fragments in plugins/doc_fragments/common.py, the guarded import of the core, and the one place
# where the core's typed errors become fail_json. Nothing below run_definition_module() fails the
# module; helpers raise and this edge translates.

from __future__ import annotations

import os
import traceback
from pathlib import Path

from ansible.module_utils.basic import missing_required_lib

try:
    import pydantic
    import yaml
    from stratos import builtin as stratos_builtin
    from stratos.errors import Problem, StratosError, ValidationError
    from stratos.model import KINDS, Name
    from stratos.store import StateStore
    from stratos.validation import parse_definition, read_documents, source_file
except ImportError:
    HAS_STRATOS = False
    STRATOS_IMPORT_ERROR = traceback.format_exc()
else:
    HAS_STRATOS = True
    STRATOS_IMPORT_ERROR = None
    _NAME = pydantic.TypeAdapter(Name)

#: The pip distribution that provides the core package (named in the "missing library" message).
STRATOS_LIBRARY = "stratos-paas"

#: Options of every module that uses the state directory (doc fragment stratos.paas.common).
STATE_DIR_SPEC = dict(
    state_dir=dict(type="path", default="/var/lib/stratos"),
)

#: Options of every definition module (doc fragment stratos.paas.common.definition).
DEFINITION_SPEC = dict(
    name=dict(type="str", required=True),
    state=dict(type="str", choices=["present", "absent"], default="present"),
    definition=dict(type="dict"),
    src=dict(type="path"),
)

#: The options that can provide a definition's body; a module may add its own (cartridge: builtin).
BODY_OPTIONS = ("definition", "src")


def definition_module_args(**extra_options):
    """Keyword arguments for AnsibleModule() of a definition module.

    ``extra_options`` are added to the shared argument spec; an extra option whose spec carries
    ``body=True`` is one more way to give the definition's body (exclusive with the others).
    """
    spec = dict(STATE_DIR_SPEC)
    spec.update(DEFINITION_SPEC)
    bodies = list(BODY_OPTIONS)
    for option, option_spec in extra_options.items():
        option_spec = dict(option_spec)
        if option_spec.pop("body", False):
            bodies.append(option)
        spec[option] = option_spec
    return dict(
        argument_spec=spec,
        mutually_exclusive=[bodies],
        required_if=[("state", "present", bodies, True)],
        supports_check_mode=True,
    )


def require_stratos(module):
    """Fail with Ansible's usual message when the core package cannot be imported."""
    if not HAS_STRATOS:
        module.fail_json(msg=missing_required_lib(STRATOS_LIBRARY), exception=STRATOS_IMPORT_ERROR)


class RuntimeStep:
    """One change outside the state directory (a Docker network, a container, an LB backend...).

    Built by a module's runtime planner from the core's change record: ``changed`` and ``diff``
    (Ansible's diff format) come from the plan, ``apply`` carries it out and ``report`` is what the
    module returns about it. Planning only reads; check mode never calls ``apply``.
    """

    def __init__(self, changed, diff, apply, report):
        self.changed = changed
        self.diff = diff
        self.apply = apply
        self.report = report


def run_definition_module(module, kind, runtime=None, runtime_key="runtime"):
    """Write or remove one definition of ``kind`` and exit the module.

    ``runtime``, if given, is a planner ``runtime(module, before, after) -> [RuntimeStep]`` called
    with the stored definition (or None) and the desired one (None for state=absent) after the
    definition's own plan succeeded. With state=present the definition is written before the runtime
    steps are applied; with state=absent they are applied before it is removed, so a failing step
    leaves the definition in place and a rerun retries. The steps' reports are returned under
    ``runtime_key``.
    """
    require_stratos(module)
    try:
        result = _run(module, kind, runtime, runtime_key)
    except ValidationError as exc:
        module.fail_json(msg=str(exc), problems=[str(p) for p in exc.problems])
    except StratosError as exc:
        module.fail_json(msg=str(exc), error=type(exc).__name__, temporary=exc.temporary)
    else:
        module.exit_json(**result)


def _run(module, kind, runtime, runtime_key):
    params = module.params
    store = StateStore(params["state_dir"])
    name = params["name"]
    check_name(name)  # before it becomes part of a path
    before = _stored(store, kind, name)
    if params["state"] == "present":
        desired = parse_definition(read_body(params, kind), _source(params))
        change = store.plan_put(desired)
        after = desired
    else:
        change = store.plan_remove(kind, name)
        after = None
    steps = runtime(module, before, after) if runtime is not None else []

    if not module.check_mode:
        if after is not None:
            _apply_definition(store, change)
            for step in steps:
                step.apply()
        else:
            for step in steps:
                step.apply()
            _apply_definition(store, change)

    changed = change.changed or any(step.changed for step in steps)
    shown = change.after if change.after is not None else change.before
    result = dict(
        changed=changed,
        definition=yaml.safe_load(shown) if shown is not None else None,
        path=str(store.definition_path(kind, name)),
    )
    if runtime is not None:
        result[runtime_key] = [step.report for step in steps]
    if module._diff:
        result["diff"] = (
            [change.diff()] + [step.diff for step in steps] if runtime is not None else change.diff()
        )
    return result


def _apply_definition(store, change):
    if change.changed:
        store.ensure()
        store.apply(change)


def check_name(name):
    """Raise ValidationError unless ``name`` is a valid definition name (a DNS label)."""
    try:
        _NAME.validate_python(name)
    except pydantic.ValidationError as exc:
        rule = exc.errors()[0]["msg"].replace("Value error, ", "", 1)
        raise ValidationError([Problem("", "name", rule, name)]) from None


def _stored(store, kind, name):
    text = store.read(kind, name)
    if text is None:
        return None
    try:
        return parse_definition(yaml.safe_load(text), str(store.definition_path(kind, name)))
    except (ValidationError, yaml.YAMLError):
        return None  # an unreadable stored file is simply replaced (or removed)


def _source(params):
    return params.get("src") or ""


def read_body(params, kind):
    """The definition mapping from the module's parameters, with ``kind`` and ``name`` set.

    Raises ValidationError (naming the option) when the body cannot be read or disagrees with the
    module about the kind or the name.
    """
    name = params["name"]
    plural = KINDS[kind][1]
    at = "%s/%s" % (plural, name)
    if params.get("definition") is not None:
        data, source, base = dict(params["definition"]), "", None
    else:
        if params.get("builtin"):
            try:
                path = str(stratos_builtin.cartridge_file(params["builtin"]))
            except FileNotFoundError as exc:
                raise ValidationError([Problem("", "builtin", str(exc), params["builtin"])]) from None
        else:
            path = params["src"]
        data, source = _read_one_document(path, at), path
        base = os.path.dirname(os.path.abspath(path))
    problems = []
    for key, wanted in (("kind", kind), ("name", name)):
        if key in data and data[key] != wanted:
            problems.append(
                Problem(source, "%s.%s" % (at, key), "must be %r (as the module says)" % wanted, data[key])
            )
    if problems:
        raise ValidationError(problems)
    data["kind"], data["name"] = kind, name
    if base is not None:
        data = absolute_file_sources(data, base, source, at)
    return data


def _read_one_document(path, at):
    docs, problems = read_documents([path])
    if problems:
        raise ValidationError(problems)
    if len(docs) != 1 or not isinstance(docs[0].data, dict):
        raise ValidationError(
            [Problem(path, at, "the file must hold exactly one definition (a mapping)", has_value=False)]
        )
    return dict(docs[0].data)


def absolute_file_sources(data, base, source="", at=""):
    """Make a cartridge's ``image.build.files[].src`` absolute against ``base``, the directory of
    the definition's file, once each was checked to stay inside it (or STRATOS_FILES_ROOT).

    The stored definition must not depend on where the module read it from. Raises ValidationError
    naming the field when a source leaves its directory or is not a file.
    """
    image = data.get("image")
    build = image.get("build") if isinstance(image, dict) else None
    files = build.get("files") if isinstance(build, dict) else None
    if not isinstance(files, list):
        return data
    fixed, problems = [], []
    for i, entry in enumerate(files):
        if isinstance(entry, dict) and isinstance(entry.get("src"), str):
            try:
                source_file(Path(base), entry["src"])
            except ValueError as exc:
                field = "%s.image.build.files[%d].src" % (at, i)
                problems.append(Problem(source, field, str(exc), entry["src"]))
            if not os.path.isabs(entry["src"]):
                entry = dict(entry, src=os.path.normpath(os.path.join(base, entry["src"])))
        fixed.append(entry)
    if problems:
        raise ValidationError(problems)
    data = dict(data)
    data["image"] = dict(image, build=dict(build, files=fixed))
    return data
