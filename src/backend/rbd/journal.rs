//! ceph-csi's journal, its layout owned here only (DESIGN.md §4; the v1 volume id is
//! in backend/volume_id.rs): the object and key names, the name directories' values,
//! rbd-csi's own keys beside ceph-csi's, and how a name is reserved (a pending uuid
//! first, see `pending_key`). What a create or delete does with them is in mod.rs,
//! snap.rs and delete.rs.
//!
//! The names are ceph-csi's (internal/journal/voljournal.go): renaming one loses every
//! volume made before, by either driver.

use super::{RbdController, Target};
use crate::error::Error;

/// The directory of volume request names, in the journal pool: `csi.volume.<name>` →
/// `<uuid>`, or `<image pool id, 16 hex>/<uuid>` when the image is in another pool.
pub(super) const VOLUMES_DIR: &str = "csi.volumes.default";
/// The directory of snapshot request names, in the source volume's journal pool.
pub(super) const SNAPS_DIR: &str = "csi.snaps.default";
const VOLUME_PREFIX: &str = "csi.volume.";
const SNAP_PREFIX: &str = "csi.snap.";

/// The volume directory's key of request name `name`.
pub(super) fn volume_name_key(name: &str) -> String {
    format!("{VOLUME_PREFIX}{name}")
}

/// The snapshot directory's key of request name `name`.
pub(super) fn snap_name_key(name: &str) -> String {
    format!("{SNAP_PREFIX}{name}")
}

/// Whether a key of the snapshot directory names a snapshot (other keys there:
/// pending reservations).
pub(super) fn is_snap_name_key(key: &str) -> bool {
    key.starts_with(SNAP_PREFIX)
}

/// The object of volume `uuid`, beside its image.
pub(super) fn volume_object(uuid: &str) -> String {
    format!("{VOLUME_PREFIX}{uuid}")
}

/// The object of snapshot `uuid`, beside its image.
pub(super) fn snap_object(uuid: &str) -> String {
    format!("{SNAP_PREFIX}{uuid}")
}

// The keys of a volume's or snapshot's object.
/// The request name (volumes).
pub(super) const VOLNAME: &str = "csi.volname";
/// The request name (snapshots).
pub(super) const SNAPNAME: &str = "csi.snapname";
/// The image's name.
pub(super) const IMAGENAME: &str = "csi.imagename";
/// The image's id (written once the image exists).
pub(super) const IMAGEID: &str = "csi.imageid";
/// A snapshot's source image, by name and by id.
pub(super) const SOURCE: &str = "csi.source";
pub(super) const SOURCEID: &str = "csi.sourceid";
/// The journal pool's id (16 hex) when it is not the image pool.
pub(super) const JOURNAL_POOL_KEY: &str = "csi.journalpool";

/// rbd-csi's own key in a volume's uuid object: where its content came from
/// (`Source::to_text`), so a CreateVolume retry with another source is told apart.
/// ceph-csi reads only its own keys; volumes it made have none (then nothing can be
/// compared, and a retry is taken as the same request).
pub(super) const SOURCE_KEY: &str = "rbd-csi.contentsource";

pub(super) fn format_uuid(mut b: [u8; 16]) -> String {
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}

pub(super) fn new_uuid() -> Result<String, Error> {
    let mut b = [0u8; 16];
    crate::sys::random_bytes(&mut b)?;
    Ok(format_uuid(b))
}

/// The directory key under which a reservation in progress keeps the uuid it drew
/// for `name_key` (`csi.volume.<name>`, `csi.snap.<name>`), written before anything
/// else: a create cut short by a crash finds its uuid again on retry, so it finishes
/// what it started instead of leaving an orphan, while every new use of a name gets a
/// random uuid, as in ceph-csi (a name used again never gets the identity of a deleted
/// volume, which a late retry of that volume's delete would otherwise remove). Gone
/// once the name key is written; ceph-csi never reads it.
pub(super) fn pending_key(name_key: &str) -> String {
    format!("rbd-csi.pending.{name_key}")
}

/// A name key's value: (the image pool id when recorded, the uuid).
pub(super) fn parse_name_value(value: &str) -> Option<(Option<u64>, &str)> {
    let (pool, uuid) = match value.split_once('/') {
        None => (None, value),
        Some((pool, uuid)) if pool.len() == 16 => (Some(u64::from_str_radix(pool, 16).ok()?), uuid),
        Some(_) => return None,
    };
    (uuid.len() == 36).then_some((pool, uuid))
}

impl RbdController {
    /// Removes a volume's or snapshot's journal entry, the last step of a delete: its
    /// name key in directory `dir` (when the request name is known), then its uuid
    /// object. Both removals are no-ops when already done.
    pub(super) fn remove_journal_entry(
        &self,
        journal: &Target,
        dir: &str,
        name_key: Option<&str>,
        images: &Target,
        object: &str,
    ) -> Result<(), Error> {
        if let Some(key) = name_key {
            self.ceph.omap_remove(journal, dir, &[key, &pending_key(key)])?;
        }
        self.ceph.remove_object(images, object)
    }

    /// The uuid `name_key` maps to in directory `dir`, and the uuid a reservation of
    /// that name cut short by a crash had drawn (see pending_key): one read.
    pub(super) fn name_lookup(
        &self,
        journal: &Target,
        dir: &str,
        name_key: &str,
    ) -> Result<(Option<String>, Option<String>), Error> {
        let mut values = self.ceph.omap_get(journal, dir, &[name_key, &pending_key(name_key)])?.into_iter();
        Ok((values.next().flatten(), values.next().flatten()))
    }

    /// The uuid of a new reservation of `name_key`: the one a reservation cut short
    /// drew, else a new random one, recorded as pending before anything else.
    pub(super) fn pending_uuid(
        &self,
        journal: &Target,
        dir: &str,
        name_key: &str,
        pending: Option<String>,
    ) -> Result<String, Error> {
        if let Some(uuid) = pending.filter(|u| parse_name_value(u).is_some_and(|(pool, _)| pool.is_none())) {
            log::info!("{name_key}: finishing the reservation {uuid} an interrupted call began");
            return Ok(uuid);
        }
        let uuid = new_uuid()?;
        self.ceph.omap_set(journal, dir, &[(&pending_key(name_key), &uuid)])?;
        crate::failpoint::hit("create-after-pending");
        Ok(uuid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_ceph_csis() {
        assert_eq!(volume_name_key("pvc-1"), "csi.volume.pvc-1");
        assert_eq!(volume_object("0b5e…"), "csi.volume.0b5e…");
        assert_eq!((snap_name_key("s"), snap_object("u")), ("csi.snap.s".into(), "csi.snap.u".into()));
        assert!(is_snap_name_key(&snap_name_key("s")) && !is_snap_name_key(&pending_key(&snap_name_key("s"))));
        assert_eq!((VOLUMES_DIR, SNAPS_DIR), ("csi.volumes.default", "csi.snaps.default"));
        let keys = [VOLNAME, SNAPNAME, IMAGENAME, IMAGEID, SOURCE, SOURCEID, JOURNAL_POOL_KEY];
        assert_eq!(
            keys,
            [
                "csi.volname",
                "csi.snapname",
                "csi.imagename",
                "csi.imageid",
                "csi.source",
                "csi.sourceid",
                "csi.journalpool"
            ]
        );
    }

    #[test]
    fn pending_reservations_have_keys_of_their_own() {
        assert_eq!(pending_key("csi.volume.pvc-1"), "rbd-csi.pending.csi.volume.pvc-1");
        // Never a key ceph-csi reads or ListVolumes lists.
        assert!(!pending_key("csi.volume.x").starts_with("csi.volume."));
        let a = new_uuid().unwrap();
        assert_eq!(parse_name_value(&a), Some((None, a.as_str())), "a pending value parses as a uuid");
        assert_ne!(a, new_uuid().unwrap());
    }

    #[test]
    fn uuids_are_v4() {
        let u = new_uuid().unwrap();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert_ne!(u, new_uuid().unwrap());
    }
}
