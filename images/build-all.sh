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

if [[ "$STRATOS_BASE_IMAGE" == stratos/* ]]; then
    STRATOS_BASE_IMAGE_TAG="$STRATOS_BASE_IMAGE" "$HERE/build-base-image.sh" "${FORCE[@]}"
fi

"$PYTHON" - "${FORCE[@]}" <<'PY'
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
PY

"$HERE/build-agent-image.sh" "${FORCE[@]}"
