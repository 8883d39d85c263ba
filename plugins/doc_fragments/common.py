# Copyright (c) Stratos as code contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0) or, at your option,
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: Apache-2.0 OR GPL-3.0-or-later

# Options shared by the modules of stratos.paas. The matching argument specs are in
# plugins/module_utils/_common.py; keep the two in step.

from __future__ import annotations


class ModuleDocFragment:
    # Every module that reads or writes the host's state directory.
    DOCUMENTATION = r"""
author:
  - Stratos as code maintainers (@stratos-as-code)
options:
  state_dir:
    description:
      - The Stratos state directory on the managed host.
      - Definitions are kept there as C(definitions/<kind>/<name>.yml), one file per definition,
        next to secrets, link files, LB configuration and the agent's database.
      - Set it for all modules at once with C(module_defaults) and C(group/stratos.paas.stratos).
    type: path
    default: /var/lib/stratos
requirements:
  - The Python package C(stratos-paas) (the Stratos core) on the managed host, in the Python that runs the module.
notes:
  - The Stratos core does the work; these modules validate with it, plan with it and apply its plan.
"""

    # Modules that manage one definition of one kind (a module may state its attributes otherwise).
    DEFINITION = r"""
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details:
      - The diff shows the stored definition file before and after, in canonical YAML.
  idempotent:
    support: full
options:
  name:
    description:
      - The name of the definition, a DNS label (lowercase letters, digits and C(-), 1 to 63 characters).
      - Other definitions refer to it by this name.
    type: str
    required: true
  state:
    description:
      - V(present) validates the definition, checks its references against the definitions already
        in O(state_dir), and writes it when it differs from the stored one.
      - V(absent) removes the stored definition. It fails, naming them, while other definitions still
        refer to it.
    type: str
    choices: [present, absent]
    default: present
  definition:
    description:
      - The definition's fields in the native format, as documented by C(stratos schema --kind <Kind>)
        and in C(examples/seed-demo) of the Stratos sources.
      - The module sets C(kind) and C(name); if the mapping carries them they must agree with the module
        and with O(name).
      - Unknown fields, wrong types, values out of range and references to undefined definitions are
        errors that name the field, the rule and the value; nothing is written then.
      - One of O(definition) or O(src) is required when O(state=present).
    type: dict
  src:
    description:
      - Path, on the managed host, of a YAML file holding the definition (one document) in the native format.
      - Relative C(src) paths of files inside the definition are resolved against the directory of this file.
      - Mutually exclusive with O(definition).
    type: path
"""
