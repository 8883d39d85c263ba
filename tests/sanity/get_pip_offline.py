"""A stand-in for ansible-test's pip bootstrap script (get-pip.py).

ansible-test creates its sanity-test virtual environments without pip and downloads get-pip.py from
ci-files.testing.ansible.com to put pip in them; that host is out of reach here, while the Python
package index is not. ansible-test takes the script from its cache when present, so tests/sanity/run.sh
places this file there: it installs the interpreter's bundled pip with ensurepip, then lets that pip
install what ansible-test asked for (its pinned pip version) like get-pip.py would.
"""

from __future__ import annotations

import subprocess
import sys

SKIPPED = ("--no-setuptools", "--no-wheel")


def main() -> None:
    args = [a for a in sys.argv[1:] if a not in SKIPPED]
    subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"])
    subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet", *args])
    if "--no-setuptools" in sys.argv:
        # ensurepip brings setuptools along on older Pythons; get-pip.py would not have.
        subprocess.call(
            [sys.executable, "-m", "pip", "uninstall", "--quiet", "--yes", "setuptools"],
            stderr=subprocess.DEVNULL,
        )


if __name__ == "__main__":
    main()
