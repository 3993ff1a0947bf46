#!/usr/bin/env bash
# The kernel RBD node path end to end in a real kernel: a User-Mode Linux guest (Debian's
# 6.1 kernel with rbd.ko; this host's kernel has none) runs tests/guest/krbd.sh, which
# starts a Ceph cluster and the driver inside the guest.
#
# The guest sees the host's tree except /tmp, /run and /dev/shm (fresh tmpfs there), and
# the clone may live under /tmp: the guest-side files are copied into a bundle under
# /var/tmp first (the binary already lives there).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export RBD_CSI_BIN=${RBD_CSI_BIN:-${CARGO_TARGET_DIR:-/var/tmp/rbd-csi-target}/release/rbd-csi}
export RIG_TIMEOUT=${RIG_TIMEOUT:-900}
case "$RBD_CSI_BIN" in /tmp/* | /run/* | /dev/shm/*) echo "krbd: $RBD_CSI_BIN is not visible in the guest" >&2; exit 1 ;; esac
bundle=$(mktemp -d /var/tmp/rbd-csi-krbd.XXXXXX)
trap 'rm -rf "$bundle"' EXIT
mkdir -p "$bundle/tests/guest" "$bundle/scripts"
cp "$here/lib.sh" "$bundle/tests/"
cp "$here/guest/krbd.sh" "$bundle/tests/guest/"
cp "$here/../scripts/ceph-cluster.sh" "$bundle/scripts/"
rc=0
"$here/../scripts/run-in-guest.sh" "$bundle/tests/guest/krbd.sh" || rc=$?
exit $rc
