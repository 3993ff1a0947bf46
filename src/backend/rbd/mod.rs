//! The Ceph RBD controller, compatible with ceph-csi: its volume id format, image
//! names and omap journal (DESIGN.md §4), so volumes move between the two drivers.
//!
//! Journal, in the pool's rados namespace (ceph-csi's layout):
//! - `csi.volumes.default`, in the journal pool (default: the image pool): key
//!   `csi.volume.<request name>` → `<uuid>`, or `<image pool id, 16 hex>/<uuid>` when the
//!   journal pool is another pool;
//! - `csi.volume.<uuid>`, in the image pool: `csi.volname`, `csi.imagename`
//!   (`csi-vol-<uuid>`), `csi.imageid`, and `csi.journalpool` (the journal pool's id, 16
//!   hex) when the journal pool is another pool. The volume id carries the image pool.
//!
//! CreateVolume is in create.rs, DeleteVolume in delete.rs, snapshots in snap.rs,
//! attachment and fencing in attach.rs; the journal's names in journal.rs.

use std::collections::HashMap;
use std::path::PathBuf;

use std::sync::Arc;

use super::{size_for, ControllerOps, CreateParams, Secrets, Sharing, SnapshotInfo, Source, VolumeInfo};
use crate::ceph::rados::{Rados, Striping, Target};
use crate::ceph::{find_cluster, ClusterConfig, Credentials};
use crate::error::{Error, Kind};

pub use crate::backend::volume_id::VolumeId;
use journal::{parse_name_value, pending_key, volume_object, IMAGENAME, JOURNAL_POOL_KEY};

const DEFAULT_SIZE: u64 = 1 << 30;
/// What a new image is made with, from the StorageClass parameters.
pub(super) struct ImageSpec {
    features: String,
    pub(super) data_pool: Option<String>,
    striping: Striping,
    /// The image name before the uuid (ceph-csi's volumeNamePrefix; `csi-vol-`).
    prefix: String,
}

/// Where an image and its journal live.
pub(super) struct Place {
    cluster: ClusterConfig,
    pub(super) pool: String,
    pub(super) journal_pool: String,
    /// The journal pool's id, once looked up; only when it is not the image pool.
    journal_pool_id: Option<u64>,
    namespace: String,
}

impl Place {
    /// Images and their journal in one pool, in the cluster's rados namespace.
    fn in_pool(cluster: ClusterConfig, pool: String) -> Place {
        let namespace = cluster.rados_namespace.clone();
        Place { cluster, journal_pool: pool.clone(), journal_pool_id: None, pool, namespace }
    }

    fn images<'a>(&'a self, creds: &'a Credentials) -> Target<'a> {
        Target { cluster: &self.cluster, creds, pool: &self.pool, namespace: &self.namespace }
    }

    /// Where the name directories live.
    fn journal<'a>(&'a self, creds: &'a Credentials) -> Target<'a> {
        Target { cluster: &self.cluster, creds, pool: &self.journal_pool, namespace: &self.namespace }
    }

    /// A name key's value for `uuid` (see the module comment).
    fn name_value(&self, image_pool_id: u64, uuid: &str) -> String {
        match self.journal_pool_id {
            Some(_) => format!("{image_pool_id:016x}/{uuid}"),
            None => uuid.to_string(),
        }
    }

    /// The uuid object's `csi.journalpool` entry, when the journal is in another pool.
    fn journal_attr(&self) -> Option<(&'static str, String)> {
        self.journal_pool_id.map(|id| (JOURNAL_POOL_KEY, format!("{id:016x}")))
    }
}

pub struct RbdController {
    config: PathBuf,
    ceph: Arc<dyn Rados>,
}

impl RbdController {
    pub fn new(config: PathBuf, ceph: Arc<dyn Rados>) -> RbdController {
        RbdController { config, ceph }
    }

    pub fn cluster(&self, cluster_id: &str) -> Result<ClusterConfig, Error> {
        find_cluster(&self.config, cluster_id)
    }

    /// The image of volume `uuid`: the journal's csi.imagename (ceph-csi's
    /// volumeNamePrefix may have chosen another prefix), else `csi-vol-<uuid>`.
    fn volume_image(&self, images: &Target, uuid: &str) -> Result<String, Error> {
        let recorded = self.omap_value(images, &volume_object(uuid), IMAGENAME)?;
        Ok(recorded.filter(|n| !n.is_empty()).unwrap_or_else(|| format!("csi-vol-{uuid}")))
    }

    /// One omap value, or None when the object or key does not exist.
    fn omap_value(&self, t: &Target, object: &str, key: &str) -> Result<Option<String>, Error> {
        Ok(self.ceph.omap_get(t, object, &[key])?.pop().flatten())
    }

    /// The ids of the image pool and (when it is another pool) the journal pool, as
    /// they are now; NOT_FOUND for a pool that does not exist.
    fn pool_ids(&self, place: &Place, creds: &Credentials) -> Result<(u64, Option<u64>), Error> {
        let id = |pool: &str| {
            self.ceph
                .pool_id(&place.cluster, creds, pool)?
                .ok_or_else(|| Error::ceph_missing(format!("pool {pool:?} of cluster {}", place.cluster.cluster_id)))
        };
        if place.journal_pool == place.pool {
            return Ok((id(&place.pool)?, None));
        }
        let (pool, journal) = both(|| id(&place.pool), || id(&place.journal_pool));
        Ok((pool?, Some(journal?)))
    }

    pub(super) fn place_for_id(&self, id: &VolumeId, creds: &Credentials) -> Result<Option<Place>, Error> {
        let cluster = self.cluster(&id.cluster_id)?;
        let Some(pool) = self.ceph.pool_name(&cluster, creds, id.pool_id)? else { return Ok(None) };
        Ok(Some(Place::in_pool(cluster, pool)))
    }

    /// Points `place` at the journal pool a uuid object recorded (`csi.journalpool`).
    fn use_recorded_journal(
        &self,
        place: &mut Place,
        creds: &Credentials,
        recorded: Option<&str>,
    ) -> Result<(), Error> {
        let Some(id) = recorded.and_then(|hex| u64::from_str_radix(hex, 16).ok()) else { return Ok(()) };
        match self.ceph.pool_name(&place.cluster, creds, id)? {
            Some(name) if name != place.pool => {
                place.journal_pool = name;
                place.journal_pool_id = Some(id);
            }
            Some(_) => {}
            None => log::warn!("journal pool id {id} of a volume in {} no longer exists", place.pool),
        }
        Ok(())
    }
}

/// Runs two independent steps at once (through the CLI each is an exec of ~50 ms).
fn both<A: Send, B: Send>(a: impl FnOnce() -> A + Send, b: impl FnOnce() -> B + Send) -> (A, B) {
    std::thread::scope(|s| {
        let first = s.spawn(a);
        let second = b();
        match first.join() {
            Ok(first) => (first, second),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

impl RbdController {
    pub fn expand(
        &self,
        volume_id: &str,
        required: u64,
        limit: u64,
        secrets: &HashMap<String, String>,
    ) -> Result<u64, Error> {
        let gone = || Error::no_such(Kind::Volume, volume_id);
        let id = VolumeId::decode(volume_id).ok_or_else(gone)?;
        let creds = Credentials::from_secrets(secrets)?;
        let place = self.place_for_id(&id, &creds)?.ok_or_else(gone)?;
        let images = place.images(&creds);
        let image = self.volume_image(&images, &id.uuid)?;
        let (size, _) =
            self.ceph.image_info(&images, &image)?.ok_or_else(|| Error::no_such(Kind::Volume, volume_id))?;
        let bytes = size_for(required, limit, DEFAULT_SIZE)?;
        if bytes <= size {
            return Ok(size);
        }
        self.ceph.resize(&images, &image, bytes)?;
        log::info!("expanded {} to {bytes} bytes", images.spec(&image));
        Ok(bytes)
    }

    pub fn exists(&self, volume_id: &str, secrets: &HashMap<String, String>) -> Result<bool, Error> {
        let Some(id) = VolumeId::decode(volume_id) else { return Ok(false) };
        let creds = Credentials::from_secrets(secrets)?;
        let Some(place) = self.place_for_id(&id, &creds)? else { return Ok(false) };
        let images = place.images(&creds);
        Ok(self.ceph.image_info(&images, &self.volume_image(&images, &id.uuid)?)?.is_some())
    }
}

/// The controller as the RPC layer sees it.
impl ControllerOps for RbdController {
    fn create_volume(&self, p: &CreateParams) -> Result<VolumeInfo, Error> {
        self.create(p)
    }
    fn delete_volume(&self, id: &str, secrets: &Secrets) -> Result<(), Error> {
        self.delete(id, secrets)
    }
    fn get_volume(&self, id: &str, secrets: &Secrets) -> Result<Option<VolumeInfo>, Error> {
        Ok(self.exists(id, secrets)?.then(|| VolumeInfo {
            id: id.to_string(),
            size: 0,
            context: HashMap::new(),
            source: Source::Empty,
            topology: Vec::new(),
        }))
    }
    fn expand_volume(&self, id: &str, required: u64, limit: u64, secrets: &Secrets) -> Result<u64, Error> {
        self.expand(id, required, limit, secrets)
    }
    fn create_snapshot(&self, source: &str, name: &str, secrets: &Secrets) -> Result<SnapshotInfo, Error> {
        self.snapshot_create(source, name, secrets)
    }
    fn delete_snapshot(&self, id: &str, secrets: &Secrets) -> Result<(), Error> {
        self.snapshot_delete(id, secrets)
    }
    fn list_volumes(&self) -> Result<Vec<VolumeInfo>, Error> {
        Err(Error::Unimplemented("ListVolumes is not offered by the rbd backend".into()))
    }
    fn list_snapshots(&self, id: &str, source: &str, secrets: &Secrets) -> Result<Vec<SnapshotInfo>, Error> {
        self.snapshot_list(id, source, secrets)
    }
    fn capacity(&self) -> Result<u64, Error> {
        Err(Error::Unimplemented("GetCapacity is not offered by the rbd backend".into()))
    }
    fn publish_volume(
        &self,
        id: &str,
        node: &str,
        sharing: Sharing,
        secrets: &Secrets,
        context: &Secrets,
    ) -> Result<HashMap<String, String>, Error> {
        self.publish(id, node, sharing, secrets, context)
    }
    fn unpublish_volume(&self, id: &str, node: &str, secrets: &Secrets) -> Result<(), Error> {
        self.unpublish(id, node, secrets).map(drop)
    }
}

pub mod attach;
mod create;
mod delete;
#[cfg(test)]
mod fake;
#[cfg(test)]
mod fake_tests;
mod journal;
pub mod params;
mod snap;
pub mod topology;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_values_in_both_of_ceph_csis_forms() {
        let uuid = "0f2a6c1e-4b7d-4c5e-9a8b-1234567890ab";
        assert_eq!(parse_name_value(uuid), Some((None, uuid)));
        let with_pool = format!("000000000000000b/{uuid}");
        assert_eq!(parse_name_value(&with_pool), Some((Some(11), uuid)));
        assert_eq!(parse_name_value("short"), None);
        assert_eq!(parse_name_value(&format!("0b/{uuid}")), None);
        let cluster =
            ClusterConfig { cluster_id: "c".into(), monitors: vec!["m".into()], rados_namespace: String::new() };
        let mut place = Place {
            cluster,
            pool: "img".into(),
            journal_pool: "img".into(),
            journal_pool_id: None,
            namespace: String::new(),
        };
        assert_eq!(place.name_value(11, uuid), uuid);
        assert_eq!(place.journal_attr(), None);
        place.journal_pool = "meta".into();
        place.journal_pool_id = Some(12);
        assert_eq!(place.name_value(11, uuid), with_pool);
        assert_eq!(place.journal_attr(), Some(("csi.journalpool", "000000000000000c".to_string())));
    }
}
