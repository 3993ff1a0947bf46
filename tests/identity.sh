#!/usr/bin/env bash
# The real binary on a temp socket: Identity answers, unimplemented RPCs say so,
# socket permissions, stale/live socket handling, SIGTERM removes the socket.
. "$(dirname "$0")/lib.sh"

EP=$T/run/csi.sock
start_server "$T/server.log" --endpoint "unix://$EP" --nodeid node-a --data-dir "$T/data" --log-level info
PID=$SERVER_PID

out=$(csi "$EP" GetPluginInfo)
check "GetPluginInfo name" [ "$(json_get "$out" 'j["name"]')" = rbd.csi.rs ]
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$(dirname "$0")/../Cargo.toml" | head -n1)
check "GetPluginInfo version is Cargo's ($version)" [ "$(json_get "$out" 'j["vendor_version"]')" = "$version" ]

out=$(csi "$EP" GetPluginCapabilities)
check "capabilities: controller service (mode all)" \
  [ "$(json_get "$out" '"CONTROLLER_SERVICE" in [c.get("service",{}).get("type") for c in j["capabilities"]]')" = True ]
check "capabilities: accessibility constraints" \
  [ "$(json_get "$out" '"VOLUME_ACCESSIBILITY_CONSTRAINTS" in [c.get("service",{}).get("type") for c in j["capabilities"]]')" = True ]
check "capabilities: online expansion" \
  [ "$(json_get "$out" '[c.get("volume_expansion",{}).get("type") for c in j["capabilities"] if "volume_expansion" in c]')" = "['ONLINE']" ]

out=$(csi "$EP" Probe)
check "Probe ready" [ "$(json_get "$out" 'j["ready"]')" = True ]

check "unimplemented RPC answers UNIMPLEMENTED (12)" expect_code 12 csi "$EP" ControllerModifyVolume --volume-id x
check "unimplemented message names the code" grep -q UNIMPLEMENTED "$T/last.err"
check "unknown method is a usage error (64, no gRPC code)" expect_code 64 csi "$EP" NoSuchMethod
check "an unknown access mode is a usage error (64)" expect_code 64 csi "$EP" ValidateVolumeCapabilities --volume-id x --access-mode RWM
check "  listing the valid names" grep -q 'use one of SINGLE_NODE_WRITER, .*, or RWO, RWOP, ROX, RWX' "$T/last.err"
check "Kubernetes' RWOP is taken for SINGLE_NODE_SINGLE_WRITER (the call reaches the plugin)" expect_code 5 csi "$EP" ValidateVolumeCapabilities --volume-id lv-0000000000000000 --access-mode RWOP --fs-type ext4

check "socket is 0660" [ "$(stat -c %a "$EP")" = 660 ]
check "the socket's directory the driver made lets the socket's group reach it (0755)" [ "$(stat -c %a "$T/run")" = 755 ]
check "one log line per RPC with method and code" grep -q 'rpc=Probe volume="" code=OK duration_ms=' "$T/server.log"

# A second server must not take over a live socket.
rc=0; timeout 10 "$BIN" serve --endpoint "unix://$EP" --data-dir "$T/data" >"$T/second.log" 2>&1 || rc=$?
check "second server on a live socket refuses to start" [ "$rc" -ne 0 ]
check "its error says why" grep -q "another server is listening" "$T/second.log"
check "first server still answers" csi_ok "$EP" Probe

# SIGTERM: exit 0, socket removed.
rc=0; stop_server "$PID" || rc=$?
check "SIGTERM exits 0" [ "$rc" -eq 0 ]
check "SIGTERM removes the socket" [ ! -e "$EP" ]

# kill -9 leaves a stale socket; the next start removes it and serves.
start_server "$T/server2.log" --endpoint "unix://$EP" --data-dir "$T/data"
kill -9 "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true
check "kill -9 leaves the socket behind" [ -S "$EP" ]
start_server "$T/server3.log" --endpoint "$EP" --data-dir "$T/data" --mode node
check "restart over a stale socket serves" csi_ok "$EP" Probe
check "stale socket removal is logged" grep -q "removing stale socket" "$T/server3.log"

# Mode node: no controller capability, controller RPCs are UNIMPLEMENTED.
out=$(csi "$EP" GetPluginCapabilities)
check "node mode: no CONTROLLER_SERVICE" \
  [ "$(json_get "$out" '"CONTROLLER_SERVICE" in [c.get("service",{}).get("type") for c in j["capabilities"]]')" = False ]
check "node mode: controller RPC is UNIMPLEMENTED" expect_code 12 csi "$EP" CreateVolume --name v1 --fs-type ext4
stop_server "$SERVER_PID"

# A regular file at the socket path is never removed.
echo keep >"$T/not-a-socket"
rc=0; timeout 10 "$BIN" serve --endpoint "$T/not-a-socket" --data-dir "$T/data" >"$T/file.log" 2>&1 || rc=$?
check "a non-socket file at the endpoint is refused" [ "$rc" -ne 0 ]
check "and left untouched" [ "$(cat "$T/not-a-socket")" = keep ]

# rbd backend with no readable config: Probe answers, but not ready.
EP2=$T/rbd.sock
start_server "$T/rbd.log" --endpoint "$EP2" --backend rbd --config "$T/missing.json" --mode controller
out=$(csi "$EP2" Probe)
check "Probe not ready when the backend is unusable" [ "$(json_get "$out" 'j["ready"]')" = False ]
# The rbd controller honours topologyConstrainedPools, and external-provisioner sends
# accessibility requirements only to a controller that advertises the constraints.
has_constraints() { json_get "$(csi "$1" GetPluginCapabilities)" '"VOLUME_ACCESSIBILITY_CONSTRAINTS" in [c.get("service",{}).get("type") for c in j["capabilities"]]'; }
check "rbd controller: accessibility constraints advertised" [ "$(has_constraints "$EP2")" = True ]
stop_server "$SERVER_PID"

# rbd node topology, without Kubernetes: --node-topology label=value[,label=value] and
# --node-topology-file (label=value lines); a label in both takes the flag's value.
# NodeGetInfo reports topology.<drivername>/<label> (a label's own prefix dropped, as
# ceph-csi does with its --domainlabels).
EP3=$T/rbd-node.sock
printf '# this node\nzone=z1\n\n  rack = r7  \n' >"$T/topo"
start_server "$T/rbd-node.log" --endpoint "$EP3" --backend rbd --mode node --config "$T/missing.json" \
  --data-dir "$T/rbd-node" --nodeid n1 --node-topology-file "$T/topo" --node-topology zone=z2,topology.kubernetes.io/region=eu
segments() { json_get "$(csi "$1" NodeGetInfo)" 'sorted(j.get("accessible_topology", {}).get("segments", {}).items())'; }
check "rbd node: NodeGetInfo reports the flag's and the file's topology (flag wins)" \
  [ "$(segments "$EP3")" = "[('topology.rbd.csi.rs/rack', 'r7'), ('topology.rbd.csi.rs/region', 'eu'), ('topology.rbd.csi.rs/zone', 'z2')]" ]
check "rbd node with topology: accessibility constraints advertised" [ "$(has_constraints "$EP3")" = True ]
check "rbd node: the start-up log names its topology" \
  grep -q "node topology: topology.rbd.csi.rs/rack=r7,topology.rbd.csi.rs/region=eu,topology.rbd.csi.rs/zone=z2" "$T/rbd-node.log"
stop_server "$SERVER_PID"
start_server "$T/rbd-node2.log" --endpoint "$EP3" --backend rbd --mode node --config "$T/missing.json" \
  --data-dir "$T/rbd-node" --drivername Rbd.Example.COM --node-topology-file "$T/topo"
check "rbd node: keys under topology.<drivername, lower case>/" \
  [ "$(segments "$EP3")" = "[('topology.rbd.example.com/rack', 'r7'), ('topology.rbd.example.com/zone', 'z1')]" ]
stop_server "$SERVER_PID"
start_server "$T/rbd-node3.log" --endpoint "$EP3" --backend rbd --mode node --config "$T/missing.json" --data-dir "$T/rbd-node"
check "rbd node without topology: NodeGetInfo has none" [ "$(segments "$EP3")" = "[]" ]
check "rbd node without topology: no accessibility constraints" [ "$(has_constraints "$EP3")" = False ]
stop_server "$SERVER_PID"
# Controller and node in one process: constraints only with a node topology to report.
start_server "$T/rbd-all.log" --endpoint "$EP3" --backend rbd --mode all --config "$T/missing.json" --data-dir "$T/rbd-node"
check "rbd controller+node without topology: no accessibility constraints" [ "$(has_constraints "$EP3")" = False ]
stop_server "$SERVER_PID"
# Bad topology is refused at start, naming what is wrong (exit 2).
printf 'zone=z1\nrack r7\n' >"$T/topo-bad"
printf '# nothing\n' >"$T/topo-empty"
N='--backend rbd --mode node'
while IFS='|' read -r args says; do
  rc=0; read -r -a a <<<"$args"
  timeout 10 "$BIN" serve --endpoint "$T/bad-topo.sock" --config "$T/missing.json" --data-dir "$T/rbd-node" "${a[@]}" >"$T/bad-topo.log" 2>&1 || rc=$?
  check "bad topology ($args): exit 2" [ "$rc" -eq 2 ]
  check "  the message says: $says" grep -qF -- "$says" "$T/bad-topo.log"
done <<EOF2
--node-topology zone $N|--node-topology: expected label=value
--node-topology zone= $N|value of label zone
--node-topology zone=a_b_- $N|value of label zone
--node-topology zone=$(printf 'x%.0s' $(seq 64)) $N|63 characters
--node-topology=-zone=z1 $N|label "-zone"
--node-topology zone=z1,topology.kubernetes.io/zone=z2 $N|label zone is given twice
--node-topology Bad_Prefix/zone=z1 $N|prefix "Bad_Prefix"
--node-topology-file $T/topo-bad $N|$T/topo-bad line 2: expected label=value
--node-topology-file $T/topo-empty $N|$T/topo-empty has no label=value line
--node-topology-file $T/no-such-file $N|$T/no-such-file
--node-topology zone=z1 --drivername bad_name $N|--drivername "bad_name"
--node-topology zone=z1 --backend local --mode node|--node-topology is for the rbd backend
--node-topology zone=z1 --backend rbd --mode controller|--node-topology is for a node plugin
EOF2

# Readiness names what is missing and what to install: a controller reaching Ceph
# through the CLIs without rbd/rados, a node without mkfs. The calls that would run
# them say the same (UNAVAILABLE, which COs retry).
mkdir -p "$T/nobin"
echo '[{"clusterID": "c1", "monitors": ["127.0.0.1:1"]}]' >"$T/cfg.json"
serve_without_path() { # LOG ARGS...: the server with an empty PATH; sets SERVER_PID
  local logf=$1 sock=$2; shift 2
  env PATH="$T/nobin" "$BIN" serve --endpoint "$sock" "$@" >"$logf" 2>&1 &
  SERVER_PID=$!; SERVER_PIDS+=("$SERVER_PID")
  for _ in $(seq 1 100); do csi "$sock" Probe >/dev/null 2>&1 && return 0; sleep 0.05; done
}
serve_without_path "$T/nocli.log" "$T/nocli.sock" --backend rbd --config "$T/cfg.json" --mode controller --ceph-client cli
check "controller without rbd/rados: Probe not ready" [ "$(json_get "$(csi "$T/nocli.sock" Probe)" 'j["ready"]')" = False ]
check "  the log says what to install" grep -q "is not on PATH .*install ceph-common" "$T/nocli.log"
check "  CreateVolume: UNAVAILABLE" expect_code 14 csi "$T/nocli.sock" CreateVolume --name x --fs-type ext4 --param clusterID=c1 --param pool=rbd --secret userID=u --secret userKey=AQBbm90dGhla2V5bm90dGhla2V5bm90dGhla2V5bg==
check "  naming the package" grep -q "install ceph-common" "$T/last.err"
stop_server "$SERVER_PID"
serve_without_path "$T/nomkfs.log" "$T/nomkfs.sock" --data-dir "$T/nomkfs"
check "node without mkfs: Probe not ready" [ "$(json_get "$(csi "$T/nomkfs.sock" Probe)" 'j["ready"]')" = False ]
check "  the log says what to install" grep -q "mkfs.ext4 is not on PATH .*install e2fsprogs" "$T/nomkfs.log"
stop_server "$SERVER_PID"

# Bad flags: a clear error and exit 2.
rc=0; "$BIN" serve --mode sideways >"$T/bad.log" 2>&1 || rc=$?
check "bad --mode exits 2" [ "$rc" -eq 2 ]
check "bad --mode names the flag" grep -q -- "--mode" "$T/bad.log"

finish
