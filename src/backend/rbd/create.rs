//! CreateVolume for the rbd backend: where the volume goes (the StorageClass
//! parameters, params.rs; topologyConstrainedPools, topology.rs), its reservation in
//! ceph-csi's journal, then its image (empty, a clone, or a restore).
//!
//! Reserved in this order: a random uuid as the name's pending reservation
//! (`pending_key`, rbd-csi's own key beside the name keys), the uuid object, the name
//! key, the attributes; then the pending key goes and the image is created (a clone or
//! restore: its id recorded only once it is complete). A crash between any two steps
//! is finished by the next identical call.

use std::collections::HashMap;

use super::journal::{
    parse_name_value, pending_key, volume_name_key, volume_object, IMAGEID, IMAGENAME, SOURCE_KEY, VOLNAME, VOLUMES_DIR,
};
use super::topology::{Constraint, PARAMETER};
use super::{both, ImageSpec, Place, RbdController, VolumeId, DEFAULT_SIZE};
use crate::backend::{size_for, CreateParams, Segments, Source, VolumeInfo};
use crate::ceph::rados::{feature_bits, CloneLayout, Removal, Target, FEATURE_BITS};
use crate::ceph::Credentials;
use crate::error::{CephCause, Error, Kind, VolumeError};

/// A content source for a message.
fn describe(s: &Source) -> String {
    match s {
        Source::Empty => "none".to_string(),
        Source::Snapshot(id) => format!("snapshot {id}"),
        Source::Volume(id) => format!("volume {id}"),
    }
}

impl RbdController {
    /// Keeps the sidecars' PV/PVC names as the image's metadata, as ceph-csi does.
    fn set_metadata(&self, images: &Target, image: &str, p: &CreateParams) -> Result<(), Error> {
        let metadata = super::params::image_metadata(&p.parameters);
        if metadata.is_empty() {
            return Ok(());
        }
        self.ceph.metadata_set(images, image, &metadata)
    }

    fn place_for_create(&self, params: &HashMap<String, String>) -> Result<(Place, ImageSpec), Error> {
        super::params::check(params)?;
        let cluster_id = params.get("clusterID").map(String::as_str).unwrap_or("");
        if cluster_id.is_empty() {
            return Err(Error::invalid("parameter clusterID is required"));
        }
        // Without it topologyConstrainedPools must choose the pool (topology.rs).
        let pool = params.get("pool").cloned().unwrap_or_default();
        if pool.is_empty() && params.get(super::topology::PARAMETER).map_or(true, |t| t.is_empty()) {
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
        let striping = super::params::striping(params)?;
        let prefix = prefix.unwrap_or_else(|| "csi-vol-".to_string());
        Ok((place, ImageSpec { features, data_pool, striping, prefix }))
    }

    fn context(
        place: &Place,
        image: &str,
        features: &str,
        data_pool: Option<&str>,
        params: &HashMap<String, String>,
    ) -> HashMap<String, String> {
        let mut c: HashMap<String, String> = super::params::FOR_THE_NODE
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
                let differs = format!("in another pool (id {saved}) than {:?}", place.pool);
                return Err(name_taken(p, differs));
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
            let differs =
                format!("with another content source ({}) than asked ({})", describe(&other), describe(&p.source));
            return Err(name_taken(p, differs));
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
                    let differs = format!("as {image} with {size} bytes; the request asks for something else");
                    return Err(name_taken(p, differs));
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
                    if made_nothing(&e) {
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
                    .ok_or_else(|| Error::from(VolumeError::Vanished { what: spec.clone() }))?;
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

    /// Applies topologyConstrainedPools to a new volume's place and image (see the
    /// module comment); returns the topology the volume serves, None when the
    /// parameter chose nothing. Then `pool` must have been given.
    pub(super) fn constrain(
        &self,
        p: &CreateParams,
        creds: &Credentials,
        place: &mut Place,
        image: &mut ImageSpec,
    ) -> Result<Option<Segments>, Error> {
        let Some(constraint) = Constraint::new(&p.parameters, p.accessibility.as_ref())? else {
            if place.pool.is_empty() {
                return Err(Error::invalid(format!(
                    "parameter pool is required: {PARAMETER} chooses a pool only by the request's \
                     accessibility_requirements, and this request has none"
                )));
            }
            return Ok(None);
        };
        let chosen = match &p.source {
            Source::Snapshot(id) => {
                let gone = || Error::no_such(Kind::Snapshot, id);
                let vid = VolumeId::decode(id).ok_or_else(gone)?;
                let pool = self.place_for_id(&vid, creds)?.ok_or_else(gone)?.pool;
                constraint.place_in(&pool, id)?
            }
            Source::Volume(_) | Source::Empty => constraint.place()?,
        };
        if p.parameters.get("journalPool").map_or(true, |j| j.is_empty()) {
            place.journal_pool = chosen.pool.clone();
        }
        place.pool = chosen.pool;
        image.data_pool = chosen.data_pool;
        Ok(Some(chosen.topology))
    }
}

/// Volume name `p.name` is taken by a volume that `differs` from the one asked for.
fn name_taken(p: &CreateParams, differs: String) -> Error {
    VolumeError::NameTaken { kind: Kind::Volume, name: p.name.clone(), differs }.into()
}

/// Whether a failed image create surely made nothing: no such source, a bad size, no
/// permission, something in the way; unlike a timeout, after which the image may exist.
fn made_nothing(e: &Error) -> bool {
    match e {
        Error::Ceph(f) => matches!(f.cause, CephCause::Missing | CephCause::Denied | CephCause::Busy),
        Error::Volume(VolumeError::NoSuch { .. } | VolumeError::NoSuchSource { .. }) => true,
        Error::NotFound(_) | Error::InvalidArgument(_) | Error::OutOfRange(_) | Error::FailedPrecondition(_) => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_create_made_nothing_unless_it_may_have() {
        for cause in [CephCause::Missing, CephCause::Denied, CephCause::Busy] {
            assert!(made_nothing(&Error::ceph("clone", cause, "x")), "{cause:?}");
        }
        for cause in [CephCause::Unreachable, CephCause::Other, CephCause::Exists, CephCause::Full] {
            assert!(!made_nothing(&Error::ceph("clone", cause, "x")), "{cause:?}");
        }
        assert!(made_nothing(&VolumeError::NoSuchSource { id: "v".into() }.into()));
        assert!(made_nothing(&Error::no_such(Kind::Snapshot, "s")));
        assert!(!made_nothing(&VolumeError::ClaimContended { volume: "v".into() }.into()));
        assert!(!made_nothing(&Error::Unavailable("timed out".into())));
    }
}
