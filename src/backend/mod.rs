//! Storage backends behind one trait: `local` (sparse files on loop devices, the
//! embedded default) and `rbd` (Ceph RBD images). Both behave the same at the CSI surface.

pub mod image_meta;
pub mod krbd;
pub mod local;
pub mod rbd;
pub mod volume_id;

use std::collections::HashMap;
use std::sync::Arc;

use crate::error::Error;
use crate::node::Attacher;
use crate::options::{BackendKind, ServeOptions};
use crate::sys::Sys;

pub type Secrets = HashMap<String, String>;

/// The size to give a volume for a capacity range, in whole MiB: `default` when no
/// range is given; OUT_OF_RANGE when no whole MiB fits between required and limit.
pub fn size_for(required: u64, limit: u64, default: u64) -> Result<u64, Error> {
    const MIB: u64 = 1 << 20;
    // CSI sizes are int64: the largest whole MiB that fits.
    const MAX: u64 = i64::MAX as u64 / MIB * MIB;
    if required > MAX {
        return Err(Error::OutOfRange(format!(
            "required_bytes {required} is more than the largest volume, {MAX} bytes"
        )));
    }
    if limit > 0 && required > limit {
        return Err(Error::OutOfRange(format!("required_bytes {required} is larger than limit_bytes {limit}")));
    }
    let want = if required > 0 {
        required
    } else if limit > 0 {
        limit.min(default)
    } else {
        default
    };
    let size = want.max(MIB).div_ceil(MIB).saturating_mul(MIB);
    if limit > 0 && size > limit {
        let down = limit / MIB * MIB;
        if down < required.max(1) {
            return Err(Error::OutOfRange(format!(
                "no whole number of MiB between required_bytes {required} and limit_bytes {limit}"
            )));
        }
        return Ok(down);
    }
    Ok(size)
}

/// Where a new volume's content comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Empty,
    Snapshot(String),
    Volume(String),
}

impl Source {
    /// How a volume's record stores it: "", "snapshot:<id>" or "volume:<id>".
    pub fn to_text(&self) -> String {
        match self {
            Source::Empty => String::new(),
            Source::Snapshot(id) => format!("snapshot:{id}"),
            Source::Volume(id) => format!("volume:{id}"),
        }
    }

    pub fn from_text(s: &str) -> Source {
        match s.split_once(':') {
            Some(("snapshot", id)) => Source::Snapshot(id.to_string()),
            Some(("volume", id)) => Source::Volume(id.to_string()),
            _ => Source::Empty,
        }
    }
}

/// Topology segments: key → value (`topology.rbd.csi.rs/zone` → `z1`).
pub type Segments = HashMap<String, String>;

/// CreateVolume's accessibility_requirements: topologies the volume must be reachable
/// from (one of `requisite`) and, in order, where the CO would like it (`preferred`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Accessibility {
    pub requisite: Vec<Segments>,
    pub preferred: Vec<Segments>,
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
    /// None when the request has none.
    pub accessibility: Option<Accessibility>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeInfo {
    pub id: String,
    pub size: u64,
    pub context: HashMap<String, String>,
    pub source: Source,
    /// Where the backend placed this volume by topology (rbd: the topology its
    /// topologyConstrainedPools entry matched); empty: the backend's `volume_topology`.
    pub topology: Vec<Segments>,
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

/// The publish_context key naming the node a volume was claimed for (rbd: see
/// backend/rbd/attach.rs); NodeStageVolume refuses another node's.
pub const CLAIMED_FOR: &str = "rbd-csi.claimed-for";

/// How many nodes a ControllerPublishVolume shares the volume with, from its access mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sharing {
    /// One node (SINGLE_NODE_*): the volume is claimed for it, and no other node maps it.
    OneNode,
    /// The one writer of MULTI_NODE_SINGLE_WRITER: the volume is claimed for it, and
    /// readers may map it read-only on other nodes.
    OneWriter,
    /// A reader of a multi-node volume, or one of many writers (block only).
    Shared,
}

/// The controller side of a backend. Pagination and CSI message building are the RPC
/// layer's job; these work on whole lists.
pub trait ControllerOps: Send + Sync {
    fn create_volume(&self, p: &CreateParams) -> Result<VolumeInfo, Error>;
    /// Deleting a volume that does not exist succeeds.
    fn delete_volume(&self, id: &str, secrets: &Secrets) -> Result<(), Error>;
    fn get_volume(&self, id: &str, secrets: &Secrets) -> Result<Option<VolumeInfo>, Error>;
    /// Grows the volume to at least `required` bytes; returns the new size.
    fn expand_volume(&self, id: &str, required: u64, limit: u64, secrets: &Secrets) -> Result<u64, Error>;
    fn create_snapshot(&self, source_volume: &str, name: &str, secrets: &Secrets) -> Result<SnapshotInfo, Error>;
    fn delete_snapshot(&self, id: &str, secrets: &Secrets) -> Result<(), Error>;
    fn list_volumes(&self) -> Result<Vec<VolumeInfo>, Error>;
    /// Snapshots, narrowed (when not empty) to one id or one source volume; the RPC
    /// layer filters again, so a backend may return more.
    fn list_snapshots(
        &self,
        snapshot_id: &str,
        source_volume: &str,
        secrets: &Secrets,
    ) -> Result<Vec<SnapshotInfo>, Error>;
    /// Bytes available for new volumes.
    fn capacity(&self) -> Result<u64, Error>;
    /// ControllerPublishVolume (backends that offer PUBLISH_UNPUBLISH_VOLUME): the
    /// publish_context for the node.
    fn publish_volume(
        &self,
        _id: &str,
        _node: &str,
        _sharing: Sharing,
        _secrets: &Secrets,
        _context: &Secrets,
    ) -> Result<HashMap<String, String>, Error> {
        Err(Error::Unimplemented("ControllerPublishVolume is not offered by this backend".into()))
    }
    /// ControllerUnpublishVolume; `node` empty: from every node.
    fn unpublish_volume(&self, _id: &str, _node: &str, _secrets: &Secrets) -> Result<(), Error> {
        Err(Error::Unimplemented("ControllerUnpublishVolume is not offered by this backend".into()))
    }
}

/// A backend: readiness, its controller operations, its node attacher.
pub struct Backend {
    pub name: &'static str,
    pub controller: Option<Arc<dyn ControllerOps>>,
    pub attacher: Option<Arc<dyn Attacher>>,
    probe: Box<dyn Fn() -> Result<(), Error> + Send + Sync>,
    /// The segments this node reports in NodeGetInfo (local: its node key; rbd: from
    /// `--node-topology`/`--node-topology-file`, when given).
    pub topology: Option<Segments>,
    /// The segments every volume of this backend is reachable from, unless the volume
    /// says otherwise (local: this node); None: from every node.
    pub volume_topology: Option<Segments>,
    /// Whether to advertise VOLUME_ACCESSIBILITY_CONSTRAINTS: volumes may not be
    /// reachable from every node, so the CO must match topologies.
    pub accessibility_constraints: bool,
    /// How the controller reaches Ceph ("librados", "cli"); "" without one.
    pub ceph_client: &'static str,
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
                topology: Some(topo.clone()),
                volume_topology: Some(topo),
                accessibility_constraints: true,
                ceph_client: "",
            })
        }
        BackendKind::Rbd => {
            // Keys never touch the disk now; an older version left keyfiles here when
            // it was killed mid-command.
            crate::ceph::remove_old_keyfiles(&opts.data_dir.join("keys"));
            let config = opts.config.clone();
            // The controller execs the CLIs when it does not use librados.
            let mut needs_cli = false;
            let mut ceph_client = "";
            let controller: Option<Arc<dyn ControllerOps>> = if opts.mode.has_controller() {
                let ceph = crate::ceph::client(&opts.ceph_client)?;
                needs_cli = ceph.kind() == "cli";
                ceph_client = ceph.kind();
                Some(Arc::new(rbd::RbdController::new(config.clone(), ceph)))
            } else {
                None
            };
            let mapper = if opts.mode.has_node() { Some(krbd::Mapper::parse(&opts.mapper)?) } else { None };
            let attacher: Option<Arc<dyn Attacher>> = match mapper {
                Some(mapper) => Some(krbd::open(config.clone(), mapper, &opts.data_dir)?),
                None => None,
            };
            // A controller places volumes by topologyConstrainedPools, and the CO
            // (external-provisioner) sends accessibility requirements only to a plugin
            // that advertises constraints (ceph-csi always does); a node advertises
            // them when it reports a topology.
            // A process that is also the node advertises them only with a topology to
            // report: a CO that sees them expects one in NodeGetInfo.
            let accessibility_constraints =
                opts.node_topology.is_some() || (controller.is_some() && !opts.mode.has_node());
            Ok(Backend {
                name: "rbd",
                controller,
                attacher,
                probe: Box::new(move || {
                    for program in ["rbd", "rados"].into_iter().filter(|_| needs_cli) {
                        if !crate::exec::on_path(program) {
                            return Err(crate::exec::missing(
                                program,
                                "the controller reaches Ceph through the rbd and rados commands \
                                 without librados2 + librbd1",
                            ));
                        }
                    }
                    mapper.map_or(Ok(()), krbd::Mapper::ready)?;
                    let text = std::fs::read_to_string(&config).map_err(|e| {
                        Error::Unavailable(format!("ceph-csi config {} is not readable: {e}", config.display()))
                    })?;
                    crate::ceph::parse_config(&text)
                        .map(|_| ())
                        .map_err(|e| Error::Unavailable(format!("ceph-csi config {}: {e}", config.display())))
                }),
                accessibility_constraints,
                topology: opts.node_topology.clone(),
                volume_topology: None,
                ceph_client,
            })
        }
    }
}
