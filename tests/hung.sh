#!/usr/bin/env bash
# When the kernel does not answer: a FUSE filesystem (bindfs) whose daemon this test
# stops with SIGSTOP hangs every lookup under it, as a dead NFS server or a mount over
# a device that no longer answers does. With --workers 2, 4 NodeStage calls whose
# staging paths lie under it hang in the kernel. Meanwhile 50 other volumes must
# create / stage / publish / stat / unpublish / unstage / delete (latency printed),
# Probe must answer, the hung callers must get DEADLINE_EXCEEDED within their deadline,
# an identical retry must join the running call, NodeGetVolumeStats on a publish under
# the hung filesystem must answer "not responding"; once the daemon runs again the
# stuck calls finish, the pool shrinks back and nothing is left behind.
PRIVATE_NS=1 . "$(dirname "$0")/lib.sh"

command -v bindfs >/dev/null || { fail "bindfs is installed (scripts/install-deps.sh)"; finish; exit 1; }
HEALTHY=${HUNG_HEALTHY:-50}
K=$T/k
F=$T/fuse
mkdir -p "$K" "$T/real/t" "$T/real/s" "$F"
bindfs -f "$T/real" "$F" 2>"$T/bindfs.log" &
FUSE_PID=$!
# Cleanup runs with the daemon stopped or not: let it run, then unmount it.
# The servers go first: a call still blocked under FUSE must not go on (and attach a
# loop device) once the daemon runs again.
on_exit "kill_servers; kill -CONT $FUSE_PID 2>/dev/null; umount -l '$F' 2>/dev/null; kill $FUSE_PID 2>/dev/null"
for _ in $(seq 1 100); do mountpoint -q "$F" && break; sleep 0.05; done
check "bindfs serves $F" mountpoint -q "$F"

EP=$T/csi.sock
start_server "$T/server.log" --endpoint "$EP" --data-dir "$T/data" --allowed-path-prefix "$T" \
  --workers 2 ${HUNG_FLAGS---stuck-after 1 --max-workers 16} --log-level debug
# Worker threads of both queues (the volumes' and Probe's own, 1 thread).
workers() { grep -l '^rbd-csi-worker' /proc/"$SERVER_PID"/task/*/comm 2>/dev/null | wc -l; }
create() { json_get "$(csi "$EP" CreateVolume --name "$1" --required-bytes 16M --fs-type ext4)" 'j["volume"]["volume_id"]'; }
now_ms() { date +%s%3N; }
# stats_to FILE ARGS...: NodeGetVolumeStats, its reply in FILE.
stats_to() { local f=$1; shift; csi "$EP" NodeGetVolumeStats "$@" >"$f"; }

# A volume published into the FUSE filesystem while it still answers.
S=$(create stats-under-fuse)
csi_ok "$EP" NodeStageVolume --volume-id "$S" --staging-path "$K/s/$S" --fs-type ext4
check "publish into the FUSE filesystem" csi_ok "$EP" NodePublishVolume --volume-id "$S" --staging-path "$K/s/$S" --target-path "$F/t/$S" --fs-type ext4
check "its stats are healthy while FUSE answers" stats_to "$T/stats.ok" --volume-id "$S" --volume-path "$F/t/$S"
check "  (volume_condition normal)" [ "$(json_get "$(cat "$T/stats.ok")" 'j["volume_condition"].get("abnormal", False)')" = False ]
HUNG=()
for i in 1 2 3 4; do HUNG+=("$(create "hung-$i")"); done

log "stopping the FUSE daemon"
kill -STOP "$FUSE_PID"
sleep 1.5 # past FUSE's 1 s entry cache: every lookup below it now goes to the daemon
for i in 0 1 2 3; do
  v=${HUNG[$i]}
  ( s=$(now_ms); rc=0
    "$BIN" client --endpoint "$EP" --timeout 5 NodeStageVolume --volume-id "$v" --staging-path "$F/s/$v" --fs-type ext4 >/dev/null 2>&1 || rc=$?
    echo "$rc $(( $(now_ms) - s ))" >"$T/hung-$i.rc" ) &
done
for _ in $(seq 1 50); do [ "$(workers)" -ge 7 ] && break; sleep 0.1; done
check "the 4 hung stages hold threads of their own, 2 more serve, 1 for Probe ($(workers))" [ "$(workers)" = 7 ]

# 50 healthy volumes, one after another, each call timed.
: >"$T/lat"
timed() { local s; s=$(now_ms); csi_ok "$EP" "$@" || { echo "FAILED $*" >>"$T/healthy.err"; return 1; }; echo "$1 $(( $(now_ms) - s ))" >>"$T/lat"; }
ok=0
for i in $(seq 1 "$HEALTHY"); do
  s=$(now_ms)
  v=$(create "ok-$i") || { echo "FAILED create ok-$i" >>"$T/healthy.err"; continue; }
  echo "CreateVolume $(( $(now_ms) - s ))" >>"$T/lat"
  timed NodeStageVolume --volume-id "$v" --staging-path "$K/s/$v" --fs-type ext4 &&
    timed NodePublishVolume --volume-id "$v" --staging-path "$K/s/$v" --target-path "$K/t/$v" --fs-type ext4 &&
    timed NodeGetVolumeStats --volume-id "$v" --volume-path "$K/t/$v" &&
    timed NodeUnpublishVolume --volume-id "$v" --target-path "$K/t/$v" &&
    timed NodeUnstageVolume --volume-id "$v" --staging-path "$K/s/$v" &&
    timed DeleteVolume --volume-id "$v" && ok=$((ok + 1))
  [ $((i % 10)) = 0 ] && { "$BIN" client --endpoint "$EP" --timeout 2 Probe >"$T/probe.$i" 2>&1 || echo "probe $i failed" >>"$T/healthy.err"; }
done
check "$HEALTHY healthy volumes went through their whole life beside the hung ones ($ok did)" [ "$ok" = "$HEALTHY" ]
[ -s "$T/healthy.err" ] && cat "$T/healthy.err"
check "Probe answered ready throughout" [ "$(cat "$T"/probe.* | sort -u)" = '{"ready":true}' ]
python3 - "$T/lat" <<'EOF'
import sys, collections
by = collections.defaultdict(list)
for line in open(sys.argv[1]):
    m, ms = line.split(); by[m].append(int(ms))
for m, v in sorted(by.items()):
    v.sort(); print(f"# {m:20} n={len(v):3} p50={v[len(v)//2]} ms max={v[-1]} ms (client process included)")
EOF

for i in 0 1 2 3; do wait_rc=""; for _ in $(seq 1 100); do [ -s "$T/hung-$i.rc" ] && break; sleep 0.1; done
  read -r code ms <"$T/hung-$i.rc" || true
  check "hung stage $i answered DEADLINE_EXCEEDED (4) within its 5 s deadline (got $code after $ms ms)" [ "${code:-x}" = 4 ] && [ "${ms:-99999}" -lt 7000 ]
done
# An identical retry joins the call still blocked in the kernel: one execution.
v=${HUNG[0]}
expect_code 4 "$BIN" client --endpoint "$EP" --timeout 2 NodeStageVolume --volume-id "$v" --staging-path "$F/s/$v" --fs-type ext4
check "an identical retry of a hung stage joined it (DEADLINE_EXCEEDED, one execution)" \
  [ "$(grep -c "rpc=NodeStageVolume volume=\"$v\" executing" "$T/server.log")" = 1 ]
check "the log says which calls are stuck" grep -q "NodeStageVolume volume=\"$v\" has run for" "$T/server.log"
# Another call on the hung volume waits its turn and is answered at its deadline.
s=$(now_ms)
check "an unstage queued behind the hung stage: DEADLINE_EXCEEDED" expect_code 4 "$BIN" client --endpoint "$EP" --timeout 2 NodeUnstageVolume --volume-id "$v" --staging-path "$F/s/$v"
check "  within its deadline ($(( $(now_ms) - s )) ms)" [ $(( $(now_ms) - s )) -lt 4000 ]

# Stats on the publish under the hung filesystem: abnormal, within the deadline.
s=$(now_ms)
check "stats on a hung mount answers" stats_to "$T/stats.hung" --volume-id "$S" --volume-path "$F/t/$S"
ms=$(( $(now_ms) - s ))
check "  abnormal, not responding (after $ms ms)" [ "$(json_get "$(cat "$T/stats.hung")" 'j["volume_condition"]["abnormal"] and "not responding" in j["volume_condition"]["message"]')" = True ]
check "  within 8 s" [ "$ms" -lt 8000 ]
s=$(now_ms)
csi "$EP" NodeGetVolumeStats --volume-id "$S" --volume-path "$F/t/$S" >"$T/stats.hung2" || true
ms=$(( $(now_ms) - s ))
check "a second stats call answers at once while the first check is blocked ($ms ms)" grep -q 'not responding' "$T/stats.hung2"
check "  and started no second check thread" [ "$(grep -l '^rbd-csi-check' /proc/"$SERVER_PID"/task/*/comm 2>/dev/null | wc -l)" = 1 ]

log "resuming the FUSE daemon"
kill -CONT "$FUSE_PID"
for i in 0 1 2 3; do
  v=${HUNG[$i]}
  check "hung volume $i stages once FUSE answers (the retry finds the first call's work)" \
    csi_ok "$EP" NodeStageVolume --volume-id "$v" --staging-path "$F/s/$v" --fs-type ext4
  check "  and unstages" csi_ok "$EP" NodeUnstageVolume --volume-id "$v" --staging-path "$F/s/$v"
  check "  and is deleted" csi_ok "$EP" DeleteVolume --volume-id "$v"
done
check "stats on the published volume are healthy again" stats_to "$T/stats.back" --volume-id "$S" --volume-path "$F/t/$S"
check "  (volume_condition normal)" [ "$(json_get "$(cat "$T/stats.back")" 'j["volume_condition"].get("abnormal", False)')" = False ]
csi_ok "$EP" NodeUnpublishVolume --volume-id "$S" --target-path "$F/t/$S"
csi_ok "$EP" NodeUnstageVolume --volume-id "$S" --staging-path "$K/s/$S"
csi_ok "$EP" DeleteVolume --volume-id "$S"
for _ in $(seq 1 50); do [ "$(workers)" = 3 ] && break; sleep 0.1; done
check "the pool shrank back to --workers 2, plus Probe's ($(workers))" [ "$(workers)" = 3 ]
check "the log says the stuck calls came back" grep -q 'came back after' "$T/server.log"
check "no volume left" [ "$(csi "$EP" ListVolumes | python3 -c 'import json,sys; print(len(json.load(sys.stdin).get("entries", [])))')" = 0 ]
check "no mount of the test left but the FUSE one" [ "$(our_mounts)" = "$F" ]
check "no loop device left" [ -z "$(our_loops)" ]
check "no stash left" [ -z "$(ls "$T/data/node" 2>/dev/null | grep -v '^maps$')" ]
stop_server "$SERVER_PID"
finish
