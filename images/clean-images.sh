#!/usr/bin/env bash
# Remove every image the project builds, except the Debian base: the standard cartridges
# (stratos/cartridge-*), the agent (stratos/agent:*), the test registry and the tests' fixture
# images, every other stratos/* and stratos-test* tag, and every image Stratos built (label
# org.stratos.build-hash), dangling ones included. `make images` (or the tests' fixtures) build
# them again.
#
# Usage: images/clean-images.sh [--dry-run]
#   --dry-run               print what would be removed, remove nothing
#   STRATOS_BASE_IMAGE_TAG  the base image kept (default stratos/debian:bookworm)
#
# Nothing is forced: an image a container still uses (running or stopped) is kept, the script
# names the containers and exits 1 (remove them first, e.g. `make demo-down`).
set -euo pipefail

KEEP="${STRATOS_BASE_IMAGE_TAG:-stratos/debian:bookworm}"
DRY_RUN=0
for arg in "$@"; do
    case "$arg" in
        --dry-run) DRY_RUN=1 ;;
        -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "clean-images: unknown argument '$arg' (expected --dry-run)" >&2; exit 2 ;;
    esac
done
docker info >/dev/null 2>&1 || { echo "clean-images: no Docker Engine reachable (docker info failed)" >&2; exit 1; }

# Tags first (an image with several tags goes when its last tag does), then untagged images.
refs=()
ids=()
declare -A seen=()
while read -r id repo tag; do
    [[ -n "$id" ]] || continue
    if [[ "$repo" == "<none>" || "$tag" == "<none>" ]]; then
        [[ -n "${seen[$id]:-}" ]] || { seen[$id]=1; ids+=("$id"); }
        continue
    fi
    ref="$repo:$tag"
    [[ "$ref" == "$KEEP" ]] && continue
    [[ -n "${seen[$ref]:-}" ]] || { seen[$ref]=1; refs+=("$ref"); }
done < <(
    docker images --no-trunc --filter label=org.stratos.build-hash --format '{{.ID}} {{.Repository}} {{.Tag}}'
    docker images --no-trunc --format '{{.ID}} {{.Repository}} {{.Tag}}' | awk '$2 ~ /^(stratos\/|stratos-test)/'
)

if [[ ${#refs[@]} -eq 0 && ${#ids[@]} -eq 0 ]]; then
    echo "clean-images: no image to remove (kept $KEEP)"
    exit 0
fi
if [[ $DRY_RUN -eq 1 ]]; then
    for ref in "${refs[@]}"; do echo "clean-images: would remove $ref"; done
    for id in "${ids[@]}"; do echo "clean-images: would remove untagged ${id#sha256:}"; done
    echo "clean-images: would keep $KEEP"
    exit 0
fi

failed=()
remove() {  # remove one image reference; on a conflict say which containers use it
    local what="$1" out
    if out="$(docker image rm "$what" 2>&1)"; then
        echo "clean-images: removed $what"
    elif docker image inspect "$what" >/dev/null 2>&1; then
        local users
        users="$(docker ps -a --filter "ancestor=$what" --format '{{.Names}}' | paste -sd, -)"
        echo "clean-images: kept $what: ${users:+used by $users; }${out##*: }" >&2
        failed+=("$what")
    fi  # gone meanwhile (removed with an image it was the parent of): nothing to do
}
for ref in "${refs[@]}"; do remove "$ref"; done
for id in "${ids[@]}"; do remove "$id"; done
# Untagged images left by the removals above (the tag moved to another build while one ran).
while read -r id; do
    [[ -n "$id" && -z "${seen[$id]:-}" ]] || continue
    seen[$id]=1
    remove "$id"
done < <(docker images --no-trunc -q --filter dangling=true --filter label=org.stratos.build-hash)

if [[ ${#failed[@]} -gt 0 ]]; then
    echo "clean-images: ${#failed[@]} image(s) still in use, not removed; remove their containers first" >&2
    exit 1
fi
echo "clean-images: done (kept $KEEP)"
