#!/usr/bin/env bash
# Build the Stratos agent image: the project's wheel installed in a venv (/opt/stratos) on the
# Debian base image, ENTRYPOINT ["stratos"].
#
# Usage: images/build-agent-image.sh [--force]
#   STRATOS_AGENT_IMAGE_TAG  tag to produce (default stratos/agent:<project version>, plus :latest)
#   STRATOS_BASE_IMAGE       base image (default stratos/debian:bookworm if present, else
#                            debian:bookworm-slim)
#   PYTHON                   interpreter that builds the wheel (default .venv/bin/python, python3)
#   STRATOS_BUILD_CA_BUNDLE  CA bundle pip in the build trusts, for a TLS-intercepting proxy
#                            (default: PIP_CERT, REQUESTS_CA_BUNDLE or SSL_CERT_FILE if set);
#                            used during the build only, not kept in the image, not hashed
#
# Idempotent: the image carries org.stratos.build-hash = sha256 of the Dockerfile, the sources the
# wheel is built from (pyproject.toml, README.md, LICENSE, stratos/, pulumi_stratos/: every file's
# path, mode and content) and the base image id; when the tag already has that hash nothing is
# built, not even the wheel.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
# shellcheck source=images/lib.sh
source "$HERE/lib.sh"
parse_force_argument build-agent-image 16 "$@"

PYTHON="${PYTHON:-}"
if [[ -z "$PYTHON" ]]; then
    if [[ -x "$REPO/.venv/bin/python" ]]; then PYTHON="$REPO/.venv/bin/python"; else PYTHON=python3; fi
fi
VERSION="$(sed -n 's/^version *= *"\(.*\)"/\1/p' "$REPO/pyproject.toml" | head -n1)"
[[ -n "$VERSION" ]] || { echo "build-agent-image: no version in pyproject.toml" >&2; exit 1; }
TAGS=("${STRATOS_AGENT_IMAGE_TAG:-stratos/agent:$VERSION}")
[[ -n "${STRATOS_AGENT_IMAGE_TAG:-}" ]] || TAGS+=("stratos/agent:latest")

if [[ -n "${STRATOS_BASE_IMAGE:-}" ]]; then
    BASE="$STRATOS_BASE_IMAGE"
elif docker image inspect stratos/debian:bookworm >/dev/null 2>&1; then
    BASE=stratos/debian:bookworm
else
    BASE=debian:bookworm-slim
fi
if ! BASE_ID="$(docker image inspect -f '{{.Id}}' "$BASE" 2>/dev/null)"; then
    echo "build-agent-image: pulling base image $BASE"
    docker pull -q "$BASE" >/dev/null || {
        echo "build-agent-image: base image $BASE is missing and cannot be pulled;" \
             "build one with images/build-base-image.sh" >&2
        exit 1
    }
    BASE_ID="$(docker image inspect -f '{{.Id}}' "$BASE")"
fi

start=$(date +%s)
WORK="$(mktemp -d /tmp/stratos-agent-build.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/src" "$WORK/context/wheels"

# Build the wheel from a copy, so the shared working tree gets no build/ or egg-info debris.
for item in pyproject.toml README.md LICENSE stratos pulumi_stratos; do
    [[ -e "$REPO/$item" ]] && cp -r "$REPO/$item" "$WORK/src/"
done
find "$WORK/src" \( -name __pycache__ -o -name '*.egg-info' \) -prune -exec rm -rf {} +
cp "$HERE/agent/Dockerfile" "$WORK/context/Dockerfile"

# Hash what the image is made of, before building anything: the wheel is a function of these
# sources (and of the build backend, whose version does not change what is installed).
HASH="$("$PYTHON" - "$WORK/src" "$WORK/context/Dockerfile" "$BASE_ID" <<'PY'
import hashlib, os, pathlib, sys
src, dockerfile, base_id = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), sys.argv[3]
h = hashlib.sha256(b"stratos-agent-v2\0")
h.update(dockerfile.read_bytes())
for path in sorted(p for p in src.rglob("*") if p.is_file()):
    mode = "%o" % (os.stat(path).st_mode & 0o777)
    h.update(f"{path.relative_to(src)}\0{mode}\0".encode() + hashlib.sha256(path.read_bytes()).digest())
h.update(base_id.encode())
print(h.hexdigest())
PY
)"

current="$(docker image inspect -f '{{index .Config.Labels "org.stratos.build-hash"}}' "${TAGS[0]}" 2>/dev/null || true)"
if [[ $FORCE -eq 0 && "$current" == "$HASH" ]]; then
    for tag in "${TAGS[@]:1}"; do docker tag "${TAGS[0]}" "$tag"; done
    echo "build-agent-image: ${TAGS[0]} is up to date (build hash ${HASH:0:12}); nothing to do"
    exit 0
fi

# Build isolation: the backend named in [build-system] requires, not whatever the venv holds.
SOURCE_DATE_EPOCH=315532800 "$PYTHON" -m pip wheel --quiet --no-deps \
    --wheel-dir "$WORK/context/wheels" "$WORK/src" >"$WORK/pip.log" 2>&1 || {
    cat "$WORK/pip.log" >&2
    echo "build-agent-image: building the wheel failed" >&2
    exit 1
}
mkdir -p "$WORK/context/build-ca"
CA_BUNDLE="${STRATOS_BUILD_CA_BUNDLE:-${PIP_CERT:-${REQUESTS_CA_BUNDLE:-${SSL_CERT_FILE:-}}}}"
if [[ -n "$CA_BUNDLE" && -s "$CA_BUNDLE" ]]; then
    cp "$CA_BUNDLE" "$WORK/context/build-ca/ca-bundle.crt"
fi

previous="$(docker image inspect -f '{{.Id}}' "${TAGS[0]}" 2>/dev/null || true)"
tag_args=()
[[ $FORCE -eq 1 ]] && tag_args+=(--no-cache)  # a forced build also refreshes the Debian packages
for tag in "${TAGS[@]}"; do tag_args+=(-t "$tag"); done
echo "build-agent-image: building ${TAGS[*]} on $BASE"
docker build --network host --rm --force-rm --quiet \
    --build-arg "BASE_IMAGE=$BASE" \
    --label "org.stratos.build-hash=$HASH" \
    --label "org.stratos.base-image=$BASE" \
    --label "org.stratos.version=$VERSION" \
    "${tag_args[@]}" "$WORK/context" >"$WORK/build.log" 2>&1 || {
    tail -n 40 "$WORK/build.log" >&2
    echo "build-agent-image: docker build failed" >&2
    exit 1
}
docker run --rm --network none --entrypoint python "${TAGS[0]}" -c "import stratos" || {
    echo "build-agent-image: the image cannot import stratos" >&2
    exit 1
}
# The image the tag used to name is garbage now, unless something still uses it.
new="$(docker image inspect -f '{{.Id}}' "${TAGS[0]}")"
if [[ -n "$previous" && "$previous" != "$new" ]]; then
    docker image rm "$previous" >/dev/null 2>&1 || true
fi
size=$(docker image inspect -f '{{.Size}}' "${TAGS[0]}")
echo "build-agent-image: built ${TAGS[*]} ($((size / 1024 / 1024)) MiB, hash ${HASH:0:12}) in $(( $(date +%s) - start ))s"
