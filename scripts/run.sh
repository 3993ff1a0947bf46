#!/usr/bin/env bash
# Builds rbd-csi and runs the plugin on the embedded local backend (root: it attaches
# loop devices and mounts). Extra arguments go to `rbd-csi serve`, e.g.
#   scripts/run.sh --endpoint unix:///tmp/csi.sock --data-dir /tmp/rbd-csi
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/rbd-csi-target}
scripts/install-deps.sh
cargo build --release --locked
exec "$CARGO_TARGET_DIR/release/rbd-csi" serve --backend local "$@"
