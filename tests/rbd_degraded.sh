#!/usr/bin/env bash
# The rbd controller against a degraded or unreachable cluster (issue 17), on a real
# single-node Ceph cluster on 127.0.0.1 (scripts/ceph-cluster.sh), as the restricted
# cephx user csi:
# 1. the mon, then the only OSD, then the mgr stopped (SIGSTOP: a daemon that does not
#    answer): CreateVolume, DeleteVolume, CreateSnapshot, DeleteSnapshot and a restore
#    each answer UNAVAILABLE or DEADLINE_EXCEEDED within the client's deadline (never
#    INTERNAL, never a hang; with only the mgr away they may also succeed); code and
#    time printed for each;
# 2. the daemon resumed (SIGCONT), the same calls retried converge;
# 3. a seeded random run (DEGRADED_SEED, DEGRADED_OPS: 1 and 120): creates, snapshots,
#    restores, snapshot and volume deletes, names reused, while a background loop stops
#    and resumes the OSD or the mon at random moments; every failed call is retried
#    until it succeeds; the codes seen are counted and must be OK, UNAVAILABLE or
#    DEADLINE_EXCEEDED;
# 4. the pool over its quota (`ceph osd pool set-quota`): a create, a snapshot and a
#    restore answer RESOURCE_EXHAUSTED, UNAVAILABLE or DEADLINE_EXCEEDED, never
#    INTERNAL, and succeed once the quota is lifted;
# then everything deleted and tests/ceph_audit.sh: nothing left.
# RBD_CSI_CEPH_CLIENT=librados (default) or cli picks how the driver reaches Ceph.
. "$(dirname "$0")/lib.sh"
here=$(cd "$(dirname "$0")" && pwd)
CLUSTER=$here/../scripts/ceph-cluster.sh
CL=$T/cluster
SEED=${DEGRADED_SEED:-1}
OPS=${DEGRADED_OPS:-120}
TMO=${DEGRADED_TIMEOUT:-20}  # the client's deadline for the calls of steps 1 and 4
on_exit "'$CLUSTER' down '$CL' >/dev/null 2>&1"
CEPH_WATCH_PID=$$ CEPH_MIN_COMPAT_CLIENT=mimic CEPH_POOLS=rbd "$CLUSTER" up "$CL" >"$T/cluster.log" 2>&1 || { cat "$T/cluster.log"; fail "cluster up"; finish; }
eval "$("$CLUSTER" env "$CL")"
KEY=$("$CLUSTER" user "$CL" csi rbd 2>>"$T/cluster.log" | tail -n1)
check "restricted user created" [ -n "$KEY" ]
admin() { timeout 60 "$@" --conf "$CEPH_CONF" --id admin 2>/dev/null; }
printf '[{"clusterID": "%s", "monitors": ["%s"], "rbd": {"radosNamespace": ""}}]\n' "$CEPH_FSID" "$CEPH_MON_V2" >"$T/config.json"
( umask 077; printf 'userID=csi\nuserKey=%s\n' "$KEY" >"$T/secrets" )

# The daemons, by the PIDs the cluster script recorded: stopped and resumed, never
# killed here. Whatever happens, they are resumed before the cluster goes down.
daemon_pid() { cat "$CL/pids/$1"; }
MON=$(daemon_pid mon.a) OSD=$(daemon_pid osd.0) MGR=$(daemon_pid mgr.x)
on_exit "kill -CONT $MON $OSD $MGR 2>/dev/null"
pause() { kill -STOP "$(daemon_pid "$1")"; }
resume() { kill -CONT "$(daemon_pid "$1")"; }
# The cluster answers again: a write and a read through the pool, as admin.
cluster_back() {
  local _
  for _ in $(seq 1 60); do
    admin rados -p rbd --rados-osd-op-timeout 5 --client-mount-timeout 5 put degraded-probe /etc/hostname &&
      admin rados -p rbd --rados-osd-op-timeout 5 --client-mount-timeout 5 rm degraded-probe && return 0
    sleep 1
  done
  return 1
}

EP=$T/ctl.sock
CEPH_CLIENT=${RBD_CSI_CEPH_CLIENT:-librados}
start_server "$T/server.log" --endpoint "$EP" --mode controller --backend rbd --config "$T/config.json" \
  --data-dir "$T/data" --ceph-client "$CEPH_CLIENT"
check "the driver reaches Ceph through $CEPH_CLIENT" grep -q "controller: Ceph through $CEPH_CLIENT" "$T/server.log"
P=(--param "clusterID=$CEPH_FSID" --param pool=rbd --secrets-file "$T/secrets" --fs-type ext4)
# dcsi TIMEOUT METHOD ARGS...: one call with that deadline (seconds).
dcsi() { local t=$1; shift; "$BIN" client --endpoint "$EP" --timeout "$t" "$@"; }
image_exists() { admin rbd info "rbd/$1" >/dev/null; }
vid() { json_get "$1" 'j["volume"]["volume_id"]'; }
sid() { json_get "$1" 'j["snapshot"]["snapshot_id"]'; }
now_ms() { echo $((${EPOCHREALTIME/./} / 1000)); }
code_name() {
  case $1 in
    0) echo OK ;; 4) echo DEADLINE_EXCEEDED ;; 5) echo NOT_FOUND ;; 6) echo ALREADY_EXISTS ;;
    8) echo RESOURCE_EXHAUSTED ;; 9) echo FAILED_PRECONDITION ;; 13) echo INTERNAL ;;
    14) echo UNAVAILABLE ;; *) echo "code $1" ;;
  esac
}

# The five calls of steps 1 and 2, for case $1: each writes $T/$1.<call>.{out,err,rc,ms}.
# The arguments: the volume to snapshot, the volume to delete, the snapshot to
# delete, the snapshot to restore.
CALLS=(create delete snapshot delsnap restore)
one_call() {
  local case=$1 call=$2 t=$3 rc=0 t0
  local f=$T/$case.$call
  shift 3
  t0=$(now_ms)
  dcsi "$t" "$@" >"$f.out" 2>"$f.err" || rc=$?
  echo $(($(now_ms) - t0)) >"$f.ms"
  echo "$rc" >"$f.rc"
}
call_args() {  # case call -> the call's arguments (one a line)
  local c=$1
  case $2 in
    create) printf '%s\n' CreateVolume --name "$c-new" --required-bytes 64M "${P[@]}" ;;
    delete) printf '%s\n' DeleteVolume --volume-id "${DEL[$c]}" --secrets-file "$T/secrets" ;;
    snapshot) printf '%s\n' CreateSnapshot --name "$c-snap" --source-volume-id "$SRC" --secrets-file "$T/secrets" ;;
    delsnap) printf '%s\n' DeleteSnapshot --snapshot-id "${DELSNAP[$c]}" --secrets-file "$T/secrets" ;;
    restore) printf '%s\n' CreateVolume --name "$c-restore" --required-bytes 64M "${P[@]}" --from-snapshot "$SNAP" ;;
  esac
}

# A source volume with data and a snapshot of it, to snapshot and restore from; for
# each case a volume and a snapshot to delete.
SRC=$(vid "$(csi "$EP" CreateVolume --name src --required-bytes 64M "${P[@]}")")
admin rbd bench --io-type write --io-pattern rand --io-size 64K --io-total 8M "rbd/csi-vol-${SRC: -36}" >/dev/null
SNAP=$(sid "$(csi "$EP" CreateSnapshot --name src-snap --source-volume-id "$SRC" --secrets-file "$T/secrets")")
declare -A DEL DELSNAP
CASES=(mon osd mgr)
for c in "${CASES[@]}"; do
  DEL[$c]=$(vid "$(csi "$EP" CreateVolume --name "$c-old" --required-bytes 64M "${P[@]}")")
  DELSNAP[$c]=$(sid "$(csi "$EP" CreateSnapshot --name "$c-oldsnap" --source-volume-id "$SRC" --secrets-file "$T/secrets")")
done
check "setup: source, snapshot, and a volume and a snapshot per case" [ -n "$SRC" ] && [ -n "$SNAP" ]

declare -A DAEMON=([mon]=mon.a [osd]=osd.0 [mgr]=mgr.x)
declare -A MADE   # what the retries made: volumes and snapshots to delete at the end
for c in "${CASES[@]}"; do
  log "step 1, $c: ${DAEMON[$c]} stopped (SIGSTOP); five calls at once, deadline $TMO s"
  pause "${DAEMON[$c]}"
  sleep 1
  for call in "${CALLS[@]}"; do
    mapfile -t args < <(call_args "$c" "$call")
    one_call "$c" "$call" "$TMO" "${args[@]}" &
  done
  for _ in $(seq 1 $((TMO * 20 + 200))); do
    n=0; for call in "${CALLS[@]}"; do [ -s "$T/$c.$call.rc" ] && n=$((n + 1)); done
    [ "$n" = ${#CALLS[@]} ] && break
    sleep 0.1
  done
  for call in "${CALLS[@]}"; do
    rc=$(cat "$T/$c.$call.rc" 2>/dev/null || echo none) ms=$(cat "$T/$c.$call.ms" 2>/dev/null || echo -)
    log "  $c down: $call -> $(code_name "$rc") in $ms ms ($(head -c 200 "$T/$c.$call.err" 2>/dev/null))"
    ok="4 14" also=""
    [ "$c" = mgr ] && ok="0 4 14" also=" (or OK: rbd and rados work without a mgr)"
    check "$c down: $call answers UNAVAILABLE or DEADLINE_EXCEEDED$also" grep -qxE -- "${ok// /|}" <<<"$rc"
    check "$c down: $call answered within its deadline ($ms ms)" [ "$ms" != - ] && [ "$ms" -le $(((TMO + 2) * 1000)) ]
  done
  resume "${DAEMON[$c]}"
  check "$c resumed: the cluster answers again" cluster_back
  # Step 2: the same calls retried converge.
  for call in "${CALLS[@]}"; do
    mapfile -t args < <(call_args "$c" "$call")
    t0=$SECONDS tries=0 rc=1
    while [ $((SECONDS - t0)) -lt 180 ]; do
      tries=$((tries + 1)); rc=0
      dcsi "$TMO" "${args[@]}" >"$T/$c.$call.out" 2>"$T/$c.$call.err" || rc=$?
      [ "$rc" = 0 ] && break
      grep -qxE -- '4|14' <<<"$rc" || break
      sleep 1
    done
    log "  $c back: $call -> $(code_name "$rc") after $tries tries, $((SECONDS - t0)) s"
    check "$c back: $call retried succeeds" [ "$rc" = 0 ] || { cat "$T/$c.$call.err"; grep -v 'code=OK' "$T/server.log" | tail -40 | sed 's/^/# server: /'; }
    case $call in
      create | restore) MADE[$c.$call]=$(vid "$(cat "$T/$c.$call.out")") ;;
      snapshot) MADE[$c.$call]=$(sid "$(cat "$T/$c.$call.out")") ;;
    esac
  done
  for call in create restore; do
    check "$c back: the $call's image exists" image_exists "csi-vol-${MADE[$c.$call]: -36}"
  done
  check "$c back: the snapshot's image exists" image_exists "csi-snap-${MADE[$c.snapshot]: -36}"
  check "$c back: the deleted volume's image is gone" bash -c "! rbd info --conf '$CEPH_CONF' --id admin rbd/csi-vol-${DEL[$c]: -36} >/dev/null 2>&1"
  check "$c back: the deleted snapshot's image is gone" bash -c "! rbd info --conf '$CEPH_CONF' --id admin rbd/csi-snap-${DELSNAP[$c]: -36} >/dev/null 2>&1"
  check "$c back: the driver is still running" kill -0 "$SERVER_PID"
  check "$c back: the restore has the snapshot's data" [ "$(admin rbd export --no-progress "rbd/csi-vol-${MADE[$c.restore]: -36}" - | sha256sum)" = "$(admin rbd export --no-progress "rbd/csi-snap-${SNAP: -36}@csi-snap-${SNAP: -36}" - | sha256sum)" ]
done
# Everything steps 1-2 made goes, but the source and its snapshot (step 3 reuses them).
for c in "${CASES[@]}"; do
  csi_ok "$EP" DeleteSnapshot --snapshot-id "${MADE[$c.snapshot]}" --secrets-file "$T/secrets"
  csi_ok "$EP" DeleteVolume --volume-id "${MADE[$c.create]}" --secrets-file "$T/secrets"
  csi_ok "$EP" DeleteVolume --volume-id "${MADE[$c.restore]}" --secrets-file "$T/secrets"
done
check "steps 1-2: only the source and its snapshot left" [ "$(admin rbd ls rbd | sort | tr '\n' ' ')" = "csi-snap-${SNAP: -36} csi-vol-${SRC: -36} " ]

# Step 3: a seeded random run while the OSD or the mon stops and resumes at random.
RCT=5  # the deadline of each call: shorter than most outages
log "step 3: $OPS random operations (DEGRADED_SEED=$SEED), the OSD or the mon stopped at random, deadline $RCT s"
( RANDOM=$((SEED * 7919 + 1)); trap 'kill -CONT $MON $OSD 2>/dev/null' EXIT
  while [ ! -e "$T/chaos.stop" ]; do
    sleep "$((RANDOM % 6 + 3)).$((RANDOM % 10))"  # healthy 3-9 s, then down 3-9 s
    [ -e "$T/chaos.stop" ] && break
    if ((RANDOM % 2)); then d=osd.0; else d=mon.a; fi
    len=$((RANDOM % 7 + 3))
    echo "$(date +%T) $d stopped for $len s" >>"$T/chaos.log"
    pause "$d"
    for _ in $(seq 1 $((len * 5))); do [ -e "$T/chaos.stop" ] && break; sleep 0.2; done
    resume "$d"
  done ) &
CHAOS=$!
on_exit "touch '$T/chaos.stop'; kill -CONT $MON $OSD 2>/dev/null"
declare -A VOL SNP  # live volumes and snapshots: name -> id
declare -A CODES    # failed calls by code
RETRIES=0 GAVE_UP=0
# attempt METHOD ARGS...: the call until it succeeds; its reply in $REPLY_OUT. Any
# code but UNAVAILABLE or DEADLINE_EXCEEDED fails the test (and ends the retries).
attempt() {
  local rc t0=$SECONDS
  while :; do
    rc=0
    REPLY_OUT=$(dcsi "$RCT" "$@" 2>"$T/r.err") || rc=$?
    [ "$rc" = 0 ] && return 0
    CODES[$rc]=$((${CODES[$rc]:-0} + 1))
    RETRIES=$((RETRIES + 1))
    if [ "$rc" != 4 ] && [ "$rc" != 14 ]; then
      fail "random op $1 answered $(code_name "$rc"): $(cat "$T/r.err")"
      return 1
    fi
    if [ $((SECONDS - t0)) -gt 240 ]; then
      GAVE_UP=$((GAVE_UP + 1)); fail "random op $1 still failing after 240 s: $(cat "$T/r.err")"; return 1
    fi
    sleep 0.5
  done
}
pick() { local a=("$@"); echo "${a[RANDOM % ${#a[@]}]}"; }
RANDOM=$SEED
NAMES=(v0 v1 v2 v3 v4 v5)
SNAMES=(s0 s1 s2 s3)
declare -A DONE
t3=$SECONDS
for i in $(seq 1 "$OPS"); do
  free=() live=() sfree=() slive=()
  for n in "${NAMES[@]}"; do if [ -n "${VOL[$n]:-}" ]; then live+=("$n"); else free+=("$n"); fi; done
  for n in "${SNAMES[@]}"; do if [ -n "${SNP[$n]:-}" ]; then slive+=("$n"); else sfree+=("$n"); fi; done
  r=$((RANDOM % 100))
  if [ $r -lt 25 ] && [ ${#free[@]} -gt 0 ]; then op=create
  elif [ $r -lt 45 ] && [ ${#live[@]} -gt 0 ] && [ ${#sfree[@]} -gt 0 ]; then op=snapshot
  elif [ $r -lt 60 ] && [ ${#free[@]} -gt 0 ]; then op=restore
  elif [ $r -lt 78 ] && [ ${#slive[@]} -gt 0 ]; then op=delsnap
  elif [ ${#live[@]} -gt 0 ]; then op=delete
  elif [ ${#free[@]} -gt 0 ]; then op=create
  else op=delsnap; fi
  case $op in
    create)
      n=$(pick "${free[@]}")
      attempt CreateVolume --name "rnd-$n" --required-bytes 32M "${P[@]}" && VOL[$n]=$(vid "$REPLY_OUT") ;;
    restore)
      n=$(pick "${free[@]}")
      if [ ${#slive[@]} -gt 0 ] && ((RANDOM % 2)); then from=${SNP[$(pick "${slive[@]}")]}; else from=$SNAP; fi
      attempt CreateVolume --name "rnd-$n" --required-bytes 64M "${P[@]}" --from-snapshot "$from" && VOL[$n]=$(vid "$REPLY_OUT") ;;
    snapshot)
      n=$(pick "${sfree[@]}") v=$(pick "${live[@]}")
      attempt CreateSnapshot --name "rnd-$n" --source-volume-id "${VOL[$v]}" --secrets-file "$T/secrets" && SNP[$n]=$(sid "$REPLY_OUT") ;;
    delsnap)
      n=$(pick "${slive[@]}")
      attempt DeleteSnapshot --snapshot-id "${SNP[$n]}" --secrets-file "$T/secrets" && unset "SNP[$n]" ;;
    delete)
      n=$(pick "${live[@]}")
      attempt DeleteVolume --volume-id "${VOL[$n]}" --secrets-file "$T/secrets" && unset "VOL[$n]" ;;
  esac
  DONE[$op]=$((${DONE[$op]:-0} + 1))
done
touch "$T/chaos.stop"
wait "$CHAOS" 2>/dev/null || true
check "step 3: the cluster answers after the random run" cluster_back
# The rest deleted, snapshots first or volumes first as it comes (both orders work).
for n in "${!SNP[@]}"; do attempt DeleteSnapshot --snapshot-id "${SNP[$n]}" --secrets-file "$T/secrets" && unset "SNP[$n]"; done
for n in "${!VOL[@]}"; do attempt DeleteVolume --volume-id "${VOL[$n]}" --secrets-file "$T/secrets" && unset "VOL[$n]"; done
log "step 3: $OPS operations in $((SECONDS - t3)) s: $(for k in "${!DONE[@]}"; do printf '%s %s, ' "$k" "${DONE[$k]}"; done)"
log "step 3: $(grep -c stopped "$T/chaos.log" 2>/dev/null || echo 0) outages: $(tr '\n' ';' <"$T/chaos.log" 2>/dev/null)"
log "step 3: $RETRIES failed calls retried: $(for k in "${!CODES[@]}"; do printf '%s %s, ' "$(code_name "$k")" "${CODES[$k]}"; done)"
check "step 3: $OPS operations, each converged" [ "$GAVE_UP" = 0 ]
bad=$(for k in "${!CODES[@]}"; do [ "$k" = 4 ] || [ "$k" = 14 ] || echo "$k"; done)
check "step 3: failed calls answered only UNAVAILABLE or DEADLINE_EXCEEDED" [ -z "$bad" ]
check "step 3: degraded calls were seen (outages hit calls)" [ "$RETRIES" -gt 0 ]

# Step 4: the pool over its quota.
FTMO=10
# full_args CALL: the request of step 4's CALL (create, snapshot, restore) in args.
full_args() {
  case $1 in
    create) args=(CreateVolume --name full-new --required-bytes 64M "${P[@]}") ;;
    snapshot) args=(CreateSnapshot --name full-snap --source-volume-id "$SRC" --secrets-file "$T/secrets") ;;
    restore) args=(CreateVolume --name full-restore --required-bytes 64M "${P[@]}" --from-snapshot "$SNAP") ;;
  esac
}
log "step 4: pool rbd over its quota (deadline $FTMO s)"
admin ceph osd pool set-quota rbd max_objects 1 >/dev/null
for _ in $(seq 1 60); do admin ceph health detail | grep -q POOL_FULL && break; sleep 1; done
check "the pool is reported full" bash -c "ceph --conf '$CEPH_CONF' --id admin health detail 2>/dev/null | grep -q POOL_FULL"
for call in create snapshot restore; do
  full_args "$call"
  t0=$(now_ms) rc=0
  dcsi "$FTMO" "${args[@]}" >/dev/null 2>"$T/full.err" || rc=$?
  ms=$(($(now_ms) - t0))
  log "  pool full: $call -> $(code_name "$rc") in $ms ms ($(head -c 200 "$T/full.err"))"
  check "pool full: $call answers RESOURCE_EXHAUSTED, UNAVAILABLE or DEADLINE_EXCEEDED ($ms ms)" grep -qxE -- '8|4|14' <<<"$rc"
done
admin ceph osd pool set-quota rbd max_objects 0 >/dev/null
for _ in $(seq 1 60); do admin ceph health detail | grep -q POOL_FULL || break; sleep 1; done
check "quota lifted: the cluster answers" cluster_back
for call in create snapshot restore; do
  full_args "$call"
  if attempt "${args[@]}"; then
    pass "quota lifted: $call retried succeeds"
    if [ "$call" = snapshot ]; then attempt DeleteSnapshot --snapshot-id "$(sid "$REPLY_OUT")" --secrets-file "$T/secrets"
    else attempt DeleteVolume --volume-id "$(vid "$REPLY_OUT")" --secrets-file "$T/secrets"; fi
  fi
done

check "delete the snapshot" csi_ok "$EP" DeleteSnapshot --snapshot-id "$SNAP" --secrets-file "$T/secrets"
check "delete the source" csi_ok "$EP" DeleteVolume --volume-id "$SRC" --secrets-file "$T/secrets"
check "no call answered INTERNAL (server log)" bash -c "! grep -q 'code=INTERNAL' '$T/server.log'" || grep 'code=INTERNAL' "$T/server.log" | head -5
check "the driver is still running at the end" kill -0 "$SERVER_PID"
[ "$FAILED" = 0 ] || { log "the driver's log, last lines:"; grep -v DEBUG "$T/server.log" | tail -30; }
stop_server "$SERVER_PID"
. "$here/ceph_audit.sh"
ceph_audit rbd
finish
