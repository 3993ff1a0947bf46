#!/usr/bin/env bash
# Local-backend node benchmarks (root; a private mount namespace; not a test). Prints
# ratios against baselines measured in the same run:
#  1. 32 volumes staged + published at once, vs the same loop attach + mkfs + mount +
#     bind done by a bare shell loop with the same parallelism   (goal <= 1.15x)
#  2. 100 identical NodeStage calls at once: executions and ABORTED replies (goal 1, 0)
#  3. NodeGetVolumeStats on a freshly started server (default flags): server CPU per
#     call and calls/s with 16 clients, and the server's RSS before and after 10k calls
#     (goal < 0.15 ms CPU/call, RSS < 12 MiB);
#     CPU per call is also shown against GetPluginInfo (an RPC that does no work).
# Usage: scripts/bench.sh   (builds first; BENCH_N overrides the 32; BENCH_BIN another binary)
set -euo pipefail
if [ -z "${RBD_CSI_IN_NS:-}" ]; then
  exec unshare -m --propagation private env RBD_CSI_IN_NS=1 bash "$0" "$@"
fi
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/rbd-csi-target}
cargo build --release --locked -q
# BENCH_BIN=…/x86_64-unknown-linux-musl/release/rbd-csi measures the static build.
BIN=${BENCH_BIN:-$CARGO_TARGET_DIR/release/rbd-csi}
N=${BENCH_N:-32}
T=$(mktemp -d /tmp/rbd-csi-bench.XXXXXX)
PID=
cleanup() {
  [ -n "$PID" ] && kill -9 "$PID" 2>/dev/null
  wait 2>/dev/null || true
  awk -v t="$T" 'index($5, t "/") == 1 {print $5}' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  for f in /sys/block/loop*/loop/backing_file; do
    [ -e "$f" ] || continue
    case "$(cat "$f")" in "$T"/*) d=${f#/sys/block/}; losetup -d "/dev/${d%%/*}" 2>/dev/null || true ;; esac
  done
  rm -rf "$T"
}
trap cleanup EXIT
now() { date +%s.%N; }
JOBS=()
waitjobs() { local j; for j in "${JOBS[@]}"; do wait "$j" || true; done; JOBS=(); }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
rss_split() { awk '/^RssAnon|^RssFile/ {printf "%s %.1f MiB ", $1, $2 / 1024}' "/proc/$1/status"; }
EP=$T/csi.sock
c() { "$BIN" client --endpoint "$EP" "$@"; }

# --- 1. parallel stage + publish vs a bare shell loop ----------------------------
mkdir -p "$T/shell"
t0=$(now)
for i in $(seq 1 "$N"); do
  (
    f=$T/shell/v$i.img
    truncate -s 64M "$f"
    dev=$(losetup -f --show "$f")
    mkfs.ext4 -q -F -m0 -E nodiscard,lazy_itable_init=1,lazy_journal_init=1 "$dev"
    mkdir -p "$T/shell/s$i" "$T/shell/p$i"
    mount -t ext4 "$dev" "$T/shell/s$i"
    mount --bind "$T/shell/s$i" "$T/shell/p$i"
  ) &
  JOBS+=($!)
done
waitjobs
t_shell=$(echo "$(now) - $t0" | bc)

"$BIN" serve --endpoint "$EP" --data-dir "$T/data" --workers "$N" --log-level debug 2>"$T/server.log" &
PID=$!
for _ in $(seq 1 100); do [ -S "$EP" ] && break; sleep 0.05; done
ids=()
for i in $(seq 1 "$N"); do
  ids+=("$(c CreateVolume --name "b$i" --required-bytes 64M --fs-type ext4 | python3 -c 'import json,sys; print(json.load(sys.stdin)["volume"]["volume_id"])')")
done
t0=$(now)
for i in $(seq 1 "$N"); do
  (
    v=${ids[$((i - 1))]}
    # A failed call is counted, never timed as a success.
    c NodeStageVolume --volume-id "$v" --staging-path "$T/d/s$i" --fs-type ext4 >/dev/null 2>>"$T/bench1.err" &&
      c NodePublishVolume --volume-id "$v" --staging-path "$T/d/s$i" --target-path "$T/d/p$i" --fs-type ext4 >/dev/null 2>>"$T/bench1.err" ||
      echo "$i" >>"$T/bench1.failed"
  ) &
  JOBS+=($!)
done
waitjobs
t_driver=$(echo "$(now) - $t0" | bc)
failed=0
[ -f "$T/bench1.failed" ] && failed=$(wc -l <"$T/bench1.failed")
printf '1. %d volumes staged+published at once: driver %.2fs, bare shell %.2fs, ratio %.2fx (goal <= 1.15x); %d failed (goal 0)\n' \
  "$N" "$t_driver" "$t_shell" "$(echo "$t_driver / $t_shell" | bc -l)" "$failed"
[ "$failed" -eq 0 ] || { echo "   failures:"; sort -u "$T/bench1.err" | head -5 | sed 's/^/   /'; }

# --- 2. 100 identical NodeStage calls at once -----------------------------------
v=$(c CreateVolume --name same --required-bytes 64M --fs-type ext4 | python3 -c 'import json,sys; print(json.load(sys.stdin)["volume"]["volume_id"])')
f0=$(grep -c "formatted .* as ext4" "$T/server.log" || true)
# Spawn all 100 first, then open a gate, so they arrive together (not one per fork).
for i in $(seq 1 100); do
  (while [ ! -e "$T/go" ]; do sleep 0.005; done
   c NodeStageVolume --volume-id "$v" --staging-path "$T/d/same" --fs-type ext4 >/dev/null 2>"$T/same.$i.err"; echo $? >"$T/same.$i.rc") &
  JOBS+=($!)
done
sleep 0.5
touch "$T/go"
waitjobs
ok=$(cat "$T"/same.*.rc | grep -cx 0 || true)
aborted=$(cat "$T"/same.*.rc | grep -cx 10 || true)
execs=$(grep -c "rpc=NodeStageVolume volume=\"$v\" executing" "$T/server.log" || true)
mounts=$(awk -v p="$T/d/same" '$5 == p' /proc/self/mountinfo | wc -l)
formats=$(( $(grep -c "formatted .* as ext4" "$T/server.log" || true) - f0 ))
first_done=$(grep -m1 "rpc=NodeStageVolume volume=\"$v\" code=OK" "$T/server.log" | cut -c2-24)
during=$(awk -v v="$v" -v t="$first_done" 'index($0, "rpc=NodeStageVolume volume=\"" v "\" executing") && substr($0, 2, 23) <= t' "$T/server.log" | wc -l)
echo "2. 100 identical NodeStage calls: $ok OK, $aborted ABORTED; $during execution while the first ran (goal 1), $execs in all"
echo "   (client processes take ~1 s to all connect: calls arriving after the first finished run again as no-op checks); $formats mkfs, $mounts mount"

# --- 3. NodeGetVolumeStats under 16 clients -------------------------------------
# A fresh server with default flags, as a node plugin runs (it finds the staged volumes
# from its stash): parts 1 and 2 had it hold 100 connections and 32 mkfs at once.
kill "$PID"; wait "$PID" 2>/dev/null || true
"$BIN" serve --endpoint "$EP" --data-dir "$T/data" 2>>"$T/server.log" &
PID=$!
for _ in $(seq 1 100); do c Probe >/dev/null 2>&1 && break; sleep 0.05; done
vol=${ids[0]} path=$T/d/p1
load() { # load METHOD ARGS...: 16 clients x 625 calls; prints "seconds cpu_ticks"
  local t0 c0 t1 c1
  c0=$(cpu_ticks "$PID"); t0=$(now)
  for _ in $(seq 1 16); do c --repeat 625 "$@" >/dev/null & JOBS+=($!); done
  waitjobs
  t1=$(now); c1=$(cpu_ticks "$PID")
  echo "$(echo "$t1 - $t0" | bc) $((c1 - c0))"
}
load GetPluginInfo >/dev/null # warm up
rss0=$(rss_kib "$PID")
read -r s_stats k_stats < <(load NodeGetVolumeStats --volume-id "$vol" --volume-path "$path")
rss1=$(rss_kib "$PID")
read -r s_info k_info < <(load GetPluginInfo)
hz=$(getconf CLK_TCK)
ms_stats=$(echo "$k_stats * 1000 / $hz / 10000" | bc -l)
ms_info=$(echo "$k_info * 1000 / $hz / 10000" | bc -l)
printf '3. NodeGetVolumeStats, 10k calls from 16 clients: %.3f ms server CPU/call (goal < 0.15), %.0f calls/s\n' \
  "$ms_stats" "$(echo "10000 / $s_stats" | bc -l)"
printf '   vs GetPluginInfo (no work): %.3f ms CPU/call, %.0f calls/s; ratio stats/empty %.2fx\n' \
  "$ms_info" "$(echo "10000 / $s_info" | bc -l)" "$(echo "$ms_stats / ($ms_info + 0.000001)" | bc -l)"
printf '   server RSS: %.1f MiB before, %.1f MiB after 10k stats calls (goal < 12 MiB); now %s\n' \
  "$(echo "$rss0 / 1024" | bc -l)" "$(echo "$rss1 / 1024" | bc -l)" "$(rss_split "$PID")"
echo "   (RssFile is the mapped binary and shared libraries: the static musl build maps far less)"
