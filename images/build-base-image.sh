#!/usr/bin/env bash
# Build the Debian bookworm base image that every Stratos image builds on, without a registry:
# debootstrap a minbase rootfs and `docker import` it.
#
# Usage: images/build-base-image.sh [--force]
#   STRATOS_BASE_IMAGE_TAG  tag to produce (default stratos/debian:bookworm)
#   STRATOS_DEBIAN_MIRROR   mirror for debootstrap (default http://deb.debian.org/debian)
#
# Idempotent: if the tag already exists it says so and exits 0; --force rebuilds.
set -euo pipefail

TAG="${STRATOS_BASE_IMAGE_TAG:-stratos/debian:bookworm}"
MIRROR="${STRATOS_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
SUITE=bookworm

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=images/lib.sh
source "$HERE/lib.sh"
parse_force_argument build-base-image 9 "$@"

if [[ $EUID -ne 0 ]]; then
    echo "build-base-image: debootstrap needs root" >&2
    exit 1
fi
for tool in debootstrap docker; do
    command -v "$tool" >/dev/null || { echo "build-base-image: '$tool' not found" >&2; exit 1; }
done

if [[ $FORCE -eq 0 ]] && docker image inspect "$TAG" >/dev/null 2>&1; then
    echo "build-base-image: $TAG already exists ($(docker image inspect -f '{{.Id}}' "$TAG")); nothing to do (use --force to rebuild)"
    exit 0
fi

ROOTFS="$(mktemp -d /tmp/stratos-rootfs.XXXXXX)"
cleanup() {
    # debootstrap may leave /proc or /sys mounted on failure; unmount before deleting.
    for mnt in proc sys dev/pts dev; do
        mountpoint -q "$ROOTFS/$mnt" 2>/dev/null && umount -l "$ROOTFS/$mnt" || true
    done
    rm -rf --one-file-system "$ROOTFS"
}
trap cleanup EXIT

start=$(date +%s)
echo "build-base-image: debootstrap --variant=minbase $SUITE into $ROOTFS"
debootstrap --variant=minbase "$SUITE" "$ROOTFS" "$MIRROR" >"$ROOTFS.log" 2>&1 || {
    tail -n 30 "$ROOTFS.log" >&2
    rm -f "$ROOTFS.log"
    echo "build-base-image: debootstrap failed" >&2
    exit 1
}
rm -f "$ROOTFS.log"

cat >"$ROOTFS/etc/apt/sources.list" <<EOF
deb http://deb.debian.org/debian $SUITE main
deb http://deb.debian.org/debian $SUITE-updates main
deb http://deb.debian.org/debian-security $SUITE-security main
EOF

# Container-friendly apt defaults, as the official Debian images ship them.
cat >"$ROOTFS/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
cat >"$ROOTFS/etc/apt/apt.conf.d/docker-no-languages" <<'EOF'
Acquire::Languages "none";
EOF
cat >"$ROOTFS/etc/apt/apt.conf.d/docker-autoremove-suggests" <<'EOF'
Apt::AutoRemove::SuggestsImportant "false";
EOF
# Services must not start while packages are installed during image builds.
cat >"$ROOTFS/usr/sbin/policy-rc.d" <<'EOF'
#!/bin/sh
exit 101
EOF
chmod 0755 "$ROOTFS/usr/sbin/policy-rc.d"

# Stay small: no package lists, no caches, no logs, no man pages from the bootstrap.
rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/* "$ROOTFS"/var/cache/debconf/*-old \
       "$ROOTFS"/var/log/*.log "$ROOTFS"/var/log/apt/* "$ROOTFS"/tmp/* "$ROOTFS"/usr/share/man/* \
       "$ROOTFS"/usr/share/doc/*/changelog* "$ROOTFS"/usr/share/locale/*
mkdir -p "$ROOTFS/var/lib/apt/lists/partial"
# The host's identity must not leak into the image.
: >"$ROOTFS/etc/hostname"
: >"$ROOTFS/etc/resolv.conf"
rm -f "$ROOTFS/etc/machine-id" && : >"$ROOTFS/etc/machine-id"

echo "build-base-image: importing as $TAG"
tar --numeric-owner --xattrs -C "$ROOTFS" -c . | docker import \
    --change 'CMD ["/bin/bash"]' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'LABEL org.stratos.base=debian-bookworm-minbase' \
    --message "debootstrap --variant=minbase $SUITE" \
    - "$TAG" >/dev/null

size=$(docker image inspect -f '{{.Size}}' "$TAG")
echo "build-base-image: built $TAG ($((size / 1024 / 1024)) MiB) in $(( $(date +%s) - start ))s"
