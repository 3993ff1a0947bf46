#!/usr/bin/env bash
# packaging/: systemd units pass `systemd-analyze verify` with no warning (and the node
# unit creates no mount namespace, so its mounts reach the host); every Kubernetes and
# Nomad file parses and agrees on names and paths; every `rbd-csi serve` argument list
# in them is accepted by the real binary.
. "$(dirname "$0")/lib.sh"
here=$(cd "$(dirname "$0")" && pwd)
PKG=$here/../packaging
PYDEPS=${RBD_CSI_PYDEPS:-/var/tmp/rbd-csi-pydeps}
PYTHONPATH=$PYDEPS python3 -c 'import yaml, hcl2' 2>/dev/null ||
  python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore --upgrade --target "$PYDEPS" pyyaml python-hcl2

for unit in "$PKG"/systemd/*.service; do
  name=$(basename "$unit")
  sed "s#/usr/local/bin/rbd-csi#$BIN#" "$unit" >"$T/$name"
  out=$(systemd-analyze verify "$T/$name" 2>&1) && rc=0 || rc=$?
  check "$name: systemd-analyze verify passes" [ "$rc" -eq 0 ]
  check "$name: ... with no warning" [ -z "$out" ] || echo "  $out"
done
printf '[Service]\nExecStart=/bin/true\nBogusKey=1\n' >"$T/bogus.service"
check "the verify check can fail (unknown key is reported)" [ -n "$(systemd-analyze verify "$T/bogus.service" 2>&1)" ]
node_unit=$PKG/systemd/rbd-csi-node.service
for d in ProtectSystem ProtectHome PrivateTmp PrivateMounts PrivateDevices ReadOnlyPaths ProtectKernelTunables ProtectKernelModules MountFlags; do
  check "node unit has no $d= (it would hide the plugin's mounts from the host)" bash -c "! grep -q '^$d=' '$node_unit'"
done
check "node unit keeps CAP_SYS_ADMIN (mount, loop) and CAP_SYS_RESOURCE (ext4 grow)" \
  grep -q '^CapabilityBoundingSet=.*CAP_SYS_ADMIN.*CAP_SYS_RESOURCE' "$node_unit"

# The systemd-run line from the README starts a working plugin (flags only; no systemd here).
line=$(grep -m1 '^    systemd-run ' "$here/../README.md" | sed 's/^ *//')
check "README has a systemd-run command" [ -n "$line" ]
args=$(python3 -c 'import shlex,sys; a=shlex.split(sys.argv[1]); i=a.index("/usr/local/bin/rbd-csi"); print("\n".join(a[i+1:]))' "$line")
mapfile -t serve_args <<<"$args"
check "systemd-run command serves the node plugin" [ "${serve_args[0]}" = serve ]

PYTHONPATH=$PYDEPS python3 "$here/packaging/check_packaging.py" "$PKG" 3>"$T/argv.jsonl" && pass "packaging files agree" || fail "packaging files agree"

# Every serve argument list is accepted: start the binary with it (socket and data dir
# moved into the temp dir), Probe it, stop it.
i=0
while read -r json; do
  i=$((i + 1))
  mapfile -t a < <(python3 -c '
import json, sys
args = json.loads(sys.argv[1]); t = sys.argv[2]
out = []
for x in args:
    if x.startswith("--endpoint=") or x.startswith("--data-dir=") or x.startswith("--allowed-path-prefix="):
        continue
    out.append(x.replace("$(NODE_ID)", "node-x"))
skip = {"--endpoint", "--data-dir", "--allowed-path-prefix"}
res, it = [], iter(out)
for x in it:
    if x in skip:
        next(it, None)
        continue
    res.append(x)
print("\n".join(res[1:] + ["--endpoint", t + "/p.sock", "--data-dir", t + "/d"]))
' "$json" "$T/run$i")
  mkdir -p "$T/run$i"
  # A file that names a ceph-csi config.json means the rbd backend.
  want=local
  for x in "${a[@]}"; do case "$x" in --config | --config=*) want=rbd ;; esac; done
  if start_server "$T/run$i.log" "${a[@]}"; then
    pass "serve accepts: ${a[*]:0:6} ..."
    got=$(json_get "$("$BIN" client --endpoint "$T/run$i/p.sock" GetPluginInfo)" 'j["manifest"]["backend"]')
    check "  and serves the $want backend (got $got)" [ "$got" = "$want" ]
    stop_server "$SERVER_PID" || true
  else
    fail "serve accepts: ${a[*]}"
  fi
done < <(cat "$T/argv.jsonl"; printf '%s\n' "$(python3 -c 'import json,sys; print(json.dumps(sys.argv[1:]))' "${serve_args[@]}")"
  # The systemd units' ExecStart lines (%H: the host name).
  for unit in "$PKG"/systemd/*.service; do
    python3 -c 'import json,shlex,sys
for l in open(sys.argv[1]):
    if l.startswith("ExecStart="):
        a = shlex.split(l[len("ExecStart="):].replace("%H", "node-x")); print(json.dumps(a[1:]))' "$unit"
  done)

# A ceph-csi volume sent to a plugin serving the local backend (a deployment missing
# --backend rbd): NOT_FOUND, saying which backend serves and what to pass.
start_server "$T/local.log" --endpoint "$T/l.sock" --data-dir "$T/ld" --allowed-path-prefix "$T"
cephid=0001-0024-5a8c1bd8-3cf4-4b3e-9a43-0e6f27b7c0a1-0000000000000002-1b4e28ba-2fa1-11d2-883f-0016d3cca427
check "a ceph-csi volume id on the local backend: NOT_FOUND" expect_code 5 "$BIN" client --endpoint "$T/l.sock" NodeStageVolume --volume-id "$cephid" --staging-path "$T/st" --fs-type ext4
check "  naming the backend served and --backend rbd" grep -q 'this plugin serves --backend local (a Ceph RBD volume needs a plugin started with --backend rbd)' "$T/last.err"
check "  (an id shaped like a local one is only not found)" expect_code 5 "$BIN" client --endpoint "$T/l.sock" ControllerExpandVolume --volume-id lv-0000000000000000 --required-bytes 1G
check "  (without the hint)" bash -c "! grep -q 'backend rbd' '$T/last.err'"
stop_server "$SERVER_PID"
finish
