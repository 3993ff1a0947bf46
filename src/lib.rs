//! rbd-csi: a CSI v1 driver for Ceph RBD images (and an embedded local backend),
//! built on threads: a grpcio server hands every request to a per-volume serial queue.
//!
//! `main.rs` only parses flags and calls into this library, so tests reach everything.

pub mod backend;
pub mod ceph;
pub mod client;
pub mod error;
pub mod exec;
pub mod failpoint;
pub mod fence;
pub mod generated;
pub mod json;
pub mod jsonparse;
pub mod kvfile;
pub mod logging;
pub mod metrics;
pub mod node;
pub mod oneshot;
pub mod options;
pub mod queue;
pub mod rpc;
pub mod server;
pub mod sys;
pub mod topology;

pub use generated::csi;

/// The plugin version reported by GetPluginInfo.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
