#!/usr/bin/env bash
# Molecule scenarios of the roles of the collection stratos.paas, on the local Docker Engine.
#
# The collection is built (galaxy.yml's build_ignore leaves out what is not collection content) and
# installed into .build/collections, and each role's default scenario runs from the role's directory
# against that installed copy: delegated driver, local connection, modules run by the venv's Python.
# Stops at the first failing scenario. Prints how long each scenario took.
#
# Usage: tests/molecule.sh [role ...]     (default: every role under roles/ that has a scenario)
#   STRATOS_VENV               the virtualenv with molecule and ansible-core (default: .venv)
#   STRATOS_TEST_AGENT_IMAGE   the agent image the autoscaler scenario runs (default: the role's,
#                              stratos/agent:<version>, which `make images` builds)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${STRATOS_VENV:-$repo/.venv}/bin"
build="$repo/.build"

# molecule runs ansible-playbook, ansible-config and ansible-galaxy from PATH.
export PATH="$bin:$PATH"
export ANSIBLE_COLLECTIONS_PATH="$build/collections"
export ANSIBLE_FORCE_COLOR="${ANSIBLE_FORCE_COLOR:-0}"

cd "$repo"
if [[ $# -gt 0 ]]; then
    roles=("$@")
else
    # The order a platform is built in first, then any other role with a scenario.
    roles=()
    for role in docker_host load_balancer autoscaler; do
        [[ -f "roles/$role/molecule/default/molecule.yml" ]] && roles+=("$role")
    done
    for scenario in roles/*/molecule/default/molecule.yml; do
        role="${scenario#roles/}"
        role="${role%%/*}"
        [[ " ${roles[*]} " == *" $role "* ]] || roles+=("$role")
    done
fi
[[ ${#roles[@]} -gt 0 ]] || { echo "molecule: no role has a scenario" >&2; exit 1; }
for role in "${roles[@]}"; do
    [[ -f "roles/$role/molecule/default/molecule.yml" ]] || {
        echo "molecule: roles/$role has no default scenario" >&2
        exit 2
    }
done

docker info >/dev/null 2>&1 || { echo "molecule: no Docker Engine reachable (docker info failed)" >&2; exit 1; }

start=$SECONDS
rm -rf "$build/dist"
mkdir -p "$build/dist" "$build/collections"
ansible-galaxy collection build --force --output-path "$build/dist" "$repo" >/dev/null
tarball=("$build"/dist/stratos-paas-*.tar.gz)
ansible-galaxy collection install --force -p "$build/collections" "${tarball[0]}" >/dev/null
echo "molecule: collection stratos.paas installed in $build/collections ($((SECONDS - start))s)"

# The docker_host scenario installs the core from a wheel built here from a clean copy of the
# sources (pip given the source tree itself would build in it and leave build/ behind).
wheels="$build/wheels"
rm -rf "$wheels" && mkdir -p "$wheels"
copy="$(mktemp -d /tmp/stratos-molecule-src.XXXXXX)"
trap 'rm -rf "$copy"' EXIT
for item in pyproject.toml README.md LICENSE stratos pulumi_stratos; do
    [[ -e "$repo/$item" ]] && cp -r "$repo/$item" "$copy/"
done
find "$copy" \( -name __pycache__ -o -name '*.egg-info' \) -prune -exec rm -rf {} +
python -m pip wheel --quiet --no-deps --wheel-dir "$wheels" "$copy" >"$build/wheel.log" 2>&1 || {
    cat "$build/wheel.log" >&2
    echo "molecule: building the wheel of the core failed" >&2
    exit 1
}
wheel=("$wheels"/stratos_paas-*.whl)
export STRATOS_TEST_PACKAGE="${wheel[0]}"
echo "molecule: core wheel $(basename "$STRATOS_TEST_PACKAGE") ($((SECONDS - start))s)"

timings=()
for role in "${roles[@]}"; do
    echo "molecule: ==== roles/$role ===="
    began=$SECONDS
    status=0
    (cd "roles/$role" && molecule test) || status=$?
    took=$((SECONDS - began))
    if [[ $status -ne 0 ]]; then
        timings+=("$(printf '%-16s %5ss  FAILED (exit %s)' "$role" "$took" "$status")")
        printf 'molecule: %s\n' "${timings[@]}"
        exit "$status"
    fi
    timings+=("$(printf '%-16s %5ss  passed' "$role" "$took")")
done
echo "molecule: role             time  result"
printf 'molecule: %s\n' "${timings[@]}"
echo "molecule: all scenarios passed in $((SECONDS - start))s"
