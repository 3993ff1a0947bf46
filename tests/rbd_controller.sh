#!/usr/bin/env bash
# The rbd controller against a real single-node Ceph cluster on 127.0.0.1 (started by
# scripts/ceph-cluster.sh), as a restricted cephx user with only ceph-csi's caps:
# create/delete/expand with idempotency and crash injection, ceph-csi's journal and
# volume ids (and volumes made the way ceph-csi makes them), 50 identical concurrent
# creates, bad parameters, a wrong key, and the key never in logs or argv.
# RBD_CSI_CEPH_CLIENT=librados (default) or cli picks how the driver reaches Ceph.
. "$(dirname "$0")/lib.sh"
here=$(cd "$(dirname "$0")" && pwd)
CLUSTER=$here/../scripts/ceph-cluster.sh
CL=$T/cluster
on_exit "'$CLUSTER' down '$CL' >/dev/null 2>&1"
CEPH_WATCH_PID=$$ CEPH_MIN_COMPAT_CLIENT=mimic "$CLUSTER" up "$CL" >"$T/cluster.log" 2>&1 || { cat "$T/cluster.log"; fail "cluster up"; finish; }
eval "$("$CLUSTER" env "$CL")"
KEY=$("$CLUSTER" user "$CL" csi rbd rbd2 2>>"$T/cluster.log" | tail -n1)
check "restricted user created" [ -n "$KEY" ]
admin() { "$@" --conf "$CEPH_CONF" --id admin 2>/dev/null; }

cat >"$T/config.json" <<EOF
[{"clusterID": "$CEPH_FSID", "monitors": ["$CEPH_MON_V2"], "rbd": {"radosNamespace": ""}},
 {"clusterID": "other", "monitors": ["127.0.0.1:1"]}]
EOF
( umask 077; printf 'userID=csi\nuserKey=%s\n' "$KEY" >"$T/secrets"; printf 'userID=csi\nuserKey=AQBbm90dGhla2V5bm90dGhla2V5bm90dGhla2V5bg==\n' >"$T/bad-secrets" )

# Watch every process's argv for the key while the driver works (the pattern comes
# from a file, so the watcher's own grep does not carry it).
printf '%s\n' "$KEY" >"$T/keypat"
( while :; do cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\0' ' ' | grep -qFf "$T/keypat" && echo LEAK >"$T/argv-leak"; sleep 0.02; done ) &
WATCHER=$!
on_exit "kill $WATCHER 2>/dev/null"

EP=$T/ctl.sock
CEPH_CLIENT=${RBD_CSI_CEPH_CLIENT:-librados}
SERVE=(--endpoint "$EP" --mode controller --backend rbd --config "$T/config.json" --data-dir "$T/data" --ceph-client "$CEPH_CLIENT")
start_server "$T/server.log" "${SERVE[@]}" --log-level debug
check "the driver reaches Ceph through $CEPH_CLIENT" grep -q "controller: Ceph through $CEPH_CLIENT" "$T/server.log"
P=(--param "clusterID=$CEPH_FSID" --param pool=rbd --secrets-file "$T/secrets" --fs-type ext4)
create() { csi "$EP" CreateVolume --name "$1" --required-bytes "${2:-1G}" "${P[@]}" "${@:3}"; }
vid() { json_get "$1" 'j["volume"]["volume_id"]'; }
images() { admin rbd ls rbd | grep -c '^csi-vol-' || true; }
journal_keys() { admin rados -p rbd listomapkeys csi.volumes.default | grep -c . || true; }
uuid_objects() { admin rados -p rbd ls | grep -c '^csi\.volume\.[0-9a-f]' || true; }
# Through librados a deleted image goes to the trash and a mgr task removes it: wait for it.
trash_empty() { for _ in $(seq 1 100); do [ -z "$(admin rbd trash ls rbd)" ] && return 0; sleep 0.2; done; return 1; }
in_trash() { admin rbd trash ls rbd | grep -q " $1\$"; }
not_in_trash() { ! in_trash "$1"; }

out=$(create pvc-1)
V=$(vid "$out")
check "volume id is ceph-csi v1 for this cluster and pool 2" grep -Eqx "0001-0024-$CEPH_FSID-0000000000000002-[0-9a-f-]{36}" <<<"$V"
UUID=${V: -36}
check "image csi-vol-<uuid> exists, 1 GiB" [ "$(admin rbd info --format json "rbd/csi-vol-$UUID" | python3 -c 'import json,sys; print(json.load(sys.stdin)["size"])')" = $((1 << 30)) ]
check "image features are layering only (default)" [ "$(admin rbd info --format json "rbd/csi-vol-$UUID" | python3 -c 'import json,sys; print(json.load(sys.stdin)["features"])')" = "['layering']" ]
check "journal: name key → uuid" [ "$(admin rados -p rbd getomapval csi.volumes.default csi.volume.pvc-1 - 2>/dev/null)" = "$UUID" ]
check "journal: csi.volname" [ "$(admin rados -p rbd getomapval "csi.volume.$UUID" csi.volname -)" = pvc-1 ]
check "journal: csi.imagename" [ "$(admin rados -p rbd getomapval "csi.volume.$UUID" csi.imagename -)" = "csi-vol-$UUID" ]
check "journal: csi.imageid is the image's id" [ "$(admin rados -p rbd getomapval "csi.volume.$UUID" csi.imageid -)" = "$(admin rbd info --format json "rbd/csi-vol-$UUID" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')" ]
check "volume context: pool, imageName, journalPool, clusterID" \
  [ "$(json_get "$out" 'sorted(j["volume"]["volume_context"].items())[:0] == [] and (j["volume"]["volume_context"]["pool"], j["volume"]["volume_context"]["imageName"], j["volume"]["volume_context"]["journalPool"])')" = "('rbd', 'csi-vol-$UUID', 'rbd')" ]
check "CreateVolume again: same volume" [ "$(vid "$(create pvc-1)")" = "$V" ]
check "same name, larger size: ALREADY_EXISTS" expect_code 6 create pvc-1 2G
check "one image for the name" [ "$(images)" = 1 ]

out=$(csi "$EP" ControllerExpandVolume --volume-id "$V" --required-bytes 2G --secrets-file "$T/secrets" --fs-type ext4)
check "expand: 2 GiB" [ "$(json_get "$out" 'j["capacity_bytes"]')" = $((2 << 30)) ]
check "expand: node expansion required for a filesystem" [ "$(json_get "$out" 'j["node_expansion_required"]')" = True ]
check "expand: the image grew" [ "$(admin rbd info --format json "rbd/csi-vol-$UUID" | python3 -c 'import json,sys; print(json.load(sys.stdin)["size"])')" = $((2 << 30)) ]
check "expand again (idempotent)" csi_ok "$EP" ControllerExpandVolume --volume-id "$V" --required-bytes 2G --secrets-file "$T/secrets" --fs-type ext4
out=$(csi "$EP" ValidateVolumeCapabilities --volume-id "$V" --fs-type ext4 --secrets-file "$T/secrets")
check "validate: confirmed" [ "$(json_get "$out" '"confirmed" in j')" = True ]

# An image that is open (watched) is never deleted under its user.
admin rbd bench --io-type write --io-size 4K --io-total 400M --io-threads 1 "rbd/csi-vol-$UUID" >/dev/null 2>&1 &
BENCH=$!
for _ in $(seq 1 50); do [ "$(admin rbd status --format json "rbd/csi-vol-$UUID" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["watchers"]))')" != 0 ] && break; sleep 0.1; done
check "delete of an image in use: FAILED_PRECONDITION" expect_code 9 csi "$EP" DeleteVolume --volume-id "$V" --secrets-file "$T/secrets"
check "... and the image is still there" [ "$(images)" = 1 ]
kill "$BENCH" 2>/dev/null; wait "$BENCH" 2>/dev/null || true
for _ in $(seq 1 100); do [ "$(admin rbd status --format json "rbd/csi-vol-$UUID" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["watchers"]))')" = 0 ] && break; sleep 0.2; done

check "delete" csi_ok "$EP" DeleteVolume --volume-id "$V" --secrets-file "$T/secrets"
check "delete again" csi_ok "$EP" DeleteVolume --volume-id "$V" --secrets-file "$T/secrets"
check "image gone" [ "$(images)" = 0 ]
check "journal name key gone" [ "$(journal_keys)" = 0 ]
check "journal uuid object gone" [ "$(uuid_objects)" = 0 ]
check "trash empty (nothing left of the image)" trash_empty

# 50 identical concurrent creates: all OK, one image. The first is held 3 s after it
# made the image, so all the others arrive while it runs and wait for its result.
stop_server "$SERVER_PID"
RBD_CSI_FAILPOINT=create-after-image:sleep=3000 start_server "$T/c50.log" "${SERVE[@]}" --log-level debug
for i in $(seq 1 50); do (set +e; create pvc-50 >"$T/c50.$i.out" 2>"$T/c50.$i.err"; echo $? >"$T/c50.$i.rc") & done
wait_for_rcs() { for _ in $(seq 1 600); do [ "$(find "$T" -maxdepth 1 -name 'c50.*.rc' | wc -l)" = 50 ] && return 0; sleep 0.1; done; return 1; }
check "50 identical creates all answered" wait_for_rcs || { cat "$T"/c50.1.err; tail -5 "$T/c50.log"; }
check "50 identical creates: all OK" [ "$(cat "$T"/c50.*.rc | sort -u)" = 0 ]
[ "$(cat "$T"/c50.*.rc | sort -u)" = 0 ] || { cat "$T"/c50.*.rc | sort | uniq -c; cat "$T"/c50.*.err | sort | uniq -c; grep -v DEBUG "$T/c50.log" | tail -5; }
check "50 identical creates: one volume id" [ "$(for f in "$T"/c50.*.out; do vid "$(cat "$f")"; done | sort -u | wc -l)" = 1 ]
check "50 identical creates: one image" [ "$(images)" = 1 ]
V50=$(vid "$(cat "$T/c50.1.out")")
check "50 identical creates executed once" [ "$(grep -c 'rpc=CreateVolume volume="pvc-50" executing' "$T/c50.log")" = 1 ]
csi_ok "$EP" DeleteVolume --volume-id "$V50" --secrets-file "$T/secrets"
stop_server "$SERVER_PID"
start_server "$T/server.log" "${SERVE[@]}" --log-level debug

# Snapshots, restores and clones (clone v2, flattened): data checked with rbd export.
export_sum() { admin rbd export --no-progress "$1" - | sha256sum; }
A=$(vid "$(create snap-src 64M)"); AU=${A: -36}
admin rbd bench --io-type write --io-pattern rand --io-size 64K --io-total 16M "rbd/csi-vol-$AU" >/dev/null
out=$(csi "$EP" CreateSnapshot --name snap-1 --source-volume-id "$A" --secrets-file "$T/secrets")
S=$(json_get "$out" 'j["snapshot"]["snapshot_id"]'); SU=${S: -36}
check "snapshot: ready, sized, timestamped" [ "$(json_get "$out" '(j["snapshot"]["ready_to_use"], j["snapshot"]["size_bytes"], j["snapshot"]["creation_time"]["seconds"] > 1700000000)')" = "(True, 67108864, True)" ]
check "snapshot: id in ceph-csi format" grep -Eqx "0001-0024-$CEPH_FSID-0000000000000002-[0-9a-f-]{36}" <<<"$S"
check "snapshot: twice, same id" [ "$(json_get "$(csi "$EP" CreateSnapshot --name snap-1 --source-volume-id "$A" --secrets-file "$T/secrets")" 'j["snapshot"]["snapshot_id"]')" = "$S" ]
check "snapshot journal: csi.snapname" [ "$(admin rados -p rbd getomapval "csi.snap.$SU" csi.snapname -)" = snap-1 ]
# ceph-csi's layout (v3.12.2): a clone image csi-snap-<uuid> carrying a snapshot of that
# name, its id in the journal, nothing left on the source but the snapshot in its
# trash namespace the clone hangs on.
check "snapshot: an image csi-snap-<uuid>, a clone of the source" [ "$(admin rbd info --format json "rbd/csi-snap-$SU" | python3 -c 'import json,sys; print(json.load(sys.stdin)["parent"]["image"])')" = "csi-vol-$AU" ]
check "snapshot: ... with its snapshot csi-snap-<uuid>" [ "$(admin rbd snap ls --format json "rbd/csi-snap-$SU" | python3 -c 'import json,sys; print([s["name"] for s in json.load(sys.stdin)])')" = "['csi-snap-$SU']" ]
check "snapshot journal: csi.imageid is that image's id" [ "$(admin rados -p rbd getomapval "csi.snap.$SU" csi.imageid -)" = "$(admin rbd info --format json "rbd/csi-snap-$SU" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')" ]
check "snapshot: no snapshot left on the source but in its trash namespace" [ "$(admin rbd snap ls --all --format json "rbd/csi-vol-$AU" | python3 -c 'import json,sys; print([s["namespace"]["type"] for s in json.load(sys.stdin)])')" = "['trash']" ]
SNAPSUM=$(export_sum "rbd/csi-snap-$SU@csi-snap-$SU" || true)
check "snapshot: its data is the source's" [ "$SNAPSUM" = "$(export_sum "rbd/csi-vol-$AU")" ]
snapshots() { json_get "$(csi "$EP" ListSnapshots --secrets-file "$T/secrets" "$@")" '[(e["snapshot"]["snapshot_id"], e["snapshot"]["source_volume_id"], e["snapshot"]["size_bytes"]) for e in j.get("entries", [])]'; }
check "ListSnapshots by id: the snapshot, its source and size" [ "$(snapshots --snapshot-id "$S")" = "[('$S', '$A', 67108864)]" ]
check "ListSnapshots by source volume" [ "$(snapshots --source-volume-id "$A")" = "[('$S', '$A', 67108864)]" ]
B=$(vid "$(csi "$EP" CreateVolume --name snap-src-2 --required-bytes 32M --param "clusterID=$CEPH_FSID" --param pool=rbd2 --secrets-file "$T/secrets" --fs-type ext4)")
S2=$(json_get "$(csi "$EP" CreateSnapshot --name snap-2 --source-volume-id "$B" --secrets-file "$T/secrets")" 'j["snapshot"]["snapshot_id"]')
check "ListSnapshots of everything: both pools' snapshots, sorted by id" [ "$(snapshots)" = "$(python3 -c 'import sys; print(sorted([(sys.argv[1], sys.argv[2], 67108864), (sys.argv[3], sys.argv[4], 33554432)]))' "$S" "$A" "$S2" "$B")" ]
out=$(csi "$EP" ListSnapshots --secrets-file "$T/secrets" --max-entries 1)
check "ListSnapshots pages: one entry and a next token" [ "$(json_get "$out" '(len(j["entries"]), j["next_token"] != "")')" = "(1, True)" ]
check "ListSnapshots of an unknown id: empty" [ "$(snapshots --snapshot-id "${S%-*}-000000000000")" = "[]" ]
check "ListSnapshots without secrets: INVALID_ARGUMENT" expect_code 3 csi "$EP" ListSnapshots
csi_ok "$EP" DeleteSnapshot --snapshot-id "$S2" --secrets-file "$T/secrets"
csi_ok "$EP" DeleteVolume --volume-id "$B" --secrets-file "$T/secrets"
admin rbd bench --io-type write --io-pattern rand --io-size 64K --io-total 16M "rbd/csi-vol-$AU" >/dev/null
check "source changed after the snapshot" [ "$(export_sum "rbd/csi-vol-$AU")" != "$SNAPSUM" ]
out=$(create restore-1 64M --from-snapshot "$S")
R=$(vid "$out"); RU=${R: -36}
# Kubernetes' external-provisioner fails (and deletes) a restore without content_source.
check "restore: the reply names its content source" [ "$(json_get "$out" 'j["volume"]["content_source"]["snapshot"]["snapshot_id"]')" = "$S" ]
check "restore retried: same volume, same content source" [ "$(json_get "$(create restore-1 64M --from-snapshot "$S")" '(j["volume"]["volume_id"], j["volume"]["content_source"]["snapshot"]["snapshot_id"])')" = "('$R', '$S')" ]
check "same name without the source: ALREADY_EXISTS" expect_code 6 create restore-1 64M
check "same name from a volume instead: ALREADY_EXISTS" expect_code 6 create restore-1 64M --from-volume "$A"
check "restore from snapshot has the snapshot's data" [ "$(export_sum "rbd/csi-vol-$RU")" = "$SNAPSUM" ]
check "restore is flattened (no parent)" bash -c "! rbd info --conf '$CEPH_CONF' --id admin rbd/csi-vol-$RU | grep -q parent:"
ASUM=$(export_sum "rbd/csi-vol-$AU")
out=$(create clone-1 128M --from-volume "$A")
C=$(vid "$out"); CU=${C: -36}
check "clone: the reply names its content source" [ "$(json_get "$out" 'j["volume"]["content_source"]["volume"]["volume_id"]')" = "$A" ]
check "a volume made without a source, asked for again from a snapshot: ALREADY_EXISTS" expect_code 6 create snap-src 64M --from-snapshot "$S"
check "clone of a volume: its data, then zeros" [ "$(admin rbd export --no-progress "rbd/csi-vol-$CU" - | head -c 64M | sha256sum)" = "$ASUM" ]
check "clone: grown to 128 MiB" [ "$(admin rbd info --format json "rbd/csi-vol-$CU" | python3 -c 'import json,sys; print(json.load(sys.stdin)["size"])')" = $((128 << 20)) ]
check "clone: no temporary snapshot left on the source" [ "$(admin rbd snap ls --format json "rbd/csi-vol-$AU" | python3 -c 'import json,sys; print([s["name"] for s in json.load(sys.stdin)])')" = "[]" ]
check "delete the parent while its snapshot lives: OK" csi_ok "$EP" DeleteVolume --volume-id "$A" --secrets-file "$T/secrets"
check "the parent went to the trash (its snapshot stays restorable)" in_trash "csi-vol-$AU"
check "restore and clone still readable" [ "$(export_sum "rbd/csi-vol-$RU")" = "$SNAPSUM" ]
check "ListSnapshots finds a snapshot whose source is in the trash" [ "$(snapshots --snapshot-id "$S")" = "[('$S', '$A', 67108864)]" ]
# A snapshot outlives its volume (issue 14 #2): restorable after the volume is gone.
out=$(create restore-late 64M --from-snapshot "$S" || true)
RL=$(vid "$out" 2>/dev/null || true)
check "restore from a snapshot whose volume was deleted" [ -n "$RL" ] && check "... has the snapshot's data" [ "$(export_sum "rbd/csi-vol-${RL: -36}")" = "$SNAPSUM" ]
[ -z "$RL" ] || csi_ok "$EP" DeleteVolume --volume-id "$RL" --secrets-file "$T/secrets"
check "delete the snapshot" csi_ok "$EP" DeleteSnapshot --snapshot-id "$S" --secrets-file "$T/secrets"
check "delete the snapshot again" csi_ok "$EP" DeleteSnapshot --snapshot-id "$S" --secrets-file "$T/secrets"
check "the trashed parent went with its last snapshot" not_in_trash "csi-vol-$AU"
check "ListSnapshots after delete: empty" [ "$(snapshots --snapshot-id "$S")" = "[]" ]
check "snapshot journal gone" [ "$(admin rados -p rbd ls | grep -c '^csi\.snap\.[0-9a-f]' || true)" = 0 ]
for v in "$R" "$C"; do csi_ok "$EP" DeleteVolume --volume-id "$v" --secrets-file "$T/secrets"; done
check "after snapshots: no image, journal or uuid object left" [ "$(images) $(journal_keys) $(uuid_objects)" = "0 0 0" ]

# Bad parameters: the right code, nothing created.
before="$(images) $(journal_keys) $(uuid_objects)"
check "unknown pool: NOT_FOUND" expect_code 5 csi "$EP" CreateVolume --name bad-1 --param "clusterID=$CEPH_FSID" --param pool=nopool --secrets-file "$T/secrets" --fs-type ext4
check "unknown clusterID: INVALID_ARGUMENT" expect_code 3 csi "$EP" CreateVolume --name bad-2 --param clusterID=nosuch --param pool=rbd --secrets-file "$T/secrets" --fs-type ext4
check "bad imageFeatures: INVALID_ARGUMENT" expect_code 3 csi "$EP" CreateVolume --name bad-3 "${P[@]}" --param imageFeatures=layering,warp-drive
check "bad volumeNamePrefix: INVALID_ARGUMENT" expect_code 3 csi "$EP" CreateVolume --name bad-8 "${P[@]}" --param volumeNamePrefix=a/b
check "missing pool: INVALID_ARGUMENT" expect_code 3 csi "$EP" CreateVolume --name bad-4 --param "clusterID=$CEPH_FSID" --secrets-file "$T/secrets" --fs-type ext4
check "missing secrets: INVALID_ARGUMENT" expect_code 3 csi "$EP" CreateVolume --name bad-5 --param "clusterID=$CEPH_FSID" --param pool=rbd --fs-type ext4
check "pool outside the user's caps: FAILED_PRECONDITION" expect_code 9 csi "$EP" CreateVolume --name bad-6 --param "clusterID=$CEPH_FSID" --param pool=device_health_metrics --secrets-file "$T/secrets" --fs-type ext4
check "wrong key: UNAVAILABLE" expect_code 14 csi "$EP" CreateVolume --name bad-7 --param "clusterID=$CEPH_FSID" --param pool=rbd --secrets-file "$T/bad-secrets" --fs-type ext4
check "wrong key: the message says why" grep -q "cannot authenticate" "$T/last.err"
# ceph-csi's StorageClass parameters: each honoured or refused by name, never dropped.
while IFS='|' read -r param says; do
  check "parameter $param: INVALID_ARGUMENT" expect_code 3 csi "$EP" CreateVolume --name bad-param "${P[@]}" --param "$param"
  check "  the message names it and says why" grep -q "$says" "$T/last.err"
done <<'EOF2'
encrypted=true|encryption is not implemented
thickProvision=true|thin
mounter=rbd-nbd|rbd-nbd is not offered
mapOptions=krbd:name=admin|not allowed
stripeUnit=65536|go together
objectSize=3000000|power of two
topologyConstrainedPools=[]|lists no pools
topologyConstrainedPools=not json|not valid JSON
fsType=ext4|csi.storage.k8s.io/fstype
poool=rbd|not a ceph-csi rbd parameter
EOF2
out=$(create sc-params 64M --param mkfsOptions=-m0 --param encrypted=false --param mounter=rbd \
  --param csi.storage.k8s.io/pv/name=pv-x --param csi.storage.k8s.io/pvc/name=data --param csi.storage.k8s.io/pvc/namespace=ns)
check "honoured and inert parameters: created" [ -n "$(vid "$out")" ]
check "  mkfsOptions reaches the node through the volume context" [ "$(json_get "$out" 'j["volume"]["volume_context"]["mkfsOptions"]')" = -m0 ]
meta() { admin rbd image-meta get "rbd/$(json_get "$out" 'j["volume"]["volume_context"]["imageName"]')" "$1"; }
check "  the PV and PVC names are the image's metadata (as ceph-csi keeps them)" \
  [ "$(meta csi.storage.k8s.io/pv/name) $(meta csi.storage.k8s.io/pvc/name) $(meta csi.storage.k8s.io/pvc/namespace)" = "pv-x data ns" ]
csi_ok "$EP" DeleteVolume --volume-id "$(vid "$out")" --secrets-file "$T/secrets"
layout() { admin rbd info "rbd/csi-vol-${1: -36}" | grep -E 'order|stripe' | tr -s ' \t\n' ' '; }
STRIPED=(--param objectSize=1048576 --param stripeUnit=262144 --param stripeCount=4)
SV=$(vid "$(create striped 64M "${STRIPED[@]}")")
check "objectSize, stripeUnit, stripeCount: the image has that layout" [ "$(layout "$SV")" = " order 20 (1 MiB objects) stripe unit: 256 KiB stripe count: 4 " ]
SC=$(vid "$(create striped-clone 64M "${STRIPED[@]}" --from-volume "$SV")")
check "  a clone made with them too" [ "$(layout "$SC")" = "$(layout "$SV")" ]
for v in "$SC" "$SV"; do csi_ok "$EP" DeleteVolume --volume-id "$v" --secrets-file "$T/secrets"; done
# An id that cannot be ours (another driver's, a static volume's image name) names no
# volume: deleted, as the CSI spec asks and the local backend answers; nothing touched.
# A create that cannot succeed gives back what it reserved (no name key, no uuid object).
check "restore from a snapshot that does not exist: NOT_FOUND" expect_code 5 create restore-nothing 64M --from-snapshot "0001-0024-$CEPH_FSID-0000000000000002-$(python3 -c 'import uuid; print(uuid.uuid4())')"
check "  its reservation is undone" bash -c "! rados -p rbd listomapkeys csi.volumes.default --conf '$CEPH_CONF' --id admin | grep -qx csi.volume.restore-nothing"
check "DeleteVolume of an id that is no ceph-csi id: OK" csi_ok "$EP" DeleteVolume --volume-id lv-123 --secrets-file "$T/secrets"
check "DeleteSnapshot of an id that is no ceph-csi id: OK" csi_ok "$EP" DeleteSnapshot --snapshot-id static-image --secrets-file "$T/secrets"
check "DeleteVolume without an id: INVALID_ARGUMENT" expect_code 3 csi "$EP" DeleteVolume --secrets-file "$T/secrets"
check "bad requests created nothing" [ "$(images) $(journal_keys) $(uuid_objects)" = "$before" ]

# Crash between any two steps of create and delete: the retry converges, delete leaves nothing.
stop_server "$SERVER_PID"
for fp in create-after-uuid-object create-after-name-key create-after-image; do
  RBD_CSI_FAILPOINT=$fp start_server "$T/fp.log" "${SERVE[@]}"
  create "crash-$fp" >/dev/null 2>&1 || true
  wait "$SERVER_PID" 2>/dev/null || true
  check "$fp: the driver died there" grep -q "failpoint $fp: aborting" "$T/fp.log"
  start_server "$T/server2.log" "${SERVE[@]}"
  out=$(create "crash-$fp")
  check "$fp: retry succeeds with one image" [ "$(images)" = 1 ]
  u=$(vid "$out"); u=${u: -36}
  check "$fp: journal complete (image id recorded)" [ -n "$(admin rados -p rbd getomapval "csi.volume.$u" csi.imageid -)" ]
  check "$fp: delete" csi_ok "$EP" DeleteVolume --volume-id "$(vid "$out")" --secrets-file "$T/secrets"
  check "$fp: no image, journal or uuid object left" [ "$(images) $(journal_keys) $(uuid_objects)" = "0 0 0" ]
  stop_server "$SERVER_PID"
done
RBD_CSI_FAILPOINT=delete-after-image start_server "$T/fp.log" "${SERVE[@]}"
V=$(vid "$(create crash-delete)")
csi "$EP" DeleteVolume --volume-id "$V" --secrets-file "$T/secrets" >/dev/null 2>&1 || true
wait "$SERVER_PID" 2>/dev/null || true
start_server "$T/server3.log" "${SERVE[@]}"
check "delete-after-image: retry succeeds" csi_ok "$EP" DeleteVolume --volume-id "$V" --secrets-file "$T/secrets"
check "delete-after-image: nothing left" [ "$(images) $(journal_keys) $(uuid_objects)" = "0 0 0" ]
if [ "$CEPH_CLIENT" = librados ]; then
  # A crash after the image went to the trash, before its removal was handed to the mgr.
  stop_server "$SERVER_PID"
  RBD_CSI_FAILPOINT=delete-after-trash-move start_server "$T/fp.log" "${SERVE[@]}"
  V=$(vid "$(create crash-trash)")
  csi "$EP" DeleteVolume --volume-id "$V" --secrets-file "$T/secrets" >/dev/null 2>&1 || true
  wait "$SERVER_PID" 2>/dev/null || true
  check "delete-after-trash-move: the driver died there" grep -q "failpoint delete-after-trash-move: aborting" "$T/fp.log"
  check "delete-after-trash-move: the image waits in the trash" in_trash "csi-vol-${V: -36}"
  start_server "$T/server4.log" "${SERVE[@]}"
  check "delete-after-trash-move: retry succeeds" csi_ok "$EP" DeleteVolume --volume-id "$V" --secrets-file "$T/secrets"
  check "delete-after-trash-move: nothing left" [ "$(images) $(journal_keys) $(uuid_objects)" = "0 0 0" ]
  check "delete-after-trash-move: the trash is empty again" trash_empty
fi

# A volume made the way ceph-csi makes it (random uuid, journal, image; its StorageClass
# had volumeNamePrefix=legacy-): we expand it, find it by name and delete it.
U=$(python3 -c 'import uuid; print(uuid.uuid4())')
admin rados -p rbd setomapval "csi.volume.$U" csi.volname pvc-from-ceph-csi
admin rados -p rbd setomapval csi.volumes.default csi.volume.pvc-from-ceph-csi "$U"
admin rados -p rbd setomapval "csi.volume.$U" csi.imagename "legacy-$U"
admin rbd create --size 1G --image-feature layering "rbd/legacy-$U"
admin rados -p rbd setomapval "csi.volume.$U" csi.imageid "$(admin rbd info --format json "rbd/legacy-$U" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')"
VC=$(printf '0001-%04x-%s-%016x-%s' ${#CEPH_FSID} "$CEPH_FSID" 2 "$U")
all_images() { admin rbd ls rbd | grep -c . || true; }
check "ceph-csi's volume: expand" csi_ok "$EP" ControllerExpandVolume --volume-id "$VC" --required-bytes 3G --secrets-file "$T/secrets"
check "ceph-csi's volume: grown" [ "$(admin rbd info --format json "rbd/legacy-$U" | python3 -c 'import json,sys; print(json.load(sys.stdin)["size"])')" = $((3 << 30)) ]
check "ceph-csi's volume: CreateVolume by its name finds it" [ "$(vid "$(create pvc-from-ceph-csi 3G)")" = "$VC" ]
check "ceph-csi's volume: ... and made no image of its own" [ "$(all_images)" = 1 ]
# A reservation that lost its back pointer (csi.volname) gets it again on the next
# CreateVolume, so DeleteVolume can still remove the name key.
admin rados -p rbd rmomapkey "csi.volume.$U" csi.volname
check "ceph-csi's volume: CreateVolume again restores csi.volname" \
  bash -c "[ '$(vid "$(create pvc-from-ceph-csi 3G)")' = '$VC' ] && [ \"\$(rados --conf '$CEPH_CONF' --id admin -p rbd getomapval 'csi.volume.$U' csi.volname -)\" = pvc-from-ceph-csi ]"
check "ceph-csi's volume: delete" csi_ok "$EP" DeleteVolume --volume-id "$VC" --secrets-file "$T/secrets"
check "ceph-csi's volume: nothing left" [ "$(all_images) $(journal_keys) $(uuid_objects)" = "0 0 0" ]

# ceph-csi's volumeNamePrefix: the image is <prefix><uuid>, and every later call finds it
# through the journal's csi.imagename.
X=$(vid "$(create pfx-1 32M --param volumeNamePrefix=app-)"); XU=${X: -36}
check "volumeNamePrefix: the image is app-<uuid>" [ "$(admin rbd ls rbd | grep -cx "app-$XU")" = 1 ]
check "volumeNamePrefix: expand finds it" csi_ok "$EP" ControllerExpandVolume --volume-id "$X" --required-bytes 64M --secrets-file "$T/secrets"
check "volumeNamePrefix: ... and grew it" [ "$(admin rbd info --format json "rbd/app-$XU" | python3 -c 'import json,sys; print(json.load(sys.stdin)["size"])')" = $((64 << 20)) ]
admin rbd bench --io-type write --io-pattern rand --io-size 64K --io-total 8M "rbd/app-$XU" >/dev/null
XS=$(json_get "$(csi "$EP" CreateSnapshot --name pfx-snap --source-volume-id "$X" --secrets-file "$T/secrets")" 'j["snapshot"]["snapshot_id"]')
check "volumeNamePrefix: ListSnapshots names the source volume" [ "$(snapshots --snapshot-id "$XS")" = "[('$XS', '$X', 67108864)]" ]
XC=$(vid "$(create pfx-clone 64M --from-volume "$X")")
check "volumeNamePrefix: a clone of it has its data" [ "$(export_sum "rbd/csi-vol-${XC: -36}")" = "$(export_sum "rbd/app-$XU")" ]
for v in "$XC" "$X"; do csi_ok "$EP" DeleteVolume --volume-id "$v" --secrets-file "$T/secrets"; done
check "volumeNamePrefix: the image with a snapshot went to the trash" in_trash "app-$XU"
check "volumeNamePrefix: delete the snapshot; nothing left" \
  bash -c "'$BIN' client --endpoint '$EP' DeleteSnapshot --snapshot-id '$XS' --secrets-file '$T/secrets' >/dev/null && [ -z \"\$(rbd --conf '$CEPH_CONF' --id admin ls rbd)\" ]"
check "volumeNamePrefix: the trashed image went with its snapshot" not_in_trash "app-$XU"

# A snapshot made the way ceph-csi makes it: its own clone image of the source, with a
# snapshot of the same name (here under snapshotNamePrefix=legacysnap-). It is listed,
# restored from and deleted.
SV=$(vid "$(create cc-src 32M)"); SVI=csi-vol-${SV: -36}
admin rbd bench --io-type write --io-pattern rand --io-size 64K --io-total 8M "rbd/$SVI" >/dev/null
CCSUM=$(export_sum "rbd/$SVI")
U2=$(python3 -c 'import uuid; print(uuid.uuid4())')
admin rbd snap create "rbd/$SVI@legacysnap-$U2"
admin rbd clone --rbd-default-clone-format 2 "rbd/$SVI@legacysnap-$U2" "rbd/legacysnap-$U2"
admin rbd snap rm "rbd/$SVI@legacysnap-$U2"
admin rbd snap create "rbd/legacysnap-$U2@legacysnap-$U2"
admin rados -p rbd setomapval "csi.snap.$U2" csi.snapname cc-snap
admin rados -p rbd setomapval csi.snaps.default csi.snap.cc-snap "$U2"
admin rados -p rbd setomapval "csi.snap.$U2" csi.imagename "legacysnap-$U2"
admin rados -p rbd setomapval "csi.snap.$U2" csi.source "$SVI"
SC=$(printf '0001-%04x-%s-%s-%s' ${#CEPH_FSID} "$CEPH_FSID" "$(printf '%016x' 2)" "$U2")
admin rbd bench --io-type write --io-pattern rand --io-size 64K --io-total 8M "rbd/$SVI" >/dev/null
check "ceph-csi's snapshot: listed by id, with its source" [ "$(snapshots --snapshot-id "$SC")" = "[('$SC', '$SV', 33554432)]" ]
check "ceph-csi's snapshot: CreateSnapshot by its name finds it" \
  [ "$(json_get "$(csi "$EP" CreateSnapshot --name cc-snap --source-volume-id "$SV" --secrets-file "$T/secrets")" 'j["snapshot"]["snapshot_id"]')" = "$SC" ]
CR=$(vid "$(create cc-restore 32M --from-snapshot "$SC")")
check "ceph-csi's snapshot: a restore has its data" [ "$(export_sum "rbd/csi-vol-${CR: -36}")" = "$CCSUM" ]
check "ceph-csi's snapshot: delete" csi_ok "$EP" DeleteSnapshot --snapshot-id "$SC" --secrets-file "$T/secrets"
check "ceph-csi's snapshot: its image is gone, and the source's trashed snapshot with it" \
  [ "$(admin rbd ls rbd | grep -c "legacysnap-$U2" || true) $(admin rbd snap ls --all --format json "rbd/$SVI" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" = "0 0" ]
for v in "$CR" "$SV"; do csi_ok "$EP" DeleteVolume --volume-id "$v" --secrets-file "$T/secrets"; done
check "ceph-csi's snapshot: nothing left" [ "$(images) $(journal_keys) $(uuid_objects) $(admin rados -p rbd ls | grep -c '^csi\.snap\.' || true)" = "0 0 0 0" ]

# journalPool (ceph-csi's layout): the name directories in the journal pool, with
# "<image pool id>/<uuid>" values; the uuid objects beside the image, naming the journal
# pool in csi.journalpool.
pool_id() { admin ceph osd pool ls detail --format json | python3 -c 'import json,sys; print([p["pool_id"] for p in json.load(sys.stdin) if p["pool_name"] == sys.argv[1]][0])' "$1"; }
RBD_ID=$(printf '%016x' "$(pool_id rbd)") RBD2_ID=$(printf '%016x' "$(pool_id rbd2)")
J=$(vid "$(create jp-1 64M --param journalPool=rbd2)"); JU=${J: -36}
check "journalPool: the volume id carries the image pool" [ "${J:0:$((${#J} - 37))}" = "0001-0024-$CEPH_FSID-$RBD_ID" ]
check "journalPool: the name key is in the journal pool, with the image pool" \
  [ "$(admin rados -p rbd2 getomapval csi.volumes.default csi.volume.jp-1 -)" = "$RBD_ID/$JU" ]
check "journalPool: the uuid object is beside the image, naming the journal pool" \
  [ "$(admin rados -p rbd getomapval "csi.volume.$JU" csi.journalpool -) $(admin rados -p rbd getomapval "csi.volume.$JU" csi.volname -)" = "$RBD2_ID jp-1" ]
check "journalPool: nothing of it in the other pool's journal" \
  [ "$(admin rados -p rbd listomapkeys csi.volumes.default | grep -c jp-1 || true) $(admin rados -p rbd2 ls | grep -c "$JU" || true)" = "0 0" ]
check "journalPool: CreateVolume again, same volume" [ "$(vid "$(create jp-1 64M --param journalPool=rbd2)")" = "$J" ]
JS=$(json_get "$(csi "$EP" CreateSnapshot --name jp-snap --source-volume-id "$J" --secrets-file "$T/secrets")" 'j["snapshot"]["snapshot_id"]')
check "journalPool: the snapshot's name key is in the volume's journal pool" \
  [ "$(admin rados -p rbd2 getomapval csi.snaps.default csi.snap.jp-snap -)" = "$RBD_ID/${JS: -36}" ]
check "journalPool: ListSnapshots of everything finds it" [ "$(snapshots)" = "[('$JS', '$J', 67108864)]" ]
check "journalPool: delete the snapshot" csi_ok "$EP" DeleteSnapshot --snapshot-id "$JS" --secrets-file "$T/secrets"
check "journalPool: delete the volume" csi_ok "$EP" DeleteVolume --volume-id "$J" --secrets-file "$T/secrets"
check "journalPool: nothing left in either pool" \
  [ "$(images) $(admin rados -p rbd2 listomapkeys csi.volumes.default | grep -c . || true) $(admin rados -p rbd2 listomapkeys csi.snaps.default | grep -c . || true) $(admin rados -p rbd ls | grep -c '^csi\.\(volume\|snap\)\.[0-9a-f]' || true)" = "0 0 0 0" ]

# topologyConstrainedPools (ceph-csi): CreateVolume takes the first listed pool whose
# domainSegments all match a topology of the request's accessibility requirements
# (preferred ones first, then requisite), puts the image (with the entry's dataPool)
# and, as ceph-csi v3.11+ does, its journal in that pool, answers with the topology it
# matched, and the volume id carries that pool's id.
TK=topology.rbd.csi.rs
TP='[{"poolName":"rbd","domainSegments":[{"domainLabel":"zone","value":"z1"}]},
 {"poolName":"rbd2","dataPool":"rbd","domainSegments":[{"domainLabel":"zone","value":"z2"},{"domainLabel":"rack","value":"r1"}]}]'
TOPO=(--param "clusterID=$CEPH_FSID" --param pool=rbd --param "topologyConstrainedPools=$TP" --secrets-file "$T/secrets" --fs-type ext4)
tcreate() { csi "$EP" CreateVolume --name "$1" --required-bytes "${TSIZE:-64M}" "${TOPO[@]}" "${@:2}"; }
topo() { json_get "$1" '[sorted(t["segments"].items()) for t in j["volume"].get("accessible_topology", [])]'; }
has_image() { admin rbd info "$1" >/dev/null; }
ctx() { json_get "$1" '[j["volume"]["volume_context"].get(k) for k in ("pool", "journalPool", "dataPool")]'; }
id_pool() { echo "${1:0:$((${#1} - 37))}"; }
pool_state() { # images, name keys and uuid objects of both pools
  local p
  for p in rbd rbd2; do
    printf '%s:%s/%s/%s ' "$p" "$(admin rbd ls "$p" | grep -c . || true)" \
      "$(admin rados -p "$p" listomapkeys csi.volumes.default 2>/dev/null | grep -c . || true)" \
      "$(admin rados -p "$p" ls | grep -c '^csi\.\(volume\|snap\)\.[0-9a-f]' || true)"
  done
}
check "the rbd controller advertises accessibility constraints (external-provisioner sends requirements only then)" \
  [ "$(json_get "$(csi "$EP" GetPluginCapabilities)" '"VOLUME_ACCESSIBILITY_CONSTRAINTS" in [c.get("service",{}).get("type") for c in j["capabilities"]]')" = True ]
TOPO_BEFORE=$(pool_state)
REQ1=(--requisite "$TK/zone=z1" --requisite "$TK/zone=z2,$TK/rack=r1" --preferred "$TK/zone=z2,$TK/rack=r1")
out=$(tcreate topo-1 "${REQ1[@]}")
T1=$(vid "$out"); T1U=${T1: -36}
check "topology: a preferred topology wins: the image is in rbd2" has_image "rbd2/csi-vol-$T1U"
check "  the reply's accessible_topology is the topology it matched" [ "$(topo "$out")" = "[[('$TK/rack', 'r1'), ('$TK/zone', 'z2')]]" ]
check "  the volume id carries rbd2's id" [ "$(id_pool "$T1")" = "0001-0024-$CEPH_FSID-$RBD2_ID" ]
check "  volume context: pool, journalPool and dataPool of the entry" [ "$(ctx "$out")" = "['rbd2', 'rbd2', 'rbd']" ]
check "  the image's data pool is the entry's dataPool" \
  [ "$(admin rbd info --format json "rbd2/csi-vol-$T1U" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("data_pool"))')" = rbd ]
check "  journal in rbd2: name key → uuid; uuid object with csi.volname, csi.imagename" \
  [ "$(admin rados -p rbd2 getomapval csi.volumes.default csi.volume.topo-1 -) $(admin rados -p rbd2 getomapval "csi.volume.$T1U" csi.volname -) $(admin rados -p rbd2 getomapval "csi.volume.$T1U" csi.imagename -)" = "$T1U topo-1 csi-vol-$T1U" ]
check "  journal: csi.imageid is the image's id" \
  [ "$(admin rados -p rbd2 getomapval "csi.volume.$T1U" csi.imageid -)" = "$(admin rbd info --format json "rbd2/csi-vol-$T1U" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')" ]
check "  no csi.journalpool (one pool), nothing of it in rbd's journal" \
  [ "$(admin rados -p rbd2 listomapkeys "csi.volume.$T1U" | grep -c journalpool || true) $(admin rados -p rbd listomapkeys csi.volumes.default 2>/dev/null | grep -c topo-1 || true)" = "0 0" ]
out=$(tcreate topo-1 "${REQ1[@]}")
check "  retried: same volume, same topology" [ "$(vid "$out") $(topo "$out")" = "$T1 [[('$TK/rack', 'r1'), ('$TK/zone', 'z2')]]" ]
check "  one image for it" [ "$(admin rbd ls rbd2 | grep -c "$T1U") $(admin rbd ls rbd | grep -c "$T1U" || true)" = "1 0" ]
out=$(tcreate topo-2 --requisite "$TK/zone=z9" --requisite "$TK/zone=z1" --preferred "$TK/zone=z8")
T2=$(vid "$out"); T2U=${T2: -36}
check "topology: no preferred match: the first requisite that matches: rbd" has_image "rbd/csi-vol-$T2U"
check "  its topology, rbd's id, no dataPool" [ "$(topo "$out") $(id_pool "$T2") $(ctx "$out")" = "[[('$TK/zone', 'z1')]] 0001-0024-$CEPH_FSID-$RBD_ID ['rbd', 'rbd', None]" ]
out=$(csi "$EP" CreateVolume --name topo-3 --required-bytes 64M --param "clusterID=$CEPH_FSID" --param "topologyConstrainedPools=$TP" --secrets-file "$T/secrets" --fs-type ext4 --requisite "topology.kubernetes.io/zone=z2,topology.kubernetes.io/rack=r1")
T3=$(vid "$out")
check "topology: no pool parameter (ceph-csi v3.11+), segments under another prefix match by label: rbd2" has_image "rbd2/csi-vol-${T3: -36}"
out=$(tcreate topo-4)
T4=$(vid "$out")
check "topology: no accessibility requirements: the pool parameter, no topology (as ceph-csi)" \
  [ "$(id_pool "$T4") $(topo "$out")" = "0001-0024-$CEPH_FSID-$RBD_ID []" ]
out=$(csi "$EP" CreateVolume --name topo-5 --required-bytes 64M --param "clusterID=$CEPH_FSID" --param 'topologyConstrainedPools=[{"poolName":"rbd2"}]' --secrets-file "$T/secrets" --fs-type ext4 --requisite "$TK/zone=z5")
T5=$(vid "$out")
check "topology: a pool without domainSegments serves any topology (as in ceph-csi)" [ "$(id_pool "$T5") $(topo "$out")" = "0001-0024-$CEPH_FSID-$RBD2_ID [[('$TK/zone', 'z5')]]" ]

# The volume in rbd2 lives on as any other: expand, snapshot, restore, clone, delete.
check "topology: expand the rbd2 volume" csi_ok "$EP" ControllerExpandVolume --volume-id "$T1" --required-bytes 128M --secrets-file "$T/secrets" --fs-type ext4
check "  grown" [ "$(admin rbd info --format json "rbd2/csi-vol-$T1U" | python3 -c 'import json,sys; print(json.load(sys.stdin)["size"])')" = $((128 << 20)) ]
admin rbd bench --io-type write --io-pattern rand --io-size 64K --io-total 8M "rbd2/csi-vol-$T1U" >/dev/null
T1SUM=$(export_sum "rbd2/csi-vol-$T1U")
out=$(csi "$EP" CreateSnapshot --name topo-snap --source-volume-id "$T1" --secrets-file "$T/secrets")
TS=$(json_get "$out" 'j["snapshot"]["snapshot_id"]')
check "topology: snapshot of the rbd2 volume: its id carries rbd2's id" [ "$(id_pool "$TS")" = "0001-0024-$CEPH_FSID-$RBD2_ID" ]
check "  journaled in rbd2" [ "$(admin rados -p rbd2 getomapval csi.snaps.default csi.snap.topo-snap -)" = "${TS: -36}" ]
TSIZE=128M # the source has grown: a restore or clone may not be smaller
out=$(tcreate topo-restore --from-snapshot "$TS" --requisite "$TK/zone=z2,$TK/rack=r1")
TR=$(vid "$out")
check "topology: restore into the snapshot's pool, with its topology and the snapshot's data" \
  [ "$(id_pool "$TR") $(topo "$out") $(export_sum "rbd2/csi-vol-${TR: -36}" | head -c 16)" = "0001-0024-$CEPH_FSID-$RBD2_ID [[('$TK/rack', 'r1'), ('$TK/zone', 'z2')]] ${T1SUM:0:16}" ]
check "  the reply names its content source" [ "$(json_get "$out" 'j["volume"]["content_source"]["snapshot"]["snapshot_id"]')" = "$TS" ]
check "  its data pool is the entry's dataPool too" \
  [ "$(admin rbd info --format json "rbd2/csi-vol-${TR: -36}" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("data_pool"))')" = rbd ]
check "topology: restore where the snapshot's pool does not serve the topology: RESOURCE_EXHAUSTED" \
  expect_code 8 tcreate topo-restore-z1 --from-snapshot "$TS" --requisite "$TK/zone=z1"
check "  the message names the snapshot's pool" grep -q 'restore stays in the pool of its snapshot, rbd2' "$T/last.err"
check "topology: restore with pools that do not list the snapshot's pool: INVALID_ARGUMENT" \
  expect_code 3 csi "$EP" CreateVolume --name topo-restore-x --required-bytes 128M --param "clusterID=$CEPH_FSID" --param 'topologyConstrainedPools=[{"poolName":"rbd","domainSegments":[{"domainLabel":"zone","value":"z1"}]}]' --secrets-file "$T/secrets" --fs-type ext4 --from-snapshot "$TS" --requisite "$TK/zone=z1"
check "  the message says what to fix" grep -q 'topologyConstrainedPools does not list pool rbd2' "$T/last.err"
out=$(tcreate topo-clone --from-volume "$T1" --requisite "$TK/zone=z1")
TC=$(vid "$out")
check "topology: a clone goes to the pool its topology matches (rbd), with the source's data" \
  [ "$(id_pool "$TC") $(topo "$out") $(export_sum "rbd/csi-vol-${TC: -36}" | head -c 16)" = "0001-0024-$CEPH_FSID-$RBD_ID [[('$TK/zone', 'z1')]] ${T1SUM:0:16}" ]
TSIZE=64M
check "topology: delete the snapshot" csi_ok "$EP" DeleteSnapshot --snapshot-id "$TS" --secrets-file "$T/secrets"
for v in "$T1" "$T2" "$T3" "$T4" "$T5" "$TR" "$TC"; do
  check "topology: delete ${v: -36}" csi_ok "$EP" DeleteVolume --volume-id "$v" --secrets-file "$T/secrets"
done
check "topology: delete again" csi_ok "$EP" DeleteVolume --volume-id "$T1" --secrets-file "$T/secrets"
check "topology: trash empty" trash_empty
check "topology: nothing left in either pool" [ "$(pool_state)" = "$TOPO_BEFORE" ]

# Refusals: the code ceph-csi gives (INVALID_ARGUMENT), or the CSI spec's for a topology
# no pool serves (RESOURCE_EXHAUSTED: ceph-csi says INTERNAL); nothing is created.
while IFS='|' read -r code tp says; do
  check "topologyConstrainedPools=$tp: code $code" expect_code "$code" csi "$EP" CreateVolume --name topo-bad --required-bytes 64M \
    --param "clusterID=$CEPH_FSID" --param pool=rbd --param "topologyConstrainedPools=$tp" --secrets-file "$T/secrets" --fs-type ext4 --requisite "$TK/zone=z7"
  check "  the message names the parameter and says: $says" bash -c "grep -q topologyConstrainedPools '$T/last.err' && grep -qF '$says' '$T/last.err'"
done <<'EOF2'
3|[{"poolName":"rbd"|not valid JSON
3|[]|lists no pools
3|{"poolName":"rbd"}|a JSON list
3|[{"domainSegments":[{"domainLabel":"zone","value":"z7"}]}]|poolName
3|[{"poolName":"rbd","domainSegment":[]}]|unknown key "domainSegment"
3|[{"poolName":"rbd","domainSegments":[{"domainLabel":"zone"}]}]|value
8|[{"poolName":"rbd","domainSegments":[{"domainLabel":"zone","value":"z1"}]}]|no pool of topologyConstrainedPools serves
EOF2
check "topology: no pool parameter and no requirements to choose by: INVALID_ARGUMENT" \
  expect_code 3 csi "$EP" CreateVolume --name topo-bad --param "clusterID=$CEPH_FSID" --param "topologyConstrainedPools=$TP" --secrets-file "$T/secrets" --fs-type ext4
check "  the message says why" grep -q "parameter pool is required" "$T/last.err"
check "topology: the chosen pool does not exist: NOT_FOUND" \
  expect_code 5 csi "$EP" CreateVolume --name topo-bad --param "clusterID=$CEPH_FSID" --param 'topologyConstrainedPools=[{"poolName":"nopool"}]' --secrets-file "$T/secrets" --fs-type ext4 --requisite "$TK/zone=z1"
check "topology: refusals created nothing" [ "$(pool_state)" = "$TOPO_BEFORE" ]

# A pool deleted and made again under its name (a new id) while the driver runs: new
# volume ids carry the new id, and the old pool's volume deletes as gone.
PR=(--param "clusterID=$CEPH_FSID" --param pool=rbd2 --secrets-file "$T/secrets" --fs-type ext4)
pool_id_of() { admin ceph osd pool ls detail --format json | python3 -c 'import json,sys; print([p["pool_id"] for p in json.load(sys.stdin) if p["pool_name"] == sys.argv[1]][0])' "$1"; }
R1=$(vid "$(csi "$EP" CreateVolume --name recreate-1 --required-bytes 64M "${PR[@]}")")
admin ceph osd pool rm rbd2 rbd2 --yes-i-really-really-mean-it >/dev/null
admin ceph osd pool create rbd2 8 >/dev/null && admin rbd pool init rbd2
R2=$(vid "$(csi "$EP" CreateVolume --name recreate-2 --required-bytes 64M "${PR[@]}")")
log "R1=$R1 R2=$R2 new id $(pool_id_of rbd2) images: $(admin rbd ls rbd2 | tr '\n' ' ')"
check "pool made again: the new volume id carries its new id" [ "$((16#${R2: -53:16}))" = "$(pool_id_of rbd2)" ]
check "pool made again: the image is in it" admin rbd info "rbd2/csi-vol-${R2: -36}"
check "pool made again: the old pool's volume deletes (gone with its pool)" csi_ok "$EP" DeleteVolume --volume-id "$R1" --secrets-file "$T/secrets"
check "pool made again: the new volume deletes" csi_ok "$EP" DeleteVolume --volume-id "$R2" --secrets-file "$T/secrets"
log "left: $(admin rbd ls rbd2 | tr '\n' ' ') / $(admin rados -p rbd2 listomapkeys csi.volumes.default 2>&1 | tr '\n' ' ')"
check "pool made again: its image and journal are gone" \
  [ "$(admin rbd ls rbd2 | grep -c . || true) $(admin rados -p rbd2 listomapkeys csi.volumes.default 2>/dev/null | grep -c . || true)" = "0 0" ]

# A pool renamed under a volume: its delete must not report success while the image
# lives on (the CLIs say ENOENT for a missing pool as for a missing image).
R3=$(vid "$(csi "$EP" CreateVolume --name rename-1 --required-bytes 64M "${PR[@]}")")
admin ceph osd pool rename rbd2 rbd2-renamed >/dev/null
rc=0; csi "$EP" DeleteVolume --volume-id "$R3" --secrets-file "$T/secrets" >/dev/null 2>"$T/rename.err" || rc=$?
log "delete in a renamed pool: exit $rc, $(cat "$T/rename.err")"
check "pool renamed: delete is not taken as done" [ "$rc" -ne 0 ]
check "pool renamed: the image is still there" admin rbd info "rbd2-renamed/csi-vol-${R3: -36}"
admin ceph osd pool rename rbd2-renamed rbd2 >/dev/null
check "pool renamed back: delete" csi_ok "$EP" DeleteVolume --volume-id "$R3" --secrets-file "$T/secrets"
check "pool renamed back: the image is gone" bash -c "! rbd info 'rbd2/csi-vol-${R3: -36}' --conf '$CEPH_CONF' --id admin 2>/dev/null"

# The key on disk: a keyfile an older version left when it was killed goes at start;
# a kill -9 while rbd/rados commands run (a create is several of them) leaves none.
stop_server "$SERVER_PID"
mkdir -p "$T/data/keys"
( umask 077; printf '%s\n' "$KEY" >"$T/data/keys/key.999.0" )
start_server "$T/kill.log" "${SERVE[@]}"
check "a keyfile an older version left is removed at start" [ ! -e "$T/data/keys/key.999.0" ]
for i in 1 2 3; do
  create "killed-$i" >/dev/null 2>&1 &
  c=$!
  sleep "0.$((RANDOM % 3 + 1))"
  kill -9 "$SERVER_PID"
  wait "$SERVER_PID" 2>/dev/null || true
  wait "$c" 2>/dev/null || true
  check "kill -9 mid-create $i: no file under the data dir holds the key" bash -c "! grep -rqFf '$T/keypat' '$T/data'"
  start_server "$T/kill.log" "${SERVE[@]}"
  out=$(create "killed-$i")
  check "kill -9 mid-create $i: retry, delete" csi_ok "$EP" DeleteVolume --volume-id "$(vid "$out")" --secrets-file "$T/secrets"
done

stop_server "$SERVER_PID"
kill "$WATCHER" 2>/dev/null; wait "$WATCHER" 2>/dev/null || true
check "trash empty at the end" trash_empty
if [ "$CEPH_CLIENT" = librados ]; then
  check "volumes were deleted through librados" grep -q 'rpc=DeleteVolume .*code=OK' "$T/server.log"
  check "... every one of them (the mgr took each trash removal)" bash -c "! grep -h 'the mgr did not take' '$T'/*.log"
fi
check "the key never appeared on any process's command line" [ ! -e "$T/argv-leak" ]
check "the key never appeared in the driver's logs (debug level)" bash -c "! cat '$T'/*.log | grep -qFf '$T/keypat'"
check "no keyfile left behind" [ -z "$(find "$T/data" -type f -path "*/keys/*" 2>/dev/null)" ]
# Nothing of the driver's may be left in the pools: images, trash, mgr tasks, journal.
. "$here/ceph_audit.sh"
ceph_audit rbd rbd2
finish
