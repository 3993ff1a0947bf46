#!/usr/bin/env bash
# --metrics-addr: /metrics read by an independent parser (Python's prometheus_client,
# from PyPI) after calls whose outcomes the test knows, and /healthz: 200 while the
# driver answers, 503 naming the cause once a volume's operation is stuck in the kernel
# (a FUSE filesystem whose daemon is stopped) and holds the only worker thread, 200
# again when it returns; /metrics keeps answering meanwhile and lists the stuck call.
PRIVATE_NS=1 . "$(dirname "$0")/lib.sh"
PYDEPS=${RBD_CSI_PYDEPS:-/var/tmp/rbd-csi-pydeps}
if ! PYTHONPATH=$PYDEPS python3 -c 'import prometheus_client' 2>/dev/null; then
  python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore --target "$PYDEPS" prometheus_client
fi
command -v bindfs >/dev/null || { fail "bindfs is installed (scripts/install-deps.sh)"; finish; exit 1; }
K=$T/k F=$T/fuse
mkdir -p "$K" "$T/real/s" "$F"
bindfs -f "$T/real" "$F" 2>"$T/bindfs.log" &
FUSE_PID=$!
# The servers go first: a call still blocked under FUSE must not go on (and attach a
# loop device) once the daemon runs again.
on_exit "kill_servers; kill -CONT $FUSE_PID 2>/dev/null; umount -l '$F' 2>/dev/null; kill $FUSE_PID 2>/dev/null"
for _ in $(seq 1 100); do mountpoint -q "$F" && break; sleep 0.05; done

EP=$T/csi.sock
start_server "$T/server.log" --endpoint "$EP" --data-dir "$T/data" --allowed-path-prefix "$T" \
  --workers 1 --max-workers 1 --stuck-after 1 --metrics-addr 127.0.0.1:0 --log-level debug
PORT=$(sed -n 's|.*metrics on http://127.0.0.1:\([0-9]*\)/metrics.*|\1|p' "$T/server.log" | head -n1)
check "the log says where the metrics are" [ -n "$PORT" ]
# get PATH: prints the status code, then the body.
get() { python3 - "http://127.0.0.1:$PORT$1" 2>/dev/null <<'EOF'
import sys, urllib.request, urllib.error
try:
    r = urllib.request.urlopen(sys.argv[1], timeout=10); print(r.status); print(r.read().decode(), end="")
except urllib.error.HTTPError as e:
    print(e.code); print(e.read().decode(), end="")
EOF
}
# metric NAME LABELS: the sample's value, read by prometheus_client's parser.
metric() { get /metrics | tail -n +2 | PYTHONPATH=$PYDEPS python3 -c '
import sys
from prometheus_client.parser import text_string_to_metric_families
name, want = sys.argv[1], dict(kv.split("=", 1) for kv in sys.argv[2].split(",") if kv)
for fam in text_string_to_metric_families(sys.stdin.read()):
    for s in fam.samples:
        if s.name == name and all(s.labels.get(k) == v for k, v in want.items()):
            print(int(s.value) if s.value == int(s.value) else s.value); sys.exit(0)
print("absent")' "$1" "${2:-}"; }

check "healthz: 200 while the driver answers" [ "$(get /healthz | head -n1)" = 200 ]
check "an unknown path: 404" [ "$(get /nothing | head -n1)" = 404 ]
v=$(json_get "$(csi "$EP" CreateVolume --name m1 --required-bytes 16M --fs-type ext4)" 'j["volume"]["volume_id"]')
csi_ok "$EP" NodeStageVolume --volume-id "$v" --staging-path "$K/s/$v" --fs-type ext4
csi_ok "$EP" NodeStageVolume --volume-id "$v" --staging-path "$K/s/$v" --fs-type ext4
expect_code 5 csi "$EP" NodeStageVolume --volume-id lv-0000000000000000 --staging-path "$K/s/none" --fs-type ext4 || true
csi_ok "$EP" NodeGetVolumeStats --volume-id "$v" --volume-path "$K/s/$v"
# One request id through all the lines of one call's work.
req=$(sed -n "s/.* req=\([0-9]*\) rpc=NodeStageVolume volume=\"$v\" executing.*/\1/p" "$T/server.log" | head -n1)
check "the first stage's work carries a request id" [ -n "$req" ]
check "  its mkfs line carries it" grep -q "req=$req formatted /dev/loop[0-9]* as ext4" "$T/server.log"
check "  its exec line carries it" grep -q "req=$req exec: mkfs.ext4" "$T/server.log"
check "  and so does its rpc line" grep -q "req=$req rpc=NodeStageVolume volume=\"$v\" code=OK" "$T/server.log"
check "  and no other call's line" [ "$(grep -c "req=$req " "$T/server.log")" -ge 4 ] && ! grep "req=$req " "$T/server.log" | grep -q "rpc=CreateVolume"
check "the whole page parses (prometheus_client)" bash -c "[ \"\$(PYTHONPATH=$PYDEPS python3 -c '
import sys, urllib.request
from prometheus_client.parser import text_string_to_metric_families
print(len(list(text_string_to_metric_families(urllib.request.urlopen(\"http://127.0.0.1:$PORT/metrics\").read().decode()))))')\" -ge 10 ]"
check "CreateVolume OK counted once" [ "$(metric rbd_csi_rpc_total method=CreateVolume,code=OK)" = 1 ]
check "NodeStageVolume OK counted twice" [ "$(metric rbd_csi_rpc_total method=NodeStageVolume,code=OK)" = 2 ]
check "NodeStageVolume NOT_FOUND counted once" [ "$(metric rbd_csi_rpc_total method=NodeStageVolume,code=NOT_FOUND)" = 1 ]
check "its latency histogram counts all three" [ "$(metric rbd_csi_rpc_duration_seconds_count method=NodeStageVolume)" = 3 ]
check "one mkfs.ext4 exec, ok" [ "$(metric rbd_csi_exec_total tool=mkfs.ext4,outcome=ok)" = 1 ]
check "build info names the backend" [ "$(metric rbd_csi_build_info backend=local,mode=all)" = 1 ]
check "one worker thread, nothing stuck" [ "$(metric rbd_csi_worker_threads)/$(metric rbd_csi_operations state=stuck)" = 1/0 ]

log "stopping the FUSE daemon under a stage"
kill -STOP "$FUSE_PID"
sleep 1.5
w=$(json_get "$(csi "$EP" CreateVolume --name m2 --required-bytes 16M --fs-type ext4)" 'j["volume"]["volume_id"]')
"$BIN" client --endpoint "$EP" --timeout 3 NodeStageVolume --volume-id "$w" --staging-path "$F/s/$w" --fs-type ext4 >/dev/null 2>&1 &
STAGE=$!
for _ in $(seq 1 50); do [ "$(get /healthz | head -n1)" = 503 ] && break; sleep 0.1; done
get /healthz >"$T/health.wedged"
check "healthz: 503 once the only worker is stuck" [ "$(head -n1 "$T/health.wedged")" = 503 ]
check "  saying why" grep -q 'wedged: 1 of 1 worker threads are held by stuck operations' "$T/health.wedged"
check "metrics still answer and count it stuck" [ "$(metric rbd_csi_operations state=stuck)" = 1 ]
check "  naming the operation" [ "$(metric rbd_csi_stuck_seconds "operation=NodeStageVolume volume=\"$w\"")" != absent ]
kill -CONT "$FUSE_PID"
for _ in $(seq 1 50); do [ "$(get /healthz | head -n1)" = 200 ] && break; sleep 0.1; done
check "healthz: 200 again when it returns" [ "$(get /healthz | head -n1)" = 200 ]
check "nothing stuck any more" [ "$(metric rbd_csi_operations state=stuck)" = 0 ]
wait "$STAGE" || true
csi_ok "$EP" NodeStageVolume --volume-id "$w" --staging-path "$F/s/$w" --fs-type ext4
for x in "$v:$K/s/$v" "$w:$F/s/$w"; do
  csi_ok "$EP" NodeUnstageVolume --volume-id "${x%%:*}" --staging-path "${x#*:}"
  csi_ok "$EP" DeleteVolume --volume-id "${x%%:*}"
done
check "no loop device left" [ -z "$(our_loops)" ]
stop_server "$SERVER_PID"

# --log-format json: every line one object, the request id a field.
start_server "$T/json.log" --endpoint "$EP" --data-dir "$T/data" --log-format json
csi_ok "$EP" CreateVolume --name j1 --required-bytes 16M --fs-type ext4
stop_server "$SERVER_PID"
check "--log-format json: every line is a JSON object with time, level and msg" python3 -c '
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
assert lines and all({"time", "level", "msg"} <= set(l) for l in lines), lines
rpc = [l for l in lines if l["msg"].startswith("rpc=CreateVolume")]
assert rpc and isinstance(rpc[0]["req"], int), rpc' "$T/json.log"
finish
