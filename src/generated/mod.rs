//! Code generated from proto/csi.proto by scripts/gen-proto.sh. Do not edit.
#![allow(clippy::all, unused_qualifications, missing_docs, renamed_and_removed_lints)]
pub mod csi;
pub mod csi_grpc;
