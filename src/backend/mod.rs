//! Storage backends behind one trait: `local` (sparse files on loop devices, the
//! embedded default) and `rbd` (Ceph RBD images). Both behave the same at the CSI surface.

pub mod local;

use std::collections::HashMap;
use std::sync::Arc;

use crate::error::Error;
use crate::node::Attacher;
use crate::options::{BackendKind, ServeOptions};
use crate::sys::Sys;

/// Where a new volume's content comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Empty,
    Snapshot(String),
    Volume(String),
}

#[derive(Debug, Clone)]
pub struct CreateParams {
    pub name: String,
    /// 0 = not given.
    pub required_bytes: u64,
    /// 0 = no limit.
    pub limit_bytes: u64,
    pub source: Source,
    pub parameters: HashMap<String, String>,
    pub secrets: HashMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeInfo {
    pub id: String,
    pub size: u64,
    pub context: HashMap<String, String>,
    pub source: Source,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotInfo {
    pub id: String,
    pub source_volume: String,
    pub size: u64,
    pub created_secs: i64,
    pub created_nanos: i32,
    pub ready: bool,
}

/// The controller side of a backend. Pagination and CSI message building are the RPC
/// layer's job; these work on whole lists.
pub trait ControllerOps: Send + Sync {
    fn create_volume(&self, p: &CreateParams) -> Result<VolumeInfo, Error>;
    /// Deleting a volume that does not exist succeeds.
    fn delete_volume(&self, id: &str, secrets: &HashMap<String, String>) -> Result<(), Error>;
    fn get_volume(&self, id: &str) -> Result<Option<VolumeInfo>, Error>;
    /// Grows the volume to at least `required` bytes; returns the new size.
    fn expand_volume(&self, id: &str, required: u64, limit: u64) -> Result<u64, Error>;
    fn create_snapshot(&self, source_volume: &str, name: &str) -> Result<SnapshotInfo, Error>;
    fn delete_snapshot(&self, id: &str) -> Result<(), Error>;
    fn list_volumes(&self) -> Result<Vec<VolumeInfo>, Error>;
    fn list_snapshots(&self) -> Result<Vec<SnapshotInfo>, Error>;
    /// Bytes available for new volumes.
    fn capacity(&self) -> Result<u64, Error>;
}

/// A backend: readiness, its controller operations, its node attacher.
pub struct Backend {
    pub name: &'static str,
    pub controller: Option<Arc<dyn ControllerOps>>,
    pub attacher: Option<Arc<dyn Attacher>>,
    probe: Box<dyn Fn() -> Result<(), Error> + Send + Sync>,
    /// Topology segments volumes of this backend are reachable from (local: this node).
    pub topology: Option<HashMap<String, String>>,
}

impl Backend {
    /// Ok when the backend can serve requests now (Probe's readiness).
    pub fn probe(&self) -> Result<(), Error> {
        (self.probe)()
    }
}

/// The topology key local volumes carry.
pub const TOPOLOGY_NODE_KEY: &str = "topology.rbd.csi.rs/node";

/// The backend chosen by `--backend`.
pub fn open(opts: &ServeOptions, sys: Arc<dyn Sys>) -> Result<Backend, String> {
    match opts.backend {
        BackendKind::Local => {
            let local = Arc::new(local::Local::open(&opts.data_dir, Arc::clone(&sys))?);
            let data_dir = opts.data_dir.clone();
            let attacher = Arc::new(local::LocalAttacher { local: Arc::clone(&local), sys });
            let mut topo = HashMap::new();
            topo.insert(TOPOLOGY_NODE_KEY.to_string(), opts.node_id.clone());
            Ok(Backend {
                name: "local",
                controller: Some(local),
                attacher: Some(attacher),
                probe: Box::new(move || {
                    use nix::unistd::{access, AccessFlags};
                    access(&data_dir, AccessFlags::W_OK | AccessFlags::X_OK).map_err(|e| {
                        Error::Unavailable(format!("data dir {} is not usable: {}", data_dir.display(), e.desc()))
                    })
                }),
                topology: Some(topo),
            })
        }
        BackendKind::Rbd => {
            // The RBD controller and node paths are not implemented yet: their RPCs
            // answer UNIMPLEMENTED. Probe checks that the configuration is readable.
            let config = opts.config.clone();
            Ok(Backend {
                name: "rbd",
                controller: None,
                attacher: None,
                probe: Box::new(move || {
                    std::fs::metadata(&config).map(|_| ()).map_err(|e| {
                        Error::Unavailable(format!("ceph-csi config {} is not readable: {e}", config.display()))
                    })
                }),
                topology: None,
            })
        }
    }
}
