# Copyright (c) Stratos as code contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0) or, at your option,
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: Apache-2.0 OR GPL-3.0-or-later

# This module utility is private to stratos.paas: its API may change without notice and other
# collections must not import it.
#
# The edge between Ansible and the Stratos core: the argument specs matching the doc fragments in
# plugins/doc_fragments/, the guarded import of the core, and run_with_core(), the one place where
# the core's typed errors become fail_json and its plan becomes the module's result and diff.

from __future__ import annotations

import traceback
from contextlib import closing

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.stratos.paas.plugins.module_utils._diff import plan_diff

try:
    from stratos import operations as core
    from stratos.errors import StratosError, ValidationError
except ImportError:
    core = None
    STRATOS_IMPORT_ERROR = traceback.format_exc()
else:
    STRATOS_IMPORT_ERROR = None
HAS_STRATOS = core is not None

try:
    from stratos.drivers.docker import ClientPool
except ImportError:
    DOCKER_IMPORT_ERROR = traceback.format_exc()
else:
    DOCKER_IMPORT_ERROR = None

#: The pip distribution that provides the core package (named in the "missing library" message).
STRATOS_LIBRARY = "stratos-paas"

#: Options of every module that uses the state directory (doc fragment stratos.paas.common).
STATE_DIR_SPEC = dict(
    state_dir=dict(type="path", default="/var/lib/stratos"),
)

#: The state option of the modules that make something exist or not.
STATE_SPEC = dict(state=dict(type="str", choices=["present", "absent"], default="present"))

#: Options of every definition module (doc fragment stratos.paas.common.definition).
DEFINITION_SPEC = dict(
    STATE_SPEC,
    name=dict(type="str", required=True),
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
    spec = dict(STATE_DIR_SPEC, **DEFINITION_SPEC)
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


def definition_options(params):
    """The core's keyword arguments for the definition named by a definition module's options."""
    options = dict(present=params["state"] == "present", definition=params["definition"], src=params["src"])
    if "builtin" in params:
        options["builtin"] = params["builtin"]
    return options


def require_stratos(module):
    """Fail with Ansible's usual message when the core package cannot be imported."""
    if not HAS_STRATOS:
        module.fail_json(msg=missing_required_lib(STRATOS_LIBRARY), exception=STRATOS_IMPORT_ERROR)


def require_core(module, import_error=None):
    """Fail with Ansible's usual message when the core (or, ``import_error``: the traceback of a
    module's import of the core's drivers, the docker SDK) cannot be imported."""
    require_stratos(module)
    if import_error is not None:
        module.fail_json(
            msg=missing_required_lib("%s (with the docker SDK)" % STRATOS_LIBRARY), exception=import_error
        )


def run_with_core(module, operation, diff_list=False, diff_first=False):
    """Plan with ``operation()`` (one call of a core operation, returning its plan), carry the plan
    out unless in check mode, and exit the module with the plan's report, ``changed`` and diff.

    The one place where the core's errors become fail_json. What the plan's ``apply`` returns (a
    mapping) updates the report; the report's ``warnings`` are Ansible warnings; an error with
    ``details`` (a wait that ended) adds them to the result. ``diff_list``: the diff is a list even
    for one change; ``diff_first``: the first change's diff alone.
    """
    require_stratos(module)
    result = {}
    try:
        plan = operation()
        result = dict(plan.report, changed=plan.changed)
        if module._diff and plan.changes:
            result["diff"] = plan_diff(plan, diff_list, diff_first)
        if not module.check_mode:
            result.update(plan.apply() or {})
    except ImportError:  # a driver's library (the docker SDK) is missing
        module.fail_json(
            msg=missing_required_lib("%s (with the docker SDK)" % STRATOS_LIBRARY),
            exception=traceback.format_exc(),
        )
    except ValidationError as exc:
        module.fail_json(msg=str(exc), problems=[str(p) for p in exc.problems])
    except StratosError as exc:
        details = getattr(exc, "details", None)
        if isinstance(details, dict):
            module.fail_json(msg=str(exc), **dict(result, **details))
        module.fail_json(msg=str(exc), error=type(exc).__name__, temporary=exc.temporary)
    for warning in result.pop("warnings", ()):
        module.warn(warning)
    module.exit_json(**result)


def run_with_docker(module, operation, diff_list=True):
    """run_with_core() for an operation that drives Docker: ``operation(pool)`` gets one
    ClientPool, closed when the module exits; fail as usual when the docker SDK is missing."""
    require_core(module, DOCKER_IMPORT_ERROR)
    with closing(ClientPool()) as pool:
        run_with_core(module, lambda: operation(pool), diff_list=diff_list)


def run_definition_module(module, kind):
    """Write or remove one definition of ``kind`` (core.apply_definition) and exit the module."""
    params = module.params
    run_with_core(
        module,
        lambda: core.apply_definition(
            params["state_dir"], kind, params["name"], **definition_options(params)
        ),
    )


def definition_of(params, kind):
    """The definition a module's options give (state=present), parsed by the core; None for absent."""
    options = definition_options(params)
    return core.definition_from(kind, params["name"], **options)
