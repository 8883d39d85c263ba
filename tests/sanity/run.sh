#!/usr/bin/env bash
# ansible-test sanity for the collection stratos.paas, with no ignore file.
#
# ansible-test wants the collection under ansible_collections/<namespace>/<name>/, so the collection
# is built into a tarball (galaxy.yml's build_ignore leaves out everything that is not collection
# content) and installed into .build/collections, and the tests run there.
#
# There is no container registry here, so --docker is impossible. ansible-test runs on the project's
# venv Python and creates, for each test that needs pinned tools (pylint, yamllint, voluptuous...),
# a virtual environment of its own under $HOME/.ansible/test/venv. HOME is pointed at .build/sanity-home
# so that those environments (and pip's cache) stay out of the user's home and are reused between runs;
# the first run installs them from the package index, later runs take a few seconds more than the tests.
# ansible-test's pip bootstrap comes from a host that is out of reach, so get_pip_offline.py stands in.
#
# Usage: tests/sanity/run.sh [extra ansible-test sanity arguments, e.g. --test validate-modules]
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
bin="${STRATOS_VENV:-$repo/.venv}/bin"
build="$repo/.build"
python_version="${SANITY_PYTHON:-3.11}"

cd "$repo"
start=$SECONDS
export ANSIBLE_COLLECTIONS_PATH="$build/collections"
rm -rf "$build/dist"
mkdir -p "$build/dist" "$build/collections"
"$bin/ansible-galaxy" collection build --force --output-path "$build/dist" >/dev/null
tarball=("$build"/dist/stratos-paas-*.tar.gz)
"$bin/ansible-galaxy" collection install --force -p "$build/collections" "${tarball[0]}" >/dev/null

cd "$build/collections/ansible_collections/stratos/paas"
# .build/ lies inside this repository's git work tree, where it is ignored, so ansible-test (which
# asks git for the file list when it finds a .git above it) would see no file at all. The installed
# copy becomes a repository of its own; untracked files count, tests/output does not.
rm -rf tests/output .git
git init -q .
printf '/tests/output/\n' > .git/info/exclude

export HOME="$build/sanity-home"
pip_version="$("$bin/python" - <<'PY'
import re
from ansible_test._internal import python_requirements as r
import inspect
print(re.search(r"pip='([0-9.]+)'", inspect.getsource(r.get_venv_packages)).group(1))
PY
)"
mkdir -p "$HOME/.ansible/test/cache"
cp "$repo/tests/sanity/get_pip_offline.py" "$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py"

# ansible-test finds python$python_version on PATH; make that the project's venv.
export PATH="$bin:$PATH"
status=0
"$bin/ansible-test" sanity --color no --python "$python_version" "$@" || status=$?
echo "ansible-test sanity: exit $status after $((SECONDS - start))s"
exit "$status"
