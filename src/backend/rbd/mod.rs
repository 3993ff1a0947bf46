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
//! Reserved in this order: a random uuid as the name's pending reservation
//! (`pending_key`, rbd-csi's own key beside the name keys), the uuid object, the name
//! key, the attributes; then the pending key goes and the image is created (a clone or
//! restore: its id recorded only once it is complete). A crash between any two steps
//! is finished by the next identical call.

use std::collections::HashMap;
use std::path::PathBuf;

use std::sync::Arc;

use super::{size_for, ControllerOps, CreateParams, Secrets, Sharing, SnapshotInfo, Source, VolumeInfo};
use crate::ceph::rados::{feature_bits, CloneLayout, Rados, Removal, Striping, Target, FEATURE_BITS};
use crate::ceph::{find_cluster, ClusterConfig, Credentials};
use crate::error::Error;

pub use crate::backend::volume_id::VolumeId;
use journal::{
    parse_name_value, pending_key, volume_name_key, volume_object, IMAGEID, IMAGENAME, JOURNAL_POOL_KEY, SOURCE_KEY,
    VOLNAME, VOLUMES_DIR,
};

const DEFAULT_SIZE: u64 = 1 << 30;
/// A content source for a message.
fn describe(s: &Source) -> String {
    match s {
        Source::Empty => "none".to_string(),
        Source::Snapshot(id) => format!("snapshot {id}"),
        Source::Volume(id) => format!("volume {id}"),
    }
}

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
        let recorded = self.omap_value(images, &volume_object(&uuid), IMAGENAME)?;
        Ok(recorded.filter(|n| !n.is_empty()).unwrap_or_else(|| format!("csi-vol-{uuid}")))
    }

    /// Keeps the sidecars' PV/PVC names as the image's metadata, as ceph-csi does.
    fn set_metadata(&self, images: &Target, image: &str, p: &CreateParams) -> Result<(), Error> {
        let metadata = super::rbd_params::image_metadata(&p.parameters);
        if metadata.is_empty() {
            return Ok(());
        }
        self.ceph.metadata_set(images, image, &metadata)
    }

    /// One omap value, or None when the object or key does not exist.
    fn omap_value(&self, t: &Target, object: &str, key: &str) -> Result<Option<String>, Error> {
        Ok(self.ceph.omap_get(t, object, &[key])?.pop().flatten())
    }

    fn place_for_create(&self, params: &HashMap<String, String>) -> Result<(Place, ImageSpec), Error> {
        super::rbd_params::check(params)?;
        let cluster_id = params.get("clusterID").map(String::as_str).unwrap_or("");
        if cluster_id.is_empty() {
            return Err(Error::invalid("parameter clusterID is required"));
        }
        // Without it topologyConstrainedPools must choose the pool (rbd_topology.rs).
        let pool = params.get("pool").cloned().unwrap_or_default();
        if pool.is_empty() && params.get(super::rbd_topology::PARAMETER).map_or(true, |t| t.is_empty()) {
            return Err(Error::invalid("parameter pool is required"));
        }
        let features = params.get("imageFeatures").cloned().unwrap_or_else(|| "layering".to_string());
        if feature_bits(&features).is_none() {
            let known: Vec<&str> = FEATURE_BITS.iter().map(|(n, _)| *n).collect();
            return Err(Error::invalid(format!("imageFeatures {features:?}: known features are {}", known.join(", "))));
        }
        if !features.split(',').any(|f| f.trim() == "layering") {
            return Err(Error::invalid("imageFeatures must include layering"));
        }
        let cluster = self.cluster(cluster_id)?;
        let journal_pool = params.get("journalPool").filter(|s| !s.is_empty()).cloned().unwrap_or_else(|| pool.clone());
        let data_pool = params.get("dataPool").filter(|s| !s.is_empty()).cloned();
        let prefix = params.get("volumeNamePrefix").filter(|s| !s.is_empty()).cloned();
        if let Some(bad) = prefix
            .as_ref()
            .filter(|p| p.len() > 64 || !p.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)))
        {
            return Err(Error::invalid(format!(
                "volumeNamePrefix {bad:?}: use at most 64 letters, digits, '-', '_' or '.'"
            )));
        }
        let place = Place { journal_pool, ..Place::in_pool(cluster, pool) };
        let striping = super::rbd_params::striping(params)?;
        let prefix = prefix.unwrap_or_else(|| "csi-vol-".to_string());
        Ok((place, ImageSpec { features, data_pool, striping, prefix }))
    }

    /// The ids of the image pool and (when it is another pool) the journal pool, as
    /// they are now; NOT_FOUND for a pool that does not exist.
    fn pool_ids(&self, place: &Place, creds: &Credentials) -> Result<(u64, Option<u64>), Error> {
        let id = |pool: &str| {
            self.ceph.pool_id(&place.cluster, creds, pool)?.ok_or_else(|| {
                Error::NotFound(format!("pool {pool:?} does not exist in cluster {}", place.cluster.cluster_id))
            })
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

    fn context(
        place: &Place,
        image: &str,
        features: &str,
        data_pool: Option<&str>,
        params: &HashMap<String, String>,
    ) -> HashMap<String, String> {
        let mut c: HashMap<String, String> = super::rbd_params::FOR_THE_NODE
            .iter()
            .filter_map(|k| Some((k.to_string(), params.get(*k).filter(|v| !v.is_empty())?.clone())))
            .collect();
        c.insert("clusterID".to_string(), place.cluster.cluster_id.clone());
        c.insert("pool".to_string(), place.pool.clone());
        c.insert("journalPool".to_string(), place.journal_pool.clone());
        c.insert("imageName".to_string(), image.to_string());
        c.insert("imageFeatures".to_string(), features.to_string());
        if !place.namespace.is_empty() {
            c.insert("radosNamespace".to_string(), place.namespace.clone());
        }
        if let Some(dp) = data_pool {
            c.insert("dataPool".to_string(), dp.to_string());
        }
        c
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
    /// The ceph-csi create path; the caller serializes calls for one name.
    pub fn create(&self, p: &CreateParams) -> Result<VolumeInfo, Error> {
        let creds = Credentials::from_secrets(&p.secrets)?;
        let (mut place, mut new_image) = self.place_for_create(&p.parameters)?;
        let topology = self.constrain(p, &creds, &mut place, &mut new_image)?;
        let (features, data_pool) = (&new_image.features, &new_image.data_pool);
        let bytes = size_for(p.required_bytes, p.limit_bytes, DEFAULT_SIZE)?;
        let name_key = volume_name_key(&p.name);
        // Independent lookups run side by side: the pools' ids, and the name key with
        // a pending reservation's uuid. (A missing pool fails the first.)
        let (ids, names) = {
            let journal = place.journal(&creds);
            both(|| self.pool_ids(&place, &creds), || self.name_lookup(&journal, VOLUMES_DIR, &name_key))
        };
        let (pool_id, journal_pool_id) = ids?;
        place.journal_pool_id = journal_pool_id;
        let (journal, images) = (place.journal(&creds), place.images(&creds));
        let (by_name, pending) = names?;
        let (uuid, fresh) = match by_name.as_deref().and_then(parse_name_value) {
            Some((Some(saved), _)) if saved != pool_id => {
                return Err(Error::AlreadyExists(format!(
                    "volume {:?} exists in another pool (id {saved}) than {:?}",
                    p.name, place.pool
                )))
            }
            Some((_, uuid)) => {
                // A crash after the name key, before the pending key went.
                if pending.is_some() {
                    self.ceph.omap_remove(&journal, VOLUMES_DIR, &[&pending_key(&name_key)])?;
                }
                (uuid.to_string(), false)
            }
            None => {
                let uuid = self.pending_uuid(&journal, VOLUMES_DIR, &name_key, pending)?;
                let object = volume_object(&uuid);
                let journal_attr = place.journal_attr();
                let source = p.source.to_text();
                let mut attrs = vec![(VOLNAME, p.name.as_str()), (SOURCE_KEY, source.as_str())];
                attrs.extend(journal_attr.as_ref().map(|(k, v)| (*k, v.as_str())));
                self.ceph.omap_set(&images, &object, &attrs)?;
                crate::failpoint::hit("create-after-uuid-object");
                self.ceph.omap_set(&journal, VOLUMES_DIR, &[(&name_key, &place.name_value(pool_id, &uuid))])?;
                crate::failpoint::hit("create-after-name-key");
                self.ceph.omap_remove(&journal, VOLUMES_DIR, &[&pending_key(&name_key)])?;
                (uuid, true)
            }
        };
        let object = volume_object(&uuid);
        // An earlier reservation (ours, or ceph-csi's under another prefix) named its
        // image, and (ours) recorded where its content came from.
        let (recorded, recorded_source, recorded_id) = if fresh {
            (None, None, None)
        } else {
            let keys = [IMAGENAME, SOURCE_KEY, IMAGEID];
            let mut values = self.ceph.omap_get(&images, &object, &keys)?.into_iter();
            (values.next().flatten(), values.next().flatten(), values.next().flatten())
        };
        if let Some(other) = recorded_source.map(|s| Source::from_text(&s)).filter(|s| *s != p.source) {
            return Err(Error::AlreadyExists(format!(
                "volume {:?} exists with another content source ({}) than asked ({})",
                p.name,
                describe(&other),
                describe(&p.source)
            )));
        }
        // (Empty: written by an older CLI client killed mid-write; the default name.)
        let image = recorded.filter(|n| !n.is_empty()).unwrap_or_else(|| format!("{}{uuid}", new_image.prefix));
        let spec = images.spec(&image);
        // A fresh reservation has no image yet: images are created after the name key.
        let (existing, trashed) = match (fresh, recorded_id.as_deref()) {
            (true, _) => (Ok(None), Ok(None)),
            (false, None) => (self.ceph.image_info(&images, &image), Ok(None)),
            (false, Some(id)) => both(|| self.ceph.image_info(&images, &image), || self.ceph.trash_entry(&images, id)),
        };
        if trashed?.is_some() {
            // The name's volume was being deleted: a DeleteVolume cut short after it
            // moved the image to the trash (maybe not even all the way). That delete is
            // finished, and the name gets a new volume: never the one whose delete the
            // CO may still retry.
            let old = VolumeId { cluster_id: place.cluster.cluster_id.clone(), pool_id, uuid }.encode();
            log::warn!("volume {:?}: {old} was being deleted ({spec} is in the trash); finishing that first", p.name);
            self.delete(&old, &p.secrets)?;
            self.ceph.omap_remove(&journal, VOLUMES_DIR, &[&name_key])?;
            return self.create(p);
        }
        let mut existing = existing?;
        if existing.is_some() && p.source != Source::Empty && recorded_id.is_none() {
            // A clone or restore cut short by a crash: its id is recorded only once it is
            // complete, and until then the image may be anything (killed inside the
            // clone, before the parent link was set, it reads as zeros). Made again.
            log::warn!("volume {:?}: {spec} was left half-made by a crash; making it again", p.name);
            self.trash_for_later(&images, &image)?;
            existing = None;
        } else if existing.is_none() && !fresh && recorded_id.is_none() {
            // Killed inside librbd's create or clone, a crash may have left the name
            // taken by an image without a header (nothing opens it, and a create or
            // clone of that name finds it exists). Removed before it is made again.
            if self.ceph.image_remove(&images, &image)? == Removal::Removed {
                log::warn!("volume {:?}: removed {spec}, left half-made by a crash; making it again", p.name);
            }
        }
        let size = match existing {
            Some((size, id)) => {
                if size < p.required_bytes || (p.limit_bytes > 0 && size > p.limit_bytes) {
                    return Err(Error::AlreadyExists(format!(
                        "volume {:?} exists as {image} with {size} bytes; the request asks for something else",
                        p.name
                    )));
                }
                // A crash may have come before the clone was flattened or the attributes
                // were written.
                if p.source != Source::Empty {
                    self.ceph.flatten(&images, &image)?;
                }
                let attrs = [(VOLNAME, p.name.as_str()), (IMAGENAME, &image), (IMAGEID, &id)];
                self.ceph.omap_set(&images, &object, &attrs)?;
                self.set_metadata(&images, &image, p)?;
                size
            }
            None => {
                let (attr, created) = both(
                    // (csi.volname again: a reservation found by name may have lost it.)
                    || self.ceph.omap_set(&images, &object, &[(VOLNAME, &p.name), (IMAGENAME, &image)]),
                    || match &p.source {
                        Source::Empty => self.ceph.image_create(
                            &images,
                            &image,
                            bytes,
                            features,
                            data_pool.as_deref(),
                            new_image.striping,
                        ),
                        source => self.clone_into(
                            &place,
                            &creds,
                            source,
                            &image,
                            bytes,
                            CloneLayout { features, data_pool: data_pool.as_deref(), striping: new_image.striping },
                        ),
                    },
                );
                attr?;
                if let Err(e) = created {
                    // A create that cannot succeed (no such source, a bad size, no
                    // permission) gives its reservation back, as ceph-csi does; one that
                    // may have made the image after all (a timeout) keeps it for the retry.
                    if matches!(
                        e,
                        Error::NotFound(_)
                            | Error::InvalidArgument(_)
                            | Error::OutOfRange(_)
                            | Error::FailedPrecondition(_)
                    ) {
                        self.remove_journal_entry(&journal, VOLUMES_DIR, Some(&name_key), &images, &object)?;
                        log::info!("volume {:?}: create failed ({e}); its reservation {uuid} is undone", p.name);
                    }
                    return Err(e);
                }
                crate::failpoint::hit("create-after-image");
                self.set_metadata(&images, &image, p)?;
                let (size, id) = self
                    .ceph
                    .image_info(&images, &image)?
                    .ok_or_else(|| Error::Internal(format!("{spec} vanished right after it was created")))?;
                self.ceph.omap_set(&images, &object, &[(IMAGEID, &id)])?;
                log::info!("created image {spec} for {:?} ({size} bytes)", p.name);
                size
            }
        };
        let id = VolumeId { cluster_id: place.cluster.cluster_id.clone(), pool_id, uuid }.encode();
        Ok(VolumeInfo {
            id,
            size,
            context: Self::context(&place, &image, features, data_pool.as_deref(), &p.parameters),
            // Kubernetes fails (and deletes) a restore or clone whose reply lacks it.
            source: p.source.clone(),
            topology: topology.into_iter().collect(),
        })
    }

    pub fn expand(
        &self,
        volume_id: &str,
        required: u64,
        limit: u64,
        secrets: &HashMap<String, String>,
    ) -> Result<u64, Error> {
        let id =
            VolumeId::decode(volume_id).ok_or_else(|| Error::NotFound(format!("volume {volume_id} does not exist")))?;
        let creds = Credentials::from_secrets(secrets)?;
        let place = self
            .place_for_id(&id, &creds)?
            .ok_or_else(|| Error::NotFound(format!("volume {volume_id} does not exist")))?;
        let images = place.images(&creds);
        let image = self.volume_image(&images, &id.uuid)?;
        let (size, _) = self
            .ceph
            .image_info(&images, &image)?
            .ok_or_else(|| Error::NotFound(format!("volume {volume_id} does not exist")))?;
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
mod delete;
#[cfg(test)]
mod fake;
#[cfg(test)]
mod fake_tests;
mod journal;
mod snap;

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
