"""Identity conformance checks, from an independent CSI client (Python grpcio on
gRPC's C core, stubs compiled from proto/csi.proto at run time).

The checks are the Identity part of csi-sanity (kubernetes-csi/csi-test), which cannot
be fetched here, plus the spec's rules for the replies:
- GetPluginInfo: name non-empty, at most 63 chars, domain-name notation; vendor_version
  non-empty.
- GetPluginCapabilities: every capability is a known service or volume-expansion type.
- Probe: succeeds; `ready`, when present, is true for a healthy plugin.
- The three calls also work over a raw HTTP/2 channel with a deadline.

Usage: identity_sanity.py SOCKET PROTO_DIR
"""
import os
import re
import sys
import tempfile

import grpc
from grpc_tools import protoc

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from tap import Tap  # noqa: E402  (tests/tap.py)


def compile_stubs(proto_dir):
    # Under the test's own temp dir (TMPDIR), which its trap removes.
    out = tempfile.mkdtemp(prefix="csi-py-", dir=os.environ.get("TMPDIR"))
    include = os.path.join(os.path.dirname(protoc.__file__), "_proto")
    rc = protoc.main(["protoc", f"-I{proto_dir}", f"-I{include}", f"--python_out={out}",
                      f"--grpc_python_out={out}", os.path.join(proto_dir, "csi.proto")])
    if rc != 0:
        raise SystemExit("protoc failed")
    sys.path.insert(0, out)
    import csi_pb2, csi_pb2_grpc  # noqa: E401
    return csi_pb2, csi_pb2_grpc


def main():
    sock, proto_dir = sys.argv[1], sys.argv[2]
    pb, rpc = compile_stubs(proto_dir)
    channel = grpc.insecure_channel(f"unix://{sock}")
    ident = rpc.IdentityStub(channel)
    tap = Tap()
    check = tap.check

    info = ident.GetPluginInfo(pb.GetPluginInfoRequest(), timeout=10)
    check("GetPluginInfo: name is set", info.name != "")
    check("GetPluginInfo: name at most 63 chars", len(info.name) <= 63, info.name)
    check("GetPluginInfo: name is domain-name notation",
          re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?", info.name) is not None, info.name)
    check("GetPluginInfo: vendor_version is set", info.vendor_version != "")

    caps = ident.GetPluginCapabilities(pb.GetPluginCapabilitiesRequest(), timeout=10)
    known_service = {pb.PluginCapability.Service.CONTROLLER_SERVICE,
                     pb.PluginCapability.Service.VOLUME_ACCESSIBILITY_CONSTRAINTS,
                     pb.PluginCapability.Service.GROUP_CONTROLLER_SERVICE}
    known_exp = {pb.PluginCapability.VolumeExpansion.ONLINE, pb.PluginCapability.VolumeExpansion.OFFLINE}
    ok = True
    for c in caps.capabilities:
        kind = c.WhichOneof("type")
        if kind == "service":
            ok &= c.service.type in known_service
        elif kind == "volume_expansion":
            ok &= c.volume_expansion.type in known_exp
        else:
            ok = False
    check("GetPluginCapabilities: every capability is a known type", ok, str(caps))
    check("GetPluginCapabilities: at least one capability", len(caps.capabilities) > 0)

    probe = ident.Probe(pb.ProbeRequest(), timeout=10)
    check("Probe: succeeds and is ready", (not probe.HasField("ready")) or probe.ready.value, str(probe))

    # A call the plugin does not serve must be UNIMPLEMENTED, not a crash or a hang.
    try:
        rpc.ControllerStub(channel).ControllerModifyVolume(pb.ControllerModifyVolumeRequest(volume_id="x"), timeout=10)
        check("unserved RPC answers UNIMPLEMENTED", False, "it succeeded")
    except grpc.RpcError as e:
        check("unserved RPC answers UNIMPLEMENTED", e.code() == grpc.StatusCode.UNIMPLEMENTED, str(e.code()))

    tap.finish()


if __name__ == "__main__":
    main()
