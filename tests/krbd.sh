#!/usr/bin/env bash
# The kernel RBD node path end to end in a real kernel: a User-Mode Linux guest (Debian's
# 6.1 kernel with rbd.ko; this host's kernel has none) runs tests/guest/krbd.sh, which
# starts a Ceph cluster and the driver inside the guest (KRBD_GUEST=NAME runs
# tests/guest/NAME instead).
#
# The guest sees the host's tree except /tmp, /run and /dev/shm (fresh tmpfs there), and
# the clone may live under /tmp: the guest-side files and the binary are copied into a
# bundle under /var/tmp first.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export RBD_CSI_BIN=${RBD_CSI_BIN:-${CARGO_TARGET_DIR:-/var/tmp/rbd-csi-target}/release/rbd-csi}
export RIG_TIMEOUT=${RIG_TIMEOUT:-900}
case "$RBD_CSI_BIN" in /tmp/* | /run/* | /dev/shm/*) echo "krbd: $RBD_CSI_BIN is not visible in the guest" >&2; exit 1 ;; esac
bundle=$(mktemp -d /var/tmp/rbd-csi-krbd.XXXXXX)
trap 'rm -rf "$bundle"' EXIT
mkdir -p "$bundle/tests/guest" "$bundle/scripts"
cp "$here/lib.sh" "$bundle/tests/"
# The guest gets no environment from here: it runs the bundle's own copy of the
# binary (so RBD_CSI_BIN counts, and a rebuild during the run cannot change it).
cp "$RBD_CSI_BIN" "$bundle/rbd-csi"
guest=${KRBD_GUEST:-krbd.sh}
{ head -n1 "$here/guest/$guest"; echo "export RBD_CSI_BIN=$bundle/rbd-csi"; tail -n +2 "$here/guest/$guest"; } >"$bundle/tests/guest/$guest"
cp "$here/../scripts/ceph-cluster.sh" "$bundle/scripts/"
rc=0
"$here/../scripts/run-in-guest.sh" "$bundle/tests/guest/$guest" || rc=$?
exit $rc
