#!/usr/bin/env bash
# The static musl binary: no interpreter, no dynamic section; it runs in an empty
# chroot holding only itself (plus /dev, /proc, /sys and /tmp mounts) and serves
# Identity and a whole local-backend volume lifecycle from there; and it answers in a
# chroot with no /dev at all (no /dev/urandom).
PRIVATE_NS=1 . "$(dirname "$0")/lib.sh"

STATIC=${RBD_CSI_STATIC_BIN:-${CARGO_TARGET_DIR:-/var/tmp/rbd-csi-target}/x86_64-unknown-linux-musl/release/rbd-csi}
[ -x "$STATIC" ] || { fail "static binary missing at $STATIC (scripts/build-static.sh)"; finish; exit 1; }

check "ELF has no program interpreter" bash -c "! readelf -lW '$STATIC' | grep -q INTERP"
check "ELF has no dynamic section" bash -c "readelf -dW '$STATIC' | grep -q 'no dynamic section'"
check "file(1) agrees" bash -c "file -b '$STATIC' | grep -Eq 'static(-pie)? linked|statically linked'"
size=$(stat -c %s "$STATIC")
log "static binary: $size bytes"
check "size under 12 MiB" [ "$size" -le $((12 << 20)) ]

R=$T/root
mkdir -p "$R/dev" "$R/proc" "$R/sys" "$R/tmp" "$R/run" "$R/data" "$R/k"
cp "$STATIC" "$R/rbd-csi"
mount --rbind /dev "$R/dev"
mount -t proc proc "$R/proc"
mount --rbind /sys "$R/sys"
mount -t tmpfs tmpfs "$R/tmp"
check "the chroot holds nothing but the binary and the mount points" \
  [ "$(find "$R" -mindepth 1 -maxdepth 1 -not -name dev -not -name proc -not -name sys -not -name tmp -not -name run -not -name data -not -name k | xargs -n1 basename)" = rbd-csi ]

chroot "$R" /rbd-csi serve --endpoint /run/csi.sock --data-dir /data --nodeid chrooted >"$T/server.log" 2>&1 &
SERVER_PID=$!
SERVER_PIDS+=("$SERVER_PID")
EP=$R/run/csi.sock
for _ in $(seq 1 100); do csi "$EP" Probe >/dev/null 2>&1 && break; sleep 0.05; done
out=$(csi "$EP" GetPluginInfo)
check "chrooted static binary answers GetPluginInfo" [ "$(json_get "$out" 'j["name"]')" = rbd.csi.rs ]
# The chroot has no mkfs: not ready for blank filesystem volumes, and it says why
# (everything below uses block volumes and filesystems made from outside).
check "Probe: not ready without mkfs" [ "$(json_get "$(csi "$EP" Probe)" 'j["ready"]')" = False ]
check "  the log says what to install" grep -q "mkfs.ext4 is not on PATH" "$T/server.log"

# Block volume: attach, bind, write/read, grow, detach — all by ioctl, no tools.
v=$(json_get "$(csi "$EP" CreateVolume --name b --required-bytes 16M --access-type block)" 'j["volume"]["volume_id"]')
check "block: stage" csi_ok "$EP" NodeStageVolume --volume-id "$v" --staging-path /k/s/b --access-type block
check "block: publish" csi_ok "$EP" NodePublishVolume --volume-id "$v" --staging-path /k/s/b --target-path /k/p/b --access-type block
head -c 1M /dev/urandom >"$T/blk"
dd if="$T/blk" of="$R/k/p/b" bs=1M conv=fsync status=none
check "block: data round-trips" [ "$(head -c 1M "$R/k/p/b" | sha256sum)" = "$(sha256sum <"$T/blk")" ]
csi_ok "$EP" ControllerExpandVolume --volume-id "$v" --required-bytes 32M --access-type block
check "block: node expand" [ "$(json_get "$(csi "$EP" NodeExpandVolume --volume-id "$v" --volume-path /k/p/b)" 'j["capacity_bytes"]')" = $((32 << 20)) ]
check "block: unpublish" csi_ok "$EP" NodeUnpublishVolume --volume-id "$v" --target-path /k/p/b
check "block: unstage" csi_ok "$EP" NodeUnstageVolume --volume-id "$v" --staging-path /k/s/b
check "block: delete" csi_ok "$EP" DeleteVolume --volume-id "$v"

# Filesystem volume: formatted from outside (the chroot has no mkfs), then staged,
# published, written, snapshotted and restored from inside.
v=$(json_get "$(csi "$EP" CreateVolume --name f --required-bytes 64M --fs-type ext4)" 'j["volume"]["volume_id"]')
mkfs.ext4 -q -F "$R/data/volumes/$v.img"
check "fs: stage an existing ext4" csi_ok "$EP" NodeStageVolume --volume-id "$v" --staging-path /k/s/f --fs-type ext4
check "fs: publish" csi_ok "$EP" NodePublishVolume --volume-id "$v" --staging-path /k/s/f --target-path /k/p/f --fs-type ext4
echo "from the chroot" >"$R/k/p/f/hello"; sync
out=$(csi "$EP" NodeGetVolumeStats --volume-id "$v" --volume-path /k/p/f)
check "fs: stats" [ "$(json_get "$out" 'j["usage"][0]["total"] > 0')" = True ]
s=$(json_get "$(csi "$EP" CreateSnapshot --name fs-snap --source-volume-id "$v")" 'j["snapshot"]["snapshot_id"]')
r=$(json_get "$(csi "$EP" CreateVolume --name f2 --required-bytes 64M --fs-type ext4 --from-snapshot "$s")" 'j["volume"]["volume_id"]')
check "fs: stage the restore" csi_ok "$EP" NodeStageVolume --volume-id "$r" --staging-path /k/s/r --fs-type ext4
check "fs: restore has the data" [ "$(cat "$R/k/s/r/hello")" = "from the chroot" ]
check "fs: teardown" bash -c "
  '$BIN' client --endpoint '$EP' NodeUnstageVolume --volume-id '$r' --staging-path /k/s/r >/dev/null &&
  '$BIN' client --endpoint '$EP' NodeUnpublishVolume --volume-id '$v' --target-path /k/p/f >/dev/null &&
  '$BIN' client --endpoint '$EP' NodeUnstageVolume --volume-id '$v' --staging-path /k/s/f >/dev/null &&
  '$BIN' client --endpoint '$EP' DeleteVolume --volume-id '$v' >/dev/null &&
  '$BIN' client --endpoint '$EP' DeleteVolume --volume-id '$r' >/dev/null &&
  '$BIN' client --endpoint '$EP' DeleteSnapshot --snapshot-id '$s' >/dev/null"
check "nothing left attached" [ -z "$(our_loops)" ]
rc=0; stop_server "$SERVER_PID" || rc=$?
check "SIGTERM: exit 0" [ "$rc" -eq 0 ]
check "SIGTERM: socket removed" [ ! -e "$EP" ]

# A chroot with no /dev at all, so no /dev/urandom: gRPC's abseil seeds itself with
# getentropy(2) in the static build (ABSL_RANDOM_USE_GET_ENTROPY; it aborted on the
# first connection before), and the driver's own randomness is getrandom(2).
B=$T/bare
mkdir -p "$B/proc" "$B/run" "$B/data"
cp "$STATIC" "$B/rbd-csi"
mount -t proc proc "$B/proc"
chroot "$B" /rbd-csi serve --endpoint /run/csi.sock --data-dir /data --mode controller >"$T/bare.log" 2>&1 &
SERVER_PID=$!
SERVER_PIDS+=("$SERVER_PID")
for _ in $(seq 1 100); do [ -S "$B/run/csi.sock" ] && break; sleep 0.05; done
check "bare chroot: there is no /dev/urandom" [ ! -e "$B/dev/urandom" ]
check "bare chroot: GetPluginInfo answered" csi_ok "$B/run/csi.sock" GetPluginInfo
check "bare chroot: CreateVolume answered" csi_ok "$B/run/csi.sock" CreateVolume --name bare --required-bytes 1M --fs-type ext4
check "bare chroot: the server is alive" kill -0 "$SERVER_PID"
rc=0; stop_server "$SERVER_PID" || rc=$?
check "bare chroot: SIGTERM, exit 0" [ "$rc" -eq 0 ]

# The static binary cannot dlopen librados: auto falls back to the rbd/rados commands,
# and asking for librados outright is refused with the reason.
echo '[{"clusterID": "c", "monitors": ["127.0.0.1:1"]}]' >"$T/ceph.json"
RBD=(serve --endpoint "$T/rbd.sock" --backend rbd --mode controller --config "$T/ceph.json" --data-dir "$T/rbd-data")
timeout -s TERM 2 "$STATIC" "${RBD[@]}" 2>"$T/auto.log" || true
check "static, --ceph-client auto: the CLIs" grep -q "controller: Ceph through cli" "$T/auto.log"
check "static, --ceph-client librados: refused with the reason" \
  bash -c "! timeout 5 '$STATIC' ${RBD[*]} --ceph-client librados 2>'$T/lib.log' && grep -q 'Dynamic loading not supported' '$T/lib.log'"
finish
