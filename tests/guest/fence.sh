#!/usr/bin/env bash
# Runs INSIDE the User-Mode Linux guest (tests/krbd_fence.sh starts it): never two
# writers on the real kernel RBD client (issue 15). One controller and two node plugins
# with node ids node-a and node-b, each with its own data dir and socket; they share the
# guest's kernel, but each claimed mapping has a kernel client of its own (noshare), so
# blocklisting node-a's mapping stops node-a alone. The CO's part (publish, then stage
# with the publish_context) is played through `rbd-csi client`.
HERE=$(cd "$(dirname "${RIG_SCRIPT:-$0}")" && pwd)
. "$HERE/../lib.sh"
guest_cluster "$HERE/../../scripts/ceph-cluster.sh" "$T/cluster"
admin() { "$@" --conf "$CEPH_CONF" --id admin; }
( umask 077; printf 'userID=admin\nuserKey=%s\n' "$(admin ceph auth get-key client.admin)" >"$T/admin-secrets" )
# blocklist: the client addresses on the OSD blocklist (port 0: kernel and librados
# clients). The cluster may blocklist daemon addresses itself: seen in the guest under
# load, 127.0.0.1:6808/815 and :6809/815 for a day (the monitors do so for a mgr that
# failed over, for mon_mgr_blocklist_interval; which daemon it was is not known).
blocklist() { admin ceph osd blocklist ls 2>/dev/null | awk '$1 ~ /:0\// {print $1}' | sort; }
mounted_src() { awk -v p="$1" '$5 == p { for (i = 7; i <= NF; i++) if ($i == "-") { print $(i+2); exit } }' /proc/self/mountinfo; }
dev_attr() { cat "/sys/bus/rbd/devices/${1#/dev/rbd}/$2"; }

CTL=$T/ctl.sock A=$T/a.sock B=$T/b.sock
start_server "$T/ctl.log" --endpoint "$CTL" --backend rbd --mode controller --config "$T/config.json" --data-dir "$T/data-ctl"
node_a() { start_server "$T/a.log" --endpoint "$A" --backend rbd --mode node --mapper rbd --config "$T/config.json" --data-dir "$T/data-a" --nodeid node-a; PID_A=$SERVER_PID; }
# node-a maps with `rbd map`, node-b through sysfs: both mappers make claimed mappings.
node_b() { start_server "$T/b.log" --endpoint "$B" --backend rbd --mode node --mapper sysfs --config "$T/config.json" --data-dir "$T/data-b" --nodeid node-b; PID_B=$SERVER_PID; }
node_a; node_b
S=(--secrets-file "$T/secrets")
# create NAME CAP-ARGS...: sets VID and CTX (the volume context as --context args).
create() {
  local out
  out=$(csi "$CTL" CreateVolume --name "$1" --required-bytes 128M --param "clusterID=$CEPH_FSID" --param pool=rbd "${S[@]}" "${@:2}")
  VID=$(json_get "$out" 'j["volume"]["volume_id"]')
  CTX=$(json_get "$out" '" ".join("--context %s=%s" % kv for kv in j["volume"]["volume_context"].items())')
}
# publish VOLUME NODE CAP-ARGS...: prints the publish_context as --publish-context args.
publish() { local out; out=$(csi "$CTL" ControllerPublishVolume --volume-id "$1" --node-id "$2" "${S[@]}" "${@:3}") &&
  json_get "$out" '" ".join("--publish-context %s=%s" % kv for kv in j.get("publish_context", {}).items())'; }
# stage ENDPOINT VOLUME STAGING ARGS...: NodeStageVolume with the last created volume's context.
# shellcheck disable=SC2086
stage() { local ep=$1 vol=$2 dir=$3; shift 3; csi "$ep" NodeStageVolume --volume-id "$vol" --staging-path "$dir" $CTX "${S[@]}" "$@" >/dev/null; }

# --- A single-writer ext4 volume: on node-a, refused to node-b.
create v --fs-type ext4; V=$VID
IMG=csi-vol-${V: -36}
PA=$(publish "$V" node-a --fs-type ext4)
check "publish to node-a: the context names node-a" [ "$PA" = "--publish-context rbd-csi.claimed-for=node-a" ]
# shellcheck disable=SC2086
check "node-a stages it" stage "$A" "$V" "$T/a-s" --fs-type ext4 $PA
check "node-a publishes it" csi_ok "$A" NodePublishVolume --volume-id "$V" --staging-path "$T/a-s" --target-path "$T/a-p" --fs-type ext4
DEV_A=$(mounted_src "$T/a-s/$V")
ADDR_A=$(dev_attr "$DEV_A" client_addr)
check "node-a's mapping has a kernel client of its own (noshare; $(dev_attr "$DEV_A" client_id) at $ADDR_A)" \
  grep -q noshare <(dev_attr "$DEV_A" config_info)
check "  its map record names that client" grep -qx "client_addr=$ADDR_A" "$T"/data-a/maps/*.map
check "  and it holds the image's rbd_lock (exclusive-lock turned on at publish)" grep -qF "$ADDR_A" <(admin rbd lock ls "rbd/$IMG")
check "publish to node-b: FAILED_PRECONDITION naming node-a" expect_code 9 publish "$V" node-b --fs-type ext4
check "  naming node-a" grep -q '"node-a"' "$T/last.err"
# shellcheck disable=SC2086
check "node-b's stage with node-a's publish_context: FAILED_PRECONDITION" expect_code 9 stage "$B" "$V" "$T/b-s" --fs-type ext4 $PA
check "  nothing more mapped" [ "$(ls /sys/bus/rbd/devices | wc -l)" = 1 ]

# --- node-a writes; its plugin dies; the volume is moved to node-b by force.
# The writer appends numbered 4 KiB records, each fsynced, and notes in $T/acked the
# last one the kernel acknowledged (outside the volume).
python3 - "$T/a-p/data" "$T/acked" >"$T/writer.log" 2>&1 <<'PY' &
import os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
n = 0
while True:
    n += 1
    try:
        os.write(fd, (b"%08d" % n) * 512)
        os.fsync(fd)
    except OSError as e:
        print("write %d failed: %s" % (n, e), flush=True)
        sys.exit(5)
    with open(sys.argv[2] + ".tmp", "w") as f:
        f.write(str(n))
    os.rename(sys.argv[2] + ".tmp", sys.argv[2])
    time.sleep(0.01)
PY
WRITER=$!
on_exit "kill $WRITER 2>/dev/null"
for _ in $(seq 1 100); do [ "$(cat "$T/acked" 2>/dev/null || echo 0)" -gt 20 ] && break; sleep 0.1; done
check "node-a's writer writes ($(cat "$T/acked" 2>/dev/null) records)" [ "$(cat "$T/acked" 2>/dev/null || echo 0)" -gt 20 ]
kill -9 "$PID_A"; wait "$PID_A" 2>/dev/null || true
check "node-a's plugin killed; its writer still writes" kill -0 "$WRITER"
check "forced unpublish from node-a (its mapping alive): OK" csi_ok "$CTL" ControllerUnpublishVolume --volume-id "$V" --node-id node-a "${S[@]}"
check "  node-a's mapping is fenced (its client address blocklisted)" grep -qxF "$ADDR_A" <(blocklist)
check "  the fence is logged with volume, node and address" grep -q "volume $V: fenced node node-a's client $ADDR_A" "$T/ctl.log"
writer_rc=
for _ in $(seq 1 300); do kill -0 "$WRITER" 2>/dev/null || { writer_rc=0; wait "$WRITER" || writer_rc=$?; break; }; sleep 0.1; done
ACKED=$(cat "$T/acked")
check "  node-a's next writes fail ($(cat "$T/writer.log"))" [ "$writer_rc" = 5 ]
PB=$(publish "$V" node-b --fs-type ext4)
check "publish to node-b now: OK" [ "$PB" = "--publish-context rbd-csi.claimed-for=node-b" ]
# shellcheck disable=SC2086
check "node-b stages it (breaking the fenced holder's rbd_lock)" stage "$B" "$V" "$T/b-s" --fs-type ext4 $PB
DEV_B=$(mounted_src "$T/b-s/$V")
check "  on a mapping of its own ($DEV_B, not node-a's $DEV_A)" [ -n "$DEV_B" -a "$DEV_B" != "$DEV_A" ]
check "  with a kernel client of its own (noshare, through sysfs)" grep -q noshare <(dev_attr "$DEV_B" config_info)
check "  node-b writes" bash -c "echo from-b >'$T/b-s/$V/from-b' && sync -f '$T/b-s/$V/from-b'"
check "every record node-a's kernel acknowledged ($ACKED) is there, intact" python3 - "$T/b-s/$V/data" "$ACKED" <<'PY'
import sys
data, acked = open(sys.argv[1], "rb").read(), int(sys.argv[2])
for n in range(1, acked + 1):
    rec = data[(n - 1) * 4096:n * 4096]
    if rec != (b"%08d" % n) * 512:
        sys.exit("record %d: %r" % (n, rec[:16]))
PY

# --- node-a comes back: its stale mapping unstages cleanly, node-b's stays.
node_a
check "node-a (restarted): unpublish" csi_ok "$A" NodeUnpublishVolume --volume-id "$V" --target-path "$T/a-p"
check "node-a: unstage of the fenced mapping: OK" timeout 120 "$BIN" client --endpoint "$A" --timeout 100 NodeUnstageVolume --volume-id "$V" --staging-path "$T/a-s"
check "  node-a's device is gone" [ ! -e "/sys/bus/rbd/devices/${DEV_A#/dev/rbd}" ]
check "  node-b's is still there and mounted" [ "$(mounted_src "$T/b-s/$V")" = "$DEV_B" ]
check "  node-a kept no map record" [ -z "$(ls -A "$T/data-a/maps")" ]
check "node-b: unstage" csi_ok "$B" NodeUnstageVolume --volume-id "$V" --staging-path "$T/b-s"
check "controller: unpublish node-b (it unmapped: nothing fenced)" csi_ok "$CTL" ControllerUnpublishVolume --volume-id "$V" --node-id node-b "${S[@]}"
check "  node-a's address on the blocklist" grep -qxF "$ADDR_A" <(blocklist)
check "  nothing of node-b's (it unmapped before its unpublish)" [ "$(blocklist)" = "$ADDR_A" ] ||
  { admin ceph osd blocklist ls 2>&1 | sed 's/^/#   /'; grep -h "fence" "$T/ctl.log" | sed 's/^/#   /'; }
admin rbd map -o noudev,ro "rbd/$IMG" >/dev/null 2>&1
DEV_F=$(for d in /sys/bus/rbd/devices/*; do [ "$(cat "$d/name")" = "$IMG" ] && echo "/dev/rbd${d##*/}"; done | head -1)
check "fsck of the moved filesystem: clean" fsck.ext4 -fn "$DEV_F"
admin rbd unmap -o noudev "$DEV_F" >/dev/null 2>&1
out=$("$BIN" unfence --volume-id "$V" --node-id node-a --secrets-file "$T/admin-secrets" --config "$T/config.json" 2>>"$T/unfence.err")
check "unfence node-a: OK ($out)" grep -qF "\"$ADDR_A\"" <<<"$out"
check "  no client on the blocklist" [ -z "$(blocklist)" ] ||
  { admin ceph osd blocklist ls 2>&1 | sed 's/^/#   /'; admin rados -p rbd listomapvals rbd-csi.fenced 2>&1 | sed 's/^/#   /'; }
PA=$(publish "$V" node-a --fs-type ext4)
# shellcheck disable=SC2086
check "node-a stages it again" stage "$A" "$V" "$T/a-s" --fs-type ext4 $PA
check "  with the data node-b wrote" [ "$(cat "$T/a-s/$V/from-b")" = from-b ]
check "  unstage" csi_ok "$A" NodeUnstageVolume --volume-id "$V" --staging-path "$T/a-s"
check "  unpublish" csi_ok "$CTL" ControllerUnpublishVolume --volume-id "$V" --node-id node-a "${S[@]}"
check "delete" csi_ok "$CTL" DeleteVolume --volume-id "$V" "${S[@]}"

# --- Multi-node modes: no claim, both nodes at once. Both plugins share this kernel,
# where a plugin takes over a shared mapping of the image that exists already (as on a
# real node it must: one image, one mapping per kernel); with mapOptions noshare, each
# plugin's mapping is its own, as on two kernels.
create mw --access-type block --access-mode MULTI_NODE_MULTI_WRITER --param mapOptions=krbd:noshare; BV=$VID
for n in a b; do
  ep=$A; [ $n = b ] && ep=$B
  ctx=$(publish "$BV" "node-$n" --access-type block --access-mode MULTI_NODE_MULTI_WRITER)
  check "multi-writer block: publish to node-$n claims nothing" [ -z "$ctx" ]
  check "  node-$n stages" stage "$ep" "$BV" "$T/mw-$n" --access-type block --access-mode MULTI_NODE_MULTI_WRITER
  check "  node-$n publishes" csi_ok "$ep" NodePublishVolume --volume-id "$BV" --staging-path "$T/mw-$n" --target-path "$T/mwp-$n" --access-type block --access-mode MULTI_NODE_MULTI_WRITER
done
head -c 4096 /dev/urandom >"$T/blk-a"; head -c 4096 /dev/urandom >"$T/blk-b"
check "multi-writer block: node-a writes" dd if="$T/blk-a" of="$T/mwp-a" bs=4k count=1 seek=1 oflag=direct conv=notrunc status=none
check "  node-b writes" dd if="$T/blk-b" of="$T/mwp-b" bs=4k count=1 seek=2 oflag=direct conv=notrunc status=none
check "  node-b reads node-a's block" cmp "$T/blk-a" <(dd if="$T/mwp-b" bs=4k skip=1 count=1 iflag=direct status=none)
check "  node-a reads node-b's block" cmp "$T/blk-b" <(dd if="$T/mwp-a" bs=4k skip=2 count=1 iflag=direct status=none)
for n in a b; do
  ep=$A; [ $n = b ] && ep=$B
  check "  node-$n: unpublish, unstage" bash -c "'$BIN' client --endpoint '$ep' NodeUnpublishVolume --volume-id '$BV' --target-path '$T/mwp-$n' >/dev/null && '$BIN' client --endpoint '$ep' NodeUnstageVolume --volume-id '$BV' --staging-path '$T/mw-$n' >/dev/null"
  csi_ok "$CTL" ControllerUnpublishVolume --volume-id "$BV" --node-id "node-$n" "${S[@]}"
done
check "  delete" csi_ok "$CTL" DeleteVolume --volume-id "$BV" "${S[@]}"

create ro --fs-type ext4 --param mapOptions=krbd:noshare; RV=$VID
# A reader-only volume needs a filesystem first: one stage on node-a as a writer.
PA=$(publish "$RV" node-a --fs-type ext4)
# shellcheck disable=SC2086
stage "$A" "$RV" "$T/ro-init" --fs-type ext4 $PA && echo hello >"$T/ro-init/$RV/hello"
csi_ok "$A" NodeUnstageVolume --volume-id "$RV" --staging-path "$T/ro-init"
csi_ok "$CTL" ControllerUnpublishVolume --volume-id "$RV" --node-id node-a "${S[@]}"
for n in a b; do
  ep=$A; [ $n = b ] && ep=$B
  ctx=$(publish "$RV" "node-$n" --fs-type ext4 --access-mode MULTI_NODE_READER_ONLY --readonly)
  check "reader-only: publish to node-$n claims nothing" [ -z "$ctx" ]
  check "  node-$n stages read-only" stage "$ep" "$RV" "$T/ro-$n" --fs-type ext4 --access-mode MULTI_NODE_READER_ONLY
  check "  and reads" [ "$(cat "$T/ro-$n/$RV/hello")" = hello ]
done
check "  both mapped read-only" [ "$(for d in /sys/bus/rbd/devices/*; do blockdev --getro "/dev/rbd${d##*/}"; done | grep -cx 1)" = 2 ]
for n in a b; do
  ep=$A; [ $n = b ] && ep=$B
  check "  node-$n unstages" csi_ok "$ep" NodeUnstageVolume --volume-id "$RV" --staging-path "$T/ro-$n"
  csi_ok "$CTL" ControllerUnpublishVolume --volume-id "$RV" --node-id "node-$n" "${S[@]}"
done
check "  delete" csi_ok "$CTL" DeleteVolume --volume-id "$RV" "${S[@]}"
check "nothing mapped at the end" [ -z "$(ls /sys/bus/rbd/devices)" ]
check "the key is not in the logs" bash -c "! cat '$T'/*.log | grep -qF '$KEY'"
finish
