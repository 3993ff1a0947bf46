#!/usr/bin/env bash
# Runs INSIDE the User-Mode Linux guest (tests/krbd.sh starts it): a memstore Ceph
# cluster, `rbd-csi serve --backend rbd --mode all`, and through `rbd-csi client` the
# node path on the real kernel RBD client, with both mappers.
HERE=$(cd "$(dirname "${RIG_SCRIPT:-$0}")" && pwd)
. "$HERE/../lib.sh"
guest_cluster "$HERE/../../scripts/ceph-cluster.sh" "$T/cluster"
admin() { "$@" --conf "$CEPH_CONF" --id admin; }
mappings() { ls /sys/bus/rbd/devices | wc -l; }
# The kernel copies the key when it maps; no keyring keeps it afterwards (the sysfs
# mapper unlinks it from the driver's process keyring, then the kernel collects it).
no_ceph_key() { for _ in $(seq 1 50); do grep -q ' ceph ' /proc/keys || return 0; sleep 0.1; done; return 1; }
mounted_src() { awk -v p="$1" '$5 == p { for (i = 7; i <= NF; i++) if ($i == "-") { print $(i+2); exit } }' /proc/self/mountinfo; }

# crash_after_map WHAT VOLUME_ID IMAGE STAGING CONTEXT-ARGS...: the driver dies right
# after mapping the volume (before the node's stash is written); after a restart, its
# unstage still finds the mapping and removes it.
crash_after_map() {
  local what=$1 vol=$2 image=$3 staging=$4; shift 4
  stop_server "$SERVER_PID"
  RBD_CSI_FAILPOINT=stage-after-attach start_server "$T/$mapper-crash-$vol.log" "${SERVE[@]}"
  csi "$EP" NodeStageVolume --volume-id "$vol" --staging-path "$staging" --fs-type ext4 "$@" --secrets-file "$T/secrets" >/dev/null 2>&1 || true
  wait "$SERVER_PID" 2>/dev/null || true
  check "$mapper: $what: the driver died right after the map" grep -q "failpoint stage-after-attach: aborting" "$T/$mapper-crash-$vol.log"
  check "$mapper: $what: ... leaving $image mapped" grep -qx "$image" /sys/bus/rbd/devices/*/name
  start_server "$T/$mapper-restarted-$vol.log" "${SERVE[@]}"
  check "$mapper: $what: unstage without a stash" csi_ok "$EP" NodeUnstageVolume --volume-id "$vol" --staging-path "$staging"
  check "$mapper: $what: ... unmapped it" [ "$(mappings)" = 0 ]
  check "$mapper: $what: ... and left the staging path empty" [ -z "$(ls -A "$staging")" ]
}

# ceph-csi's node, by hand, as v3.12.2's nodeserver.go leaves things (its image is
# not here): NodeStage maps the image (`rbd map -o noudev`), stages it at
# <staging>/<volume id> (ext4 mount, or for block a file the device is bound onto)
# and writes <staging>/image-meta.json; NodePublish binds <staging>/<volume id> onto
# the target; NodeUnstage unmounts, removes <staging>/<volume id>, unmaps the image
# the note names (`rbd unmap -o noudev`: no udev in the guest) and removes the note.
device_of() { for d in /sys/bus/rbd/devices/*; do [ "$(cat "$d/name")" = "$1" ] && [ "$(cat "$d/current_snap")" = - ] && echo "/dev/rbd${d##*/}"; done; }
cephcsi_stage() { # VOLUME_ID IMAGE STAGING ext4|block
  local vol=$1 image=$2 staging=$3 kind=$4 dev
  mkdir -p "$staging"
  printf '{"Version":3,"pool":"rbd","radosNamespace":"","image":"%s","unmapOptions":"","accessType":false,"encrypted":false,"device":"","logDir":"","logFileStrategy":""}' "$image" >"$staging/image-meta.json"
  chmod 600 "$staging/image-meta.json"
  admin rbd map -o noudev "rbd/$image" >/dev/null 2>&1
  dev=$(device_of "$image")
  if [ "$kind" = block ]; then
    install -m 600 /dev/null "$staging/$vol" && mount --bind "$dev" "$staging/$vol"
  else
    blkid "$dev" >/dev/null 2>&1 || mkfs.ext4 -q -m0 -E nodiscard,lazy_itable_init=1,lazy_journal_init=1 "$dev"
    mkdir -m 750 "$staging/$vol" && mount -t ext4 "$dev" "$staging/$vol"
  fi
}
cephcsi_publish() { if [ -d "$1" ]; then mkdir -p "$2"; else touch "$2"; fi; mount --bind "$1" "$2"; }
cephcsi_unpublish() { umount "$1" && rm -rf "$1"; }
cephcsi_unstage() { # VOLUME_ID STAGING
  local point=$2/$1 spec force
  if mountpoint -q "$point"; then umount "$point" || return 1; fi
  rm -df "$point" || return 1
  [ -f "$2/image-meta.json" ] || return 0
  spec=$(python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); print(m["pool"] + "/" + (m["radosNamespace"] + "/" if m["radosNamespace"] else "") + m["image"])' "$2/image-meta.json")
  force=$(python3 -c 'import json,sys; print(",force" if json.load(open(sys.argv[1]))["unmapOptions"] == "force" else "")' "$2/image-meta.json")
  admin rbd unmap -o "noudev$force" "$spec" >/dev/null 2>&1 || return 1
  rm -f "$2/image-meta.json"
}
mounts_of() { awk -v d="$1" '{ for (i = 7; i <= NF; i++) if ($i == "-") { if ($(i+2) == d) n++; break } } END { print n + 0 }' /proc/self/mountinfo; }

# Plugin swaps on one node, both ways, for a filesystem and a block volume.
swap_checks() {
  local kind=$1 V IMG CTX dev out fs=(--fs-type ext4) t=ext4
  [ "$kind" = block ] && fs=(--access-type block) && t=block
  out=$(csi "$EP" CreateVolume --name "$mapper-swap-$kind" --required-bytes 64M "${fs[@]}" "${P[@]}")
  V=$(json_get "$out" 'j["volume"]["volume_id"]'); IMG=csi-vol-${V: -36}
  CTX=$(json_get "$out" '" ".join("--context %s=%s" % kv for kv in j["volume"]["volume_context"].items())')

  # ceph-csi -> rbd-csi: its stage and publish are taken over in place.
  cephcsi_stage "$V" "$IMG" "$K/cs-$kind" "$t"; cephcsi_publish "$K/cs-$kind/$V" "$K/cp-$kind"
  dev=$(device_of "$IMG")
  [ "$kind" = ext4 ] && { echo swapped >"$K/cp-$kind/mark"; sync; }
  check "$mapper: $kind: ceph-csi's stage made by hand ($dev)" mountpoint -q "$K/cs-$kind/$V"
  if [ "$kind" = ext4 ]; then
    check "$mapper: $kind: stats of ceph-csi's publish" csi_ok "$EP" NodeGetVolumeStats --volume-id "$V" --volume-path "$K/cp-$kind"
    # shellcheck disable=SC2086
    check "$mapper: $kind: a stage at another staging path is refused (the device is mounted)" expect_code 9 csi "$EP" NodeStageVolume --volume-id "$V" --staging-path "$K/cs2-$kind" "${fs[@]}" $CTX --secrets-file "$T/secrets"
    check "$mapper: $kind: ... and mounts it nowhere else" [ "$(mounts_of "$dev")" = 2 ]
  fi
  # shellcheck disable=SC2086
  check "$mapper: $kind: stage at ceph-csi's staging path: taken over in place" csi_ok "$EP" NodeStageVolume --volume-id "$V" --staging-path "$K/cs-$kind" "${fs[@]}" $CTX --secrets-file "$T/secrets"
  check "$mapper: $kind: ... one mapping, no second mount" [ "$(mappings)" = 1 -a "$(grep -c " $K/cs-$kind/$V " /proc/self/mountinfo)" = 1 ]
  check "$mapper: $kind: publish from the taken-over stage" csi_ok "$EP" NodePublishVolume --volume-id "$V" --staging-path "$K/cs-$kind" --target-path "$K/cp2-$kind" "${fs[@]}"
  if [ "$kind" = ext4 ]; then
    check "$mapper: $kind: ... shows ceph-csi's data" [ "$(cat "$K/cp2-$kind/mark")" = swapped ]
  else
    check "$mapper: $kind: ... is the device" [ "$(blockdev --getsize64 "$K/cp2-$kind")" = $((64 << 20)) ]
  fi
  check "$mapper: $kind: unstage while published: FAILED_PRECONDITION" expect_code 9 csi "$EP" NodeUnstageVolume --volume-id "$V" --staging-path "$K/cs-$kind"
  check "$mapper: $kind: unpublish ceph-csi's publish" csi_ok "$EP" NodeUnpublishVolume --volume-id "$V" --target-path "$K/cp-$kind"
  check "$mapper: $kind: unpublish ours" csi_ok "$EP" NodeUnpublishVolume --volume-id "$V" --target-path "$K/cp2-$kind"
  check "$mapper: $kind: unstage ceph-csi's stage" csi_ok "$EP" NodeUnstageVolume --volume-id "$V" --staging-path "$K/cs-$kind"
  check "$mapper: $kind: ... unmapped, staging path left empty" [ "$(mappings)" = 0 -a -z "$(ls -A "$K/cs-$kind")" ]

  # ceph-csi -> rbd-csi with no call in between: unpublish and unstage straight away.
  cephcsi_stage "$V" "$IMG" "$K/cs-$kind" "$t"; cephcsi_publish "$K/cs-$kind/$V" "$K/cp-$kind"
  check "$mapper: $kind: fresh takeover: unpublish" csi_ok "$EP" NodeUnpublishVolume --volume-id "$V" --target-path "$K/cp-$kind"
  check "$mapper: $kind: fresh takeover: ... the target is gone" [ ! -e "$K/cp-$kind" ]
  check "$mapper: $kind: fresh takeover: unstage" csi_ok "$EP" NodeUnstageVolume --volume-id "$V" --staging-path "$K/cs-$kind"
  check "$mapper: $kind: fresh takeover: ... unmapped, staging path empty" [ "$(mappings)" = 0 -a -z "$(ls -A "$K/cs-$kind")" ]

  # rbd-csi -> ceph-csi: what ceph-csi's node does with our stage works.
  # shellcheck disable=SC2086
  check "$mapper: $kind: rbd-csi stages" csi_ok "$EP" NodeStageVolume --volume-id "$V" --staging-path "$K/hs-$kind" "${fs[@]}" $CTX --secrets-file "$T/secrets"
  check "$mapper: $kind: ... at <staging>/<volume id>, as ceph-csi's NodeStage checks" mountpoint -q "$K/hs-$kind/$V"
  check "$mapper: $kind: ... image-meta.json as ceph-csi v3.12.2 reads it" python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); assert (m["Version"], m["pool"], m["radosNamespace"], m["image"], m["accessType"], m["encrypted"]) == (3, "rbd", "", sys.argv[2], False, False), m' "$K/hs-$kind/image-meta.json" "$IMG"
  check "$mapper: $kind: ... the note is 0600" [ "$(stat -c %a "$K/hs-$kind/image-meta.json")" = 600 ]
  check "$mapper: $kind: ceph-csi's NodePublish from our stage" cephcsi_publish "$K/hs-$kind/$V" "$K/hp-$kind"
  if [ "$kind" = ext4 ]; then
    check "$mapper: $kind: ... shows the data" [ "$(cat "$K/hp-$kind/mark")" = swapped ]
  else
    check "$mapper: $kind: ... is the device" [ "$(blockdev --getsize64 "$K/hp-$kind")" = $((64 << 20)) ]
  fi
  check "$mapper: $kind: ceph-csi's NodeUnpublish" cephcsi_unpublish "$K/hp-$kind"
  check "$mapper: $kind: ceph-csi's NodeUnstage of our stage" cephcsi_unstage "$V" "$K/hs-$kind"
  check "$mapper: $kind: ... unmapped, staging path empty" [ "$(mappings)" = 0 -a -z "$(ls -A "$K/hs-$kind")" ]
  check "$mapper: $kind: our unstage after the hand-back: nothing left to do" csi_ok "$EP" NodeUnstageVolume --volume-id "$V" --staging-path "$K/hs-$kind"
  check "$mapper: $kind: delete" csi_ok "$EP" DeleteVolume --volume-id "$V" --secrets-file "$T/secrets"
}

for mapper in rbd sysfs; do
  log "---- mapper: $mapper"
  EP=$T/$mapper.sock K=$T/k-$mapper
  SERVE=(--endpoint "$EP" --backend rbd --mode all --mapper "$mapper" --config "$T/config.json" --data-dir "$T/data-$mapper" --nodeid guest)
  start_server "$T/$mapper.log" "${SERVE[@]}"
  check "$mapper: the controller reaches Ceph in process (librados)" grep -q "controller: Ceph through librados" "$T/$mapper.log"
  P=(--param "clusterID=$CEPH_FSID" --param pool=rbd --secrets-file "$T/secrets")
  # ceph-csi's mapOptions/unmapOptions reach the node in the volume context.
  out=$(csi "$EP" CreateVolume --name "$mapper-ext4" --required-bytes 256M --fs-type ext4 "${P[@]}" \
    --param mapOptions=krbd:queue_depth=64 --param unmapOptions=krbd:force)
  V=$(json_get "$out" 'j["volume"]["volume_id"]')
  CTX=$(json_get "$out" '" ".join("--context %s=%s" % kv for kv in j["volume"]["volume_context"].items())')
  # shellcheck disable=SC2086
  check "$mapper: stage ext4 from the volume context + secrets" csi_ok "$EP" NodeStageVolume --volume-id "$V" --staging-path "$K/s" --fs-type ext4 $CTX --secrets-file "$T/secrets"
  dev=$(mounted_src "$K/s/$V")
  log "$mapper: staged on $dev"
  check "$mapper: the staging mount is a kernel rbd device" grep -Eq '^/dev/rbd[0-9]+$' <<<"$dev"
  check "$mapper: sysfs names the image" [ "$(cat /sys/bus/rbd/devices/${dev#/dev/rbd}/name)" = "$(json_get "$out" 'j["volume"]["volume_context"]["imageName"]')" ]
  check "$mapper: mapped with the StorageClass's mapOptions" grep -q queue_depth=64 "/sys/bus/rbd/devices/${dev#/dev/rbd}/config_info"
  # shellcheck disable=SC2086
  check "$mapper: second stage reuses the mapping" csi_ok "$EP" NodeStageVolume --volume-id "$V" --staging-path "$K/s" --fs-type ext4 $CTX --secrets-file "$T/secrets"
  check "$mapper: one mapping" [ "$(mappings)" = 1 ]
  check "$mapper: no ceph key left in any keyring" no_ceph_key
  check "$mapper: publish" csi_ok "$EP" NodePublishVolume --volume-id "$V" --staging-path "$K/s" --target-path "$K/p" --fs-type ext4
  head -c 16M /dev/urandom >"$K/p/data"; sync; SUM=$(sha256sum <"$K/p/data")
  echo 3 >/proc/sys/vm/drop_caches
  check "$mapper: data reads back" [ "$(sha256sum <"$K/p/data")" = "$SUM" ]
  csi_ok "$EP" ControllerExpandVolume --volume-id "$V" --required-bytes 512M --fs-type ext4 "${P[@]}"
  out2=$(csi "$EP" NodeExpandVolume --volume-id "$V" --volume-path "$K/p" --required-bytes 512M)
  check "$mapper: NodeExpand sees 512 MiB (BLKGETSIZE64)" [ "$(json_get "$out2" 'j["capacity_bytes"]')" = $((512 << 20)) ]
  check "$mapper: df shows the grown ext4" [ "$(df -B1M --output=size "$K/p" | tail -n1 | tr -d ' ')" -gt 400 ]
  grep -E "mapped .* as /dev/rbd|grew ext4" "$T/$mapper.log" | sed 's/^/# log: /'
  # snapshot (512 MiB) -> restore into 768 MiB, staged on the kernel client, checksummed;
  # the stage grows the filesystem (Kubernetes never calls NodeExpandVolume after a restore).
  S=$(json_get "$(csi "$EP" CreateSnapshot --name "$mapper-snap" --source-volume-id "$V" --secrets-file "$T/secrets")" 'j["snapshot"]["snapshot_id"]')
  out3=$(csi "$EP" CreateVolume --name "$mapper-restore" --required-bytes 768M --fs-type ext4 --from-snapshot "$S" "${P[@]}")
  VR=$(json_get "$out3" 'j["volume"]["volume_id"]'); CTXR=$(json_get "$out3" '" ".join("--context %s=%s" % kv for kv in j["volume"]["volume_context"].items())')
  # shellcheck disable=SC2086
  check "$mapper: restore of a snapshot stages" csi_ok "$EP" NodeStageVolume --volume-id "$VR" --staging-path "$K/r" --fs-type ext4 $CTXR --secrets-file "$T/secrets"
  check "$mapper: restore has the data" [ "$(sha256sum <"$K/r/$VR/data")" = "$SUM" ]
  check "$mapper: the restore's ext4 was grown to 768 MiB at stage" [ "$(df -B1M --output=size "$K/r/$VR" | tail -n1 | tr -d ' ')" -gt 700 ]
  check "$mapper: restore is a second mapping" [ "$(mappings)" = 2 ]
  check "$mapper: restore unstage" csi_ok "$EP" NodeUnstageVolume --volume-id "$VR" --staging-path "$K/r"
  # shellcheck disable=SC2086
  check "$mapper: reader-only stage" csi_ok "$EP" NodeStageVolume --volume-id "$VR" --staging-path "$K/ro" --fs-type ext4 --access-mode MULTI_NODE_READER_ONLY $CTXR --secrets-file "$T/secrets"
  rodev=$(mounted_src "$K/ro/$VR")
  check "$mapper: reader-only maps the image read-only" [ "$(cat "/sys/block/${rodev#/dev/}/ro")" = 1 ]
  check "$mapper: reader-only mount is read-only" grep -Eq " $K/ro/$VR ro[, ]" /proc/self/mountinfo
  check "$mapper: reader-only still reads the data" [ "$(sha256sum <"$K/ro/$VR/data")" = "$SUM" ]
  check "$mapper: restore teardown" bash -c "'$BIN' client --endpoint '$EP' NodeUnstageVolume --volume-id '$VR' --staging-path '$K/ro' >/dev/null &&
    '$BIN' client --endpoint '$EP' DeleteVolume --volume-id '$VR' --secrets-file '$T/secrets' >/dev/null &&
    '$BIN' client --endpoint '$EP' DeleteSnapshot --snapshot-id '$S' --secrets-file '$T/secrets' >/dev/null"
  # kill -9 while staged and published; restart; tear down; nothing left mapped.
  kill -9 "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true
  start_server "$T/$mapper-2.log" "${SERVE[@]}"
  # shellcheck disable=SC2086
  check "$mapper: after kill -9, stage again is a no-op" csi_ok "$EP" NodeStageVolume --volume-id "$V" --staging-path "$K/s" --fs-type ext4 $CTX --secrets-file "$T/secrets"
  check "$mapper: still one mapping" [ "$(mappings)" = 1 ]
  check "$mapper: unpublish" csi_ok "$EP" NodeUnpublishVolume --volume-id "$V" --target-path "$K/p"
  check "$mapper: unstage" csi_ok "$EP" NodeUnstageVolume --volume-id "$V" --staging-path "$K/s"
  check "$mapper: unmapped" [ "$(mappings)" = 0 ]
  # shellcheck disable=SC2086
  check "$mapper: restage shows the data" bash -c "'$BIN' client --endpoint '$EP' NodeStageVolume --volume-id '$V' --staging-path '$K/s' --fs-type ext4 $CTX --secrets-file '$T/secrets' >/dev/null && [ \"\$(sha256sum <'$K/s/$V/data')\" = '$SUM' ]"
  check "$mapper: unstage again" csi_ok "$EP" NodeUnstageVolume --volume-id "$V" --staging-path "$K/s"
  check "$mapper: delete" csi_ok "$EP" DeleteVolume --volume-id "$V" --secrets-file "$T/secrets"

  # xfs and block, shorter.
  out=$(csi "$EP" CreateVolume --name "$mapper-xfs" --required-bytes 320M --fs-type xfs "${P[@]}")
  V=$(json_get "$out" 'j["volume"]["volume_id"]'); CTX=$(json_get "$out" '" ".join("--context %s=%s" % kv for kv in j["volume"]["volume_context"].items())')
  # shellcheck disable=SC2086
  check "$mapper: stage xfs" csi_ok "$EP" NodeStageVolume --volume-id "$V" --staging-path "$K/x" --fs-type xfs $CTX --secrets-file "$T/secrets"
  check "$mapper: xfs on rbd" [ "$(awk -v p="$K/x/$V" '$5 == p {for (i=7;i<=NF;i++) if ($i=="-") print $(i+1)}' /proc/self/mountinfo)" = xfs ]
  csi_ok "$EP" ControllerExpandVolume --volume-id "$V" --required-bytes 640M "${P[@]}"
  check "$mapper: xfs grows online" [ "$(json_get "$(csi "$EP" NodeExpandVolume --volume-id "$V" --volume-path "$K/x" --required-bytes 640M)" 'j["capacity_bytes"]')" = $((640 << 20)) ]
  check "$mapper: xfs unstage" csi_ok "$EP" NodeUnstageVolume --volume-id "$V" --staging-path "$K/x"
  check "$mapper: xfs delete" csi_ok "$EP" DeleteVolume --volume-id "$V" --secrets-file "$T/secrets"
  out=$(csi "$EP" CreateVolume --name "$mapper-blk" --required-bytes 64M --access-type block "${P[@]}")
  V=$(json_get "$out" 'j["volume"]["volume_id"]'); CTX=$(json_get "$out" '" ".join("--context %s=%s" % kv for kv in j["volume"]["volume_context"].items())')
  # shellcheck disable=SC2086
  check "$mapper: stage block" csi_ok "$EP" NodeStageVolume --volume-id "$V" --staging-path "$K/b" --access-type block $CTX --secrets-file "$T/secrets"
  check "$mapper: publish block" csi_ok "$EP" NodePublishVolume --volume-id "$V" --staging-path "$K/b" --target-path "$K/bd" --access-type block
  check "$mapper: block target is the rbd device" [ -b "$K/bd" -a "$(blockdev --getsize64 "$K/bd")" = $((64 << 20)) ]
  check "$mapper: block teardown" bash -c "'$BIN' client --endpoint '$EP' NodeUnpublishVolume --volume-id '$V' --target-path '$K/bd' >/dev/null &&
    '$BIN' client --endpoint '$EP' NodeUnstageVolume --volume-id '$V' --staging-path '$K/b' >/dev/null &&
    '$BIN' client --endpoint '$EP' DeleteVolume --volume-id '$V' --secrets-file '$T/secrets' >/dev/null"
  # A static volume (ceph-csi's static PV): a pre-existing image, its name as the id.
  SV=static-$mapper
  admin rbd create --size 64M --image-feature layering "rbd/$SV" >/dev/null 2>&1
  SCTX=(--context "clusterID=$CEPH_FSID" --context pool=rbd --context staticVolume=true --context imageFeatures=layering)
  check "$mapper: static volume without clusterID: INVALID_ARGUMENT" expect_code 3 csi "$EP" NodeStageVolume --volume-id "$SV" --staging-path "$K/st" --fs-type ext4 --context pool=rbd --context staticVolume=true --secrets-file "$T/secrets"
  check "$mapper: static volume stages" csi_ok "$EP" NodeStageVolume --volume-id "$SV" --staging-path "$K/st" --fs-type ext4 "${SCTX[@]}" --secrets-file "$T/secrets"
  sdev=$(mounted_src "$K/st/$SV")
  check "$mapper: static volume: its own image is mapped" [ "$(cat "/sys/bus/rbd/devices/${sdev#/dev/rbd}/name" 2>/dev/null)" = "$SV" ]
  echo static >"$K/st/$SV/mark"; sync
  check "$mapper: static volume unstages" csi_ok "$EP" NodeUnstageVolume --volume-id "$SV" --staging-path "$K/st"
  # Resized outside the driver (static volumes have no ControllerExpand): the next
  # stage grows the filesystem to the image, as ceph-csi does.
  admin rbd resize --no-progress --size 128M "rbd/$SV" >/dev/null 2>&1
  check "$mapper: static volume restages with its data" bash -c "'$BIN' client --endpoint '$EP' NodeStageVolume --volume-id '$SV' --staging-path '$K/st' --fs-type ext4 ${SCTX[*]} --secrets-file '$T/secrets' >/dev/null && [ \"\$(cat '$K/st/$SV/mark')\" = static ]"
  check "$mapper: static volume's ext4 grew to the resized image on stage" [ "$(df -B1M --output=size "$K/st/$SV" | tail -n1 | tr -d ' ')" -gt 100 ]
  check "$mapper: static volume teardown" csi_ok "$EP" NodeUnstageVolume --volume-id "$SV" --staging-path "$K/st"
  # A crash right after mapping a static volume: its id does not name the image, so
  # only the node's map record lets the unstage after the restart find the mapping.
  crash_after_map "static volume" "$SV" "$SV" "$K/st" "${SCTX[@]}"
  check "$mapper: static image removed" admin rbd rm --no-progress "rbd/$SV"

  # The same for an image under another volumeNamePrefix.
  out=$(csi "$EP" CreateVolume --name "$mapper-legacy" --required-bytes 64M --fs-type ext4 "${P[@]}" --param volumeNamePrefix=legacy- 2>&1) ||
    log "CreateVolume under volumeNamePrefix failed: $out"
  V=$(json_get "$out" 'j["volume"]["volume_id"]'); CTX=$(json_get "$out" '" ".join("--context %s=%s" % kv for kv in j["volume"]["volume_context"].items())')
  # shellcheck disable=SC2086
  crash_after_map "legacy- volume" "$V" "legacy-${V: -36}" "$K/l" $CTX
  check "$mapper: legacy delete" csi_ok "$EP" DeleteVolume --volume-id "$V" --secrets-file "$T/secrets"
  swap_checks ext4
  swap_checks block
  # mapOptions exclusive (a user's opt-in): the kernel keeps the lock from every other
  # client, so a snapshot and a resize of the staged volume are refused, clearly.
  out=$(csi "$EP" CreateVolume --name "$mapper-excl" --required-bytes 256M --fs-type ext4 "${P[@]}" \
    --param imageFeatures=layering,exclusive-lock --param mapOptions=krbd:exclusive)
  V=$(json_get "$out" 'j["volume"]["volume_id"]')
  CTX=$(json_get "$out" '" ".join("--context %s=%s" % kv for kv in j["volume"]["volume_context"].items())')
  # shellcheck disable=SC2086
  check "$mapper: stage with mapOptions exclusive" csi_ok "$EP" NodeStageVolume --volume-id "$V" --staging-path "$K/x" --fs-type ext4 $CTX --secrets-file "$T/secrets"
  check "$mapper: a snapshot of it while staged: FAILED_PRECONDITION" expect_code 9 csi "$EP" CreateSnapshot --name "$mapper-excl-snap" --source-volume-id "$V" --secrets-file "$T/secrets"
  check "  saying who holds the lock and what to do" grep -q "exclusive lock and will not release it .*unstage the volume first" "$T/last.err"
  check "$mapper: a resize of it while staged: FAILED_PRECONDITION" expect_code 9 csi "$EP" ControllerExpandVolume --volume-id "$V" --required-bytes 512M "${P[@]}"
  check "$mapper: unstage" csi_ok "$EP" NodeUnstageVolume --volume-id "$V" --staging-path "$K/x"
  check "$mapper: the snapshot is taken once unstaged" csi_ok "$EP" CreateSnapshot --name "$mapper-excl-snap" --source-volume-id "$V" --secrets-file "$T/secrets"
  S=$(json_get "$(csi "$EP" CreateSnapshot --name "$mapper-excl-snap" --source-volume-id "$V" --secrets-file "$T/secrets")" 'j["snapshot"]["snapshot_id"]')
  csi_ok "$EP" DeleteSnapshot --snapshot-id "$S" --secrets-file "$T/secrets"
  csi_ok "$EP" DeleteVolume --volume-id "$V" --secrets-file "$T/secrets"
  check "$mapper: nothing mapped at the end" [ "$(mappings)" = 0 ]
  check "$mapper: no map record left" [ -z "$(ls -A "$T/data-$mapper/maps")" ]
  check "$mapper: the key is not in the logs" bash -c "! cat '$T'/$mapper*.log | grep -qF -f <(printf '%s\n' \"\$(grep userKey '$T/secrets' | cut -d= -f2-)\")"
  stop_server "$SERVER_PID"
done
finish
