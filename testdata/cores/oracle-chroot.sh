#!/bin/bash
# Create (idempotently) a Debian trixie chroot holding the oracle tools:
# crash 8.0.6, python3-drgn 0.0.31 and makedumpfile 1.7.6.
# Usage: oracle-chroot.sh [CHROOT]   (default: $CHROOT or /var/cache/kcrash/trixie-oracle)
set -euo pipefail
CHROOT=${1:-${CHROOT:-/var/cache/kcrash/trixie-oracle}}
# Use the same mirror host as this machine's apt sources.
MIRROR=${MIRROR:-$(grep -hoE 'https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null | grep -v security | head -n1 | tr -d ' ' || true)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
if [ -x "$CHROOT/usr/bin/crash" ] && chroot "$CHROOT" crash --version >/dev/null 2>&1; then
  echo "oracle chroot $CHROOT already usable"; exit 0
fi
command -v debootstrap >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y debootstrap
rm -rf "$CHROOT"
mkdir -p "$(dirname "$CHROOT")"
debootstrap --variant=minbase --include=crash,python3-drgn,makedumpfile trixie "$CHROOT" "$MIRROR"
chroot "$CHROOT" crash --version | head -n1
