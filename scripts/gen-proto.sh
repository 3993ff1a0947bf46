#!/usr/bin/env bash
# Regenerates src/generated/{csi.rs,csi_grpc.rs} from proto/csi.proto.
# Messages: protoc-gen-rs from protobuf-codegen 3.7.2 (matches the pinned protobuf crate).
# Services: grpc_rust_plugin from grpcio-compiler 0.13 (stubs only call grpcio's pb_ser/pb_de,
# which the protobufv3-codec feature provides). A normal build never runs this.
set -euo pipefail
cd "$(dirname "$0")/.."
tools=${PROTOGEN_ROOT:-/var/tmp/protogen}
command -v protoc >/dev/null || { apt-get update -qq && apt-get install -y -qq protobuf-compiler; }
[ -x "$tools/bin/protoc-gen-rs" ] ||
  cargo install --root "$tools" protobuf-codegen --version 3.7.2
[ -x "$tools/bin/grpc_rust_plugin" ] ||
  cargo install --root "$tools" grpcio-compiler --version 0.13.0 --bin grpc_rust_plugin
out=src/generated
protoc -I proto \
  --plugin=protoc-gen-rust="$tools/bin/protoc-gen-rs" --rust_out="$out" \
  --plugin=protoc-gen-grpc="$tools/bin/grpc_rust_plugin" --grpc_out="$out" \
  proto/csi.proto
cat >"$out/mod.rs" <<'MOD'
//! Code generated from proto/csi.proto by scripts/gen-proto.sh. Do not edit.
#![allow(clippy::all, unused_qualifications, missing_docs, renamed_and_removed_lints)]
pub mod csi;
pub mod csi_grpc;
MOD
echo "regenerated: $(wc -c <"$out/csi.rs") bytes csi.rs, $(wc -c <"$out/csi_grpc.rs") bytes csi_grpc.rs"
