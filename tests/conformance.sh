#!/usr/bin/env bash
# The Identity service against an independent CSI client (Python grpcio), see
# tests/conformance/identity_sanity.py. Installs grpcio + grpcio-tools from PyPI into a
# cache dir outside the clone.
. "$(dirname "$0")/lib.sh"
here=$(cd "$(dirname "$0")" && pwd)
PYDEPS=${RBD_CSI_PYDEPS:-/var/tmp/rbd-csi-pydeps}
if ! PYTHONPATH=$PYDEPS python3 -c 'import grpc, grpc_tools' 2>/dev/null; then
  python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore --target "$PYDEPS" grpcio grpcio-tools
fi

EP=$T/csi.sock
start_server "$T/server.log" --endpoint "$EP" --data-dir "$T/data" --mode node
if TMPDIR=$T PYTHONPATH=$PYDEPS python3 "$here/conformance/identity_sanity.py" "$EP" "$here/../proto"; then
  pass "identity conformance (python grpcio client)"
else
  fail "identity conformance (python grpcio client)"
fi
stop_server "$SERVER_PID"
finish
