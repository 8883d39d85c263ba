"""The package as a Pulumi plugin: ``pulumi package add <path to pulumi_stratos>`` or a program's
``plugins.providers`` entry runs this file (see PulumiPlugin.yaml) and every Pulumi language gets
the components, their schema inferred from the type annotations.

Pulumi runs this file as a script from the plugin directory, which would then be first on
sys.path; the repository root goes there instead, so ``pulumi_stratos`` is imported as a package.
"""

import sys
from pathlib import Path

if __package__ in (None, ""):
    here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
    sys.path.insert(0, str(here.parent))

from pulumi.provider.experimental import component_provider_host  # noqa: E402

from pulumi_stratos import COMPONENTS, PACKAGE  # noqa: E402
from stratos.drivers.agent_container import package_version  # noqa: E402

if __name__ == "__main__":
    component_provider_host(COMPONENTS, PACKAGE, version=package_version())
