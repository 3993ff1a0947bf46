#!/usr/bin/env bash
# rbd controller benchmark (not a test): median CreateVolume + DeleteVolume through
# the driver, against the raw CLI floor measured in the same run (the same execs the
# driver's paths need, run back to back from a shell: `rbd create` + the delete path),
# CreateSnapshot (ceph-csi's layout: snapshot, clone, unsnapshot, snapshot the clone)
# and a restore from it against the old layout's single `rbd snap create`, and 50
# identical concurrent CreateVolume calls, and ControllerPublish/Unpublish (the
# single-node claim). Starts a throwaway cluster unless
# BENCH_CLUSTER_DIR points at a running one (scripts/ceph-cluster.sh up DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/rbd-csi-target}
cargo build --release --locked -q
BIN=$CARGO_TARGET_DIR/release/rbd-csi
N=${BENCH_N:-20}
T=$(mktemp -d /var/tmp/rbd-csi-bench-ceph.XXXXXX)
PID=
CL=${BENCH_CLUSTER_DIR:-$T/cluster}
cleanup() {
  [ -n "$PID" ] && kill "$PID" 2>/dev/null
  [ -z "${BENCH_CLUSTER_DIR:-}" ] && scripts/ceph-cluster.sh down "$CL" >/dev/null 2>&1
  rm -rf "$T"
}
trap cleanup EXIT
[ -n "${BENCH_CLUSTER_DIR:-}" ] || CEPH_WATCH_PID=$$ scripts/ceph-cluster.sh up "$CL" >"$T/cluster.log" 2>&1
eval "$(scripts/ceph-cluster.sh env "$CL")"
KEY=$(scripts/ceph-cluster.sh user "$CL" csi rbd rbd2 2>/dev/null | tail -n1)
printf '[{"clusterID":"%s","monitors":["%s"]}]\n' "$CEPH_FSID" "$CEPH_MON_V2" >"$T/config.json"
( umask 077; printf 'userID=csi\nuserKey=%s\n' "$KEY" >"$T/secrets"; printf '%s' "$KEY" >"$T/key" )
c() { "$BIN" client --endpoint "$T/s.sock" "$@"; }
ms() { python3 -c 'import sys; print(f"{(float(sys.argv[2]) - float(sys.argv[1])) * 1000:.1f}")' "$@"; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
vid() { [[ $1 =~ \"volume_id\":\ *\"([^\"]+)\" ]] && echo "${BASH_REMATCH[1]}"; }
P=(--param "clusterID=$CEPH_FSID" --param pool=rbd --secrets-file "$T/secrets" --fs-type ext4)

# start_driver MODE: a controller reaching Ceph through MODE (librados or cli).
start_driver() {
  "$BIN" serve --endpoint "$T/s.sock" --mode controller --backend rbd --config "$T/config.json" --data-dir "$T/data" \
    --ceph-client "$1" 2>"$T/server-$1.log" &
  PID=$!
  for _ in $(seq 1 100); do c Probe >/dev/null 2>&1 && break; sleep 0.05; done
}
stop_driver() { kill "$PID"; wait "$PID" 2>/dev/null || true; PID=; }

# measure MODE: N creates and deletes through the driver, "create delete total" ms per line.
measure() {
  start_driver "$1"
  c DeleteVolume --volume-id "$(vid "$(c CreateVolume --name "warm-$1" --required-bytes 1G "${P[@]}")")" --secrets-file "$T/secrets" >/dev/null
  for i in $(seq 1 "$N"); do
    t0=$(date +%s.%N)
    out=$(c CreateVolume --name "b-$1-$i" --required-bytes 1G "${P[@]}")
    t1=$(date +%s.%N)
    c DeleteVolume --volume-id "$(vid "$out")" --secrets-file "$T/secrets" >/dev/null
    t2=$(date +%s.%N)
    echo "$(ms "$t0" "$t1") $(ms "$t1" "$t2") $(ms "$t0" "$t2")" >>"$T/driver-$1"
  done
  stop_driver
}
measure librados
measure cli
sid() { [[ $1 =~ \"snapshot_id\":\ *\"([^\"]+)\" ]] && echo "${BASH_REMATCH[1]}"; }
# measure_snaps MODE: N CreateSnapshot, restores (CreateVolume from it) and their
# deletes, "snapshot restore" ms per line.
measure_snaps() {
  start_driver "$1"
  local src s out
  src=$(vid "$(c CreateVolume --name "snapsrc-$1" --required-bytes 1G "${P[@]}")")
  for i in $(seq 1 "$N"); do
    t0=$(date +%s.%N)
    s=$(sid "$(c CreateSnapshot --name "bs-$1-$i" --source-volume-id "$src" --secrets-file "$T/secrets")")
    t1=$(date +%s.%N)
    out=$(c CreateVolume --name "br-$1-$i" --required-bytes 1G --from-snapshot "$s" "${P[@]}")
    t2=$(date +%s.%N)
    echo "$(ms "$t0" "$t1") $(ms "$t1" "$t2")" >>"$T/snaps-$1"
    c DeleteVolume --volume-id "$(vid "$out")" --secrets-file "$T/secrets" >/dev/null
    c DeleteSnapshot --snapshot-id "$s" --secrets-file "$T/secrets" >/dev/null
  done
  c DeleteVolume --volume-id "$src" --secrets-file "$T/secrets" >/dev/null
  stop_driver
}
measure_snaps librados
measure_snaps cli
# measure_publish MODE: N ControllerPublishVolume (the claim for a node) and
# ControllerUnpublishVolume of one volume, "publish unpublish" ms per line.
measure_publish() {
  start_driver "$1"
  local v
  v=$(vid "$(c CreateVolume --name "pubsrc-$1" --required-bytes 1G "${P[@]}")")
  for i in $(seq 1 "$N"); do
    t0=$(date +%s.%N)
    c ControllerPublishVolume --volume-id "$v" --node-id "node-$i" --fs-type ext4 --secrets-file "$T/secrets" >/dev/null
    t1=$(date +%s.%N)
    c ControllerUnpublishVolume --volume-id "$v" --node-id "node-$i" --secrets-file "$T/secrets" >/dev/null
    t2=$(date +%s.%N)
    echo "$(ms "$t0" "$t1") $(ms "$t1" "$t2")" >>"$T/publish-$1"
  done
  c DeleteVolume --volume-id "$v" --secrets-file "$T/secrets" >/dev/null
  stop_driver
}
measure_publish librados
measure_publish cli
# The client process alone (start, connect, one RPC): part of every driver number above.
start_driver librados
for i in $(seq 1 "$N"); do t0=$(date +%s.%N); c Probe >/dev/null; t1=$(date +%s.%N); ms "$t0" "$t1" >>"$T/probe"; done
R=(-m "$CEPH_MON_V2" --id csi --keyfile "$T/key" --conf /dev/null)
# floor FILE DELETE...: `rbd create`, then the delete commands and the 2 journal removals.
floor() {
  local file=$1; shift
  for i in $(seq 1 "$N"); do
    t0=$(date +%s.%N)
    rbd "${R[@]}" create --size 1G --image-feature layering "rbd/floor-$i"
    t1=$(date +%s.%N)
    "$@" "$i" >/dev/null 2>&1
    rados "${R[@]}" -p rbd rmomapkey csi.volumes.default "csi.volume.floor-$i" 2>/dev/null || true
    rados "${R[@]}" -p rbd rm "csi.volume.floor-$i" 2>/dev/null || true
    t2=$(date +%s.%N)
    echo "$(ms "$t0" "$t1") $(ms "$t1" "$t2") $(ms "$t0" "$t2")" >>"$T/$file"
  done
}
# The cli path deletes with `rbd rm`; the librados path moves to the trash and hands
# the removal to the mgr (the image id is looked up inside the timed part, as the
# driver does).
rm_path() { rbd "${R[@]}" rm --no-progress "rbd/floor-$1"; }
trash_path() {
  local id
  id=$(rbd "${R[@]}" info --format json "rbd/floor-$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  rbd "${R[@]}" trash mv "rbd/floor-$1"
  ceph "${R[@]}" rbd task add trash remove "rbd/$id"
}
floor floor-cli rm_path
floor floor-librados trash_path
# Snapshot floors from a shell: the old layout (one rbd snapshot of the volume) and
# ceph-csi's (four commands).
rbd "${R[@]}" create --size 1G --image-feature layering rbd/snapfloor
for i in $(seq 1 "$N"); do
  t0=$(date +%s.%N)
  rbd "${R[@]}" snap create "rbd/snapfloor@old-$i" >/dev/null 2>&1
  t1=$(date +%s.%N)
  rbd "${R[@]}" snap create "rbd/snapfloor@new-$i" >/dev/null 2>&1
  rbd "${R[@]}" clone --rbd-default-clone-format 2 --image-feature layering,deep-flatten "rbd/snapfloor@new-$i" "rbd/snapfloor-$i"
  rbd "${R[@]}" snap rm --no-progress "rbd/snapfloor@new-$i" >/dev/null 2>&1
  rbd "${R[@]}" snap create "rbd/snapfloor-$i@new-$i" >/dev/null 2>&1
  t2=$(date +%s.%N)
  echo "$(ms "$t0" "$t1") $(ms "$t1" "$t2")" >>"$T/snapfloor"
done
for i in $(seq 1 "$N"); do rbd "${R[@]}" snap purge --no-progress "rbd/snapfloor-$i" && rbd "${R[@]}" rm --no-progress "rbd/snapfloor-$i"; done >/dev/null 2>&1
rbd "${R[@]}" snap purge --no-progress rbd/snapfloor >/dev/null 2>&1 && rbd "${R[@]}" rm --no-progress rbd/snapfloor >/dev/null 2>&1
col() { cut -d' ' -f"$1" "$2" | median; }
echo "median of $N, ms (the driver's numbers include starting the client process: Probe alone $(median <"$T/probe")):"
for m in librados cli; do
  dt=$(col 3 "$T/driver-$m") ft=$(col 3 "$T/floor-$m")
  printf '  driver (%s): create %s, delete %s, create+delete %s = %.2fx its CLI floor (%s)\n' \
    "$m" "$(col 1 "$T/driver-$m")" "$(col 2 "$T/driver-$m")" "$dt" "$(echo "$dt / $ft" | bc -l)" "$ft"
done
echo "  CLI floor, cli path (rbd create | rbd rm + 2 rados): create $(col 1 "$T/floor-cli"), delete $(col 2 "$T/floor-cli")"
echo "  CLI floor, librados path (rbd create | rbd info + rbd trash mv + ceph rbd task add trash remove + 2 rados):" \
  "create $(col 1 "$T/floor-librados"), delete $(col 2 "$T/floor-librados")"
echo "  ceph-csi v3.12 measured on this kind of cluster (DESIGN.md, not this run): create ~95-120, delete ~210-270, create+delete ~305-390"
old=$(col 1 "$T/snapfloor") new=$(col 2 "$T/snapfloor")
printf '  snapshot layout, CLI floor: old (rbd snap create) %s, ceph-csi'"'"'s (4 commands) %s = %.2fx\n' "$old" "$new" "$(echo "$new / $old" | bc -l)"
for m in librados cli; do
  printf '  driver (%s): CreateSnapshot %s = %.2fx the layout'"'"'s CLI floor; restore (CreateVolume from it, 1 GiB) %s\n' \
    "$m" "$(col 1 "$T/snaps-$m")" "$(echo "$(col 1 "$T/snaps-$m") / $new" | bc -l)" "$(col 2 "$T/snaps-$m")"
done

probe=$(median <"$T/probe")
for m in librados cli; do
  pub=$(col 1 "$T/publish-$m") unpub=$(col 2 "$T/publish-$m")
  printf '  driver (%s): ControllerPublish (claim) %s, ControllerUnpublish %s; added per attach, less the client process: %.1f\n' \
    "$m" "$pub" "$unpub" "$(echo "$pub - $probe" | bc -l)"
done

before=$(rbd "${R[@]}" ls rbd | grep -c '^csi-vol-' || true)
for i in $(seq 1 50); do (c CreateVolume --name same-50 --required-bytes 1G "${P[@]}" >"$T/s50.$i" 2>&1; echo $? >"$T/r50.$i") & done
for _ in $(seq 1 600); do [ "$(find "$T" -maxdepth 1 -name 'r50.*' | wc -l)" = 50 ] && break; sleep 0.1; done
ok=$(cat "$T"/r50.* | grep -cx 0 || true); ab=$(cat "$T"/r50.* | grep -cx 10 || true)
imgs=$(( $(rbd "${R[@]}" ls rbd | grep -c '^csi-vol-' || true) - before ))
echo "50 identical concurrent CreateVolume: $ok OK, $ab ABORTED, $imgs new image(s) (ceph-csi: 1 OK, 49 ABORTED)"
c DeleteVolume --volume-id "$(vid "$(cat "$T/s50.1")")" --secrets-file "$T/secrets" >/dev/null
