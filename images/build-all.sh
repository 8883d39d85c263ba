#!/usr/bin/env bash
# Build every image the project needs, idempotently: the Debian base (when it is a local
# stratos/* image), the standard cartridges (php, mysql, haproxy) and the agent.
#
# Usage: images/build-all.sh [--force]
#   STRATOS_BASE_IMAGE  base of every image (default stratos/debian:bookworm, built here by
#                       debootstrap; any other name, e.g. debian:bookworm-slim, is pulled instead)
#   PYTHON              interpreter with the project installed (default .venv/bin/python, python3)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
FORCE=()
for arg in "$@"; do
    case "$arg" in
        --force) FORCE=(--force) ;;
        *) echo "build-all: unknown argument '$arg' (expected --force)" >&2; exit 2 ;;
    esac
done
export STRATOS_BASE_IMAGE="${STRATOS_BASE_IMAGE:-stratos/debian:bookworm}"
PYTHON="${PYTHON:-}"
if [[ -z "$PYTHON" ]]; then
    if [[ -x "$REPO/.venv/bin/python" ]]; then PYTHON="$REPO/.venv/bin/python"; else PYTHON=python3; fi
fi

# The fast path of a rerun: the stamp records a hash of everything the images are made of (this
# directory, the core package with its cartridges and templates, the agent wheel's sources, the
# settings below) and the id of every tag the full path left. When the hash is the same and one
# `docker image inspect` finds every tag still naming its recorded id (nothing rebuilt, retagged
# or removed them, e.g. another checkout on the same engine), nothing can have changed: the full
# path (a Python process per image set, a copy and hash of the agent's sources) is skipped.
STAMP="$REPO/.build/images.stamp"
sources_hash() {
    "$PYTHON" -I -S - "$REPO" <<'PY'
import hashlib, os, pathlib, sys
repo = pathlib.Path(sys.argv[1])
h = hashlib.sha256(b"stratos-images-v1\0")
for name in ("STRATOS_BASE_IMAGE", "STRATOS_AGENT_IMAGE_TAG", "STRATOS_DEBIAN_MIRROR"):
    h.update(f"{name}={os.environ.get(name, '')}\0".encode())
roots = [repo / n for n in ("images", "stratos", "pulumi_stratos", "pyproject.toml", "README.md", "LICENSE")]
for root in roots:
    paths = [root] if root.is_file() else sorted(root.rglob("*")) if root.is_dir() else []
    for path in paths:
        if not path.is_file() or "__pycache__" in path.parts or path.suffix == ".pyc":
            continue
        mode = "%o" % (path.stat().st_mode & 0o777)
        h.update(f"{path.relative_to(repo)}\0{mode}\0".encode() + hashlib.sha256(path.read_bytes()).digest())
print(h.hexdigest())
PY
}
# "<tag> <id>" for each tag, or nothing when one is missing.
tag_ids() {
    local ids
    ids="$(docker image inspect -f '{{.Id}}' "$@" 2>/dev/null)" || return 0
    paste -d' ' <(printf '%s\n' "$@") <(printf '%s\n' "$ids")
}
HASH="$(sources_hash)"
if [[ ${#FORCE[@]} -eq 0 && -s "$STAMP" ]] && [[ "$(head -n1 "$STAMP")" == "$HASH" ]]; then
    mapfile -t recorded < <(tail -n +2 "$STAMP")
    tags=()
    for line in "${recorded[@]}"; do tags+=("${line%% *}"); done
    if [[ ${#tags[@]} -gt 0 && "$(tag_ids "${tags[@]}")" == "$(printf '%s\n' "${recorded[@]}")" ]]; then
        echo "build-all: ${#tags[@]} images up to date (sources hash ${HASH:0:12}, stamp $STAMP)"
        exit 0
    fi
fi
rm -f "$STAMP"

if [[ "$STRATOS_BASE_IMAGE" == stratos/* ]]; then
    STRATOS_BASE_IMAGE_TAG="$STRATOS_BASE_IMAGE" "$HERE/build-base-image.sh" "${FORCE[@]}"
fi

TAGS_FILE="$(mktemp /tmp/stratos-build-all.XXXXXX)"
trap 'rm -f "$TAGS_FILE"' EXIT
"$PYTHON" - "${FORCE[@]}" "$TAGS_FILE" <<'PY'
import sys
from stratos import builtin, images
from stratos.validation import load

force = "--force" in sys.argv[1:]
client = images.docker_client()
definitions = load([str(d) for d in builtin.cartridge_dirs()])
for name, cartridge in sorted(definitions.cartridges.items()):
    if cartridge.image.build is None:
        continue
    source_dir = builtin.cartridge_file(name).parent
    result = images.build_image(client, cartridge, source_dir=source_dir, force=force)
    verb = "built" if result.built else "up to date"
    print(f"build-all: {result.tag} {verb} ({result.image_id[7:19]}) in {result.seconds:.1f}s")
    with open(sys.argv[-1], "a") as tags:
        tags.write(result.tag + "\n")
PY

"$HERE/build-agent-image.sh" "${FORCE[@]}"

# The stamp: the hash, then every tag this run checked or built with the id it names now.
VERSION="$(sed -n 's/^version *= *"\(.*\)"/\1/p' "$REPO/pyproject.toml" | head -n1)"
tags=()
[[ "$STRATOS_BASE_IMAGE" == stratos/* ]] && tags+=("$STRATOS_BASE_IMAGE")
mapfile -t -O "${#tags[@]}" tags <"$TAGS_FILE"
tags+=("${STRATOS_AGENT_IMAGE_TAG:-stratos/agent:$VERSION}")
[[ -n "${STRATOS_AGENT_IMAGE_TAG:-}" ]] || tags+=("stratos/agent:latest")
ids="$(tag_ids "${tags[@]}")"
if [[ -n "$ids" ]]; then
    mkdir -p "$(dirname "$STAMP")"
    printf '%s\n%s\n' "$HASH" "$ids" >"$STAMP.tmp" && mv "$STAMP.tmp" "$STAMP"
fi
