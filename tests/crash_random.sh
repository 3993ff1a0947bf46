#!/usr/bin/env bash
# Seeded randomized crash test of the node plugin on the local backend. Three volumes
# (ext4, xfs, block) go round their lifecycle, interleaved at random: stage, publish
# (read-write or read-only), write or check data, sometimes stats or expand, unpublish,
# unstage. CRASH_CALLS of these calls are interrupted, by a kill -9 of the server at a
# random moment or by a failpoint (RBD_CSI_FAILPOINT) that aborts it at a chosen step;
# the server restarts and the same call is retried until it succeeds (at most
# MAX_ATTEMPTS times). After every unstage: no re-mkfs, fsck clean, nothing leaked; data
# is checked at every publish. CRASH_SEED fixes the schedule (which call, how it is cut,
# the kill delay); where a kill lands in the call is timing, so a rerun is close to,
# not exactly, the same run.
#   CRASH_SEED=1 CRASH_CALLS=300: the defaults (the short form scripts/test.sh runs,
#   ~1 min on 2 cores); CRASH_CALLS=2000: the long form (scripts/bench-crash.sh).
#   CRASH_LOG=FILE keeps the server's log.
PRIVATE_NS=1 . "$(dirname "$0")/lib.sh"

SEED=${CRASH_SEED:-1}
CALLS=${CRASH_CALLS:-300}
MAX_ATTEMPTS=5
RANDOM=$SEED # every random choice is drawn in this shell, never inside a $(...) subshell
rnd() { R=$((RANDOM % $1)); }
inc() { eval "$1=\$(( \${$1:-0} + 1 ))"; } # inc VAR / inc 'MAP[key]' (set -e safe)

cp "$BIN" "$T/rbd-csi" && BIN=$T/rbd-csi # one binary for the whole run, even if rebuilt meanwhile
log "seed $SEED, $CALLS interrupted calls (rerun: CRASH_SEED=$SEED CRASH_CALLS=$CALLS $0)"

EP=$T/csi.sock K=$T/k D=$T/data LOG=$T/server.log
[ -z "${CRASH_LOG:-}" ] || on_exit "cp '$LOG' '$CRASH_LOG'"
SERVE=(--endpoint "$EP" --data-dir "$D" --allowed-path-prefix "$K" --log-level debug)
serve() { # serve [FAILPOINT]: start the server; the previous one is dead and reaped
  SERVER_PIDS=() # so that the exit trap never kill -9s a recycled pid
  if [ -n "${1:-}" ]; then RBD_CSI_FAILPOINT=$1 start_server "$LOG" "${SERVE[@]}"; else start_server "$LOG" "${SERVE[@]}"; fi
}
reap() { wait "$SERVER_PID" 2>/dev/null || true; }
serve

NAMES=(ext4 xfs block) MIB0=(64 320 32) MIB=()
CAP=("--fs-type ext4" "--fs-type xfs" "--access-type block") # split into words on use
VID=() STATE=() ROUND=() UUID=() RO=() TGT=() BROKEN=() JOURNAL=() # STATE 0 unstaged, 1 staged, 2 published, 3 unpublished
declare -A LEFT # files found left behind in $D/node, reported already
declare -A SUM # "vol:item" -> sha256 of the data written there (a file, or a 256 KiB slot of the block volume)
create() { # create I: a new volume in slot I (formatted at its first stage)
  local out
  out=$(csi "$EP" CreateVolume --name "crash-${NAMES[$1]}-$CREATED" --required-bytes "${MIB0[$1]}M" ${CAP[$1]})
  VID[$1]=$(json_get "$out" 'j["volume"]["volume_id"]')
  MIB[$1]=${MIB0[$1]} UUID[$1]="" CREATED=$((CREATED + 1))
}
CREATED=0
for i in 0 1 2; do
  create "$i"
  STATE[$i]=0 ROUND[$i]=0 RO[$i]=0 TGT[$i]="" BROKEN[$i]=0 JOURNAL[$i]=""
done
img() { echo "$D/volumes/${VID[$1]}.img"; }
is_block() { [ "$1" = 2 ]; }
can_grow_ext4=1; has_cap 24 || { can_grow_ext4=0; log "no CAP_SYS_RESOURCE: ext4 is never node-expanded"; }

# A kill lands at a random moment within the call's usual wall time (DUR, in µs,
# kept per method from its uninterrupted calls; a first stage, with mkfs, apart). Here a
# call is ~5 ms of client start, then 1-5 ms in the server (mkfs 20-40 ms), so kills
# fall before, while and after the server runs it; the log's debug line tells which.
declare -A DUR=([mkfs]=40000)
DEFAULT_DUR=10000
INTERRUPTED=0 KILLS=0 KILL_BEFORE=0 KILL_IN=0 KILL_AFTER=0 TOTAL=0 NONCONV=0 CHECKED=0
declare -A FIRED NOTREACHED ABSENT HIST DELAYS
DMIN=999999 DMAX=0 KEY="" # KEY: DUR's key for the next call (stage sets mkfs)

attempt() { RC=0; OUT=$(csi "$EP" "$@" 2>"$T/err") || RC=$?; ERR=$(cat "$T/err"); }

by_failpoint() { # by_failpoint NAME CALL...: restart with the failpoint armed, make the call
  local fp=$1 before after; shift
  before=$(grep -c "failpoint $fp: aborting" "$LOG" || true)
  stop_server "$SERVER_PID" || true
  { # (stderr: bash's own "Aborted" notice about the server, once it is reaped)
    serve "$fp"
    attempt "$@"
    after=$(grep -c "failpoint $fp: aborting" "$LOG" || true)
    [ "$after" = "$before" ] || reap
  } 2>/dev/null
  if [ "$after" != "$before" ]; then
    inc "FIRED[$fp]"; HOW="failpoint $fp fired (call answered $RC)"
  else # the call went through: the binary lacks this failpoint, or the call never passed it
    if grep -qaF "$fp" "$BIN"; then inc "NOTREACHED[$fp]"; else inc "ABSENT[$fp]"; fi
    stop_server "$SERVER_PID" || true; HOW="failpoint $fp did not fire (call answered $RC)"
  fi
}

mkfifo "$T/never" && exec {NEVER}<>"$T/never" # read -t on it: sleeps without a fork
started() { grep -c "rpc=$1 volume=\"$2\" executing" "$LOG" || true; } # the server's debug line

by_kill() { # by_kill CALL...: the call in the background, kill -9 the server at a random moment
  local d c rc=0 n0 secs
  rnd 1001; d=$((R * ${DUR[$KEY]:-$DEFAULT_DUR} / 1000)) # µs
  printf -v secs '%d.%06d' $((d / 1000000)) $((d % 1000000))
  n0=$(started "$1" "$3") # $3: the volume id
  csi "$EP" "$@" >/dev/null 2>&1 &
  c=$!
  read -r -t "$secs" -u "$NEVER" || true
  kill -9 "$SERVER_PID"; reap
  wait "$c" || rc=$?
  inc KILLS; inc "DELAYS[$((R / 100 * 10))]"
  DMIN=$((d < DMIN ? d : DMIN)) DMAX=$((d > DMAX ? d : DMAX))
  if [ "$rc" = 0 ]; then inc KILL_AFTER # the call had answered
  elif [ "$(started "$1" "$3")" -gt "$n0" ]; then inc KILL_IN # the server was running it
  else inc KILL_BEFORE; fi
  HOW="kill -9 after $((d / 1000)).$((d / 100 % 10)) ms (call answered $rc)"
}

# call FAILPOINTS METHOD ARGS...: the call must end up succeeding. While interruptions
# are left, 2 calls in 3 are cut, half of those (when FAILPOINTS offers any) by one
# of FAILPOINTS, else by a kill; then the server restarts and the call is retried (also
# when the cut call had succeeded: retries must be idempotent). Sets OUT; returns 1 and
# reports the codes and messages if MAX_ATTEMPTS attempts all fail.
call() {
  local fps=($1) n t0 codes="" errs=""; shift
  HOW="not interrupted" KEY=${KEY:-$1}
  inc TOTAL
  rnd 3
  if [ "$INTERRUPTED" -lt "$CALLS" ] && [ "$R" -lt 2 ]; then
    inc INTERRUPTED
    rnd 2
    if [ ${#fps[@]} -gt 0 ] && [ "$R" = 0 ]; then rnd ${#fps[@]}; by_failpoint "${fps[$R]}" "$@"; else by_kill "$@"; fi
    serve
    JOURNAL[$CUR]="${JOURNAL[$CUR]}
#     $1: $HOW"
  fi
  for n in $(seq 1 $MAX_ATTEMPTS); do
    t0=${EPOCHREALTIME/./}
    attempt "$@"
    if [ "$RC" = 0 ]; then # learn the call's wall time from clean calls (moving average)
      [ "$HOW" = "not interrupted" ] && DUR[$KEY]=$(((3 * ${DUR[$KEY]:-$DEFAULT_DUR} + ${EPOCHREALTIME/./} - t0) / 4))
      break
    fi
    codes="$codes $RC" errs="$errs
#   attempt $n: $ERR"
    sleep 0.2
  done
  KEY=""
  [ "$HOW" = "not interrupted" ] || inc "HIST[$([ "$RC" = 0 ] && echo "$n" || echo never)]"
  [ "$RC" = 0 ] && { [ -z "$codes" ] || log "$1 needed $n attempts after: $HOW"; return 0; }
  inc NONCONV
  fail "$* never succeeded ($MAX_ATTEMPTS attempts, codes$codes)$errs
#   this volume's interruptions since its last unstage:${JOURNAL[$CUR]:- none}"
  return 1
}

mounts_at() { awk -v p="$1" '$5 == p' /proc/self/mountinfo | wc -l; }
fs_at() { awk -v p="$1" '$5 == p { for (i = 7; i <= NF; i++) if ($i == "-") { print $(i+1); exit } }' /proc/self/mountinfo; }
opts_at() { awk -v p="$1" '$5 == p {print $6}' /proc/self/mountinfo; }
problem() { PROBLEMS="$PROBLEMS
#   $*"; }

stage() {
  local i=$1 fps="stage-after-attach" loop uuid
  is_block "$i" || fps="$fps stage-after-mount"
  is_block "$i" || [ -n "${UUID[$i]}" ] || { fps="$fps stage-before-mkfs stage-after-mkfs"; KEY=mkfs; }
  call "$fps" NodeStageVolume --volume-id "${VID[$i]}" --staging-path "$K/s/$i" ${CAP[$i]} || return 1
  STATE[$i]=1
  [ "$(losetup -j "$(img "$i")" | wc -l)" = 1 ] || problem "after stage: $(losetup -j "$(img "$i")" | wc -l) loop devices"
  is_block "$i" && return 0
  [ "$(mounts_at "$K/s/$i")" = 1 ] && [ "$(fs_at "$K/s/$i")" = "${NAMES[$i]}" ] ||
    problem "after stage: staging path has $(mounts_at "$K/s/$i") mounts ($(fs_at "$K/s/$i"))"
  loop=$(losetup -j "$(img "$i")" | head -n1 | cut -d: -f1)
  uuid=$(blkid -p -s UUID -o value "$loop" || true)
  if [ -z "${UUID[$i]}" ]; then UUID[$i]=$uuid # the first mkfs; no data exists before it
  elif [ "$uuid" != "${UUID[$i]}" ]; then problem "filesystem re-made: UUID ${UUID[$i]} became '$uuid'"; fi
}

publish() {
  local i=$1 ro=() f slot sum
  rnd 3; RO[$i]=$((R == 0)); [ "${RO[$i]}" = 1 ] && ro=(--readonly)
  TGT[$i]=$K/p/$i-r${ROUND[$i]}
  call "publish-after-target publish-after-bind" NodePublishVolume --volume-id "${VID[$i]}" \
    --staging-path "$K/s/$i" --target-path "${TGT[$i]}" ${CAP[$i]} "${ro[@]}" || return 1
  STATE[$i]=2
  [ "$(mounts_at "${TGT[$i]}")" = 1 ] || problem "after publish: $(mounts_at "${TGT[$i]}") mounts at the target"
  for f in "${!SUM[@]}"; do # every item written so far reads back at this new publish
    [ "${f%%:*}" = "$i" ] || continue
    if is_block "$i"; then sum=$(dd if="${TGT[$i]}" bs=256K skip="${f#*:}" count=1 status=none | sha256sum)
    else sum=$(sha256sum <"${TGT[$i]}/${f#*:}" 2>/dev/null || true); fi
    [ "$sum" = "${SUM[$f]}" ] || problem "data ${f#*:} differs at round ${ROUND[$i]}"
  done
  if [ "${RO[$i]}" = 1 ]; then # read-only means read-only: the mount says so, and writing fails
    case "$(opts_at "${TGT[$i]}")" in ro,* | ro) ;; *) fail "${NAMES[$i]} round ${ROUND[$i]}: --readonly publish target is mounted $(opts_at "${TGT[$i]}") (after: $HOW)" ;; esac
    is_block "$i" || ! touch "${TGT[$i]}/x" 2>/dev/null || fail "${NAMES[$i]} round ${ROUND[$i]}: a file was created in a --readonly publish (after: $HOW)"
  elif is_block "$i"; then # one random 256 KiB slot of the first 8 MiB, written through the target
    rnd 32; slot=$R
    head -c 256K /dev/urandom >"$T/chunk"
    dd if="$T/chunk" of="${TGT[$i]}" bs=256K seek="$slot" conv=fsync status=none
    SUM[$i:$slot]=$(sha256sum <"$T/chunk")
  else
    rnd 512; head -c $((R + 1))K /dev/urandom >"${TGT[$i]}/d${ROUND[$i]}"; sync -f "${TGT[$i]}"
    SUM[$i:d${ROUND[$i]}]=$(sha256sum <"${TGT[$i]}/d${ROUND[$i]}")
  fi
}

extra() { # stats or expand, while published
  local i=$1 want
  rnd 2
  if [ "$R" = 0 ]; then
    call "" NodeGetVolumeStats --volume-id "${VID[$i]}" --volume-path "${TGT[$i]}" || return 0
    [ "$(json_get "$OUT" 'j.get("volume_condition", {}).get("abnormal", False)')" = False ] || problem "stats: abnormal: $OUT"
    return 0
  fi
  want=$((MIB[$i] + 16))
  call "" ControllerExpandVolume --volume-id "${VID[$i]}" --required-bytes "${want}M" ${CAP[$i]} || return 0
  MIB[$i]=$want
  [ "$i" = 0 ] && [ "$can_grow_ext4" = 0 ] && return 0
  call "" NodeExpandVolume --volume-id "${VID[$i]}" --volume-path "${TGT[$i]}" --staging-path "$K/s/$i" ${CAP[$i]} || return 0
  [ "$(json_get "$OUT" 'j.get("capacity_bytes", 0)')" = $((want << 20)) ] || problem "node expand to $want MiB answered $OUT"
}

unpublish() {
  local i=$1
  call "unpublish-after-umount" NodeUnpublishVolume --volume-id "${VID[$i]}" --target-path "${TGT[$i]}" || return 1
  STATE[$i]=3
  [ ! -e "${TGT[$i]}" ] || problem "after unpublish: target ${TGT[$i]} left behind"
}

unstage() {
  local i=$1 fps="unstage-after-detach"
  is_block "$i" || fps="unstage-after-umount $fps"
  call "$fps" NodeUnstageVolume --volume-id "${VID[$i]}" --staging-path "$K/s/$i" || return 1
  STATE[$i]=0
  end_round "$i"
}

expected_mounts() { # what our_mounts must show, from the volumes' states
  local j
  for j in 0 1 2; do
    [ "${BROKEN[$j]}" = 1 ] && continue
    [ "${STATE[$j]}" -ge 1 ] && ! is_block "$j" && echo "$K/s/$j"
    [ "${STATE[$j]}" = 2 ] && echo "${TGT[$j]}"
  done | sort -r
}
other_mounts() { # our_mounts, without those of broken volumes (unknown state)
  local j pat="^$" # matches nothing in our_mounts
  for j in 0 1 2; do [ "${BROKEN[$j]}" = 1 ] && pat="$pat|^$K/s/$j\$|^$K/p/$j-"; done
  our_mounts | grep -Ev "$pat" || true
}

end_round() { # the volume is unstaged: check it on its image file, and the node for leaks
  local i=$1 loops=0 j f
  for j in 0 1 2; do [ "${STATE[$j]}" -ge 1 ] && loops=$((loops + 1)); done
  [ -z "$(losetup -j "$(img "$i")")" ] || problem "still attached: $(losetup -j "$(img "$i")")"
  for f in "$D/node/${VID[$i]}".*; do # the stash, or a temp file of a write cut short (told once)
    [ ! -e "$f" ] || [ -n "${LEFT[$f]:-}" ] || { LEFT[$f]=1; problem "left in $D/node: ${f##*/}: $(tr '\n' ' ' <"$f")"; }
  done
  [ -z "$(find "$D/keys" -type f 2>/dev/null)" ] || problem "keyfiles left in $D/keys"
  [ "$(other_mounts)" = "$(expected_mounts)" ] || problem "mounts: $(other_mounts | tr '\n' ' ') expected: $(expected_mounts | tr '\n' ' ')"
  [ "$(our_loops | wc -l)" -le "$loops" ] || problem "$(our_loops | wc -l) loop devices for $loops staged volumes"
  [ -n "${UUID[$i]}" ] || is_block "$i" || UUID[$i]=$(blkid -p -s UUID -o value "$(img "$i")" || true) # no stage converged yet
  if [ -n "${UUID[$i]}" ]; then
    [ "$(blkid -p -s UUID -o value "$(img "$i")" || true)" = "${UUID[$i]}" ] || problem "filesystem UUID changed"
    if [ "$i" = 0 ]; then e2fsck -fn "$(img "$i")" >"$T/fsck" 2>&1 || problem "e2fsck: $(tail -n3 "$T/fsck")"
    else xfs_repair -n -f "$(img "$i")" >"$T/fsck" 2>&1 || problem "xfs_repair: $(grep -v geometry "$T/fsck" | tail -n3)"; fi
  fi
  inc CHECKED
  check "${NAMES[$i]} round ${ROUND[$i]}: nothing leaked, filesystem intact, data checked" [ -z "$PROBLEMS" ]
  [ -z "$PROBLEMS" ] || echo "${PROBLEMS#?}"
  PROBLEMS="" TGT[$i]="" JOURNAL[$i]=""
  ROUND[$i]=$((ROUND[$i] + 1))
  rnd 4 # 1 round in 4, a mount volume starts afresh, so that mkfs gets cut too
  [ "$R" != 0 ] || is_block "$i" || [ "$INTERRUPTED" -ge "$CALLS" ] || renew "$i"
}

renew() { # renew I: delete volume I, and put a new one in its place
  local i=$1 k
  check "delete ${NAMES[$i]} after round $((ROUND[$i] - 1)), to start afresh" csi_ok "$EP" DeleteVolume --volume-id "${VID[$i]}"
  for k in "${!SUM[@]}"; do [ "${k%%:*}" != "$i" ] || unset "SUM[$k]"; done
  create "$i"
}

recover() { # after a call never succeeded: take the volume down with plain calls, go on
  local i=$1
  log "recovering ${NAMES[$i]}: unpublish + unstage"
  if { [ -z "${TGT[$i]}" ] || csi_ok "$EP" NodeUnpublishVolume --volume-id "${VID[$i]}" --target-path "${TGT[$i]}"; } &&
    csi_ok "$EP" NodeUnstageVolume --volume-id "${VID[$i]}" --staging-path "$K/s/$i"; then
    STATE[$i]=0; end_round "$i"
  else
    BROKEN[$i]=1; fail "${NAMES[$i]}: cannot even be unpublished and unstaged; left out from now on"
  fi
}

step() { # step I: volume I's next call
  local i=$1
  CUR=$i
  case ${STATE[$i]} in
    0) stage "$i" ;;
    1) publish "$i" ;;
    2) rnd 3; if [ "$R" = 0 ]; then extra "$i"; else unpublish "$i"; fi ;;
    3) unstage "$i" ;;
  esac || recover "$i"
}

PROBLEMS=""
start=$SECONDS
while [ "$INTERRUPTED" -lt "$CALLS" ]; do
  rnd 3
  [ "${BROKEN[$R]}" = 1 ] || step "$R"
  [ "${BROKEN[0]}${BROKEN[1]}${BROKEN[2]}" != 111 ] || break
done
# No interruptions left: each volume finishes its round, then does one more whole
# round, so that all its data is read back at a publish after the last crash.
for i in 0 1 2; do
  last=$((ROUND[$i] + (STATE[$i] == 0 ? 1 : 2)))
  while [ "${BROKEN[$i]}" = 0 ] && [ "${ROUND[$i]}" -lt "$last" ]; do step "$i"; done
done

fmt() { local -n m=$1; local k s=""; for k in $(printf '%s\n' "${!m[@]}" | sort -n); do s="$s $k:${m[$k]}"; done; echo "${s:- none}"; }
log "ran $((SECONDS - start)) s: $TOTAL calls, $INTERRUPTED interrupted, $NONCONV never succeeded; $CHECKED volume rounds checked"
log "kill -9 at a random moment: $KILLS: $KILL_BEFORE before the server started the call, $KILL_IN while it ran it, $KILL_AFTER after it answered"
log "  kill moments, in % of the call's usual time (10% buckets):$(fmt DELAYS); $((DMIN / 1000))-$((DMAX / 1000)) ms from the client's start"
log "failpoints fired:$(fmt FIRED)"
log "  not fired, absent from this binary:$(fmt ABSENT)"
log "  not fired, not reached by the call:$(fmt NOTREACHED)"
log "attempts after an interruption until success:$(fmt HIST)"
check "every call succeeded within $MAX_ATTEMPTS attempts ($((TOTAL - NONCONV)) of $TOTAL)" [ "$NONCONV" = 0 ]

for i in 0 1 2; do
  [ "${BROKEN[$i]}" = 1 ] && continue
  check "delete ${NAMES[$i]}" csi_ok "$EP" DeleteVolume --volume-id "${VID[$i]}"
done
if [ "${BROKEN[0]}${BROKEN[1]}${BROKEN[2]}" = 000 ]; then
  check "no volume listed" [ "$(json_get "$(csi "$EP" ListVolumes)" 'len(j.get("entries", []))')" = 0 ]
  check "no mount left" [ -z "$(our_mounts)" ]
  check "no loop device left" [ -z "$(our_loops)" ]
  left=$(find "$D/volumes" "$D/node" "$D/keys" -type f 2>/dev/null || true)
  check "no files left (volumes, stashes, keys)" [ -z "$left" ]
  [ -z "$left" ] || echo "#   left: $left"
fi
stop_server "$SERVER_PID"
finish
