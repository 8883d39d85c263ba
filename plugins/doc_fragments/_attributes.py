# Copyright (c) Stratos as code contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0) or, at your option,
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: Apache-2.0 OR GPL-3.0-or-later

# This doc fragment is private to the collection: other collections must not rely on it.

from __future__ import annotations


class ModuleDocFragment:
    # The descriptions of the standard attributes (each module states its own level of support), and
    # the action group every module of the collection belongs to.
    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    description: Can run in C(check_mode) and return changed status prediction without modifying target.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in C(check_mode)), when in diff mode.
  idempotent:
    description:
      - When run twice in a row outside check mode, with the same arguments, the second invocation indicates no change.
      - This assumes that the system controlled/queried by the module has not changed in a relevant way.
  action_group:
    description: Use C(group/stratos.paas.stratos) in C(module_defaults) to set defaults (such as C(state_dir)) for this module.
    support: full
    membership:
      - stratos.paas.stratos
"""

    # Kept for modules that still name it: DOCUMENTATION documents the action group now.
    ACTIONGROUP_STRATOS = r"""
options: {}
"""

    # Use together with DOCUMENTATION by modules that only read.
    INFO_MODULE = r"""
options: {}
attributes:
  check_mode:
    support: full
    details:
      - This action does not modify state.
  diff_mode:
    support: N/A
    details:
      - This action does not modify state.
  idempotent:
    support: full
"""
