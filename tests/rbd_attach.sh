#!/usr/bin/env bash
# Never two writers, the controller's part (issue 15), against a real single-node Ceph
# cluster on 127.0.0.1 as a user with only ceph-csi's caps: ControllerPublishVolume
# claims a single-node volume for one node (an exclusive cls lock on the image header,
# backend/rbd/attach.rs), and nothing gives it to a second node until it is released.
# Publish to A, to B refused naming A, 20 concurrent publishes to 20 nodes of which
# exactly one wins (several rounds), a crash right after the claim, a controller
# restart, unpublish then B, multi-node modes, bad requests, and the claim going with
# its image. RBD_CSI_CEPH_CLIENT=librados (default) or cli.
. "$(dirname "$0")/lib.sh"
here=$(cd "$(dirname "$0")" && pwd)
CLUSTER=$here/../scripts/ceph-cluster.sh
CL=$T/cluster
on_exit "'$CLUSTER' down '$CL' >/dev/null 2>&1"
CEPH_WATCH_PID=$$ CEPH_MIN_COMPAT_CLIENT=mimic "$CLUSTER" up "$CL" >"$T/cluster.log" 2>&1 || { cat "$T/cluster.log"; fail "cluster up"; finish; }
eval "$("$CLUSTER" env "$CL")"
KEY=$("$CLUSTER" user "$CL" csi rbd 2>>"$T/cluster.log" | tail -n1)
check "restricted user created" [ -n "$KEY" ]
admin() { "$@" --conf "$CEPH_CONF" --id admin 2>/dev/null; }
printf '[{"clusterID": "%s", "monitors": ["%s"]}]\n' "$CEPH_FSID" "$CEPH_MON_V2" >"$T/config.json"
( umask 077; printf 'userID=csi\nuserKey=%s\n' "$KEY" >"$T/secrets" )

EP=$T/ctl.sock LOG=$T/server.log
CEPH_CLIENT=${RBD_CSI_CEPH_CLIENT:-librados}
SERVE=(--endpoint "$EP" --mode controller --backend rbd --config "$T/config.json" --data-dir "$T/data" --ceph-client "$CEPH_CLIENT" --log-level debug)
start_server "$LOG" "${SERVE[@]}"
PID1=$SERVER_PID
S=(--secrets-file "$T/secrets")
vid() { json_get "$1" 'j["volume"]["volume_id"]'; }
create() { vid "$(csi "$EP" CreateVolume --name "$1" --required-bytes 16M --param "clusterID=$CEPH_FSID" --param pool=rbd "${S[@]}" "${@:2}")"; }
publish() { csi "$EP" ControllerPublishVolume --volume-id "$1" --node-id "$2" "${S[@]}" "${@:3}"; }
unpublish() { csi "$EP" ControllerUnpublishVolume --volume-id "$1" --node-id "$2" "${S[@]}"; }
# holders IMAGE: the node ids the image's claim names, as `rados lock info` shows them.
holders() {
  local id
  id=$(admin rbd info --format json "rbd/$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])') || return 1
  admin rados -p rbd lock info "rbd_header.$id" rbd-csi.attachment --format json |
    python3 -c 'import json,sys; print(" ".join(sorted(l["cookie"] for l in json.load(sys.stdin)["lockers"])))'
}
image_id() { admin rbd info --format json "rbd/$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'; }
# watch IMAGE: a client watching the image's header, as a kernel mapping does, in the
# background (`rados watch` watches until its stdin, fd 7 here, ends); sets WATCH_PID,
# WATCH_ADDR.
watch() {
  local header
  header=rbd_header.$(image_id "$1")
  rm -f "$T/watch.in"; mkfifo "$T/watch.in"
  rados -p rbd watch "$header" --conf "$CEPH_CONF" --id admin >"$T/watch.log" 2>&1 <"$T/watch.in" &
  WATCH_PID=$!
  exec 7>"$T/watch.in"
  on_exit "kill $WATCH_PID 2>/dev/null"
  for _ in $(seq 1 100); do [ -n "$(admin rados -p rbd listwatchers "$header")" ] && break; sleep 0.1; done
  WATCH_ADDR=$(admin rados -p rbd listwatchers "$header" | sed -n 's/^watcher=\([^ ]*\).*/\1/p' | head -1)
}
# blocklist: the client addresses on the OSD blocklist (port 0: kernel and librados
# clients). The cluster may blocklist daemon addresses itself: seen in the guest under
# load, 127.0.0.1:6808/815 and :6809/815 for a day (the monitors do so for a mgr that
# failed over, for mon_mgr_blocklist_interval; which daemon it was is not known).
blocklist() { admin ceph osd blocklist ls 2>/dev/null | awk '$1 ~ /:0\// {print $1}' | sort; }
# unwatch: ends the watch as a client does (its stdin closed: it unwatches, then exits).
unwatch() { exec 7>&-; wait "$WATCH_PID" 2>/dev/null || true; }
claimed_for() { json_get "$1" 'j.get("publish_context", {}).get("rbd-csi.claimed-for", "")'; }

out=$(csi "$EP" ControllerGetCapabilities)
check "PUBLISH_UNPUBLISH_VOLUME is advertised" grep -q PUBLISH_UNPUBLISH_VOLUME <<<"$out"

V=$(create v1 --fs-type ext4) IMG=csi-vol-${V: -36}
out=$(publish "$V" node-a --fs-type ext4)
check "publish to node-a: OK, the context names node-a" [ "$(claimed_for "$out")" = node-a ]
check "  the image's claim names node-a" [ "$(holders "$IMG")" = node-a ]
check "publish to node-a again: OK (idempotent)" [ "$(claimed_for "$(publish "$V" node-a --fs-type ext4)")" = node-a ]
check "publish to node-b: FAILED_PRECONDITION" expect_code 9 publish "$V" node-b --fs-type ext4
check "  the error names node-a" grep -q '"node-a"' "$T/last.err"
check "  read-only publish to node-b of a single-node volume: refused too" expect_code 9 publish "$V" node-b --fs-type ext4 --readonly
check "  still claimed for node-a alone" [ "$(holders "$IMG")" = node-a ]

# A restarted controller (another Ceph client) finds node-a's claim its own.
stop_server "$PID1"
start_server "$LOG" "${SERVE[@]}"
PID1=$SERVER_PID
check "after a controller restart: publish to node-a OK" csi_ok "$EP" ControllerPublishVolume --volume-id "$V" --node-id node-a --fs-type ext4 "${S[@]}"
check "  publish to node-b still refused" expect_code 9 publish "$V" node-b --fs-type ext4
check "unpublish from node-b (not its node): OK, the claim stays" csi_ok "$EP" ControllerUnpublishVolume --volume-id "$V" --node-id node-b "${S[@]}"
check "  still node-a's" [ "$(holders "$IMG")" = node-a ]
check "unpublish from node-a: OK" csi_ok "$EP" ControllerUnpublishVolume --volume-id "$V" --node-id node-a "${S[@]}"
check "  no claim left" [ "$(holders "$IMG")" = "" ]
check "unpublish again: OK" csi_ok "$EP" ControllerUnpublishVolume --volume-id "$V" --node-id node-a "${S[@]}"
check "publish to node-b now: OK" [ "$(claimed_for "$(publish "$V" node-b --fs-type ext4)")" = node-b ]
check "unpublish with no node id releases every claim" csi_ok "$EP" ControllerUnpublishVolume --volume-id "$V" "${S[@]}"
check "  no claim left" [ "$(holders "$IMG")" = "" ]

# Concurrent publishes of one volume to 20 nodes: the OSD lets exactly one claim win.
# Each round a fresh volume; the queue serializes one controller's calls for a volume,
# so half the racers go through a second controller process on another socket.
EP2=$T/ctl2.sock
start_server "$T/server2.log" --endpoint "$EP2" --mode controller --backend rbd --config "$T/config.json" \
  --data-dir "$T/data2" --ceph-client "$CEPH_CLIENT" --log-level debug
PID2=$SERVER_PID
for round in 1 2 3; do
  R=$(create "race-$round" --fs-type ext4)
  for n in $(seq 1 20); do
    ep=$EP; [ $((n % 2)) = 0 ] && ep=$EP2
    ( rc=0; csi "$ep" ControllerPublishVolume --volume-id "$R" --node-id "node-$n" --fs-type ext4 "${S[@]}" >"$T/race.$n.out" 2>"$T/race.$n.err" || rc=$?
      echo $rc >"$T/race.$n.rc" ) &
  done
  wait_n=0; while [ "$(ls "$T"/race.*.rc 2>/dev/null | wc -l)" -lt 20 ] && [ $wait_n -lt 600 ]; do sleep 0.1; wait_n=$((wait_n + 1)); done
  won=$(cat "$T"/race.*.rc | grep -cx 0 || true)
  refused=$(cat "$T"/race.*.rc | grep -cx 9 || true)
  winner=$(for f in $(grep -lx 0 "$T"/race.*.rc || true); do n=${f%.rc}; n=${n##*.}; echo "node-$n"; done)
  [ "$won" = 1 ] || log "round $round: replies: $(cat "$T"/race.*.rc | sort | uniq -c | tr '\n' ' '); $(cat "$T"/race.*.err | sort | uniq -c | head -3)"
  check "round $round: 20 concurrent publishes to 20 nodes: exactly one wins ($won won, $refused refused)" [ "$won" = 1 -a "$refused" = 19 ]
  check "  the claim names the winner ($winner)" [ "$(holders "csi-vol-${R: -36}")" = "$winner" ]
  check "  every refusal names the winner" [ "$(cat "$T"/race.*.err | grep -c "\"$winner\"" || true)" = 19 ]
  rm -f "$T"/race.*
  check "  delete of the published volume takes its claim along" csi_ok "$EP" DeleteVolume --volume-id "$R" "${S[@]}"
done

stop_server "$PID2"

# A crash right after the claim, before the reply: the retry finds the claim its own.
stop_server "$PID1"
RBD_CSI_FAILPOINT=publish-after-claim start_server "$T/fp.log" "${SERVE[@]}"
publish "$V" node-c --fs-type ext4 >/dev/null 2>&1 || true
wait "$SERVER_PID" 2>/dev/null || true
check "publish-after-claim: the driver died there" grep -q "failpoint publish-after-claim: aborting" "$T/fp.log"
check "  the claim names node-c" [ "$(holders "$IMG")" = node-c ]
start_server "$LOG" "${SERVE[@]}"
check "  the retry: OK" [ "$(claimed_for "$(publish "$V" node-c --fs-type ext4)")" = node-c ]
check "  node-d refused" expect_code 9 publish "$V" node-d --fs-type ext4
check "  unpublish node-c" csi_ok "$EP" ControllerUnpublishVolume --volume-id "$V" --node-id node-c "${S[@]}"

# Multi-node modes claim nothing: readers, and many writers of a block volume.
check "MULTI_NODE_READER_ONLY to node-a and node-b: both OK" \
  csi_ok "$EP" ControllerPublishVolume --volume-id "$V" --node-id node-a --fs-type ext4 --access-mode MULTI_NODE_READER_ONLY --readonly "${S[@]}"
check "  (node-b)" csi_ok "$EP" ControllerPublishVolume --volume-id "$V" --node-id node-b --fs-type ext4 --access-mode MULTI_NODE_READER_ONLY --readonly "${S[@]}"
check "  no claim" [ "$(holders "$IMG")" = "" ]
B=$(create blk --access-type block --access-mode MULTI_NODE_MULTI_WRITER)
check "MULTI_NODE_MULTI_WRITER block to node-a and node-b: both OK" \
  csi_ok "$EP" ControllerPublishVolume --volume-id "$B" --node-id node-a --access-type block --access-mode MULTI_NODE_MULTI_WRITER "${S[@]}"
check "  (node-b)" csi_ok "$EP" ControllerPublishVolume --volume-id "$B" --node-id node-b --access-type block --access-mode MULTI_NODE_MULTI_WRITER "${S[@]}"
check "  no claim" [ "$(holders "csi-vol-${B: -36}")" = "" ]
check "MULTI_NODE_MULTI_WRITER on a filesystem: INVALID_ARGUMENT" \
  expect_code 3 csi "$EP" ControllerPublishVolume --volume-id "$V" --node-id node-a --fs-type ext4 --access-mode MULTI_NODE_MULTI_WRITER "${S[@]}"
check "MULTI_NODE_SINGLE_WRITER block: the writer claims" \
  csi_ok "$EP" ControllerPublishVolume --volume-id "$B" --node-id node-w --access-type block --access-mode MULTI_NODE_SINGLE_WRITER "${S[@]}"
check "  a second writer is refused" \
  expect_code 9 csi "$EP" ControllerPublishVolume --volume-id "$B" --node-id node-x --access-type block --access-mode MULTI_NODE_SINGLE_WRITER "${S[@]}"
check "  a reader is not" \
  csi_ok "$EP" ControllerPublishVolume --volume-id "$B" --node-id node-x --access-type block --access-mode MULTI_NODE_SINGLE_WRITER --readonly "${S[@]}"
watch "csi-vol-${B: -36}"
check "  the reader maps it ($WATCH_ADDR)" [ -n "$WATCH_ADDR" ]
check "  unpublish the writer" csi_ok "$EP" ControllerUnpublishVolume --volume-id "$B" --node-id node-w "${S[@]}"
check "  fences no reader (nothing holds the writer lock)" [ -z "$(blocklist)" ]
unwatch

# Bad and unknown requests.
check "publish without a node id: INVALID_ARGUMENT" expect_code 3 csi "$EP" ControllerPublishVolume --volume-id "$V" --fs-type ext4 "${S[@]}"
check "publish with a node id like an option: INVALID_ARGUMENT" expect_code 3 publish "$V" --lock-cookie --fs-type ext4
check "publish without a capability: INVALID_ARGUMENT" expect_code 3 publish "$V" node-a
check "publish without secrets: INVALID_ARGUMENT" expect_code 3 csi "$EP" ControllerPublishVolume --volume-id "$V" --node-id node-a --fs-type ext4
check "  says where Kubernetes takes them from" grep -q "controller-publish-secret-name" "$T/last.err"
check "publish of a volume that does not exist: NOT_FOUND" \
  expect_code 5 publish "0001-0024-$CEPH_FSID-0000000000000002-00000000-0000-4000-8000-000000000000" node-a --fs-type ext4
check "  and nothing was created for it" [ -z "$(admin rados -p rbd ls | grep -v -e '^rbd_' -e '^csi\.' )" ]
check "publish of an id that is no rbd id: NOT_FOUND" expect_code 5 publish no-such-volume node-a --fs-type ext4
check "unpublish of a volume that does not exist: OK" \
  csi_ok "$EP" ControllerUnpublishVolume --volume-id "0001-0024-$CEPH_FSID-0000000000000002-00000000-0000-4000-8000-000000000000" --node-id node-a "${S[@]}"

# Fencing: a volume moved off a node that still maps it. The node's kernel mapping is
# played by Ceph clients that behave as one does on the wire: `rbd bench` writing (it
# watches the header and holds rbd_lock, as a read-write krbd mapping does) and
# `rados watch` (a watch alone). A plain unpublish of a node that mapped nothing
# fences nothing (checked above: no blocklist entry so far).
check "no client fenced by the unpublishes so far" [ -z "$(blocklist)" ]
fence() { "$BIN" "$1" --volume-id "$2" --node-id "$3" --secrets-file "$T/secrets" --config "$T/config.json" --ceph-client "$CEPH_CLIENT" --log-level info; }
F=$(create fenced --fs-type ext4) FIMG=csi-vol-${F: -36}
publish "$F" node-a --fs-type ext4 >/dev/null
check "publish turns the exclusive-lock feature on" grep -q 'features:.*exclusive-lock' <(admin rbd info "rbd/$FIMG")
rbd bench --io-type write --io-size 4K --io-threads 1 --io-total 4G --io-pattern rand "rbd/$FIMG" --conf "$CEPH_CONF" --id admin >"$T/writer.log" 2>&1 &
WRITER=$!
on_exit "kill $WRITER 2>/dev/null"
for _ in $(seq 1 100); do [ -n "$(admin rados -p rbd lock info "rbd_header.$(image_id "$FIMG")" rbd_lock --format json 2>/dev/null | grep -o '"addr":' )" ] && break; sleep 0.1; done
WADDR=$(admin rados -p rbd lock info "rbd_header.$(image_id "$FIMG")" rbd_lock --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)["lockers"][0]["addr"])')
check "node-a's writer holds rbd_lock ($WADDR)" [ -n "$WADDR" ]
check "publish to node-b while node-a writes: FAILED_PRECONDITION" expect_code 9 publish "$F" node-b --fs-type ext4
check "  the error says how to move it (rbd-csi fence)" grep -q "rbd-csi fence" "$T/last.err"
# Crash at each step of the fence; each retry converges.
rc=0; RBD_CSI_FAILPOINT=fence-after-record fence fence "$F" node-a >/dev/null 2>>"$T/fence.err" || rc=$?
check "fence crashed after recording the address (rc=$rc)" [ "$rc" = 134 ]
recorded() { rados --conf "$CEPH_CONF" --id admin -p rbd getomapval rbd-csi.fenced "$1" /dev/stdout 2>/dev/null; }
check "  recorded, not yet blocklisted" [ "$(recorded "$WADDR" | cut -d' ' -f1-2)" = "node-a $F" -a -z "$(blocklist)" ]
check "  the writer still writes" kill -0 "$WRITER"
rc=0; RBD_CSI_FAILPOINT=unpublish-after-fence fence fence "$F" node-a >/dev/null 2>>"$T/fence.err" || rc=$?
check "fence crashed after the blocklist, before releasing the claim (rc=$rc)" [ "$rc" = 134 ]
check "  the writer's address is blocklisted" [ "$(blocklist)" = "$WADDR" ]
check "  the claim still names node-a" [ "$(holders "$FIMG")" = node-a ]
writer_rc=
for _ in $(seq 1 300); do kill -0 "$WRITER" 2>/dev/null || { writer_rc=0; wait "$WRITER" || writer_rc=$?; break; }; sleep 0.1; done
check "  node-a's writes fail: the writer died (rc=$writer_rc)" [ -n "$writer_rc" ] && [ "$writer_rc" != 0 ]
out=$(fence fence "$F" node-a 2>>"$T/fence.err")
check "the fence retried: OK, it names the writer ($out)" grep -qF "\"$WADDR\"" <<<"$out"
check "  the claim is released" [ "$(holders "$FIMG")" = "" ]
check "  the fence is logged with volume, node and address" grep -q "volume $F: fenced node node-a's client $WADDR" "$T/fence.err"
check "  recorded in the pool's rbd-csi.fenced" [ "$(recorded "$WADDR" | cut -d' ' -f1-2)" = "node-a $F" ]
check "publish to node-b now: OK (through the same controller: not fenced itself)" [ "$(claimed_for "$(publish "$F" node-b --fs-type ext4)")" = node-b ]
# A forced ControllerUnpublishVolume through the plugin fences too: node-b's watch.
watch "$FIMG"
BADDR=$WATCH_ADDR
check "node-b's watch is there ($BADDR)" [ -n "$BADDR" ]
check "ControllerUnpublishVolume for node-b while it maps: OK" csi_ok "$EP" ControllerUnpublishVolume --volume-id "$F" --node-id node-b "${S[@]}"
check "  node-b's address is fenced" grep -qxF "$BADDR" <(blocklist)
check "  node-a's dead writer (its rbd_lock stays) is still recorded as node-a's" [ "$(recorded "$WADDR" | cut -d' ' -f1-2)" = "node-a $F" ]
check "  and logged" grep -q "volume $F: fenced node node-b's client $BADDR" "$LOG"
unwatch
check "unfence as the csi user (profile rbd allows only blocklist add): FAILED_PRECONDITION" expect_code 9 fence unfence "$F" node-a
check "  saying what caps it takes" grep -q "osd blocklist rm" "$T/last.err"
( umask 077; printf 'userID=admin\nuserKey=%s\n' "$(admin ceph auth get-key client.admin)" >"$T/admin-secrets" )
unfence() { "$BIN" unfence --volume-id "$1" --node-id "$2" --secrets-file "$T/admin-secrets" --config "$T/config.json" --ceph-client "$CEPH_CLIENT"; }
out=$(unfence "$F" node-a 2>>"$T/fence.err") || tail -3 "$T/fence.err"
check "unfence node-a: lifts the writer's fence ($out)" grep -qF "\"$WADDR\"" <<<"$out"
check "  node-b's fence stays" [ "$(blocklist)" = "$BADDR" ]
check "  node-a's record is gone, node-b's stays" bash -c "[ \"\$(rados --conf '$CEPH_CONF' --id admin -p rbd listomapkeys rbd-csi.fenced)\" = '$BADDR' ]"
check "unfence node-a again: OK, nothing to lift" [ "$(unfence "$F" node-a 2>>"$T/fence.err")" = '{"unfenced": []}' ]
check "unfence node-b" [ "$(unfence "$F" node-b 2>>"$T/fence.err")" = "{\"unfenced\": [\"$BADDR\"]}" ]
check "  the blocklist is empty" [ -z "$(blocklist)" ]
# A lost node's every volume at once: fence --cluster-id --pool --node-id.
N1=$(create lost-1 --fs-type ext4) N2=$(create lost-2 --fs-type ext4) OTHER=$(create kept --fs-type ext4)
publish "$N1" node-n --fs-type ext4 >/dev/null
publish "$N2" node-n --fs-type ext4 >/dev/null
publish "$OTHER" node-m --fs-type ext4 >/dev/null
watch "csi-vol-${N1: -36}"
out=$("$BIN" fence --cluster-id "$CEPH_FSID" --pool rbd --node-id node-n --secrets-file "$T/secrets" --config "$T/config.json" --ceph-client "$CEPH_CLIENT" 2>>"$T/fence.err") || tail -3 "$T/fence.err"
check "fence of node-n's whole pool: OK, it names the one live mapping ($out)" [ "$out" = "{\"fenced\": [\"$WATCH_ADDR\"]}" ]
check "  both of node-n's claims released" [ "$(holders "csi-vol-${N1: -36}")$(holders "csi-vol-${N2: -36}")" = "" ]
check "  node-m's claim kept" [ "$(holders "csi-vol-${OTHER: -36}")" = node-m ]
unwatch
check "  unfence node-n" [ "$(unfence "$N1" node-n 2>>"$T/fence.err")" = "{\"unfenced\": [\"$WATCH_ADDR\"]}" ]
check "  the blocklist is empty again" [ -z "$(blocklist)" ]
for v in "$N1" "$N2" "$OTHER"; do csi_ok "$EP" ControllerUnpublishVolume --volume-id "$v" "${S[@]}"; csi_ok "$EP" DeleteVolume --volume-id "$v" "${S[@]}"; done
check "fence without secrets: usage error (64)" expect_code 64 "$BIN" fence --volume-id "$F" --node-id node-a
check "delete of the fenced volume" csi_ok "$EP" DeleteVolume --volume-id "$F" "${S[@]}"
admin rados -p rbd rm rbd-csi.fenced

# A deleted volume's claim goes with its image: nothing to clean up.
publish "$V" node-a --fs-type ext4 >/dev/null
check "delete of a published volume" csi_ok "$EP" DeleteVolume --volume-id "$V" "${S[@]}"
check "delete of the block volume" csi_ok "$EP" DeleteVolume --volume-id "$B" "${S[@]}"
printf '%s\n' "$KEY" >"$T/keypat"
check "the key never in the logs" bash -c "! grep -qFf '$T/keypat' '$LOG' '$T/server2.log' '$T/fp.log' '$T/fence.err'"
. "$here/ceph_audit.sh"
ceph_audit rbd
finish
