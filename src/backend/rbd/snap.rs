//! rbd snapshots, and volumes cloned from a snapshot or a volume.
//!
//! A CSI snapshot is kept as ceph-csi keeps it (v3.12.2's doSnapshotClone), so either
//! driver restores and deletes the other's: a clone-v2 image `csi-snap-<uuid>` (features
//! layering,deep-flatten) of a snapshot of the source taken for the purpose and removed
//! right after (the source keeps it in its trash namespace while the clone lives), that
//! carries its own rbd snapshot `csi-snap-<uuid>`. The snapshot is thus an image of its
//! own: it outlives its source volume. Journaled like ceph-csi's and like volumes
//! (mod.rs): `csi.snaps.default`, in the source volume's journal pool, maps
//! `csi.snap.<name>` → uuid; `csi.snap.<uuid>`, in the image pool, holds `csi.snapname`,
//! `csi.imagename` (`csi-snap-<uuid>`, or ceph-csi's snapshotNamePrefix), `csi.source`
//! (the source image), `csi.imageid` (the snapshot image's id) and, ours only,
//! `csi.sourceid` (the source's image id, to find it once it is in the trash).
//!
//! Before this layout rbd-csi kept a snapshot as an rbd snapshot of the source image
//! itself. Those are still found, restored, listed and deleted; a DeleteVolume turns
//! them into snapshot images first, so they stay restorable without their volume.
//!
//! Restores and clones are clone-v2 children, flattened at once so parents and children
//! can be deleted in any order. A volume deleted while snapshot images still hang on it
//! goes to the trash with a mgr task that removes it once they are gone (delete.rs); when
//! this driver deletes the last of them it removes the trashed source at once.

use std::collections::HashMap;

use super::journal::{
    is_snap_name_key, snap_name_key, snap_object, volume_object, IMAGEID, IMAGENAME, JOURNAL_POOL_KEY, SNAPNAME,
    SNAPS_DIR, SOURCE, SOURCEID,
};
use super::{both, parse_name_value, pending_key, Place, RbdController, VolumeId};
use crate::backend::{SnapshotInfo, Source};
use crate::ceph::rados::{CloneLayout, ImageRef, Removal, SnapInfo, Striping, Target};
use crate::ceph::Credentials;
use crate::error::{CephCause, Error, Kind, VolumeError};

/// A snapshot's journal entry.
struct SnapRecord {
    /// csi.source: the source volume's image.
    source: Option<String>,
    /// csi.sourceid: its image id (to reach it in the trash).
    source_id: Option<String>,
    /// csi.imagename: the rbd snapshot's name (and ceph-csi's image's), by default
    /// `csi-snap-<uuid>`; ceph-csi's snapshotNamePrefix may have chosen another prefix.
    name: String,
    /// csi.snapname: the CSI request name.
    request_name: Option<String>,
    /// csi.journalpool, when the name directory is in another pool.
    journal_pool: Option<String>,
    /// csi.imageid: the snapshot image's id (ceph-csi's layout), to reach it in the
    /// trash.
    image_id: Option<String>,
}

/// Where a snapshot lives.
enum SnapData {
    /// The old layout: on the source image, by name.
    OnSource(String),
    /// The old layout, its source deleted by an earlier version: on the trashed
    /// source image, by id (not restorable; listed and deleted).
    InTrash(String),
    /// ceph-csi's layout (rbd-csi's now): on its own clone image of the same name.
    OwnImage(String),
}

impl RbdController {
    /// The id and place of snapshot or source volume `id`; `missing` when there is
    /// none.
    fn snap_place(&self, id: &str, creds: &Credentials, missing: VolumeError) -> Result<(VolumeId, Place), Error> {
        let Some(vid) = VolumeId::decode(id) else { return Err(missing.into()) };
        let Some(place) = self.place_for_id(&vid, creds)? else { return Err(missing.into()) };
        Ok((vid, place))
    }

    /// The journal entry of snapshot `uuid` (`csi.snap.<uuid>` beside the images).
    fn snap_record(&self, images: &Target, uuid: &str) -> Result<SnapRecord, Error> {
        let keys = [SOURCE, SOURCEID, IMAGENAME, SNAPNAME, JOURNAL_POOL_KEY, IMAGEID];
        let mut values = self.ceph.omap_get(images, &snap_object(uuid), &keys)?.into_iter();
        let mut next = || values.next().flatten();
        Ok(SnapRecord {
            source: next(),
            source_id: next(),
            name: next().unwrap_or_else(|| format!("csi-snap-{uuid}")),
            request_name: next(),
            journal_pool: next(),
            image_id: next(),
        })
    }

    /// Where a journaled snapshot's data is, with its rbd snapshot; None when it is gone.
    fn locate_snapshot(&self, images: &Target, rec: &SnapRecord) -> Result<Option<(SnapData, SnapInfo)>, Error> {
        let Some(source) = &rec.source else { return Ok(None) };
        let name = &rec.name;
        let find = |snaps: Option<Vec<SnapInfo>>| snaps.unwrap_or_default().into_iter().find(|s| &s.name == name);
        // ceph-csi's: an image of the snapshot's name.
        if let Some(snaps) = self.ceph.snap_list(images, ImageRef::Name(name))? {
            return Ok(find(Some(snaps)).map(|s| (SnapData::OwnImage(name.clone()), s)));
        }
        if let Some(snaps) = self.ceph.snap_list(images, ImageRef::Name(source))? {
            return Ok(find(Some(snaps)).map(|s| (SnapData::OnSource(source.clone()), s)));
        }
        match &rec.source_id {
            // The source volume was deleted: its image waits in the trash.
            Some(id) => {
                Ok(find(self.ceph.snap_list(images, ImageRef::Id(id))?).map(|s| (SnapData::InTrash(id.clone()), s)))
            }
            None => Ok(None),
        }
    }

    pub fn snapshot_create(
        &self,
        source_id: &str,
        name: &str,
        secrets: &HashMap<String, String>,
    ) -> Result<SnapshotInfo, Error> {
        let creds = Credentials::from_secrets(secrets)?;
        let (src, mut place) = self.snap_place(source_id, &creds, no_source(source_id))?;
        // Snapshots are journaled where their source volume is.
        let source_object = volume_object(&src.uuid);
        let mut recorded =
            self.ceph.omap_get(&place.images(&creds), &source_object, &[IMAGENAME, JOURNAL_POOL_KEY])?.into_iter();
        let source_image = recorded.next().flatten().unwrap_or_else(|| format!("csi-vol-{}", src.uuid));
        self.use_recorded_journal(&mut place, &creds, recorded.next().flatten().as_deref())?;
        let (journal, images) = (place.journal(&creds), place.images(&creds));
        let name_key = snap_name_key(name);
        let (by_name, pending) = self.name_lookup(&journal, SNAPS_DIR, &name_key)?;
        let (mut recorded_name, mut recorded_id) = (None, None);
        let uuid = match by_name.as_deref().and_then(parse_name_value) {
            Some((_, uuid)) => {
                let uuid = uuid.to_string();
                let rec = self.snap_record(&images, &uuid)?;
                if let Some(other) = rec.source.as_deref().filter(|s| *s != source_image) {
                    let differs = format!("for another volume ({other})");
                    return Err(VolumeError::NameTaken { kind: Kind::Snapshot, name: name.into(), differs }.into());
                }
                // A crash after the name key, before the pending key went.
                if pending.is_some() {
                    self.ceph.omap_remove(&journal, SNAPS_DIR, &[&pending_key(&name_key)])?;
                }
                (recorded_name, recorded_id) = (Some(rec.name), rec.image_id);
                uuid
            }
            None => {
                let uuid = self.pending_uuid(&journal, SNAPS_DIR, &name_key, pending)?;
                let journal_attr = place.journal_attr();
                let mut attrs = vec![(SNAPNAME, name)];
                attrs.extend(journal_attr.as_ref().map(|(k, v)| (*k, v.as_str())));
                self.ceph.omap_set(&images, &snap_object(&uuid), &attrs)?;
                self.ceph.omap_set(&journal, SNAPS_DIR, &[(&name_key, &place.name_value(src.pool_id, &uuid))])?;
                self.ceph.omap_remove(&journal, SNAPS_DIR, &[&pending_key(&name_key)])?;
                uuid
            }
        };
        let object = snap_object(&uuid);
        let snap = recorded_name.unwrap_or_else(|| format!("csi-snap-{uuid}"));
        let (info, attrs) = both(
            || self.ceph.image_info(&images, &source_image),
            || self.ceph.omap_set(&images, &object, &[(SOURCE, &source_image), (IMAGENAME, &snap)]),
        );
        attrs?;
        let (_, source_img_id) = info?.ok_or_else(|| Error::from(no_source(source_id)))?;
        // A retry of a snapshot ceph-csi made finds it; otherwise it is made (again) here.
        let rec = SnapRecord {
            source: Some(source_image.clone()),
            source_id: None,
            name: snap.clone(),
            request_name: None,
            journal_pool: None,
            image_id: None,
        };
        let made = match self.locate_snapshot(&images, &rec)? {
            Some((SnapData::OwnImage(image), info)) => {
                // A crash after the image was made, before its id was recorded: the id
                // is what finds it in the trash if its delete is cut short.
                if recorded_id.is_none() {
                    if let Some((_, image_id)) = self.ceph.image_info(&images, &image)? {
                        self.ceph.omap_set(&images, &object, &[(IMAGEID, &image_id)])?;
                    }
                }
                info
            }
            _ => {
                self.ceph.omap_set(&images, &object, &[(SOURCEID, &source_img_id)])?;
                self.make_snapshot_image(&images, &source_image, &snap)?;
                let spec = images.spec(&snap);
                let (_, image_id) = self
                    .ceph
                    .image_info(&images, &snap)?
                    .ok_or_else(|| Error::from(VolumeError::Vanished { what: spec.clone() }))?;
                self.ceph.omap_set(&images, &object, &[(IMAGEID, &image_id)])?;
                log::info!("created snapshot {spec}@{snap} of {} ({name:?})", images.spec(&source_image));
                self.locate_snapshot(&images, &rec)?
                    .map(|(_, info)| info)
                    .ok_or_else(|| Error::from(VolumeError::Vanished { what: format!("{spec}@{snap}") }))?
            }
        };
        Ok(SnapshotInfo {
            id: VolumeId { uuid, ..src }.encode(),
            source_volume: source_id.to_string(),
            size: made.size,
            created_secs: made.created_secs,
            created_nanos: 0,
            ready: true,
        })
    }

    pub fn snapshot_delete(&self, id: &str, secrets: &HashMap<String, String>) -> Result<(), Error> {
        let Some(vid) = VolumeId::decode(id) else {
            log::info!("snapshot {id:?} is not a ceph-csi id; nothing to delete");
            return Ok(());
        };
        let creds = Credentials::from_secrets(secrets)?;
        let Some(mut place) = self.place_for_id(&vid, &creds)? else { return Ok(()) };
        let object = snap_object(&vid.uuid);
        let rec = self.snap_record(&place.images(&creds), &vid.uuid)?;
        self.use_recorded_journal(&mut place, &creds, rec.journal_pool.as_deref())?;
        let (journal, images) = (place.journal(&creds), place.images(&creds));
        match self.locate_snapshot(&images, &rec)? {
            Some((SnapData::OnSource(image), snap)) => {
                self.ceph.snap_remove(&images, ImageRef::Name(&image), &snap.name)?;
            }
            Some((SnapData::InTrash(image_id), snap)) => self.remove_trashed_snap(&images, &image_id, &snap.name)?,
            Some((SnapData::OwnImage(image), snap)) => {
                self.remove_snapshot_image(&images, &image, &snap.name)?;
                if let Some(source_id) = &rec.source_id {
                    self.remove_if_unused_in_trash(&images, source_id)?;
                }
            }
            // A create cut short by a crash: its temporary snapshot of the source, or
            // its image without the image's snapshot (both named for this snapshot
            // alone) may be there. Or a delete cut short: the image in the trash.
            None => {
                if let Some(source) = &rec.source {
                    self.ceph.snap_remove(&images, ImageRef::Name(source), &rec.name)?;
                }
                self.remove_snapshot_image(&images, &rec.name, &rec.name)?;
                if let Some(image_id) = &rec.image_id {
                    self.ceph.trash_remove(&images, image_id)?;
                }
                // The snapshot image may have been the trashed source's last dependent.
                if let Some(source_id) = &rec.source_id {
                    self.remove_if_unused_in_trash(&images, source_id)?;
                }
            }
        }
        let name_key = rec.request_name.map(|name| snap_name_key(&name));
        self.remove_journal_entry(&journal, SNAPS_DIR, name_key.as_deref(), &images, &object)?;
        log::info!("deleted snapshot {id}");
        Ok(())
    }

    /// ListSnapshots: by snapshot id, by source volume, or (neither given) every
    /// journaled snapshot in every pool of every configured cluster this user can read.
    pub fn snapshot_list(
        &self,
        snapshot_id: &str,
        source_volume: &str,
        secrets: &HashMap<String, String>,
    ) -> Result<Vec<SnapshotInfo>, Error> {
        let creds = Credentials::from_secrets(secrets)?;
        let mut out = Vec::new();
        if !snapshot_id.is_empty() || !source_volume.is_empty() {
            let id = if snapshot_id.is_empty() { source_volume } else { snapshot_id };
            // An id of an unknown cluster or pool names nothing: an empty list.
            let Some(vid) = VolumeId::decode(id) else { return Ok(out) };
            let Ok(Some(place)) = self.place_for_id(&vid, &creds) else { return Ok(out) };
            if snapshot_id.is_empty() {
                self.snapshots_of_volume(place, &creds, &vid, &mut out)?;
            } else {
                self.journaled_snapshots(&place, &creds, vid.pool_id, &[vid.uuid], |_| true, &mut out)?;
            }
        } else {
            let text = std::fs::read_to_string(&self.config)
                .map_err(|e| Error::Unavailable(format!("cannot read {}: {e}", self.config.display())))?;
            let clusters = crate::ceph::parse_config(&text).map_err(Error::Unavailable)?;
            for cluster in clusters {
                let pools = match self.ceph.pools(&cluster, &creds) {
                    Ok(pools) => pools,
                    // Another cluster of the config may be down, or not know this user.
                    Err(e) if e.ceph_cause() == Some(CephCause::Unreachable) || matches!(e, Error::Unavailable(_)) => {
                        log::warn!("ListSnapshots skips cluster {}: {e}", cluster.cluster_id);
                        continue;
                    }
                    Err(e) => return Err(e),
                };
                for pool in pools {
                    let place = Place::in_pool(cluster.clone(), pool);
                    match self.snapshots_in_pool(&place, &creds, &mut out) {
                        // Pools this user may not read, or that went away meanwhile.
                        Err(e) if matches!(e.ceph_cause(), Some(CephCause::Denied | CephCause::Missing)) => {}
                        other => other?,
                    }
                }
            }
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    /// The snapshots named in the snapshot directory of `place`'s pool (their images
    /// may be in other pools: ceph-csi's journalPool).
    fn snapshots_in_pool(&self, place: &Place, creds: &Credentials, out: &mut Vec<SnapshotInfo>) -> Result<(), Error> {
        let entries = self.ceph.omap_list(&place.journal(creds), SNAPS_DIR)?;
        if entries.is_empty() {
            return Ok(());
        }
        let Some(here) = self.ceph.pool_id(&place.cluster, creds, &place.pool)? else { return Ok(()) };
        let mut by_pool: HashMap<u64, Vec<String>> = HashMap::new();
        for (_, value) in entries.iter().filter(|(key, _)| is_snap_name_key(key)) {
            if let Some((pool, uuid)) = parse_name_value(value) {
                by_pool.entry(pool.unwrap_or(here)).or_default().push(uuid.to_string());
            }
        }
        for (pool_id, uuids) in by_pool {
            let Some(pool) = self.ceph.pool_name(&place.cluster, creds, pool_id)? else { continue };
            let image_place = Place::in_pool(place.cluster.clone(), pool);
            self.journaled_snapshots(&image_place, creds, pool_id, &uuids, |_| true, out)?;
        }
        Ok(())
    }

    /// The snapshots with these uuids whose journal entry (that `keep` accepts) and rbd
    /// snapshot both exist.
    fn journaled_snapshots(
        &self,
        place: &Place,
        creds: &Credentials,
        pool_id: u64,
        uuids: &[String],
        keep: impl Fn(&SnapRecord) -> bool,
        out: &mut Vec<SnapshotInfo>,
    ) -> Result<(), Error> {
        let images = place.images(creds);
        for uuid in uuids {
            let rec = self.snap_record(&images, uuid)?;
            if !keep(&rec) {
                continue;
            }
            let Some((_, snap)) = self.locate_snapshot(&images, &rec)? else { continue };
            let source = rec.source.unwrap_or_default();
            // Image names end in the volume's uuid, whatever their prefix.
            let Some(source_uuid) = source.get(source.len().saturating_sub(36)..) else { continue };
            let id =
                |uuid: &str| VolumeId { cluster_id: place.cluster.cluster_id.clone(), pool_id, uuid: uuid.to_string() };
            out.push(SnapshotInfo {
                id: id(uuid).encode(),
                source_volume: id(source_uuid).encode(),
                size: snap.size,
                created_secs: snap.created_secs,
                created_nanos: 0,
                ready: true,
            });
        }
        Ok(())
    }

    /// The CSI snapshots of one volume: the journaled snapshots (either layout) whose
    /// source is its image, found in the journal its snapshots were made in.
    fn snapshots_of_volume(
        &self,
        place: Place,
        creds: &Credentials,
        volume: &VolumeId,
        out: &mut Vec<SnapshotInfo>,
    ) -> Result<(), Error> {
        let mut place = place;
        let object = volume_object(&volume.uuid);
        let mut attrs = self.ceph.omap_get(&place.images(creds), &object, &[IMAGENAME, JOURNAL_POOL_KEY])?.into_iter();
        let image =
            attrs.next().flatten().filter(|n| !n.is_empty()).unwrap_or_else(|| format!("csi-vol-{}", volume.uuid));
        self.use_recorded_journal(&mut place, creds, attrs.next().flatten().as_deref())?;
        let entries = self.ceph.omap_list(&place.journal(creds), SNAPS_DIR)?;
        let uuids: Vec<String> = entries
            .iter()
            .filter(|(key, _)| is_snap_name_key(key))
            .filter_map(|(_, value)| parse_name_value(value))
            .filter(|(pool, _)| pool.map_or(true, |p| p == volume.pool_id))
            .map(|(_, uuid)| uuid.to_string())
            .collect();
        self.journaled_snapshots(&place, creds, volume.pool_id, &uuids, |rec| rec.source.as_ref() == Some(&image), out)
    }

    /// Removes a snapshot's image (ceph-csi's layout): its snapshot, then the image,
    /// here and now (not through a mgr task), so the source volume's snapshot it was
    /// cloned from (kept in the trash namespace while it had this child) goes with it.
    fn remove_snapshot_image(&self, images: &Target, image: &str, snap: &str) -> Result<(), Error> {
        self.ceph.snap_remove(images, ImageRef::Name(image), snap)?;
        let Some((_, image_id)) = self.ceph.image_info(images, image)? else { return Ok(()) };
        self.ceph.trash_move(images, image)?;
        self.ceph.trash_remove(images, &image_id)?;
        log::info!("removed snapshot image {}", images.spec(image));
        Ok(())
    }

    /// Removes `snap` of a trashed image; the image itself goes when no snapshot is left.
    fn remove_trashed_snap(&self, images: &Target, image_id: &str, snap: &str) -> Result<(), Error> {
        if !self.ceph.snap_remove(images, ImageRef::Id(image_id), snap)? {
            return Ok(());
        }
        self.remove_if_unused_in_trash(images, image_id)
    }

    /// Removes the image `image_id` if it waits in the trash with nothing left that
    /// keeps it (no snapshot, no clone hanging on one); the mgr task its delete queued
    /// would get there too, but only at its next retry. An image that is not in the
    /// trash is left alone (removing it from the trash finds nothing).
    fn remove_if_unused_in_trash(&self, images: &Target, image_id: &str) -> Result<(), Error> {
        if self.ceph.snap_list(images, ImageRef::Id(image_id))?.is_some_and(|s| s.is_empty()) {
            self.ceph.trash_remove(images, image_id)?;
            log::info!("removed trashed image {image_id}: nothing depends on it any more");
        }
        Ok(())
    }

    /// Makes snapshot `snap` of `source` in ceph-csi's layout (see the module comment):
    /// an image `snap`, cloned from a snapshot `snap` of the source that is removed
    /// again, carrying its own snapshot `snap`. Every step accepts what an interrupted
    /// earlier call left: an existing snapshot or clone, a snapshot already removed.
    /// Also turns a snapshot of the old layout (an rbd snapshot `snap` of the source)
    /// into this one.
    ///
    /// A clone killed inside librbd may leave the name taken by an image without a
    /// header: the clone step then finds it "exists", and the last step cannot open it.
    /// Such remains are removed and the whole is made again, once.
    pub(super) fn make_snapshot_image(&self, images: &Target, source: &str, snap: &str) -> Result<(), Error> {
        match self.make_snapshot_image_once(images, source, snap) {
            Err(e)
                if e.ceph_cause() == Some(CephCause::Missing)
                    && self.ceph.image_info(images, snap)?.is_none()
                    && self.ceph.image_remove(images, snap)? == Removal::Removed =>
            {
                log::warn!("removed {}, left half-made by a crash ({e}); making it again", images.spec(snap));
                self.make_snapshot_image_once(images, source, snap)
            }
            result => result,
        }
    }

    fn make_snapshot_image_once(&self, images: &Target, source: &str, snap: &str) -> Result<(), Error> {
        self.ceph.snap_create(images, source, snap)?;
        let layout = CloneLayout { features: "layering,deep-flatten", data_pool: None, striping: Striping::default() };
        self.ceph.clone_image(images, source, snap, images, snap, layout)?;
        crate::failpoint::hit("snapshot-after-clone");
        self.ceph.snap_remove(images, ImageRef::Name(source), snap)?;
        self.ceph.snap_create(images, snap, snap)
    }

    /// Turns the old-layout snapshots on `image` (rbd snapshots `csi-snap-…` of the
    /// volume itself) into snapshot images before the volume is deleted, so they stay
    /// restorable without it.
    pub(super) fn detach_snapshots(&self, images: &Target, image: &str) -> Result<(), Error> {
        let snaps = self.ceph.snap_list(images, ImageRef::Name(image))?.unwrap_or_default();
        for snap in snaps.iter().filter(|s| s.name.starts_with("csi-snap-")) {
            self.make_snapshot_image(images, image, &snap.name)?;
            log::info!("snapshot {}@{} is now an image of its own", images.spec(image), snap.name);
        }
        Ok(())
    }

    /// Fills the new image `image` from a snapshot or a volume: a clone-v2 child, grown
    /// to `bytes`, then flattened so it depends on nothing.
    pub(super) fn clone_into(
        &self,
        place: &Place,
        creds: &Credentials,
        source: &Source,
        image: &str,
        bytes: u64,
        layout: CloneLayout,
    ) -> Result<(), Error> {
        let child = place.images(creds);
        let parent_place;
        let (parent_image, parent_snap, temp) = match source {
            Source::Empty => return Err(Error::internal("clone_into without a source")),
            Source::Snapshot(id) => {
                let (vid, sp) = self.snap_place(id, creds, no_snapshot(id))?;
                let gone = || Error::no_such(Kind::Snapshot, id);
                let rec = self.snap_record(&sp.images(creds), &vid.uuid)?;
                let (image, snap) = match self.locate_snapshot(&sp.images(creds), &rec)?.ok_or_else(gone)? {
                    (SnapData::OnSource(image) | SnapData::OwnImage(image), snap) => (image, snap.name),
                    (SnapData::InTrash(_), _) => return Err(gone()),
                };
                parent_place = sp;
                (image, snap, false)
            }
            Source::Volume(id) => {
                let (vid, vp) = self.snap_place(id, creds, no_source(id))?;
                let src = self.volume_image(&vp.images(creds), &vid.uuid)?;
                // A temporary snapshot named after the new image, so a retry reuses it.
                let temp = format!("csi-clone-{image}");
                self.ceph.snap_create(&vp.images(creds), &src, &temp).map_err(|e| match e.ceph_cause() {
                    Some(CephCause::Missing) => no_source(id).into(),
                    _ => e,
                })?;
                parent_place = vp;
                (src, temp, true)
            }
        };
        let parent = parent_place.images(creds);
        let result = self
            .ceph
            .clone_image(&parent, &parent_image, &parent_snap, &child, image, layout)
            .and_then(|()| self.ceph.resize(&child, image, bytes))
            .and_then(|()| self.ceph.flatten(&child, image));
        if temp {
            if let Err(e) = self.ceph.snap_remove(&parent, ImageRef::Name(&parent_image), &parent_snap) {
                log::warn!("cannot remove temporary snapshot {}@{parent_snap}: {e}", parent.spec(&parent_image));
            }
        }
        result
    }
}

fn no_source(id: &str) -> VolumeError {
    VolumeError::NoSuchSource { id: id.to_string() }
}

fn no_snapshot(id: &str) -> VolumeError {
    VolumeError::NoSuch { kind: Kind::Snapshot, id: id.to_string() }
}
