#!/usr/bin/env bash
# Node-side cost of "never two writers" (not a test): in the User-Mode Linux guest,
# NodeStage + NodeUnstage of an ext4 volume through `rbd-csi client`, median of N,
# claimed (a publish_context naming this node: a `noshare` mapping with a kernel client
# of its own, the map record's other mappings and client) against unclaimed (the
# mapping shares the kernel client another mapping keeps open), in the same run.
# The controller's cost (ControllerPublish) is in scripts/bench-ceph.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/rbd-csi-target}
cargo build --release --locked -q
N=${BENCH_N:-10}
bundle=$(mktemp -d /var/tmp/rbd-csi-bench-fence.XXXXXX)
trap 'rm -rf "$bundle"' EXIT
mkdir -p "$bundle/tests" "$bundle/scripts"
cp tests/lib.sh "$bundle/tests/"
cp scripts/ceph-cluster.sh "$bundle/scripts/"
cp "$CARGO_TARGET_DIR/release/rbd-csi" "$bundle/rbd-csi"
cat >"$bundle/tests/guest.sh" <<GUEST
#!/usr/bin/env bash
export RBD_CSI_BIN=$bundle/rbd-csi N=$N
GUEST
cat >>"$bundle/tests/guest.sh" <<'GUEST'
. "$(dirname "${RIG_SCRIPT:-$0}")/lib.sh"
guest_cluster "$(dirname "${RIG_SCRIPT:-$0}")/../scripts/ceph-cluster.sh" "$T/cl"
EP=$T/s.sock
start_server "$T/log" --endpoint "$EP" --backend rbd --mode all --config "$T/config.json" --data-dir "$T/d" --nodeid node-a
S=(--secrets-file "$T/secrets")
vol() { local out; out=$(csi "$EP" CreateVolume --name "$1" --required-bytes 64M --param "clusterID=$CEPH_FSID" --param pool=rbd "${S[@]}" --fs-type ext4)
  VID=$(json_get "$out" 'j["volume"]["volume_id"]'); CTX=$(json_get "$out" '" ".join("--context %s=%s" % kv for kv in j["volume"]["volume_context"].items())'); }
# A mapping that stays, so an unclaimed map finds a kernel client to share.
vol keep; csi_ok "$EP" NodeStageVolume --volume-id "$VID" --staging-path "$T/keep" --fs-type ext4 $CTX "${S[@]}"
vol bench; V=$VID VCTX=$CTX
csi_ok "$EP" ControllerPublishVolume --volume-id "$V" --node-id node-a --fs-type ext4 "${S[@]}"
ms() { echo "($2 - $1) * 1000" | bc -l; }
median() { sort -n | awk '{a[NR]=$1} END {printf "%.1f", (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
for i in $(seq 1 "$N"); do
  for kind in claimed unclaimed; do
    pc=(); [ $kind = claimed ] && pc=(--publish-context rbd-csi.claimed-for=node-a)
    t0=$(date +%s.%N)
    csi_ok "$EP" NodeStageVolume --volume-id "$V" --staging-path "$T/s" --fs-type ext4 $VCTX "${pc[@]}" "${S[@]}"
    t1=$(date +%s.%N)
    csi_ok "$EP" NodeUnstageVolume --volume-id "$V" --staging-path "$T/s"
    t2=$(date +%s.%N)
    echo "$(ms "$t0" "$t1")" >>"$T/stage-$kind"; echo "$(ms "$t1" "$t2")" >>"$T/unstage-$kind"
  done
done
for what in stage unstage; do
  c=$(median <"$T/$what-claimed") u=$(median <"$T/$what-unclaimed")
  printf 'Node%s (UML guest, median of %s): claimed %s ms, unclaimed %s ms: %+.1f ms = %.2fx\n' \
    "${what^}" "$N" "$c" "$u" "$(echo "$c - $u" | bc -l)" "$(echo "$c / $u" | bc -l)"
done
GUEST
RIG_TIMEOUT=${RIG_TIMEOUT:-900} scripts/run-in-guest.sh "$bundle/tests/guest.sh"
