#!/usr/bin/env bash
# The whole CSI lifecycle on the local backend, on real loop devices, mkfs and mount(2),
# in a private mount namespace: ext4, xfs and block; data kept across unstage/restage,
# in a snapshot restore and in a clone; online expand; every RPC twice.
PRIVATE_NS=1 . "$(dirname "$0")/lib.sh"

EP=$T/csi.sock
start_server "$T/server.log" --endpoint "$EP" --data-dir "$T/data" --nodeid node-1 --allowed-path-prefix "$T/k"
K=$T/k

twice() { # twice NAME ARGS...: the call succeeds twice with the same reply
  local name=$1; shift
  local a b
  a=$(csi "$EP" "$@") && b=$(csi "$EP" "$@") && [ "$a" = "$b" ] || { echo "  $a != $b"; return 1; }
}
create() { # create NAME SIZE [ARGS...]: prints the volume id
  local name=$1 size=$2; shift 2
  local out
  case " $* " in *" --fs-type "*|*" --access-type "*) ;; *) set -- "$@" --fs-type ext4 ;; esac
  out=$(csi "$EP" CreateVolume --name "$name" --required-bytes "$size" "$@")
  json_get "$out" 'j["volume"]["volume_id"]'
}
mounted_fs() { awk -v p="$1" '$5 == p { for (i = 7; i <= NF; i++) if ($i == "-") { print $(i+1); exit } }' /proc/self/mountinfo; }
loop_of() { local f; f=$(ls "$T"/data/volumes/"$1".img); losetup -j "$f" | cut -d: -f1; }

# ---------------- ext4 ----------------
V1=$(create pvc-1 64M)
check "CreateVolume returns an id" [ -n "$V1" ]
check "CreateVolume twice: same volume" [ "$(create pvc-1 64M)" = "$V1" ]
check "same name, incompatible size: ALREADY_EXISTS" expect_code 6 csi "$EP" CreateVolume --name pvc-1 --required-bytes 1G --fs-type ext4
out=$(csi "$EP" CreateVolume --name pvc-1 --required-bytes 64M --fs-type ext4)
check "capacity is the requested size" [ "$(json_get "$out" 'j["volume"]["capacity_bytes"]')" = $((64 << 20)) ]
check "volume carries this node's topology" [ "$(json_get "$out" 'j["volume"]["accessible_topology"][0]["segments"]["topology.rbd.csi.rs/node"]')" = node-1 ]
check "the file is sparse" [ "$(du -k "$T/data/volumes/$V1.img" | cut -f1)" -lt 1024 ]

S1=$K/stage/v1 P1=$K/pods/a/mount
check "NodeStage ext4" csi_ok "$EP" NodeStageVolume --volume-id "$V1" --staging-path "$S1" --fs-type ext4 --mount-flag noatime
check "NodeStage ext4 again (idempotent)" csi_ok "$EP" NodeStageVolume --volume-id "$V1" --staging-path "$S1" --fs-type ext4 --mount-flag noatime
check "staging path is an ext4 mount" [ "$(mounted_fs "$S1")" = ext4 ]
check "mount flag noatime applied" grep -q " $S1 [^ ]*noatime" /proc/self/mountinfo
check "NodePublish" csi_ok "$EP" NodePublishVolume --volume-id "$V1" --staging-path "$S1" --target-path "$P1" --fs-type ext4
check "NodePublish again (idempotent)" csi_ok "$EP" NodePublishVolume --volume-id "$V1" --staging-path "$S1" --target-path "$P1" --fs-type ext4
check "exactly one mount at the target" [ "$(awk -v p="$P1" '$5 == p' /proc/self/mountinfo | wc -l)" = 1 ]

head -c 8M /dev/urandom >"$P1/data.bin"; sync
SUM=$(sha256sum <"$P1/data.bin")
out=$(csi "$EP" NodeGetVolumeStats --volume-id "$V1" --volume-path "$P1")
check "stats: bytes total about 64 MiB" python3 -c "import json,sys; j=json.loads(sys.argv[1]); b=[u for u in j['usage'] if u['unit']=='BYTES'][0]; assert 50<<20 < b['total'] <= 64<<20 and b['used'] >= 8<<20, b" "$out"
check "stats: inodes reported" python3 -c "import json,sys; j=json.loads(sys.argv[1]); assert any(u['unit']=='INODES' and u['total']>0 for u in j['usage'])" "$out"
check "stats: condition normal" [ "$(json_get "$out" 'j["volume_condition"].get("abnormal", False)')" = False ]

out=$(csi "$EP" ControllerExpandVolume --volume-id "$V1" --required-bytes 128M --fs-type ext4)
check "ControllerExpand: new capacity" [ "$(json_get "$out" 'j["capacity_bytes"]')" = $((128 << 20)) ]
check "ControllerExpand: node expansion required" [ "$(json_get "$out" 'j["node_expansion_required"]')" = True ]
check "ControllerExpand again (idempotent)" csi_ok "$EP" ControllerExpandVolume --volume-id "$V1" --required-bytes 128M --fs-type ext4
if has_cap 24; then # CAP_SYS_RESOURCE: ext4 online resize needs it
  out=$(csi "$EP" NodeExpandVolume --volume-id "$V1" --volume-path "$P1" --staging-path "$S1" --fs-type ext4)
  check "NodeExpand reports the device size" [ "$(json_get "$out" 'j["capacity_bytes"]')" = $((128 << 20)) ]
  check "NodeExpand again (idempotent)" csi_ok "$EP" NodeExpandVolume --volume-id "$V1" --volume-path "$P1" --fs-type ext4
  check "df shows the grown filesystem" [ "$(df -B1M --output=size "$P1" | tail -n1 | tr -d ' ')" -gt 100 ]
else
  log "skip: this machine withholds CAP_SYS_RESOURCE, so the kernel refuses online ext4 resize (resize2fs too)"
  check "ext4 NodeExpand without CAP_SYS_RESOURCE: clear FAILED_PRECONDITION" \
    expect_code 9 csi "$EP" NodeExpandVolume --volume-id "$V1" --volume-path "$P1" --fs-type ext4
  check "... naming the missing capability" grep -q CAP_SYS_RESOURCE "$T/last.err"
  check "... after the loop device took the new size" [ "$(blockdev --getsize64 "$(loop_of "$V1")")" = $((128 << 20)) ]
fi
check "data intact after grow" [ "$(sha256sum <"$P1/data.bin")" = "$SUM" ]

out=$(csi "$EP" CreateSnapshot --name snap-1 --source-volume-id "$V1")
SN1=$(json_get "$out" 'j["snapshot"]["snapshot_id"]')
check "CreateSnapshot ready" [ "$(json_get "$out" 'j["snapshot"]["ready_to_use"]')" = True ]
check "CreateSnapshot twice: same snapshot" [ "$(json_get "$(csi "$EP" CreateSnapshot --name snap-1 --source-volume-id "$V1")" 'j["snapshot"]["snapshot_id"]')" = "$SN1" ]
out=$(csi "$EP" ListSnapshots --source-volume-id "$V1")
check "ListSnapshots by source" [ "$(json_get "$out" '[e["snapshot"]["snapshot_id"] for e in j["entries"]]')" = "['$SN1']" ]

V2=$(create restore-1 128M --from-snapshot "$SN1")
V3=$(create clone-1 128M --from-volume "$V1")
check "restore and clone are new volumes" [ -n "$V2" -a -n "$V3" -a "$V2" != "$V3" ]
out=$(csi "$EP" CreateVolume --name restore-1 --required-bytes 128M --fs-type ext4 --from-snapshot "$SN1")
check "restore retried: same volume, with its content source" [ "$(json_get "$out" '(j["volume"]["volume_id"], j["volume"]["content_source"]["snapshot"]["snapshot_id"])')" = "('$V2', '$SN1')" ]
check "same name without the source: ALREADY_EXISTS" expect_code 6 csi "$EP" CreateVolume --name restore-1 --required-bytes 128M --fs-type ext4
check "same name from a volume instead: ALREADY_EXISTS" expect_code 6 csi "$EP" CreateVolume --name restore-1 --required-bytes 128M --fs-type ext4 --from-volume "$V1"
check "a snapshot's name for another source volume: ALREADY_EXISTS" expect_code 6 csi "$EP" CreateSnapshot --name snap-1 --source-volume-id "$V3"
for v in "$V2" "$V3"; do
  csi_ok "$EP" NodeStageVolume --volume-id "$v" --staging-path "$K/stage/$v" --fs-type ext4
  csi_ok "$EP" NodePublishVolume --volume-id "$v" --staging-path "$K/stage/$v" --target-path "$K/pods/$v/m" --fs-type ext4
done
check "snapshot restore has the data" [ "$(sha256sum <"$K/pods/$V2/m/data.bin")" = "$SUM" ]
check "clone has the data" [ "$(sha256sum <"$K/pods/$V3/m/data.bin")" = "$SUM" ]

# Unstage and restage: the data is still there; the loop device comes and goes.
check "NodeUnpublish" csi_ok "$EP" NodeUnpublishVolume --volume-id "$V1" --target-path "$P1"
check "NodeUnpublish again" csi_ok "$EP" NodeUnpublishVolume --volume-id "$V1" --target-path "$P1"
check "target removed" [ ! -e "$P1" ]
check "NodeUnstage" csi_ok "$EP" NodeUnstageVolume --volume-id "$V1" --staging-path "$S1"
check "NodeUnstage again" csi_ok "$EP" NodeUnstageVolume --volume-id "$V1" --staging-path "$S1"
check "no mount at staging after unstage" [ -z "$(mounted_fs "$S1")" ]
check "loop device detached after unstage" [ -z "$(loop_of "$V1")" ]
check "restage" csi_ok "$EP" NodeStageVolume --volume-id "$V1" --staging-path "$S1" --fs-type ext4
check "data survives unstage + restage" [ "$(sha256sum <"$S1/data.bin")" = "$SUM" ]
check "DeleteVolume of a staged volume: FAILED_PRECONDITION" expect_code 9 csi "$EP" DeleteVolume --volume-id "$V1"
check "... and the volume is still there" [ -f "$T/data/volumes/$V1.img" ]

# ---------------- xfs ----------------
VX=$(create pvc-x 320M --fs-type xfs)
SX=$K/stage/x PX=$K/pods/x/mount
check "NodeStage xfs" csi_ok "$EP" NodeStageVolume --volume-id "$VX" --staging-path "$SX" --fs-type xfs
check "staging path is an xfs mount" [ "$(mounted_fs "$SX")" = xfs ]
check "NodePublish xfs read-only" csi_ok "$EP" NodePublishVolume --volume-id "$VX" --staging-path "$SX" --target-path "$PX" --fs-type xfs --readonly
check "read-only publish refuses writes" bash -c "! touch '$PX/x' 2>/dev/null"
check "publish again with readonly=false: ALREADY_EXISTS" expect_code 6 csi "$EP" NodePublishVolume --volume-id "$VX" --staging-path "$SX" --target-path "$PX" --fs-type xfs
head -c 4M /dev/urandom >"$SX/x.bin"; sync; XSUM=$(sha256sum <"$SX/x.bin")
csi_ok "$EP" ControllerExpandVolume --volume-id "$VX" --required-bytes 640M
out=$(csi "$EP" NodeExpandVolume --volume-id "$VX" --volume-path "$SX")
check "xfs NodeExpand" [ "$(json_get "$out" 'j["capacity_bytes"]')" = $((640 << 20)) ]
check "df shows the grown xfs" [ "$(df -B1M --output=size "$SX" | tail -n1 | tr -d " ")" -gt 500 ]
out=$(csi "$EP" CreateSnapshot --name snap-x --source-volume-id "$VX")
SNX=$(json_get "$out" 'j["snapshot"]["snapshot_id"]')
VX2=$(create restore-x 640M --from-snapshot "$SNX" --fs-type xfs)
csi_ok "$EP" NodeStageVolume --volume-id "$VX2" --staging-path "$K/stage/x2" --fs-type xfs
check "xfs restore mounts next to its origin (nouuid) with the data" [ "$(sha256sum <"$K/stage/x2/x.bin")" = "$XSUM" ]
check "staging an xfs volume as ext4: ALREADY_EXISTS (staged as xfs)" expect_code 6 csi "$EP" NodeStageVolume --volume-id "$VX" --staging-path "$SX" --fs-type ext4
# A restore into a bigger volume: Kubernetes never calls NodeExpandVolume after one, so
# the stage grows the filesystem to the device (as ceph-csi does).
VX3=$(create restore-x-big 1G --from-snapshot "$SNX" --fs-type xfs)
check "NodeStage of a restore bigger than its snapshot" csi_ok "$EP" NodeStageVolume --volume-id "$VX3" --staging-path "$K/stage/x3" --fs-type xfs
check "  df shows the whole 1 GiB, not the snapshot's 640 MiB" [ "$(df -B1M --output=size "$K/stage/x3" | tail -n1 | tr -d " ")" -gt 900 ]
check "  with the data" [ "$(sha256sum <"$K/stage/x3/x.bin")" = "$XSUM" ]
check "  unstage" csi_ok "$EP" NodeUnstageVolume --volume-id "$VX3" --staging-path "$K/stage/x3"
check "  delete" csi_ok "$EP" DeleteVolume --volume-id "$VX3"

# ---------------- block ----------------
VB=$(create pvc-b 32M --access-type block)
SB=$K/stage/b PB=$K/pods/b/dev
check "NodeStage block" csi_ok "$EP" NodeStageVolume --volume-id "$VB" --staging-path "$SB" --access-type block
check "NodeStage block again" csi_ok "$EP" NodeStageVolume --volume-id "$VB" --staging-path "$SB" --access-type block
check "block stage mounts nothing" [ -z "$(mounted_fs "$SB")" ]
check "NodePublish block" csi_ok "$EP" NodePublishVolume --volume-id "$VB" --staging-path "$SB" --target-path "$PB" --access-type block
check "NodePublish block again" csi_ok "$EP" NodePublishVolume --volume-id "$VB" --staging-path "$SB" --target-path "$PB" --access-type block
check "target is a block device" [ -b "$PB" ]
head -c 1M /dev/urandom >"$T/blk.bin"
dd if="$T/blk.bin" of="$PB" bs=1M count=1 conv=fsync status=none
check "block data round-trips" [ "$(head -c 1M "$PB" | sha256sum)" = "$(sha256sum <"$T/blk.bin")" ]
out=$(csi "$EP" NodeGetVolumeStats --volume-id "$VB" --volume-path "$PB")
check "block stats: size" [ "$(json_get "$out" 'j["usage"][0]["total"]')" = $((32 << 20)) ]
csi_ok "$EP" ControllerExpandVolume --volume-id "$VB" --required-bytes 48M --access-type block
out=$(csi "$EP" NodeExpandVolume --volume-id "$VB" --volume-path "$PB")
check "block NodeExpand: new size" [ "$(json_get "$out" 'j["capacity_bytes"]')" = $((48 << 20)) ]
check "block device sees the new size" [ "$(blockdev --getsize64 "$PB")" = $((48 << 20)) ]
check "unstage while published: FAILED_PRECONDITION" expect_code 9 csi "$EP" NodeUnstageVolume --volume-id "$VB" --staging-path "$SB"
check "NodeUnpublish block" csi_ok "$EP" NodeUnpublishVolume --volume-id "$VB" --target-path "$PB"
check "block target removed" [ ! -e "$PB" ]

# ---------------- list, capacity, capabilities ----------------
out=$(csi "$EP" ListVolumes --max-entries 2)
TOKEN=$(json_get "$out" 'j.get("next_token", "")')
check "ListVolumes pages" [ "$(json_get "$out" 'len(j["entries"])')" = 2 -a -n "$TOKEN" ]
all=$(python3 - "$EP" "$BIN" <<'PY'
import json, subprocess, sys
ep, binary = sys.argv[1], sys.argv[2]
ids, token = [], ""
while True:
    args = [binary, "client", "--endpoint", ep, "ListVolumes", "--max-entries", "2"] + (["--starting-token", token] if token else [])
    j = json.loads(subprocess.check_output(args))
    ids += [e["volume"]["volume_id"] for e in j.get("entries", [])]
    token = j.get("next_token", "")
    if not token:
        break
print(len(ids), len(set(ids)))
PY
)
check "paging through ListVolumes sees every volume once" [ "$all" = "6 6" ]
check "bad starting token: ABORTED" expect_code 10 csi "$EP" ListVolumes --starting-token 999
out=$(csi "$EP" GetCapacity)
check "GetCapacity is positive" [ "$(json_get "$out" 'j["available_capacity"] > 0')" = True ]
out=$(csi "$EP" ValidateVolumeCapabilities --volume-id "$V1" --fs-type ext4)
check "ValidateVolumeCapabilities confirms ext4" [ "$(json_get "$out" '"confirmed" in j')" = True ]
out=$(csi "$EP" ValidateVolumeCapabilities --volume-id "$V1" --fs-type ext4 --access-mode MULTI_NODE_MULTI_WRITER)
check "ValidateVolumeCapabilities rejects multi-writer filesystems" [ "$(json_get "$out" '"confirmed" not in j and len(j["message"]) > 0')" = True ]
out=$(csi "$EP" NodeGetInfo)
check "NodeGetInfo: node id and topology" [ "$(json_get "$out" 'j["node_id"] + "/" + j["accessible_topology"]["segments"]["topology.rbd.csi.rs/node"]')" = node-1/node-1 ]

# ---------------- tear everything down, twice ----------------
for v in "$V2" "$V3"; do
  csi_ok "$EP" NodeUnpublishVolume --volume-id "$v" --target-path "$K/pods/$v/m"
done
check "NodeUnpublish of another volume's target: FAILED_PRECONDITION" expect_code 9 csi "$EP" NodeUnpublishVolume --volume-id "$V1" --target-path "$PX"
check "NodeUnpublish xfs" csi_ok "$EP" NodeUnpublishVolume --volume-id "$VX" --target-path "$PX"
for pair in "$V1:$S1" "$V2:$K/stage/$V2" "$V3:$K/stage/$V3" "$VX:$SX" "$VX2:$K/stage/x2" "$VB:$SB"; do
  v=${pair%%:*} s=${pair#*:}
  check "unstage $v twice" twice unstage NodeUnstageVolume --volume-id "$v" --staging-path "$s"
  check "delete $v twice" twice delete DeleteVolume --volume-id "$v"
done
for s in "$SN1" "$SNX"; do check "delete snapshot $s twice" twice dsnap DeleteSnapshot --snapshot-id "$s"; done
out=$(csi "$EP" ListVolumes)
# Without a capacity range, a restore and a clone are their source's size (the default
# of 1 GiB would not hold a 1.5 GiB source).
big=$(json_get "$(csi "$EP" CreateVolume --name big --required-bytes 1536M --fs-type ext4)" 'j["volume"]["volume_id"]')
bsnap=$(json_get "$(csi "$EP" CreateSnapshot --name big-snap --source-volume-id "$big")" 'j["snapshot"]["snapshot_id"]')
out=$(csi "$EP" CreateVolume --name big-restore --from-snapshot "$bsnap" --fs-type ext4)
check "a restore without a size is its snapshot's size" [ "$(json_get "$out" 'j["volume"]["capacity_bytes"]')" = $((1536 << 20)) ]
csi_ok "$EP" DeleteVolume --volume-id "$(json_get "$out" 'j["volume"]["volume_id"]')"
out=$(csi "$EP" CreateVolume --name big-clone --from-volume "$big" --fs-type ext4)
check "a clone without a size is its source's size" [ "$(json_get "$out" 'j["volume"]["capacity_bytes"]')" = $((1536 << 20)) ]
csi_ok "$EP" DeleteVolume --volume-id "$(json_get "$out" 'j["volume"]["volume_id"]')"
csi_ok "$EP" DeleteSnapshot --snapshot-id "$bsnap"
csi_ok "$EP" DeleteVolume --volume-id "$big"
out=$(csi "$EP" ListVolumes)
check "no volumes left" [ "$out" = "{}" ]
check "no snapshots left" [ "$(csi "$EP" ListSnapshots)" = "{}" ]
check "no loop device left" [ -z "$(our_loops)" ]
check "no mount left" [ -z "$(our_mounts)" ]
check "no volume files left" [ -z "$(find "$T/data/volumes" "$T/data/snapshots" -type f)" ]
check "no stash left" [ -z "$(ls "$T/data/node")" ]
check "every RPC logged with its code" grep -q 'rpc=NodeStageVolume volume="'"$V1"'" code=OK' "$T/server.log"
stop_server "$SERVER_PID"
finish
