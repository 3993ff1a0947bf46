#!/usr/bin/env bash
# The kernel RBD node path end to end in a real kernel: a User-Mode Linux guest (Debian's
# 6.1 kernel with rbd.ko; this host's kernel has none) runs tests/guest/krbd.sh, which
# starts a Ceph cluster and the driver inside the guest.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export RBD_CSI_BIN=${RBD_CSI_BIN:-${CARGO_TARGET_DIR:-/var/tmp/rbd-csi-target}/release/rbd-csi}
export RIG_TIMEOUT=${RIG_TIMEOUT:-900}
exec "$here/../scripts/run-in-guest.sh" "$here/guest/krbd.sh"
