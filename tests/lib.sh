# Shared helpers for the shell integration tests. Source it; it sets `set -euo pipefail`.
# Each test gets a private temp dir ($T) that its EXIT trap removes, and starts the
# real binary on a socket inside it.
set -euo pipefail

# Root tests that mount run in a private mount namespace: they set PRIVATE_NS=1 before
# sourcing this file, which re-executes the test inside one (before any temp dir exists).
if [ "${PRIVATE_NS:-}" = 1 ] && [ -z "${RBD_CSI_IN_NS:-}" ]; then
  exec unshare -m --propagation private env RBD_CSI_IN_NS=1 bash "$0" "$@"
fi

BIN=${RBD_CSI_BIN:-${CARGO_TARGET_DIR:-/var/tmp/rbd-csi-target}/release/rbd-csi}
[ -x "$BIN" ] || { echo "rbd-csi binary not found at $BIN (build it or set RBD_CSI_BIN)" >&2; exit 1; }
T=$(mktemp -d /tmp/rbd-csi-test.XXXXXX)
PASSED=0
FAILED=0
SERVER_PIDS=()
CLEANUPS=()

# Mounts under $T (deepest first) and loop devices backed by files under $T.
our_mounts() { awk -v t="$T" '$5 == t || index($5, t "/") == 1 {print $5}' /proc/self/mountinfo | sort -r; }
our_loops() {
  local f
  for f in /sys/block/loop*/loop/backing_file; do
    [ -e "$f" ] || continue
    case "$(cat "$f" 2>/dev/null)" in "$T"/*) f=${f#/sys/block/}; echo "/dev/${f%%/*}" ;; esac
  done
}

cleanup() {
  local rc=$?
  for c in "${CLEANUPS[@]:-}"; do [ -n "$c" ] && eval "$c" || true; done
  for p in "${SERVER_PIDS[@]:-}"; do [ -n "$p" ] && kill -9 "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for m in $(our_mounts); do umount -l "$m" 2>/dev/null || true; done
  for l in $(our_loops); do losetup -d "$l" 2>/dev/null || true; done
  rm -rf "$T"
  exit $rc
}
trap cleanup EXIT

# kill_servers: every server this test started, killed -9 and reaped now (cleanup does
# it too, but after the on_exit commands).
kill_servers() {
  local p
  for p in "${SERVER_PIDS[@]:-}"; do [ -n "$p" ] && { kill -9 "$p"; wait "$p"; } 2>/dev/null; done
  return 0
}

# on_exit CMD: run CMD (a string) when the test exits, before the temp dir goes.
on_exit() { CLEANUPS=("$1" "${CLEANUPS[@]:-}"); }

log() { echo "# $*"; }
pass() { PASSED=$((PASSED + 1)); echo "ok - $*"; }
fail() { FAILED=$((FAILED + 1)); echo "not ok - $*"; }

# check NAME CMD...: passes when CMD succeeds.
check() { local name=$1; shift; if "$@"; then pass "$name"; else fail "$name"; fi; }

# start_server LOGFILE ARGS...: starts `rbd-csi serve` with ARGS; waits for its socket
# (the --endpoint among ARGS). Sets SERVER_PID.
start_server() {
  local logf=$1; shift
  local sock="" prev="" a
  for a in "$@"; do [ "$prev" = "--endpoint" ] && sock=${a#unix://}; prev=$a; done
  "$BIN" serve "$@" >>"$logf" 2>&1 &
  SERVER_PID=$!
  SERVER_PIDS+=("$SERVER_PID")
  # Wait for an answer, not just the socket file: a stale socket from a killed server
  # exists until the new one replaces it.
  for _ in $(seq 1 200); do
    [ -S "$sock" ] && "$BIN" client --endpoint "$sock" --timeout 1 Probe >/dev/null 2>&1 && return 0
    kill -0 "$SERVER_PID" 2>/dev/null || { echo "server exited early:"; cat "$logf"; return 1; }
    sleep 0.05
  done
  echo "server did not create $sock"; cat "$logf"; return 1
}

# stop_server PID: SIGTERM and wait; returns the server's exit status.
stop_server() {
  local pid=$1 rc=0
  kill -TERM "$pid"
  wait "$pid" || rc=$?
  return $rc
}

# csi ENDPOINT METHOD ARGS...: prints the JSON reply; exit status is the gRPC code.
csi() { local ep=$1; shift; "$BIN" client --endpoint "$ep" --timeout 60 "$@"; }

# csi_ok ENDPOINT METHOD ARGS...: the call succeeds (reply discarded).
csi_ok() { csi "$@" >/dev/null; }

# json_get JSON EXPR: a python expression over `j` (the parsed reply).
json_get() { python3 -c 'import json,sys; j=json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$1" "$2"; }

# expect_code CODE CMD...: CMD must fail with exit status CODE (a gRPC code number).
expect_code() {
  local want=$1; shift
  local rc=0
  "$@" >/dev/null 2>"$T/last.err" || rc=$?
  if [ "$rc" != "$want" ]; then echo "  expected code $want, got $rc: $(cat "$T/last.err")"; return 1; fi
}

# has_cap N: this process has capability number N in its effective set.
has_cap() { local eff; eff=$(awk '/^CapEff/ {print $2}' /proc/self/status); (( (16#$eff >> $1) & 1 )); }

# guest_cluster SCRIPT DIR: for the scripts that run in the User-Mode Linux guest, a
# memstore Ceph cluster in DIR (SCRIPT: scripts/ceph-cluster.sh), down again at exit;
# its env exported, the csi user's key in $KEY and $T/secrets, a config.json naming it
# in $T/config.json. A cluster that does not come up ends the test.
guest_cluster() {
  local cluster=$1 dir=$2
  modprobe rbd
  on_exit "'$cluster' down '$dir' >/dev/null 2>&1"
  CEPH_OBJECTSTORE=memstore CEPH_OSD_SIZE=3G CEPH_NO_INSTALL=1 CEPH_POOLS=rbd "$cluster" up "$dir" >"$T/cluster.log" 2>&1 ||
    { tail -20 "$T/cluster.log"; fail "cluster up in the guest"; finish; exit; }
  eval "$("$cluster" env "$dir")"
  KEY=$("$cluster" user "$dir" csi rbd 2>>"$T/cluster.log" | tail -n1)
  printf '[{"clusterID":"%s","monitors":["v1:%s"]}]\n' "$CEPH_FSID" "$CEPH_MON_V1" >"$T/config.json"
  ( umask 077; printf 'userID=csi\nuserKey=%s\n' "$KEY" >"$T/secrets" )
}

finish() {
  echo "$PASSED passed, $FAILED failed"
  [ "$FAILED" -eq 0 ]
}
