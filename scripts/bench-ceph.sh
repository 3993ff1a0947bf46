#!/usr/bin/env bash
# rbd controller benchmark (not a test): median CreateVolume + DeleteVolume through
# the driver, against the raw CLI floor measured in the same run (the same execs the
# driver's paths need, run back to back from a shell: `rbd create` + the delete path),
# and 50 identical concurrent CreateVolume calls. Starts a throwaway cluster unless
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
"$BIN" serve --endpoint "$T/s.sock" --mode controller --backend rbd --config "$T/config.json" --data-dir "$T/data" 2>"$T/server.log" &
PID=$!
for _ in $(seq 1 100); do "$BIN" client --endpoint "$T/s.sock" Probe >/dev/null 2>&1 && break; sleep 0.05; done
c() { "$BIN" client --endpoint "$T/s.sock" "$@"; }
ms() { python3 -c 'import sys; print(f"{(float(sys.argv[2]) - float(sys.argv[1])) * 1000:.1f}")' "$@"; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
P=(--param "clusterID=$CEPH_FSID" --param pool=rbd --secrets-file "$T/secrets" --fs-type ext4)

c CreateVolume --name warm --required-bytes 1G "${P[@]}" >"$T/warm.json"
c DeleteVolume --volume-id "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["volume"]["volume_id"])' "$T/warm.json")" --secrets-file "$T/secrets" >/dev/null
for i in $(seq 1 "$N"); do
  t0=$(date +%s.%N)
  out=$(c CreateVolume --name "b-$i" --required-bytes 1G "${P[@]}")
  t1=$(date +%s.%N)
  c DeleteVolume --volume-id "$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["volume"]["volume_id"])' "$out")" --secrets-file "$T/secrets" >/dev/null
  t2=$(date +%s.%N)
  echo "$(ms "$t0" "$t1") $(ms "$t1" "$t2") $(ms "$t0" "$t2")" >>"$T/driver"
done
R=(-m "$CEPH_MON_V2" --id csi --keyfile "$T/key" --conf /dev/null)
for i in $(seq 1 "$N"); do
  t0=$(date +%s.%N)
  rbd "${R[@]}" create --size 1G --image-feature layering "rbd/floor-$i"
  t1=$(date +%s.%N)
  rbd "${R[@]}" rm --no-progress "rbd/floor-$i" 2>/dev/null
  rados "${R[@]}" -p rbd rmomapkey csi.volumes.default "csi.volume.floor-$i" 2>/dev/null || true
  rados "${R[@]}" -p rbd rm "csi.volume.floor-$i" 2>/dev/null || true
  t2=$(date +%s.%N)
  echo "$(ms "$t0" "$t1") $(ms "$t1" "$t2") $(ms "$t0" "$t2")" >>"$T/floor"
done
dc=$(cut -d' ' -f1 "$T/driver" | median); dd=$(cut -d' ' -f2 "$T/driver" | median); dt=$(cut -d' ' -f3 "$T/driver" | median)
fc=$(cut -d' ' -f1 "$T/floor" | median); fd=$(cut -d' ' -f2 "$T/floor" | median); ft=$(cut -d' ' -f3 "$T/floor" | median)
echo "median of $N, ms (client process start included in the driver's numbers):"
echo "  driver: create $dc, delete $dd, create+delete $dt"
echo "  CLI floor (rbd create | rbd rm + 2 rados): create $fc, delete $fd, create+delete $ft"
printf '  ratio driver/floor: %.2fx; ceph-csi v3.12 measured on this kind of cluster (DESIGN.md, not this run): create ~95-120, delete ~210-270\n' \
  "$(echo "$dt / $ft" | bc -l)"

before=$(rbd "${R[@]}" ls rbd | grep -c '^csi-vol-' || true)
for i in $(seq 1 50); do (c CreateVolume --name same-50 --required-bytes 1G "${P[@]}" >"$T/s50.$i" 2>&1; echo $? >"$T/r50.$i") & done
for _ in $(seq 1 600); do [ "$(find "$T" -maxdepth 1 -name 'r50.*' | wc -l)" = 50 ] && break; sleep 0.1; done
ok=$(cat "$T"/r50.* | grep -cx 0 || true); ab=$(cat "$T"/r50.* | grep -cx 10 || true)
imgs=$(( $(rbd "${R[@]}" ls rbd | grep -c '^csi-vol-' || true) - before ))
echo "50 identical concurrent CreateVolume: $ok OK, $ab ABORTED, $imgs new image(s) (ceph-csi: 1 OK, 49 ABORTED)"
c DeleteVolume --volume-id "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["volume"]["volume_id"])' "$T/s50.1")" --secrets-file "$T/secrets" >/dev/null
