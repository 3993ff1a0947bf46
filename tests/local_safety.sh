#!/usr/bin/env bash
# What the node must never do, and how it recovers: stage refuses devices that hold
# anything (bytes unchanged), publish refuses an unmounted staging path, a crash at
# every step of stage converges on retry with nothing leaked, and a table of bad
# requests each gets its code and changes nothing.
PRIVATE_NS=1 . "$(dirname "$0")/lib.sh"

EP=$T/csi.sock
K=$T/k
start_server "$T/server.log" --endpoint "$EP" --data-dir "$T/data" --allowed-path-prefix "$K"

create() {
  local out
  out=$(csi "$EP" CreateVolume --name "$1" --required-bytes "${2:-64M}" --fs-type ext4)
  json_get "$out" 'j["volume"]["volume_id"]'
}
img() { echo "$T/data/volumes/$1.img"; }
# await_abort: the server that had a failpoint set has died (killed if it never got
# there: then the failpoint's check fails).
await_abort() {
  local i
  for i in $(seq 1 40); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.05; done
  kill -9 "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
}
state() { # what must not change: mounts and loops of this test, and the volume list
  { our_mounts; our_loops; csi "$EP" ListVolumes; ls "$T/data/node"; } 2>&1
}

# ---------------- nothing readable by other users ----------------
v=$(create perms)
csi_ok "$EP" NodeStageVolume --volume-id "$v" --staging-path "$K/s/perms" --fs-type ext4
check "data dir is 0700" [ "$(stat -c %a "$T/data")" = 700 ]
check "volumes dir is 0700" [ "$(stat -c %a "$T/data/volumes")" = 700 ]
check "volume image is 0600" [ "$(stat -c %a "$(img "$v")")" = 600 ]
check "node stash is 0600" [ "$(stat -c %a "$T/data/node/$v.stash")" = 600 ]
check "nothing under the data dir is open to group or others" [ -z "$(find "$T/data" -perm /077)" ]
csi_ok "$EP" NodeUnstageVolume --volume-id "$v" --staging-path "$K/s/perms"
csi_ok "$EP" DeleteVolume --volume-id "$v"

# ---------------- never format over anything ----------------
refuses() { # refuses NAME PREPARE-CMD: stage must fail with FAILED_PRECONDITION and leave the bytes
  local name=$1 prep=$2 v sum before
  v=$(create "refuse-$name" 320M)
  local F; F=$(img "$v"); eval "$prep"
  sum=$(sha256sum <"$(img "$v")")
  before=$(state)
  check "stage refuses a device holding $name" expect_code 9 csi "$EP" NodeStageVolume --volume-id "$v" --staging-path "$K/s/$name" --fs-type ext4
  check "  the message says what it found" grep -q "refusing" "$T/last.err"
  check "  the bytes are unchanged" [ "$(sha256sum <"$(img "$v")")" = "$sum" ]
  check "  nothing left attached or mounted" [ "$(state)" = "$before" ]
  csi_ok "$EP" DeleteVolume --volume-id "$v"
}
refuses xfs 'mkfs.xfs -q -f "$F"'
refuses btrfs-like 'printf "_BHRfS_M" | dd conv=notrunc bs=1 seek=65600 status=none of="$F"'
refuses luks 'printf "LUKS\xba\xbe\x00\x01" | dd conv=notrunc status=none of="$F"'
refuses random-bytes 'head -c 1M /dev/urandom | dd conv=notrunc status=none of="$F"'
refuses gpt 'printf "EFI PART" | dd conv=notrunc bs=1 seek=512 status=none of="$F"'

# An ext4 volume asked for as xfs: refused, never reformatted.
v=$(create ext4-as-xfs)
mkfs.ext4 -q -F "$(img "$v")"
sum=$(sha256sum <"$(img "$v")")
check "existing ext4 staged as xfs: FAILED_PRECONDITION" expect_code 9 csi "$EP" NodeStageVolume --volume-id "$v" --staging-path "$K/s/e" --fs-type xfs
check "  names both filesystems" grep -q "holds a ext4 filesystem, not xfs" "$T/last.err"
check "  bytes unchanged" [ "$(sha256sum <"$(img "$v")")" = "$sum" ]
formatted=$(grep -c 'formatted /dev/' "$T/server.log" || true)
check "existing ext4 staged as ext4 mounts it without mkfs" csi_ok "$EP" NodeStageVolume --volume-id "$v" --staging-path "$K/s/e" --fs-type ext4
check "  (no mkfs ran)" [ "$(grep -c 'formatted /dev/' "$T/server.log" || true)" = "$formatted" ]
csi_ok "$EP" NodeUnstageVolume --volume-id "$v" --staging-path "$K/s/e"
csi_ok "$EP" DeleteVolume --volume-id "$v"

# ---------------- a publish_context made for another node ----------------
# ControllerPublishVolume of a single-node volume (rbd) names the node it claimed the
# volume for; a NodeStage with another node's publish_context must not use the volume.
v=$(create claimed)
me=$(json_get "$(csi "$EP" NodeGetInfo)" 'j["node_id"]')
check "stage with a publish_context claimed for another node: FAILED_PRECONDITION" \
  expect_code 9 csi "$EP" NodeStageVolume --volume-id "$v" --staging-path "$K/s/claimed" --fs-type ext4 --publish-context rbd-csi.claimed-for=node-elsewhere
check "  names both nodes" grep -q "node-elsewhere.*$me" "$T/last.err"
check "  and mounts nothing" [ -z "$(awk -v p="$K/s/claimed" '$5 == p' /proc/self/mountinfo)" ]
check "stage with a publish_context claimed for this node: OK" \
  csi_ok "$EP" NodeStageVolume --volume-id "$v" --staging-path "$K/s/claimed" --fs-type ext4 --publish-context "rbd-csi.claimed-for=$me"
csi_ok "$EP" NodeUnstageVolume --volume-id "$v" --staging-path "$K/s/claimed"
csi_ok "$EP" DeleteVolume --volume-id "$v"

# ---------------- publish checks the staging mount ----------------
v=$(create pub-check)
S=$K/s/pub P=$K/p/pub
csi_ok "$EP" NodeStageVolume --volume-id "$v" --staging-path "$S" --fs-type ext4
umount "$S" # behind the driver's back, as a reboot or an admin would
check "publish refuses an unmounted staging path" expect_code 9 csi "$EP" NodePublishVolume --volume-id "$v" --staging-path "$S" --target-path "$P" --fs-type ext4
check "  and binds nothing" [ -z "$(awk -v p="$P" '$5 == p' /proc/self/mountinfo)" ]
mkdir -p "$K/s/other"; mount -t tmpfs none "$K/s/other"
check "publish refuses a staging path that is another mount" expect_code 9 csi "$EP" NodePublishVolume --volume-id "$v" --staging-path "$K/s/other" --target-path "$P" --fs-type ext4
umount "$K/s/other"
check "restage after the mount vanished converges" csi_ok "$EP" NodeStageVolume --volume-id "$v" --staging-path "$S" --fs-type ext4
check "then publish works" csi_ok "$EP" NodePublishVolume --volume-id "$v" --staging-path "$S" --target-path "$P" --fs-type ext4
check "publish of an unstaged volume: FAILED_PRECONDITION" expect_code 9 csi "$EP" NodePublishVolume --volume-id "$(create never-staged)" --staging-path "$S" --target-path "$K/p/x" --fs-type ext4
csi_ok "$EP" NodeUnpublishVolume --volume-id "$v" --target-path "$P"
csi_ok "$EP" NodeUnstageVolume --volume-id "$v" --staging-path "$S"

# ---------------- bad requests: each its code, nothing changes ----------------
before=$(state)
V=$v
LONG=$(printf 'x%.0s' $(seq 1 200))
while IFS='|' read -r code desc args; do
  [ -z "$code" ] && continue
  eval "set -- $args"
  check "bad request: $desc → $code" expect_code "$code" csi "$EP" "$@"
done <<EOF
3|stage: empty volume id|NodeStageVolume --staging-path $K/s/b --fs-type ext4
3|stage: relative staging path|NodeStageVolume --volume-id $V --staging-path rel/s --fs-type ext4
3|stage: '..' in staging path|NodeStageVolume --volume-id $V --staging-path $K/../etc --fs-type ext4
3|stage: path outside the allowed prefix|NodeStageVolume --volume-id $V --staging-path /tmp/elsewhere --fs-type ext4
3|stage: missing capability|NodeStageVolume --volume-id $V --staging-path $K/s/b
3|stage: unsupported fs type|NodeStageVolume --volume-id $V --staging-path $K/s/b --fs-type vfat
3|stage: multi-node writer on a filesystem|NodeStageVolume --volume-id $V --staging-path $K/s/b --fs-type ext4 --access-mode MULTI_NODE_MULTI_WRITER
3|stage: forbidden mount flag|NodeStageVolume --volume-id $V --staging-path $K/s/b --fs-type ext4 --mount-flag bind
3|stage: volume id with a slash|NodeStageVolume --volume-id a/b --staging-path $K/s/b --fs-type ext4
3|stage: oversize volume id|NodeStageVolume --volume-id $LONG --staging-path $K/s/b --fs-type ext4
5|stage: unknown volume|NodeStageVolume --volume-id lv-0000000000000000 --staging-path $K/s/b --fs-type ext4
3|publish: empty target|NodePublishVolume --volume-id $V --staging-path $K/s/b --fs-type ext4
3|publish: target equals staging|NodePublishVolume --volume-id $V --staging-path $K/s/b --target-path $K/s/b --fs-type ext4
3|unpublish: relative target|NodeUnpublishVolume --volume-id $V --target-path p
3|unstage: empty staging path|NodeUnstageVolume --volume-id $V
3|stats: empty volume path|NodeGetVolumeStats --volume-id $V
5|stats: path that does not exist|NodeGetVolumeStats --volume-id $V --volume-path $K/nope
5|node expand: volume not staged|NodeExpandVolume --volume-id $V --volume-path $K/s/b
3|create: empty name|CreateVolume --required-bytes 1M --fs-type ext4
3|create: no capability|CreateVolume --name bad-1 --required-bytes 1M
3|create: negative size|CreateVolume --name bad-2 --required-bytes -5 --fs-type ext4
11|create: limit below required|CreateVolume --name bad-3 --required-bytes 8M --limit-bytes 4M --fs-type ext4
3|create: oversize name|CreateVolume --name $LONG$LONG --required-bytes 1M --fs-type ext4
5|create: from a missing snapshot|CreateVolume --name bad-4 --required-bytes 1M --fs-type ext4 --from-snapshot ls-0000000000000000
5|create: from a missing volume|CreateVolume --name bad-5 --required-bytes 1M --fs-type ext4 --from-volume lv-0000000000000000
3|delete: empty id|DeleteVolume
5|expand: unknown volume|ControllerExpandVolume --volume-id lv-0000000000000000 --required-bytes 1G
3|expand: no capacity range|ControllerExpandVolume --volume-id $V
5|snapshot: unknown source|CreateSnapshot --name bad-s --source-volume-id lv-0000000000000000
3|snapshot: no name|CreateSnapshot --source-volume-id $V
5|validate: unknown volume|ValidateVolumeCapabilities --volume-id lv-0000000000000000 --fs-type ext4
3|validate: no capabilities|ValidateVolumeCapabilities --volume-id $V
12|controller publish: not offered|ControllerPublishVolume --volume-id $V --node-id n --fs-type ext4
EOF
check "bad requests changed nothing" [ "$(state)" = "$before" ]
check "bad requests created no volume files" [ "$(find "$T/data/volumes" -name '*.img' | wc -l)" = 2 ]

# ---------------- crash at each step of stage, restart, retry ----------------
stop_server "$SERVER_PID"
for fp in stage-after-attach stage-before-mkfs stage-after-mkfs stage-after-mount; do
  start_server "$T/crash-$fp.log" --endpoint "$EP" --data-dir "$T/data" --allowed-path-prefix "$K"
  v=$(create "crash-$fp")
  stop_server "$SERVER_PID" || true
  RBD_CSI_FAILPOINT=$fp start_server "$T/crash-$fp.log" --endpoint "$EP" --data-dir "$T/data" --allowed-path-prefix "$K"
  rc=0; csi "$EP" NodeStageVolume --volume-id "$v" --staging-path "$K/s/$fp" --fs-type ext4 >/dev/null 2>&1 || rc=$?
  await_abort
  check "$fp: the driver died mid-stage (failpoint)" grep -q "failpoint $fp: aborting" "$T/crash-$fp.log"
  check "$fp: the caller saw an error" [ "$rc" -ne 0 ]
  start_server "$T/crash-$fp.log" --endpoint "$EP" --data-dir "$T/data" --allowed-path-prefix "$K"
  check "$fp: retry after restart succeeds" csi_ok "$EP" NodeStageVolume --volume-id "$v" --staging-path "$K/s/$fp" --fs-type ext4
  check "$fp: one mount at staging, ext4" [ "$(awk -v p="$K/s/$fp" '$5 == p' /proc/self/mountinfo | wc -l)" = 1 ]
  check "$fp: one loop device for the volume" [ "$(losetup -j "$(img "$v")" | wc -l)" = 1 ]
  check "$fp: the retried stage is complete: publish works" csi_ok "$EP" NodePublishVolume --volume-id "$v" --staging-path "$K/s/$fp" --target-path "$K/p/$fp" --fs-type ext4
  check "$fp: unpublish" csi_ok "$EP" NodeUnpublishVolume --volume-id "$v" --target-path "$K/p/$fp"
  echo hello >"$K/s/$fp/f"
  check "$fp: unstage" csi_ok "$EP" NodeUnstageVolume --volume-id "$v" --staging-path "$K/s/$fp"
  check "$fp: delete" csi_ok "$EP" DeleteVolume --volume-id "$v"
  check "$fp: no loop device left" [ -z "$(losetup -j "$T/data/volumes/$v.img" 2>/dev/null)" ]
  stop_server "$SERVER_PID"
done

# A crash while publishing read-only (after the target is made; between the bind and
# the read-only remount): the retry ends with one read-only bind, never a writable one.
ro_target() { awk -v p="$1" '$5 == p {print $6}' /proc/self/mountinfo; }
for fp in publish-after-target publish-after-bind; do
  start_server "$T/crash-$fp.log" --endpoint "$EP" --data-dir "$T/data" --allowed-path-prefix "$K"
  v=$(create "crash-$fp")
  csi_ok "$EP" NodeStageVolume --volume-id "$v" --staging-path "$K/s/$fp" --fs-type ext4
  stop_server "$SERVER_PID"
  RBD_CSI_FAILPOINT=$fp start_server "$T/crash-$fp.log" --endpoint "$EP" --data-dir "$T/data" --allowed-path-prefix "$K"
  csi "$EP" NodePublishVolume --volume-id "$v" --staging-path "$K/s/$fp" --target-path "$K/p/$fp" --fs-type ext4 --readonly >/dev/null 2>&1 || true
  await_abort
  check "$fp: the driver died mid-publish (failpoint)" grep -q "failpoint $fp: aborting" "$T/crash-$fp.log"
  start_server "$T/crash-$fp.log" --endpoint "$EP" --data-dir "$T/data" --allowed-path-prefix "$K"
  check "$fp: the retried read-only publish succeeds" csi_ok "$EP" NodePublishVolume --volume-id "$v" --staging-path "$K/s/$fp" --target-path "$K/p/$fp" --fs-type ext4 --readonly
  check "$fp: one bind at the target, read-only" [ "$(ro_target "$K/p/$fp" | cut -d, -f1)" = ro ]
  check "$fp: and writing there fails" bash -c "! touch '$K/p/$fp/x' 2>/dev/null"
  check "$fp: unpublish" csi_ok "$EP" NodeUnpublishVolume --volume-id "$v" --target-path "$K/p/$fp"
  check "$fp: the target the driver made is gone" [ ! -e "$K/p/$fp" ]
  check "$fp: unstage" csi_ok "$EP" NodeUnstageVolume --volume-id "$v" --staging-path "$K/s/$fp"
  csi_ok "$EP" DeleteVolume --volume-id "$v"
  stop_server "$SERVER_PID"
done

# Many stages at once (block: attach only, the tightest race for loop devices), with
# as many workers: every attach succeeds, each volume on a device of its own.
start_server "$T/race.log" --endpoint "$EP" --data-dir "$T/data" --allowed-path-prefix "$K" --workers 32
race=()
for i in $(seq 1 64); do race+=("$(create "race-$i" 8M)"); done
pids=()
for i in $(seq 1 64); do
  (csi "$EP" NodeStageVolume --volume-id "${race[$((i - 1))]}" --staging-path "$K/race/$i" --access-type block \
     >/dev/null 2>>"$T/race.err" || echo "$i" >>"$T/race.failed") &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
[ -s "$T/race.failed" ] && sort -u "$T/race.err" | head -3
check "64 block stages at once on 32 workers: none failed" [ ! -s "$T/race.failed" ]
check "  64 distinct loop devices" [ "$(our_loops | sort -u | wc -l)" = 64 ]
for i in $(seq 1 64); do
  csi_ok "$EP" NodeUnstageVolume --volume-id "${race[$((i - 1))]}" --staging-path "$K/race/$i"
  csi_ok "$EP" DeleteVolume --volume-id "${race[$((i - 1))]}"
done
stop_server "$SERVER_PID"

# kill -9 while staged and published; restart; everything still tears down.
start_server "$T/k9.log" --endpoint "$EP" --data-dir "$T/data" --allowed-path-prefix "$K"
v=$(create k9)
csi_ok "$EP" NodeStageVolume --volume-id "$v" --staging-path "$K/s/k9" --fs-type ext4
csi_ok "$EP" NodePublishVolume --volume-id "$v" --staging-path "$K/s/k9" --target-path "$K/p/k9" --fs-type ext4
kill -9 "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true
start_server "$T/k9b.log" --endpoint "$EP" --data-dir "$T/data" --allowed-path-prefix "$K"
check "after kill -9: stage again is a no-op" csi_ok "$EP" NodeStageVolume --volume-id "$v" --staging-path "$K/s/k9" --fs-type ext4
check "after kill -9: publish again is a no-op" csi_ok "$EP" NodePublishVolume --volume-id "$v" --staging-path "$K/s/k9" --target-path "$K/p/k9" --fs-type ext4
check "after kill -9: still one loop device" [ "$(losetup -j "$(img "$v")" | wc -l)" = 1 ]
check "after kill -9: unpublish" csi_ok "$EP" NodeUnpublishVolume --volume-id "$v" --target-path "$K/p/k9"
check "after kill -9: unstage" csi_ok "$EP" NodeUnstageVolume --volume-id "$v" --staging-path "$K/s/k9"
check "after kill -9: delete" csi_ok "$EP" DeleteVolume --volume-id "$v"

# Remaining volumes go; nothing of ours is left in the kernel.
for id in $(csi "$EP" ListVolumes | python3 -c 'import json,sys; [print(e["volume"]["volume_id"]) for e in json.load(sys.stdin).get("entries", [])]'); do
  csi_ok "$EP" DeleteVolume --volume-id "$id"
done
check "no loop device left" [ -z "$(our_loops)" ]
check "no mount left" [ -z "$(our_mounts)" ]
check "no files left" [ -z "$(find "$T/data/volumes" "$T/data/snapshots" "$T/data/node" -type f)" ]
stop_server "$SERVER_PID"

# A full data dir (a 48 MiB tmpfs): a snapshot that cannot be copied is
# RESOURCE_EXHAUSTED (the CO retries it), not INTERNAL, and leaves no file behind.
mkdir -p "$T/small"
mount -t tmpfs -o size=48m tmpfs "$T/small"
start_server "$T/full.log" --endpoint "$EP" --data-dir "$T/small/data" --allowed-path-prefix "$K"
v=$(json_get "$(csi "$EP" CreateVolume --name full --required-bytes 40M --access-type block)" 'j["volume"]["volume_id"]')
head -c 30M /dev/urandom | dd of="$T/small/data/volumes/$v.img" conv=notrunc status=none
check "a snapshot that does not fit: RESOURCE_EXHAUSTED" expect_code 8 csi "$EP" CreateSnapshot --name full-snap --source-volume-id "$v"
check "  the message names the write that failed" grep -q 'No space left on device' "$T/last.err"
check "  no snapshot file left" [ -z "$(find "$T/small/data/snapshots" -type f)" ]
check "  no snapshot listed" [ "$(csi "$EP" ListSnapshots | python3 -c 'import json,sys; print(len(json.load(sys.stdin).get("entries", [])))')" = 0 ]
csi_ok "$EP" DeleteVolume --volume-id "$v"
stop_server "$SERVER_PID"
umount "$T/small"
finish
