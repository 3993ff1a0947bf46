#!/usr/bin/env bash
# rbd volumes and snapshots over their whole life, against a real single-node Ceph
# cluster on 127.0.0.1 (scripts/ceph-cluster.sh) as a user with only ceph-csi's caps
# (issue 14). Nothing may leak, snapshots outlive their volumes, names can be reused.
# RBD_CSI_CEPH_CLIENT=librados (default) or cli picks how the driver reaches Ceph.
#
# 1. Deterministic cases, each in a pool of its own so that the audit (tests/ceph_audit.sh:
#    images, trash, mgr tasks, journal) at the end tells which case left what:
#    a volume deleted before / after its snapshot, two snapshots, a clone and a restore
#    outliving their parent, a restore from a snapshot whose volume is deleted, a name
#    reused while the old image waits in the trash, a late retry of the old id's delete,
#    trash moves cut short by a crash at each of their steps (set up by hand), a
#    snapshot deleted while a clone of it waits in the trash, a create or clone whose
#    image a crash left half-made,
#    and ceph-csi's own layouts (a snapshot, a clone; made by hand as ceph-csi v3.12
#    makes them) with either driver deleting the last dependent.
# 2. A crash sweep over a clone and a restore (pool crash-clone): their path has no
#    failpoint, so kill -9 lands at 1/(N+1) ... N/(N+1) of an uninterrupted call's time
#    (N = LIFECYCLE_SWEEP, default 5); each retry must succeed with the source's data and
#    leave the source as it was.
# 3. A seeded random lifecycle in pool `rbd`: create / snapshot / clone / restore /
#    delete volume / delete snapshot / write / a late delete of a dead id, names reused
#    from small sets. A call is cut by a crash (LIFECYCLE_CRASH_PCT % of calls): the
#    server restarts with RBD_CSI_FAILPOINT=<a point that call passes> and aborts there,
#    or (when no failpoint fits, or 1 time in 3) is killed -9 after a random delay;
#    the server then restarts clean and the same call, retried, must succeed. The model:
#    what exists can be deleted; a restore works whatever happened to the snapshot's
#    volume; a reused name gets a new volume id; data (checksums read as client.admin)
#    survives parents, restores and clones. Then everything left is deleted in random
#    order, and the audit must find the pool empty.
#    LIFECYCLE_SEED (default: a fresh one, printed), LIFECYCLE_STEPS (default 80; the
#    steps stop early when LIFECYCLE_SECONDS, default 75, have gone: the CLI client is
#    ~4x slower), LIFECYCLE_CRASH_PCT (default 30), LIFECYCLE_LOG=FILE keeps the
#    server's log. The schedule is the seed's; where a kill -9 lands is timing, so a
#    replay is close to, not exactly, the same run.
. "$(dirname "$0")/lib.sh"
here=$(cd "$(dirname "$0")" && pwd)
. "$here/ceph_audit.sh"
CLUSTER=$here/../scripts/ceph-cluster.sh
CL=$T/cluster
SEED=${LIFECYCLE_SEED:-$(( $(od -An -N2 -tu2 /dev/urandom) ))}
STEPS=${LIFECYCLE_STEPS:-80}
BUDGET=${LIFECYCLE_SECONDS:-75}
SWEEP=${LIFECYCLE_SWEEP:-5}
CRASH_PCT=${LIFECYCLE_CRASH_PCT:-30}
RANDOM=$SEED # every random choice is drawn in this shell, never in a $(...) subshell
rnd() { R=$((RANDOM % $1)); }
log "seed $SEED (replay: LIFECYCLE_SEED=$SEED LIFECYCLE_STEPS=$STEPS LIFECYCLE_CRASH_PCT=$CRASH_PCT RBD_CSI_CEPH_CLIENT=${RBD_CSI_CEPH_CLIENT:-librados} $0)"

# One pool per deterministic case (named for it), and `rbd` for the random lifecycle.
CASES=(vol-then-snap snap-then-vol two-snaps clone-parent-first clone-and-restore
  restore-deleted-src reuse-in-trash reuse-after-delete cut-trash-move
  snap-kept-by-trashed-clone half-made-image cephcsi-snap-rbdcsi-del cephcsi-snap-cephcsi-del cephcsi-clone-rbdcsi-del cephcsi-clone-cephcsi-del crash-clone)
on_exit "'$CLUSTER' down '$CL' >/dev/null 2>&1"
CEPH_WATCH_PID=$$ CEPH_MIN_COMPAT_CLIENT=mimic CEPH_POOLS="rbd ${CASES[*]}" "$CLUSTER" up "$CL" >"$T/cluster.log" 2>&1 ||
  { cat "$T/cluster.log"; fail "cluster up"; finish; }
eval "$("$CLUSTER" env "$CL")"
KEY=$("$CLUSTER" user "$CL" csi rbd "${CASES[@]}" 2>>"$T/cluster.log" | tail -n1)
check "restricted user created" [ -n "$KEY" ]
admin() { "$@" --conf "$CEPH_CONF" --id admin 2>/dev/null; }
printf '[{"clusterID": "%s", "monitors": ["%s"], "rbd": {"radosNamespace": ""}}]\n' "$CEPH_FSID" "$CEPH_MON_V2" >"$T/config.json"
( umask 077; printf 'userID=csi\nuserKey=%s\n' "$KEY" >"$T/secrets" )

# The server: restarted often, so the exit trap must never kill -9 a recycled pid.
cp "$BIN" "$T/rbd-csi" && BIN=$T/rbd-csi # one binary for the whole run, even if rebuilt meanwhile
EP=$T/ctl.sock LOG=$T/server.log
[ -z "${LIFECYCLE_LOG:-}" ] || on_exit "cp '$LOG' '$LIFECYCLE_LOG'"
CEPH_CLIENT=${RBD_CSI_CEPH_CLIENT:-librados}
SERVE=(--endpoint "$EP" --mode controller --backend rbd --config "$T/config.json" --data-dir "$T/data" --ceph-client "$CEPH_CLIENT" --log-level debug)
serve() { # serve [FAILPOINT]: start the server; the previous one is dead and reaped
  SERVER_PIDS=()
  if [ -n "${1:-}" ]; then RBD_CSI_FAILPOINT=$1 start_server "$LOG" "${SERVE[@]}"; else start_server "$LOG" "${SERVE[@]}"; fi
}
reap() { wait "$SERVER_PID" 2>/dev/null || true; }
serve
LAST_CRASH=-1000
# kill_during MS CALL...: the call in the background, kill -9 of the server MS ms later.
# Sets CUT_RC (what the cut call answered). The caller starts the next server.
kill_during() {
  local ms=$1 c; shift
  csi "$EP" "$@" --secrets-file "$T/secrets" >/dev/null 2>&1 &
  c=$!
  sleep "$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))"
  kill -9 "$SERVER_PID"; reap 2>/dev/null
  CUT_RC=0; wait "$c" || CUT_RC=$?
  LAST_CRASH=$SECONDS
}
check "the driver reaches Ceph through $CEPH_CLIENT" grep -q "controller: Ceph through $CEPH_CLIENT" "$LOG"

# Calls. attempt sets RC (the gRPC code), OUT (the reply) and ERR.
attempt() { RC=0; OUT=$(csi "$EP" "$@" --secrets-file "$T/secrets" 2>"$T/err") || RC=$?; ERR=$(cat "$T/err"); }
params() { echo "--param clusterID=$CEPH_FSID --param pool=$1 --fs-type ext4 --required-bytes 16M"; }
vid() { json_get "$OUT" 'j["volume"]["volume_id"]'; }
vimg() { json_get "$OUT" 'j["volume"]["volume_context"]["imageName"]'; }
sid() { json_get "$OUT" 'j["snapshot"]["snapshot_id"]'; }
# A server killed while it had an image open leaves its watch on it for ~30 s (Ceph's
# osd_client_watch_timeout): a DeleteVolume meanwhile rightly answers FAILED_PRECONDITION
# "in use", and a CO retries. So does stale_watch_wait CALL... after an attempt, for
# up to 45 s after the last crash.
stale_watch_wait() {
  local t0=$SECONDS
  while [ "$RC" = 9 ] && [[ $ERR == *"in use"* ]] && [ $((SECONDS - LAST_CRASH)) -lt 45 ]; do
    sleep 2; attempt "$@"
  done
  [ $SECONDS = "$t0" ] || log "  waited $((SECONDS - t0)) s for the stale watch of a killed server"
}
# code_is LABEL WANT: the last call answered WANT (a gRPC code number), else say what it did.
code_is() {
  if [ "$RC" = "$2" ]; then pass "$1"; return 0; fi
  fail "$1 (expected code $2, got $RC: $ERR)"
  return 1
}

# Data, read and written as client.admin through librbd (python3-rbd, Debian's): the
# test never maps. `img write POOL IMAGE SEED`: 4 x 64 KiB of seeded bytes at seeded
# offsets; `img sum POOL IMAGE`: sha256 of the whole image.
cat >"$T/img.py" <<'EOF'
import hashlib, os, random, sys
import rados, rbd
cmd, pool, image = sys.argv[1:4]
cl = rados.Rados(conffile=os.environ["CEPH_CONF"], rados_id="admin")
cl.connect()
io = cl.open_ioctx(pool)
img = rbd.Image(io, image, read_only=(cmd == "sum"))
size = img.size()
if cmd == "write":
    r = random.Random(int(sys.argv[4]))
    for _ in range(4):
        img.write(r.randbytes(65536), r.randrange(size // 65536) * 65536)
    img.flush()
else:
    h = hashlib.sha256()
    for off in range(0, size, 4 << 20):
        h.update(img.read(off, min(4 << 20, size - off)))
    print(h.hexdigest()[:16])
img.close(); io.close(); cl.shutdown()
EOF
img() { /usr/bin/python3 "$T/img.py" "$@" 2>>"$T/img.err"; }
ZERO=$(head -c 16M /dev/zero | sha256sum | cut -c1-16) # the sum of a blank 16 MiB volume
zeros_note() { [ "$1" != "$ZERO" ] || echo " (all zeros)"; }
# has_data POOL IMAGE WANT: the image's data has sum WANT; else says what it has.
has_data() {
  local got
  got=$(img sum "$1" "$2") || got="unreadable (no such image?)"
  [ "$got" = "$3" ] && return 0
  echo "#   $1/$2 has data $got$(zeros_note "$got"), expected $3"
  return 1
}
image_exists() { admin rbd info "$1/$2" >/dev/null; }
# snap_kept POOL SNAPSHOT_ID: an rbd snapshot named for the CSI snapshot's uuid still
# exists on some image of the pool, live or in the trash (rbd-csi keeps it on the
# volume's image, ceph-csi on an image of its own: both names carry the uuid).
snap_kept() {
  local u=${2: -36} i
  for i in $(admin rbd ls "$1"); do admin rbd snap ls --all --format json "$1/$i" | grep -q "$u" && return 0; done
  for i in $(admin rbd trash ls "$1" | cut -d' ' -f1); do
    admin rbd snap ls --all --format json --pool "$1" --image-id "$i" | grep -q "$u" && return 0
  done
  return 1
}
# listed SNAPSHOT_ID SOURCE_ID: ListSnapshots by id shows it ready, with its source.
listed() {
  local out
  out=$(csi "$EP" ListSnapshots --snapshot-id "$1" --secrets-file "$T/secrets") || return 1
  [ "$(json_get "$out" '[(e["snapshot"]["snapshot_id"], e["snapshot"]["source_volume_id"], e["snapshot"].get("ready_to_use", False)) for e in j.get("entries", [])]')" = "[('$1', '$2', True)]" ]
}
not_listed() {
  local out
  out=$(csi "$EP" ListSnapshots --snapshot-id "$1" --secrets-file "$T/secrets") || return 1
  [ "$(json_get "$out" 'len(j.get("entries", []))')" = 0 ]
}
parent_of() { admin rbd info --format json "$1/$2" | python3 -c 'import json,sys; p=json.load(sys.stdin).get("parent"); print("%s/%s@%s%s" % (p["pool"], p["image"], p["snapshot"], " (in the trash)" if p.get("trash") else "") if p else "none")'; }
image_id() { admin rbd info --format json "$1/$2" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'; }
new_uuid() { python3 -c 'import uuid; print(uuid.uuid4())'; }
pool_hex() { admin ceph osd pool ls detail --format json | python3 -c 'import json,sys; print("%016x" % [p["pool_id"] for p in json.load(sys.stdin) if p["pool_name"] == sys.argv[1]][0])' "$1"; }
csi_id() { printf '0001-%04x-%s-%s-%s' ${#CEPH_FSID} "$CEPH_FSID" "$(pool_hex "$1")" "$2"; } # csi_id POOL UUID

# mkvol POOL NAME [SOURCE ARGS]: CreateVolume, checked; VID, VIMG, and SUM (its data
# after a fresh seeded write when it has no source). Returns 1 if it failed.
mkvol() {
  attempt CreateVolume --name "$2" $(params "$1") "${@:3}"
  code_is "$1: create $2${3:+ $3 ...}" 0 || return 1
  VID=$(vid) VIMG=$(vimg)
  check "$1: $2's image $VIMG exists" image_exists "$1" "$VIMG"
  [ $# -gt 2 ] || { rnd 32768; img write "$1" "$VIMG" "$R" || { fail "$1: cannot write to $VIMG: $(tail -n1 "$T/img.err")"; return 1; }; }
  SUM=$(img sum "$1" "$VIMG") || { fail "$1: cannot read $VIMG: $(tail -n1 "$T/img.err")"; return 1; }
}
# mksnap POOL NAME VOLUME_ID: CreateSnapshot, checked (ready, listed). Sets SID.
mksnap() {
  attempt CreateSnapshot --name "$2" --source-volume-id "$3"
  code_is "$1: snapshot $2" 0 || return 1
  SID=$(sid)
  check "$1: $2 is ready and listed with its source" listed "$SID" "$3"
}
delvol() { attempt DeleteVolume --volume-id "$2"; code_is "$1: delete volume ${3:-${2: -36}}" 0 || true; }
delsnap() { attempt DeleteSnapshot --snapshot-id "$2"; code_is "$1: delete snapshot ${3:-${2: -36}}" 0 || true; }

# ---- 1. deterministic cases ---------------------------------------------------------

# Defect 1: a volume deleted while it has a snapshot (its image goes to the trash), then
# the snapshot: nothing may stay in the trash.
p=vol-then-snap
if mkvol $p v && V=$VID VI=$VIMG && mksnap $p s "$V"; then
  S=$SID
  delvol $p "$V" v
  check "$p: v's image is gone by name" bash -c "! rbd info '$p/$VI' --conf '$CEPH_CONF' --id admin 2>/dev/null"
  check "$p: s outlives v: still listed, ready, with v as its source" listed "$S" "$V"
  check "$p: s's rbd snapshot is kept (in the pool or its trash)" snap_kept $p "$S"
  delsnap $p "$S" s
  check "$p: s no longer listed" not_listed "$S"
fi

# The other order: the snapshot first, then its volume.
p=snap-then-vol
if mkvol $p v && V=$VID && mksnap $p s "$V"; then
  delsnap $p "$SID" s
  check "$p: s no longer listed" not_listed "$SID"
  delvol $p "$V" v
fi

# Two snapshots: the trashed image must stay while one is left, and go with the last.
p=two-snaps
if mkvol $p v && V=$VID && mksnap $p s1 "$V" && S1=$SID && mksnap $p s2 "$V"; then
  S2=$SID
  delvol $p "$V" v
  delsnap $p "$S1" s1
  check "$p: s2 still listed after v and s1 went" listed "$S2" "$V"
  check "$p: s2's rbd snapshot is kept" snap_kept $p "$S2"
  delsnap $p "$S2" s2
fi

# A clone of a volume, then the parent deleted, then the clone: the clone keeps its data
# while it lives, and nothing is left after it.
p=clone-parent-first
if mkvol $p v && V=$VID VSUM=$SUM && mkvol $p c --from-volume "$V"; then
  C=$VID CI=$VIMG
  check "$p: the clone names v as its content source" [ "$(json_get "$OUT" 'j["volume"]["content_source"]["volume"]["volume_id"]')" = "$V" ]
  check "$p: the clone has v's data" has_data $p "$VIMG" "$VSUM"
  delvol $p "$V" v
  log "$p: the clone's parent after v's delete: $(parent_of $p "$CI")"
  check "$p: the clone keeps its data after v's delete" has_data $p "$CI" "$VSUM"
  delvol $p "$C" c
fi

# A clone and a restore of one volume's snapshot, parent and snapshot deleted first.
p=clone-and-restore
if mkvol $p v && V=$VID VSUM=$SUM && mksnap $p s "$V" && S=$SID && mkvol $p c --from-volume "$V" && C=$VID CI=$VIMG &&
  mkvol $p r --from-snapshot "$S"; then
  R_=$VID RI=$VIMG
  check "$p: the restore has the snapshot's data" has_data $p "$VIMG" "$VSUM"
  delvol $p "$V" v
  delsnap $p "$S" s
  log "$p: parents after v and s went: clone $(parent_of $p "$CI"), restore $(parent_of $p "$RI")"
  check "$p: the clone keeps its data" has_data $p "$CI" "$VSUM"
  check "$p: the restore keeps its data" has_data $p "$RI" "$VSUM"
  delvol $p "$C" c
  delvol $p "$R_" r
fi

# Defect 2: create v, snapshot s, delete v, then CreateVolume from s. A snapshot is
# independent of its source volume (CSI, Kubernetes' VolumeSnapshot): the restore must
# work and carry the snapshot's data, whatever became of v.
p=restore-deleted-src
if mkvol $p v && V=$VID VSUM=$SUM && mksnap $p s "$V"; then
  S=$SID
  delvol $p "$V" v
  check "$p: s listed ready after v's delete" listed "$S" "$V"
  if mkvol $p r --from-snapshot "$S"; then
    R_=$VID RI=$VIMG
    check "$p: the restore names s as its content source" [ "$(json_get "$OUT" 'j["volume"]["content_source"]["snapshot"]["snapshot_id"]')" = "$S" ]
    check "$p: the restore has s's data" has_data $p "$VIMG" "$VSUM"
    attempt CreateVolume --name r $(params $p) --from-snapshot "$S"
    code_is "$p: the restore retried: OK" 0 && check "$p:   same volume" [ "$(vid)" = "$R_" ]
    delsnap $p "$S" s
    check "$p: the restore keeps its data after s's delete" has_data $p "$RI" "$VSUM"
    delvol $p "$R_" r
  else
    delsnap $p "$S" s
  fi
fi

# Defect 4: a name reused while the old volume's image waits in the trash (it has a
# snapshot) must get a new identity; the old snapshot stays restorable, and deleting it
# cleans up the old image without touching the new volume.
p=reuse-in-trash
if mkvol $p q && Q1=$VID Q1SUM=$SUM && mksnap $p sq "$Q1"; then
  SQ=$SID
  delvol $p "$Q1" "q (first)"
  if mkvol $p q; then
    Q2=$VID Q2I=$VIMG Q2SUM=$SUM
    check "$p: the reused name q gets a new volume id" [ "$Q2" != "$Q1" ]
    check "$p: the new q has no snapshot" [ "$(admin rbd snap ls --all --format json "$p/$Q2I")" = "[]" ]
    check "$p: sq still listed with the first q as its source" listed "$SQ" "$Q1"
    if mkvol $p rq --from-snapshot "$SQ"; then
      check "$p: a restore of sq has the first q's data" has_data $p "$VIMG" "$Q1SUM"
      delvol $p "$VID" rq
    fi
    delsnap $p "$SQ" sq
    check "$p: the new q is untouched by sq's delete" has_data $p "$Q2I" "$Q2SUM"
    delvol $p "$Q2" "q (second)"
  else
    delsnap $p "$SQ" sq
  fi
fi

# A name reused after a plain delete also gets a new id: a late retry of the first
# volume's DeleteVolume (kubelet and Nomad retry after their own timeouts) must not
# delete the second.
p=reuse-after-delete
if mkvol $p q && Q1=$VID; then
  delvol $p "$Q1" "q (first)"
  if mkvol $p q; then
    Q2=$VID Q2I=$VIMG Q2SUM=$SUM
    check "$p: the reused name q gets a new volume id" [ "$Q2" != "$Q1" ]
    delvol $p "$Q1" "q (first) again, late"
    check "$p: the late delete left the new q alone" has_data $p "$Q2I" "$Q2SUM"
    attempt DeleteVolume --volume-id "$Q2"
    code_is "$p: delete q (second)" 0
  fi
fi

# by_hand WHAT CMD...: a layout made by hand as client.admin; says so if it could not be.
by_hand() { local what=$1; shift; "$@" || { fail "$what could not be made by hand"; return 1; }; }

# A kill -9 inside librbd's create or clone can leave a half-made image: its name in the
# pool's directory, its header not written yet (`rbd ls -l` then fails on it). Found by
# the crash-clone sweep: the retry answered NOT_FOUND for good (and an empty volume's
# would answer INTERNAL "vanished right after it was created"). Made by hand: the server
# aborted right after it reserved the name (failpoint create-after-name-key), then an
# image of the reserved name whose header is removed. The retry must make a whole
# volume, with its source's data.
p=half-made-image
cut_create() { # cut_create NAME ARGS...: CreateVolume aborted right after its name is reserved
  stop_server "$SERVER_PID" || true
  { serve create-after-name-key; attempt CreateVolume --name "$1" $(params $p) "${@:2}"; } 2>/dev/null
  reap 2>/dev/null
  serve
}
half_image() { # half_image NAME: a half-made image of the name's reservation
  local u hid
  u=$(admin rados -p $p getomapval csi.volumes.default "csi.volume.$1" - | tail -c 36) &&
    admin rbd create -s 16M "$p/csi-vol-$u" && hid=$(image_id $p "csi-vol-$u") && admin rados -p $p rm "rbd_header.$hid"
}
if mkvol $p src && SRC=$VID SRCSUM=$SUM && mksnap $p s "$SRC"; then
  S=$SID
  for how in "empty:" "clone:--from-volume $SRC" "restore:--from-snapshot $S"; do
    n=${how%%:*} args=${how#*:}
    cut_create "$n" $args
    by_hand "$p: a half-made image for $n" half_image "$n" || continue
    attempt CreateVolume --name "$n" $(params $p) $args
    code_is "$p: $n created after a crash left its image half-made" 0 || continue
    H=$(vid) HI=$(vimg)
    if [ "$n" = empty ]; then
      check "$p:   it is blank" has_data $p "$HI" "$ZERO"
    else
      check "$p:   it has its source's data" has_data $p "$HI" "$SRCSUM"
    fi
    delvol $p "$H" "$n"
  done
  # The same for a snapshot's own image: killed inside librbd's clone of it (after the
  # id object, before the header and the parent link), its name was taken by an image
  # without a header, and every retry answered NOT_FOUND (found by the random
  # lifecycle, seed 15230). Played by a crash right after the clone, whose image is then
  # replaced by hand by a header-less one.
  stop_server "$SERVER_PID" || true
  { serve snapshot-after-clone; attempt CreateSnapshot --name hs --source-volume-id "$SRC"; } 2>/dev/null
  reap 2>/dev/null
  serve
  half_snap() {
    local u hid
    u=$(admin rados -p $p getomapval csi.snaps.default csi.snap.hs - | tail -c 36) &&
      admin rbd rm --no-progress "$p/csi-snap-$u" && admin rbd create -s 16M "$p/csi-snap-$u" &&
      hid=$(image_id $p "csi-snap-$u") && admin rados -p $p rm "rbd_header.$hid"
  }
  if by_hand "$p: a half-made snapshot image" half_snap; then
    attempt CreateSnapshot --name hs --source-volume-id "$SRC"
    if code_is "$p: snapshot created after a crash left its image half-made" 0; then
      HS=$(sid)
      if mkvol $p hs-restored --from-snapshot "$HS"; then
        check "$p:   a restore of it has its source's data" has_data $p "$VIMG" "$SRCSUM"
        delvol $p "$VID" hs-restored
      fi
      delsnap $p "$HS" hs
    fi
  fi
  delsnap $p "$S" s
  delvol $p "$SRC" src
fi

# A snapshot deleted while a clone of it waits in the trash (a restore cut short by a
# crash is made again, and its half-made image goes to the trash for the mgr to remove):
# the snapshot image's own snapshot moves to the trash namespace, so removing the
# snapshot image from the trash answers ENOTEMPTY. It must then be left to the mgr,
# which removes it once the clone is gone; it stayed in the trash for good (found by
# the crash-clone sweep), and so did its volume's image.
p=snap-kept-by-trashed-clone
if mkvol $p v && V=$VID && mksnap $p s "$V"; then
  S=$SID SIMG=csi-snap-${SID: -36}
  if by_hand "$p: a clone of s's image, in the trash" admin rbd clone --rbd-default-clone-format 2 "$p/$SIMG@$SIMG" "$p/leftover" &&
    LEFT=$(image_id $p leftover) && by_hand "$p: the clone trashed" admin rbd trash mv "$p/leftover"; then
    delsnap $p "$S" s
    delvol $p "$V" v
    by_hand "$p: the trashed clone removed (as its mgr task would)" admin rbd trash rm --no-progress --pool $p "$LEFT"
  else
    delsnap $p "$S" s
    delvol $p "$V" v
  fi
fi

# A kill -9 inside a trash move (librbd: trash entry added in state MOVING, then the
# image's id object and directory entry removed, then the state set to NORMAL) leaves an
# entry that `rbd trash rm` refuses (EUCLEAN, "pending moving to the trash") until the
# move is finished. Found by the random lifecycle (seed 36340): DeleteVolume's retry then
# answered INTERNAL forever, and a CreateVolume of the same name "vanished right after it
# was created". Each cut point is made by hand (cls_rbd calls as librbd's MoveRequest
# makes them), for the two sources a delete leaves: USER (`rbd trash mv`, rbd-csi's
# librados client and ceph-csi) and REMOVING (`rbd rm`). Per state: a DeleteVolume retry
# must finish the delete, and a CreateVolume of the name instead must make a new volume
# (the old one was being deleted) that a late DeleteVolume of the old id leaves alone.
cat >"$T/cut_move.py" <<'EOF'
import json, os, struct, subprocess, sys, time
import rados
pool, image, source, stage = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
def s(x): b = x.encode(); return struct.pack("<I", len(b)) + b
out = subprocess.check_output(["rbd", "info", "--format", "json", "--conf", os.environ["CEPH_CONF"], "--id", "admin", f"{pool}/{image}"])
iid = json.loads(out)["id"]
cl = rados.Rados(conffile=os.environ["CEPH_CONF"], rados_id="admin"); cl.connect()
io = cl.open_ioctx(pool)
now = struct.pack("<II", int(time.time()), 0)
body = bytes([source]) + s(image) + now + now + bytes([1])  # TrashImageSpec v2, state MOVING
io.execute("rbd_trash", "rbd", "trash_add", s(iid) + bytes([2, 1]) + struct.pack("<I", len(body)) + body)
if stage in "bc":
    io.remove_object("rbd_id." + image)
if stage == "c":
    io.execute("rbd_directory", "rbd", "dir_remove_image", s(image) + s(iid))
io.close(); cl.shutdown()
EOF
cut_move() { /usr/bin/python3 "$T/cut_move.py" "$@" 2>>"$T/img.err"; } # cut_move POOL IMAGE SOURCE STAGE
p=cut-trash-move
for src in 0:user 3:removing; do
  for st in a:added b:id-removed c:dir-removed; do
    what="${src#*:} move cut after ${st#*:}"
    if mkvol $p "d-${src%:*}${st%:*}"; then
      D=$VID
      if by_hand "$p: a $what" cut_move $p "$VIMG" "${src%:*}" "${st%:*}"; then
        delvol $p "$D" "retried after a $what"
        check "$p:   the image is gone" bash -c "! rbd info '$p/$VIMG' --conf '$CEPH_CONF' --id admin 2>/dev/null"
      fi
    fi
    if mkvol $p "n-${src%:*}${st%:*}"; then
      N1=$VID
      if by_hand "$p: a $what" cut_move $p "$VIMG" "${src%:*}" "${st%:*}"; then
        attempt CreateVolume --name "n-${src%:*}${st%:*}" $(params $p)
        if code_is "$p: the name created again after a $what" 0; then
          N2=$(vid) N2I=$(vimg)
          check "$p:   a new volume id" [ "$N2" != "$N1" ]
          rnd 32768; img write $p "$N2I" "$R" || fail "$p: cannot write to $N2I"
          N2SUM=$(img sum $p "$N2I")
          delvol $p "$N1" "the first one, late"
          check "$p:   the late delete left the new one alone" has_data $p "$N2I" "$N2SUM"
          delvol $p "$N2" "the second one"
        fi
      fi
    fi
  done
done

# ceph-csi's snapshot of an rbd-csi volume, made by hand as ceph-csi v3.12 makes it
# (internal/rbd: createRBDClone + doSnapshotClone): snapshot the volume, clone the
# snapshot into an image csi-snap-<uuid> (layering, deep-flatten), remove the volume's
# snapshot (it stays in the trash namespace while it has a child), snapshot the clone
# under the same name; journal csi.snaps.default -> csi.snap.<uuid> with csi.snapname,
# csi.imagename, csi.source, csi.imageid. Sets CS (its id), CSI_IMG.
cephcsi_snapshot() { # cephcsi_snapshot POOL NAME SOURCE_IMAGE
  local u; u=$(new_uuid)
  CSI_IMG=csi-snap-$u
  admin rbd snap create --no-progress "$1/$3@$CSI_IMG" &&
    admin rbd clone --rbd-default-clone-format 2 --image-feature layering,deep-flatten "$1/$3@$CSI_IMG" "$1/$CSI_IMG" &&
    admin rbd snap rm --no-progress "$1/$3@$CSI_IMG" &&
    admin rbd snap create --no-progress "$1/$CSI_IMG@$CSI_IMG" &&
    admin rados -p "$1" setomapval csi.snaps.default "csi.snap.$2" "$u" &&
    admin rados -p "$1" setomapval "csi.snap.$u" csi.snapname "$2" &&
    admin rados -p "$1" setomapval "csi.snap.$u" csi.imagename "$CSI_IMG" &&
    admin rados -p "$1" setomapval "csi.snap.$u" csi.source "$3" &&
    admin rados -p "$1" setomapval "csi.snap.$u" csi.imageid "$(image_id "$1" "$CSI_IMG")" &&
    CS=$(csi_id "$1" "$u")
}
# What ceph-csi v3.12 does to remove an image (deleteImage): move it to the trash and
# hand the removal to the mgr (`ceph rbd task add trash remove`), which retries it.
cephcsi_rm_image() {
  local id; id=$(image_id "$1" "$2")
  admin rbd trash mv "$1/$2" && admin ceph rbd task add trash remove "$1/$id" >/dev/null
}
# ceph-csi's DeleteSnapshot: the clone's snapshot, the clone image, the journal.
cephcsi_delete_snapshot() { # POOL NAME SNAPSHOT_ID IMAGE
  admin rbd snap rm --no-progress "$1/$4@$4" &&
    cephcsi_rm_image "$1" "$4" &&
    admin rados -p "$1" rmomapkey csi.snaps.default "csi.snap.$2" &&
    admin rados -p "$1" rm "csi.snap.${3: -36}"
}

# Defect 1, as reported: ceph-csi's snapshot of a volume; rbd-csi deletes the volume,
# restores the snapshot, then deletes the snapshot.
p=cephcsi-snap-rbdcsi-del
if mkvol $p v && V=$VID VI=$VIMG VSUM=$SUM && by_hand "ceph-csi's snapshot" cephcsi_snapshot $p s "$VI"; then
  check "$p: ceph-csi's snapshot is listed" listed "$CS" "$V"
  delvol $p "$V" v
  if mkvol $p r --from-snapshot "$CS"; then
    check "$p: a restore of it after v's delete has v's data" has_data $p "$VIMG" "$VSUM"
    delvol $p "$VID" r
  fi
  delsnap $p "$CS" "s (ceph-csi's)"
fi

# The same, but ceph-csi deletes its snapshot: v's trashed image must still go.
p=cephcsi-snap-cephcsi-del
if mkvol $p v && V=$VID VI=$VIMG && by_hand "ceph-csi's snapshot" cephcsi_snapshot $p s "$VI"; then
  delvol $p "$V" v
  check "$p: ceph-csi deletes its snapshot (by hand)" cephcsi_delete_snapshot $p s "$CS" "$CSI_IMG"
fi

# ceph-csi's clone of an rbd-csi volume, by hand as ceph-csi v3.12 makes it
# (createCloneFromImage -> doSnapClone): snapshot the parent as <clone>-temp, clone it
# into image <clone>-temp, remove that snapshot (trash namespace); snapshot <clone>-temp
# as <clone>, clone that into the volume's image <clone>, remove that snapshot; journal
# csi.volumes.default -> csi.volume.<uuid> with csi.volname, csi.imagename, csi.imageid.
# Sets CC (its volume id), CC_IMG.
cephcsi_clone() { # cephcsi_clone POOL NAME PARENT_IMAGE
  local u; u=$(new_uuid)
  CC_IMG=csi-vol-$u
  admin rbd snap create --no-progress "$1/$3@$CC_IMG-temp" &&
    admin rbd clone --rbd-default-clone-format 2 --image-feature layering,deep-flatten "$1/$3@$CC_IMG-temp" "$1/$CC_IMG-temp" &&
    admin rbd snap rm --no-progress "$1/$3@$CC_IMG-temp" &&
    admin rbd snap create --no-progress "$1/$CC_IMG-temp@$CC_IMG" &&
    admin rbd clone --rbd-default-clone-format 2 --image-feature layering "$1/$CC_IMG-temp@$CC_IMG" "$1/$CC_IMG" &&
    admin rbd snap rm --no-progress "$1/$CC_IMG-temp@$CC_IMG" &&
    admin rados -p "$1" setomapval csi.volumes.default "csi.volume.$2" "$u" &&
    admin rados -p "$1" setomapval "csi.volume.$u" csi.volname "$2" &&
    admin rados -p "$1" setomapval "csi.volume.$u" csi.imagename "$CC_IMG" &&
    admin rados -p "$1" setomapval "csi.volume.$u" csi.imageid "$(image_id "$1" "$CC_IMG")" &&
    CC=$(csi_id "$1" "$u")
}
# ceph-csi's DeleteVolume of such a clone (cleanupRBDImage): the image, its -temp image,
# the journal.
cephcsi_delete_clone() { # POOL NAME VOLUME_ID IMAGE
  cephcsi_rm_image "$1" "$4" &&
    cephcsi_rm_image "$1" "$4-temp" &&
    admin rados -p "$1" rmomapkey csi.volumes.default "csi.volume.$2" &&
    admin rados -p "$1" rm "csi.volume.${3: -36}"
}

# Defect 1, "rbd-csi deletes a volume ceph-csi had cloned": the parent goes first (to
# the trash: its snapshot in the trash namespace has a child), then rbd-csi deletes the
# clone, which must take ceph-csi's <clone>-temp image and the parent with it.
p=cephcsi-clone-rbdcsi-del
if mkvol $p v && V=$VID VI=$VIMG VSUM=$SUM && by_hand "ceph-csi's clone" cephcsi_clone $p c "$VI"; then
  check "$p: ceph-csi's clone has v's data" has_data $p "$CC_IMG" "$VSUM"
  delvol $p "$V" v
  check "$p: the clone keeps v's data after v's delete" has_data $p "$CC_IMG" "$VSUM"
  delvol $p "$CC" "c (ceph-csi's clone)"
fi

# The same parent deleted by rbd-csi, the clone then deleted by ceph-csi (its image and
# its -temp image, as ceph-csi's DeleteVolume does): the parent must not stay trashed.
p=cephcsi-clone-cephcsi-del
if mkvol $p v && V=$VID VI=$VIMG && by_hand "ceph-csi's clone" cephcsi_clone $p c "$VI"; then
  delvol $p "$V" v
  check "$p: ceph-csi deletes its clone (by hand)" cephcsi_delete_clone $p c "$CC" "$CC_IMG"
fi

# ---- 2. a crash sweep over a clone and a restore --------------------------------------
# Their path (a temporary snapshot of the source, the clone, resize, flatten, the
# snapshot removed) has no failpoint: kill -9 at k/(SWEEP+1) of an uninterrupted call's
# wall time hits its steps in turn. The retry must answer OK with the source's data and
# leave the source's user snapshots as they were (a temporary one left behind would keep
# the source in the trash once it is deleted).
p=crash-clone
# The source's user-visible snapshots (the trash namespace is librbd's own bookkeeping
# for clone-v2 children, as ceph-csi's layouts use it; the final audit sees it too).
src_snaps() { admin rbd snap ls --all --format json "$p/$1" | python3 -c 'import json,sys; print(sorted(s["name"] for s in json.load(sys.stdin) if s.get("namespace", {}).get("type", "user") == "user"))'; }
SW_SRC="" SW_SNAP="" SWEPT=()
if mkvol $p src && SW_SRC=$VID SRCI=$VIMG SRCSUM=$SUM && mksnap $p snap "$SW_SRC"; then
  SW_SNAP=$SID
  for kind in clone restore; do
    if [ $kind = clone ]; then from=(--from-volume "$SW_SRC"); else from=(--from-snapshot "$SW_SNAP"); fi
    t0=${EPOCHREALTIME/./}
    attempt CreateVolume --name "$kind-0" $(params $p) "${from[@]}"
    dur=$(((${EPOCHREALTIME/./} - t0) / 1000))
    code_is "$p: an uninterrupted $kind takes $dur ms" 0 && SWEPT+=("$(vid)")
    for k in $(seq 1 "$SWEEP"); do
      before=$(src_snaps "$SRCI") ms=$((dur * k / (SWEEP + 1)))
      kill_during "$ms" CreateVolume --name "$kind-$k" $(params $p) "${from[@]}"
      serve
      attempt CreateVolume --name "$kind-$k" $(params $p) "${from[@]}"
      code_is "$p: $kind cut by kill -9 at $ms ms (it answered $CUT_RC), retried" 0 || continue
      SWEPT+=("$(vid)")
      check "$p:   it has the source's data" has_data $p "$(vimg)" "$SRCSUM"
      check "$p:   the source's snapshots are as before" [ "$(src_snaps "$SRCI")" = "$before" ]
    done
  done
fi
# Deleted at the end, once the killed servers' watches have expired.
sweep_cleanup() {
  local v
  for v in ${SWEPT[@]+"${SWEPT[@]}"}; do
    attempt DeleteVolume --volume-id "$v"; stale_watch_wait DeleteVolume --volume-id "$v"
    code_is "crash-clone: delete ${v: -36}" 0 || true
  done
  [ -z "$SW_SNAP" ] || delsnap crash-clone "$SW_SNAP" snap
  [ -z "$SW_SRC" ] || delvol crash-clone "$SW_SRC" src
}

# ---- 3. the seeded random lifecycle, in pool rbd ----------------------------------------
LP=rbd
VNAMES=(v0 v1 v2 v3 v4 v5) SNAMES=(s0 s1 s2 s3 s4 s5) # small sets: names come back
declare -A VOL=() VIMGS=() VSUMS=() SNAP=() SSUM=() SSRC=() EVER=() USED=()
DEADV=() DEADS=() PROBLEMS=0 CRASHES=0 FIRED=0 KILLED=0 RETRIED_OK=0
FPS_CREATE="create-after-uuid-object create-after-name-key create-after-image"
FPS_DELETE="delete-after-image"
[ "$CEPH_CLIENT" = librados ] && FPS_DELETE="$FPS_DELETE delete-after-trash-move"
problem() { PROBLEMS=$((PROBLEMS + 1)); fail "step $STEP ($WHAT): $* [seed $SEED]"; }

# by_failpoint FP CALL...: restart the server with FP armed, make the call.
by_failpoint() {
  local fp=$1 before; shift
  before=$(grep -c "failpoint $fp: aborting" "$LOG" || true)
  stop_server "$SERVER_PID" || true
  { serve "$fp"; attempt "$@"; } 2>/dev/null
  if [ "$(grep -c "failpoint $fp: aborting" "$LOG" || true)" != "$before" ]; then
    reap 2>/dev/null; FIRED=$((FIRED + 1)) HOW="failpoint $fp fired" LAST_CRASH=$SECONDS
  else # the call did not pass there (e.g. a trash move for an image with snapshots)
    stop_server "$SERVER_PID" || true; HOW="failpoint $fp not reached (answered $RC)"
  fi
}
# by_kill CALL...: kill -9 of the server 0-300 ms into the call.
by_kill() {
  rnd 301
  kill_during "$R" "$@"
  KILLED=$((KILLED + 1)) HOW="kill -9 after $R ms (answered $CUT_RC)"
}
# lc_call FAILPOINTS CALL...: the call must succeed; perhaps cut by a crash first, then
# retried on a clean server (also when the cut call had answered: retries are idempotent).
lc_call() {
  local fps=($1) n; shift
  HOW=""
  rnd 100
  if [ "$R" -lt "$CRASH_PCT" ]; then
    CRASHES=$((CRASHES + 1))
    rnd 3
    if [ ${#fps[@]} -gt 0 ] && [ "$R" -lt 2 ]; then rnd ${#fps[@]}; by_failpoint "${fps[$R]}" "$@"; else by_kill "$@"; fi
    serve
  fi
  attempt "$@"
  stale_watch_wait "$@"
  [ "$RC" = 0 ] && { [ -z "$HOW" ] || RETRIED_OK=$((RETRIED_OK + 1)); return 0; }
  problem "$1 ${HOW:+retried after $HOW }answered $RC: $ERR"
  for n in 2 3; do sleep 0.5; attempt "$@"; [ "$RC" = 0 ] && { log "  attempt $n succeeded"; return 0; }; done
  return 1
}

free_name() { # free_name ARRAY MAP: a name of ARRAY not alive in MAP, used ones first half the time
  local -n names=$1 alive=$2
  local n free=() reused=()
  for n in "${names[@]}"; do [ -n "${alive[$n]:-}" ] || { free+=("$n"); [ -z "${USED[$n]:-}" ] || reused+=("$n"); }; done
  NAME=""
  [ ${#free[@]} -gt 0 ] || return 1
  rnd 2
  if [ "$R" = 0 ] && [ ${#reused[@]} -gt 0 ]; then rnd ${#reused[@]}; NAME=${reused[$R]}; else rnd ${#free[@]}; NAME=${free[$R]}; fi
}
pick() { # pick MAP: one alive key of MAP, in PICKED
  local -n m=$1
  local keys=($(printf '%s\n' "${!m[@]}" | sort))
  PICKED=""
  [ ${#keys[@]} -gt 0 ] || return 1
  rnd ${#keys[@]}; PICKED=${keys[$R]}
}

# A new volume (create, clone or restore) answered: check and record it.
new_volume() { # new_volume NAME WANT_SUM (empty: a fresh volume, written here)
  local id img sum
  id=$(vid) img=$(vimg)
  [ -z "${EVER[$id]:-}" ] || problem "$1 got the id of an earlier volume (${EVER[$id]}): $id"
  EVER[$id]=$1 USED[$1]=1
  VOL[$1]=$id VIMGS[$1]=$img
  image_exists $LP "$img" || { problem "$1's image $img does not exist"; return 0; }
  if [ -z "$2" ]; then rnd 32768; img write $LP "$img" "$R"; fi
  sum=$(img sum $LP "$img")
  [ -z "$2" ] || [ "$sum" = "$2" ] || problem "$1 has data $sum$(zeros_note "$sum"), not its source's $2"
  VSUMS[$1]=$sum
}

op_create() {
  free_name VNAMES VOL || return 1
  WHAT="create $NAME${USED[$NAME]:+ (name reused)}"
  lc_call "$FPS_CREATE" CreateVolume --name "$NAME" $(params $LP) || return 0
  new_volume "$NAME" ""
}
op_clone() {
  pick VOL || return 1; local src=$PICKED
  free_name VNAMES VOL || return 1
  WHAT="clone $src into $NAME${USED[$NAME]:+ (name reused)}"
  lc_call "$FPS_CREATE" CreateVolume --name "$NAME" $(params $LP) --from-volume "${VOL[$src]}" || return 0
  [ "$(json_get "$OUT" 'j["volume"].get("content_source", {}).get("volume", {}).get("volume_id")')" = "${VOL[$src]}" ] ||
    problem "the reply does not name ${VOL[$src]} as its content source"
  new_volume "$NAME" "${VSUMS[$src]}"
}
op_restore() {
  pick SNAP || return 1; local s=$PICKED
  free_name VNAMES VOL || return 1
  WHAT="restore $s into $NAME${USED[$NAME]:+ (name reused)}$(in_model_dead "${SSRC[$s]}")"
  lc_call "$FPS_CREATE" CreateVolume --name "$NAME" $(params $LP) --from-snapshot "${SNAP[$s]}" || return 0
  [ "$(json_get "$OUT" 'j["volume"].get("content_source", {}).get("snapshot", {}).get("snapshot_id")')" = "${SNAP[$s]}" ] ||
    problem "the reply does not name ${SNAP[$s]} as its content source"
  new_volume "$NAME" "${SSUM[$s]}"
}
in_model_dead() { # ", its volume deleted" when the source volume id is no longer alive
  local n; for n in "${!VOL[@]}"; do [ "${VOL[$n]}" != "$1" ] || return 0; done; echo ", its volume deleted"
}
op_snapshot() {
  pick VOL || return 1; local v=$PICKED
  free_name SNAMES SNAP || return 1
  WHAT="snapshot $v as $NAME${USED[$NAME]:+ (name reused)}"
  lc_call "" CreateSnapshot --name "$NAME" --source-volume-id "${VOL[$v]}" || return 0
  [ "$(json_get "$OUT" '(j["snapshot"]["source_volume_id"], j["snapshot"].get("ready_to_use", False))')" = "('${VOL[$v]}', True)" ] ||
    problem "the reply is not ready or names another source: $OUT"
  SNAP[$NAME]=$(sid) SSUM[$NAME]=${VSUMS[$v]} SSRC[$NAME]=${VOL[$v]} USED[$NAME]=1
}
op_delvol() {
  pick VOL || return 1; local v=$PICKED
  WHAT="delete volume $v"
  # (one that cannot be deleted is reported, and left to the audit)
  if lc_call "$FPS_DELETE" DeleteVolume --volume-id "${VOL[$v]}"; then
    ! image_exists $LP "${VIMGS[$v]}" || problem "its image ${VIMGS[$v]} is still there"
  fi
  DEADV+=("${VOL[$v]}")
  unset "VOL[$v]" "VIMGS[$v]" "VSUMS[$v]"
}
op_delsnap() {
  pick SNAP || return 1; local s=$PICKED
  WHAT="delete snapshot $s$(in_model_dead "${SSRC[$s]}")"
  lc_call "" DeleteSnapshot --snapshot-id "${SNAP[$s]}" || true
  DEADS+=("${SNAP[$s]}")
  unset "SNAP[$s]" "SSUM[$s]" "SSRC[$s]"
}
op_write() { # new data in a volume (as a workload would): its snapshots keep the old
  pick VOL || return 1; local v=$PICKED
  WHAT="write to $v"
  rnd 32768; img write $LP "${VIMGS[$v]}" "$R"
  VSUMS[$v]=$(img sum $LP "${VIMGS[$v]}")
}
op_late_delete() { # a CO's late retry of a delete that already succeeded: OK, and harmless
  local n=$((${#DEADV[@]} + ${#DEADS[@]}))
  [ "$n" -gt 0 ] || return 1
  rnd "$n"
  if [ "$R" -lt ${#DEADV[@]} ]; then
    WHAT="late DeleteVolume of dead ${DEADV[$R]: -36}"
    lc_call "$FPS_DELETE" DeleteVolume --volume-id "${DEADV[$R]}" || true
  else
    R=$((R - ${#DEADV[@]}))
    WHAT="late DeleteSnapshot of dead ${DEADS[$R]: -36}"
    lc_call "" DeleteSnapshot --snapshot-id "${DEADS[$R]}" || true
  fi
}

# After every step: every alive volume's image is there (one that lost it is reported
# and dropped from the model), and ListSnapshots of the pool shows exactly the alive
# snapshots (each difference reported once; a missing snapshot stays in the model: it
# must still be deletable at the end).
declare -A NOTED=()
verify_world() {
  local n id images listed alive=" "
  images=$(admin rbd ls $LP)
  for n in "${!VOL[@]}"; do
    grep -qx "${VIMGS[$n]}" <<<"$images" && continue
    problem "volume $n (${VOL[$n]: -36}) lost its image ${VIMGS[$n]}"
    DEADV+=("${VOL[$n]}"); unset "VOL[$n]" "VIMGS[$n]" "VSUMS[$n]"
  done
  listed=$(csi "$EP" ListSnapshots --secrets-file "$T/secrets" | python3 -c 'import json,sys; [print(e["snapshot"]["snapshot_id"]) for e in json.load(sys.stdin).get("entries", [])]' | grep -F -- "-$LP_HEX-" || true)
  for n in "${!SNAP[@]}"; do
    alive="$alive${SNAP[$n]} "
    grep -qx "${SNAP[$n]}" <<<"$listed" || [ -n "${NOTED[missing ${SNAP[$n]}]:-}" ] || {
      NOTED[missing ${SNAP[$n]}]=1; problem "snapshot $n (${SNAP[$n]: -36}, of ${SSRC[$n]: -36}) is no longer listed"; }
  done
  for id in $listed; do
    [[ $alive != *" $id "* ]] && [ -z "${NOTED[unknown $id]:-}" ] || continue
    NOTED[unknown $id]=1
    if [[ " ${DEADS[*]:-} " = *" $id "* ]]; then problem "snapshot ${id: -36}, deleted earlier, is listed again"
    else problem "ListSnapshots shows a snapshot never made: ${id: -36}"; fi
  done
}

LP_HEX=$(pool_hex $LP)
log "random lifecycle: up to $STEPS steps or $BUDGET s in pool $LP, ${CRASH_PCT}% of calls cut by a crash"
start=$SECONDS
DONE=0
for STEP in $(seq 1 "$STEPS"); do
  [ $((SECONDS - start)) -lt "$BUDGET" ] || { log "time budget of $BUDGET s reached: $DONE steps done"; break; }
  DONE=$STEP
  rnd 20
  if [ "$R" -lt 4 ]; then op=op_create; elif [ "$R" -lt 7 ]; then op=op_snapshot; elif [ "$R" -lt 9 ]; then op=op_clone
  elif [ "$R" -lt 12 ]; then op=op_restore; elif [ "$R" -lt 15 ]; then op=op_delvol; elif [ "$R" -lt 17 ]; then op=op_delsnap
  elif [ "$R" -lt 18 ]; then op=op_write; else op=op_late_delete; fi
  # An op with nothing to work on (no volume, no free name...) gives way to a create,
  # then to a delete.
  $op || op_create || op_delvol || true
  log "step $STEP: $WHAT${HOW:+ (cut: $HOW)}; alive: ${#VOL[@]} volumes, ${#SNAP[@]} snapshots"
  HOW=""
  verify_world
done
log "$DONE random steps took $((SECONDS - start)) s: $CRASHES calls cut ($FIRED by a failpoint, $KILLED by kill -9), $RETRIED_OK retried OK at once"

# Every alive volume still has its data; then everything goes, in random order.
for n in "${!VOL[@]}"; do
  STEP=end WHAT="data of $n"
  has_data $LP "${VIMGS[$n]}" "${VSUMS[$n]}" >"$T/data.msg" || problem "$n's data changed: $(cat "$T/data.msg")"
done
while [ $((${#VOL[@]} + ${#SNAP[@]})) -gt 0 ]; do
  STEP=cleanup
  rnd 2
  if [ "$R" = 0 ]; then op_delvol || op_delsnap; else op_delsnap || op_delvol; fi
  verify_world
done
check "random lifecycle (LIFECYCLE_SEED=$SEED LIFECYCLE_STEPS=$DONE): every call and check as the model says ($PROBLEMS problems)" [ "$PROBLEMS" = 0 ]
check "ListSnapshots of pool $LP is empty" [ -z "$(csi "$EP" ListSnapshots --secrets-file "$T/secrets" | grep -F -- "-$LP_HEX-" || true)" ]
sweep_cleanup
stop_server "$SERVER_PID"

# ---- the audit: every case's pool and the random lifecycle's --------------------------
ceph_audit "${CASES[@]}" $LP
log "seed $SEED"
finish
