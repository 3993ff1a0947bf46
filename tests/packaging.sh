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
  if start_server "$T/run$i.log" "${a[@]}"; then
    pass "serve accepts: ${a[*]:0:6} ..."
    stop_server "$SERVER_PID" || true
  else
    fail "serve accepts: ${a[*]}"
  fi
done < <(cat "$T/argv.jsonl"; printf '%s\n' "$(python3 -c 'import json,sys; print(json.dumps(sys.argv[1:]))' "${serve_args[@]}")")
finish
