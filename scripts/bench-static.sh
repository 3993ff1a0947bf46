#!/usr/bin/env bash
# Static musl binary benchmarks (not a test): size, and time from exec to the first
# successful Probe, median of 20 starts, against the glibc build in the same run.
# Also idle RSS of both. Usage: scripts/bench-static.sh (after scripts/build-static.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/rbd-csi-target}
STATIC=$CARGO_TARGET_DIR/x86_64-unknown-linux-musl/release/rbd-csi
GLIBC=$CARGO_TARGET_DIR/release/rbd-csi
[ -x "$STATIC" ] && [ -x "$GLIBC" ] || { echo "build both first: scripts/build-static.sh and cargo build --release" >&2; exit 1; }
T=$(mktemp -d /tmp/rbd-csi-bench-static.XXXXXX)
trap 'rm -rf "$T"' EXIT

# start_ms BIN: ms from exec to the first successful Probe (python grpcio, a fresh
# channel per attempt so no reconnect backoff hides the moment it is ready).
PYDEPS=${RBD_CSI_PYDEPS:-/var/tmp/rbd-csi-pydeps}
PYTHONPATH=$PYDEPS python3 -c 'import grpc' 2>/dev/null ||
  python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore --target "$PYDEPS" grpcio
start_ms() {
  PYTHONPATH=$PYDEPS python3 - "$1" "$T" <<'PY'
import os, subprocess, sys, time
import grpc
binary, t = sys.argv[1], sys.argv[2]
sock = os.path.join(t, "s.sock")
t0 = time.perf_counter()
p = subprocess.Popen([binary, "serve", "--endpoint", sock, "--data-dir", os.path.join(t, "d")],
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
while True:
    if os.path.exists(sock):
        ch = grpc.insecure_channel("unix://" + sock)
        try:
            # ProbeResponse{ready: BoolValue{true}} encodes as 0a 02 08 01.
            r = ch.unary_unary("/csi.v1.Identity/Probe")(b"", timeout=0.5)
            ch.close()
            break
        except grpc.RpcError:
            ch.close()
    time.sleep(0.0002)
ms = (time.perf_counter() - t0) * 1000
rss = int([l.split()[1] for l in open(f"/proc/{p.pid}/status") if l.startswith("VmRSS")][0])
p.terminate(); p.wait()
print(f"{ms:.2f} {int(r == bytes([0x0a, 0x02, 0x08, 0x01]))} {rss}")
PY
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
run() { for _ in $(seq 1 20); do start_ms "$1"; done; }
run "$STATIC" >"$T/static"
run "$GLIBC" >"$T/glibc"
ms_s=$(cut -d' ' -f1 "$T/static" | median); ms_g=$(cut -d' ' -f1 "$T/glibc" | median)
rss_s=$(cut -d' ' -f3 "$T/static" | median); rss_g=$(cut -d' ' -f3 "$T/glibc" | median)
ok_s=$(cut -d' ' -f2 "$T/static" | paste -sd+ | bc)
printf 'size: static %.1f MiB (goal <= 12), glibc %.1f MiB\n' "$(echo "$(stat -c %s "$STATIC") / 1048576" | bc -l)" "$(echo "$(stat -c %s "$GLIBC") / 1048576" | bc -l)"
printf 'exec -> successful Probe, median of 20: static %.2f ms (goal <= 20), glibc %.2f ms, ratio %.2fx; Probe ok %s/20\n' "$ms_s" "$ms_g" "$(echo "$ms_s / $ms_g" | bc -l)" "$ok_s"
printf 'idle RSS after one Probe: static %.1f MiB, glibc %.1f MiB\n' "$(echo "$rss_s / 1024" | bc -l)" "$(echo "$rss_g / 1024" | bc -l)"
