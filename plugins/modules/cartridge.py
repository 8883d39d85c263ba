#!/usr/bin/python
# Copyright (c) Stratos as code contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0) or, at your option,
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: Apache-2.0 OR GPL-3.0-or-later

from __future__ import annotations

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.stratos.paas.plugins.module_utils._common import (
    definition_module_args,
    run_definition_module,
)


def main():
    module = AnsibleModule(
        **definition_module_args(builtin=dict(type="str", choices=["php", "mysql", "haproxy"], body=True))
    )
    run_definition_module(module, "Cartridge")


if __name__ == "__main__":
    main()
