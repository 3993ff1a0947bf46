#!/usr/bin/env bash
# Latency of healthy volumes while k others hang in the kernel, against none hanging,
# measured in one run (root; a private mount namespace; bindfs; not a test).
# A server with --workers W (default 4, stuck-after default); BENCH_N healthy volumes
# (default 30) each go through create, stage, publish, stats, unpublish, unstage and
# delete, one call at a time, timed with the client process included:
#   round 1: nothing hangs;
#   round 2: k = 2 x W NodeStage calls are blocked under a FUSE filesystem (bindfs)
#            whose daemon is stopped, fired just before the round starts.
# Prints p50 / p95 / max per method for both rounds and the ratio of the medians,
# and how many healthy calls failed. BENCH_BIN measures another binary (one without
# --stuck-after: set BENCH_FLAGS= to drop the flags it does not know).
set -euo pipefail
if [ -z "${RBD_CSI_IN_NS:-}" ]; then
  exec unshare -m --propagation private env RBD_CSI_IN_NS=1 bash "$0" "$@"
fi
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/rbd-csi-target}
[ -n "${BENCH_BIN:-}" ] || cargo build --release --locked -q
BIN=${BENCH_BIN:-$CARGO_TARGET_DIR/release/rbd-csi}
W=${BENCH_WORKERS:-4}
N=${BENCH_N:-30}
K=$((2 * W))
T=$(mktemp -d /tmp/rbd-csi-bench-hung.XXXXXX)
PID= FUSE_PID=
cleanup() {
  # The server goes first: a stage still blocked under FUSE must not go on (and attach
  # a loop device) once the daemon runs again. Every step may fail (set -e is on).
  if [ -n "$PID" ]; then { kill -9 "$PID"; wait "$PID"; } 2>/dev/null || true; fi
  if [ -n "$FUSE_PID" ]; then kill -CONT "$FUSE_PID" 2>/dev/null || true; fi
  umount -l "$T/fuse" 2>/dev/null || true
  if [ -n "$FUSE_PID" ]; then kill "$FUSE_PID" 2>/dev/null || true; fi
  wait 2>/dev/null || true
  awk -v t="$T" 'index($5, t "/") == 1 {print $5}' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  for f in /sys/block/loop*/loop/backing_file; do
    [ -e "$f" ] || continue
    case "$(cat "$f")" in "$T"/*) d=${f#/sys/block/}; losetup -d "/dev/${d%%/*}" 2>/dev/null || true ;; esac
  done
  [ -n "${BENCH_KEEP_LOG:-}" ] && cp "$T/server.log" "$BENCH_KEEP_LOG"
  rm -rf "$T"
}
trap cleanup EXIT
now_ms() { date +%s%3N; }
mkdir -p "$T/real" "$T/fuse" "$T/k"
bindfs -f "$T/real" "$T/fuse" 2>/dev/null &
FUSE_PID=$!
for _ in $(seq 1 100); do mountpoint -q "$T/fuse" && break; sleep 0.05; done
EP=$T/csi.sock
# shellcheck disable=SC2086
"$BIN" serve --endpoint "$EP" --data-dir "$T/data" --workers "$W" ${BENCH_FLAGS-} >"$T/server.log" 2>&1 &
PID=$!
for _ in $(seq 1 200); do "$BIN" client --endpoint "$EP" --timeout 1 Probe >/dev/null 2>&1 && break; sleep 0.05; done
c() { "$BIN" client --endpoint "$EP" --timeout "${BENCH_TIMEOUT:-60}" "$@"; }
create() { c CreateVolume --name "$1" --required-bytes 16M --fs-type ext4 | python3 -c 'import json,sys; print(json.load(sys.stdin)["volume"]["volume_id"])'; }

round() { # round NAME: the healthy workload, timings in $T/lat.NAME
  local name=$1 i v s out=$T/lat.$1
  : >"$out"
  t() { local m=$1 s; s=$(now_ms); if c "$@" >/dev/null 2>&1; then echo "$m $(( $(now_ms) - s ))" >>"$out"; else echo "$m FAIL" >>"$out"; return 1; fi; }
  for i in $(seq 1 "$N"); do
    s=$(now_ms)
    v=$(create "healthy-$name-$i" 2>/dev/null) || { echo "CreateVolume FAIL" >>"$out"; continue; }
    echo "CreateVolume $(( $(now_ms) - s ))" >>"$out"
    t NodeStageVolume --volume-id "$v" --staging-path "$T/k/s/$v" --fs-type ext4 &&
      t NodePublishVolume --volume-id "$v" --staging-path "$T/k/s/$v" --target-path "$T/k/t/$v" --fs-type ext4 &&
      t NodeGetVolumeStats --volume-id "$v" --volume-path "$T/k/t/$v" &&
      t NodeUnpublishVolume --volume-id "$v" --target-path "$T/k/t/$v" &&
      t NodeUnstageVolume --volume-id "$v" --staging-path "$T/k/s/$v" &&
      t DeleteVolume --volume-id "$v" || true
  done
}

round calm
for i in $(seq 1 "$K"); do v=$(create "hung-$i"); echo "$v" >>"$T/hung.ids"; done
kill -STOP "$FUSE_PID"
sleep 1.5 # past FUSE's entry cache
while read -r v; do
  c NodeStageVolume --volume-id "$v" --staging-path "$T/fuse/s/$v" --fs-type ext4 >/dev/null 2>&1 &
done <"$T/hung.ids"
sleep 0.2
round hung
threads=$(grep -l '^rbd-csi-worker' /proc/"$PID"/task/*/comm 2>/dev/null | wc -l)

python3 - "$T/lat.calm" "$T/lat.hung" "$W" "$K" "$N" "$threads" <<'EOF'
import sys, collections
def load(p):
    by, fails = collections.defaultdict(list), 0
    for line in open(p):
        m, v = line.split()
        if v == "FAIL": fails += 1
        else: by[m].append(int(v))
    for v in by.values(): v.sort()
    return by, fails
calm, cf = load(sys.argv[1]); hung, hf = load(sys.argv[2])
W, K, N, threads = sys.argv[3:7]
pct = lambda v, q: v[min(len(v) - 1, int(len(v) * q))] if v else float("nan")
print(f"healthy volumes: {N}, --workers {W}; round 2 with {K} NodeStage calls hung in the kernel "
      f"({threads} worker threads at its end; client process included in every time)")
print(f"{'method':20} {'calm p50/p95/max ms':>22} {'k hung p50/p95/max ms':>24} {'p50 ratio':>10}")
for m in sorted(set(calm) | set(hung)):
    a, b = calm.get(m, []), hung.get(m, [])
    r = pct(b, .5) / pct(a, .5) if a and b else float("nan")
    print(f"{m:20} {pct(a,.5):>8}/{pct(a,.95):>5}/{(a or [0])[-1]:>6} {pct(b,.5):>9}/{pct(b,.95):>5}/{(b or [0])[-1]:>7} {r:>9.2f}x")
print(f"failed healthy calls: calm {cf}, with k hung {hf}")
EOF
