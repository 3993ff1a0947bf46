#!/usr/bin/env bash
# The long form of the randomized crash test (root): CRASH_CALLS interrupted node calls
# (default 2000) with the seeds given (default 1 2 3), each run's counts printed by
# tests/crash_random.sh. Not a timing benchmark: it reports convergence (attempts
# until success, calls that never converged) over many more crashes than the short
# form in scripts/test.sh.
# Usage: scripts/bench-crash.sh [SEED...]   (builds first)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/rbd-csi-target}
cargo build --release --locked -q
export CRASH_CALLS=${CRASH_CALLS:-2000}
seeds=("$@")
[ ${#seeds[@]} -gt 0 ] || seeds=(1 2 3)
rc=0
for s in "${seeds[@]}"; do
  echo "== seed $s, $CRASH_CALLS interrupted calls"
  CRASH_SEED=$s bash tests/crash_random.sh >"/tmp/bench-crash.$s.log" 2>&1 || rc=1
  grep -E '^# |passed' "/tmp/bench-crash.$s.log"
  grep '^not ok' "/tmp/bench-crash.$s.log" | head -5
done
exit $rc
