//! rbd snapshots, and volumes cloned from a snapshot or a volume.
//!
//! A CSI snapshot is an rbd snapshot `csi-snap-<uuid>` of the source image, journaled
//! like ceph-csi's: `csi.snaps.default` maps `csi.snap.<name>` → uuid; `csi.snap.<uuid>`
//! holds `csi.snapname`, `csi.imagename` (`csi-snap-<uuid>`), `csi.source` (the source
//! image) and `csi.sourceid` (its image id, to find it once it is in the trash).
//! Restores and clones are clone-v2 children, flattened at once so parents and children
//! can be deleted in any order. A volume deleted while it has snapshots goes to the
//! trash (DeleteVolume); deleting its last snapshot then removes it from the trash.

use std::collections::HashMap;

use super::{both, name_uuid, new_uuid, rados_error, Place, RbdController, VolumeId};
use crate::backend::{SnapshotInfo, Source};
use crate::ceph::{rbd_error, Credentials};
use crate::error::Error;
use crate::jsonparse::{self, Json};

const SNAPS_DIR: &str = "csi.snaps.default";

/// "Sat Nov 21 23:33:45 2026" (rbd's ctime strings) → seconds since the epoch (UTC).
pub fn parse_ctime(s: &str) -> Option<i64> {
    let f: Vec<&str> = s.split_whitespace().collect();
    let [_, mon, day, hms, year] = f.as_slice() else { return None };
    let month = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        .iter()
        .position(|m| m == mon)? as i64
        + 1;
    let (day, year): (i64, i64) = (day.parse().ok()?, year.parse().ok()?);
    let t: Vec<i64> = hms.split(':').map(|x| x.parse().ok()).collect::<Option<_>>()?;
    let [h, m, sec] = t.as_slice() else { return None };
    // Days from civil (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + m * 60 + sec)
}

impl RbdController {
    fn snap_place(&self, id: &str, creds: &Credentials, what: &str) -> Result<(VolumeId, Place), Error> {
        let vid = VolumeId::decode(id).ok_or_else(|| Error::NotFound(format!("{what} {id} does not exist")))?;
        let place =
            self.place_for_id(&vid, creds)?.ok_or_else(|| Error::NotFound(format!("{what} {id} does not exist")))?;
        Ok((vid, place))
    }

    /// (size, creation seconds) of snapshot `snap` of image `spec`, if it exists.
    fn snap_info(
        &self,
        place: &Place,
        creds: &Credentials,
        spec: &str,
        snap: &str,
    ) -> Result<Option<(u64, i64)>, Error> {
        let out = self.rbd(place, creds, &["snap", "ls", "--format", "json", spec])?;
        if out.status == 2 {
            return Ok(None);
        }
        if out.status != 0 {
            return Err(rbd_error(&format!("rbd snap ls {spec}"), &out));
        }
        let j = jsonparse::parse(&out.stdout).map_err(|e| Error::Internal(format!("rbd snap ls: {e}")))?;
        Ok(j.as_array().unwrap_or(&[]).iter().find(|s| s.str_at("name") == snap).map(|s| {
            (s.get("size").and_then(Json::as_u64).unwrap_or(0), parse_ctime(s.str_at("timestamp")).unwrap_or(0))
        }))
    }

    pub fn create_snapshot(
        &self,
        source_id: &str,
        name: &str,
        secrets: &HashMap<String, String>,
    ) -> Result<SnapshotInfo, Error> {
        let creds = Credentials::from_secrets(secrets)?;
        let (src, place) = self.snap_place(source_id, &creds, "source volume")?;
        let source_image = format!("csi-vol-{}", src.uuid);
        let source_spec = place.image_spec(&source_image);
        let name_key = format!("csi.snap.{name}");
        let derived = name_uuid(&format!("snap:{name}"));
        let (by_name, owner) = both(
            || self.get_omap(&place, &creds, SNAPS_DIR, &name_key),
            || self.get_omap(&place, &creds, &format!("csi.snap.{derived}"), "csi.snapname"),
        );
        let uuid = match by_name? {
            Some(uuid) if uuid.len() == 36 => {
                let recorded = self.get_omap(&place, &creds, &format!("csi.snap.{uuid}"), "csi.source")?;
                if recorded.as_deref().is_some_and(|s| s != source_image) {
                    return Err(Error::AlreadyExists(format!(
                        "snapshot {name:?} exists for another volume ({})",
                        recorded.unwrap_or_default()
                    )));
                }
                uuid
            }
            _ => {
                let uuid = match owner? {
                    Some(other) if other != name => new_uuid()?,
                    _ => derived,
                };
                let object = format!("csi.snap.{uuid}");
                self.set_omap(&place, &creds, &object, "csi.snapname", name)?;
                self.set_omap(&place, &creds, SNAPS_DIR, &name_key, &uuid)?;
                uuid
            }
        };
        let object = format!("csi.snap.{uuid}");
        let snap = format!("csi-snap-{uuid}");
        let (info, attrs) = both(
            || self.image_info(&place, &creds, &source_image),
            || {
                self.set_omap(&place, &creds, &object, "csi.source", &source_image)?;
                self.set_omap(&place, &creds, &object, "csi.imagename", &snap)
            },
        );
        attrs?;
        let (_, source_img_id) =
            info?.ok_or_else(|| Error::NotFound(format!("source volume {source_id} does not exist")))?;
        self.set_omap(&place, &creds, &object, "csi.sourceid", &source_img_id)?;
        let out = self.rbd(&place, &creds, &["snap", "create", "--no-progress", &format!("{source_spec}@{snap}")])?;
        if out.status != 0 && out.status != 17 {
            return Err(rbd_error(&format!("rbd snap create {source_spec}@{snap}"), &out));
        }
        let (size, created) = self
            .snap_info(&place, &creds, &source_spec, &snap)?
            .ok_or_else(|| Error::Internal(format!("{source_spec}@{snap} vanished right after it was created")))?;
        log::info!("created snapshot {source_spec}@{snap} ({name:?})");
        Ok(SnapshotInfo {
            id: VolumeId { uuid, ..src }.encode(),
            source_volume: source_id.to_string(),
            size,
            created_secs: created,
            created_nanos: 0,
            ready: true,
        })
    }

    pub fn delete_snapshot(&self, id: &str, secrets: &HashMap<String, String>) -> Result<(), Error> {
        let Some(vid) = VolumeId::decode(id) else {
            return Err(Error::invalid(format!("snapshot id {id:?} is not a ceph-csi id")));
        };
        let creds = Credentials::from_secrets(secrets)?;
        let Some(place) = self.place_for_id(&vid, &creds)? else { return Ok(()) };
        let object = format!("csi.snap.{}", vid.uuid);
        let snap = format!("csi-snap-{}", vid.uuid);
        let ((source, source_id), name) = both(
            || {
                let (a, b) = both(
                    || self.get_omap(&place, &creds, &object, "csi.source"),
                    || self.get_omap(&place, &creds, &object, "csi.sourceid"),
                );
                (a, b)
            },
            || self.get_omap(&place, &creds, &object, "csi.snapname"),
        );
        let (source, source_id, name) = (source?, source_id?, name?);
        if let Some(source) = &source {
            let spec = place.image_spec(source);
            let out = self.rbd(&place, &creds, &["snap", "rm", "--no-progress", &format!("{spec}@{snap}")])?;
            match (out.status, &source_id) {
                (0, _) => {}
                // The source image is gone by name: it may be in the trash.
                (2, Some(image_id)) => self.remove_trashed_snap(&place, &creds, image_id, &snap)?,
                (2, None) => {}
                _ => return Err(rbd_error(&format!("rbd snap rm {spec}@{snap}"), &out)),
            }
        }
        if let Some(name) = name {
            let out = self.rados(&place, &creds, &["rmomapkey", SNAPS_DIR, &format!("csi.snap.{name}")], None)?;
            if out.status != 0 && !out.stderr.contains("No such file") {
                return Err(rados_error("remove snapshot journal key", &out));
            }
        }
        let out = self.rados(&place, &creds, &["rm", &object], None)?;
        if out.status != 0 && !out.stderr.contains("No such file") {
            return Err(rados_error(&format!("remove {object}"), &out));
        }
        log::info!("deleted snapshot {id}");
        Ok(())
    }

    /// Removes `snap` of a trashed image; the image itself goes when no snapshot is left.
    fn remove_trashed_snap(&self, place: &Place, creds: &Credentials, image_id: &str, snap: &str) -> Result<(), Error> {
        let pool = place.pool.as_str();
        let mut base = vec!["--pool", pool];
        if !place.namespace.is_empty() {
            base.extend(["--namespace", place.namespace.as_str()]);
        }
        let mut rm = vec!["snap", "rm", "--no-progress"];
        rm.extend(&base);
        rm.extend(["--image-id", image_id, "--snap", snap]);
        let out = self.rbd(place, creds, &rm)?;
        if out.status != 0 && out.status != 2 {
            return Err(rbd_error(&format!("rbd snap rm (trashed image {image_id})@{snap}"), &out));
        }
        let mut ls = vec!["snap", "ls", "--all", "--format", "json"];
        ls.extend(&base);
        ls.extend(["--image-id", image_id]);
        let out = self.rbd(place, creds, &ls)?;
        if out.status == 0
            && jsonparse::parse(&out.stdout).ok().and_then(|j| j.as_array().map(<[Json]>::is_empty)) == Some(true)
        {
            let mut trm = vec!["trash", "rm", "--no-progress"];
            trm.extend(&base);
            trm.push(image_id);
            let out = self.rbd(place, creds, &trm)?;
            if out.status != 0 && out.status != 2 {
                return Err(rbd_error(&format!("rbd trash rm {image_id}"), &out));
            }
            log::info!("removed trashed image {image_id}: its last snapshot is gone");
        }
        Ok(())
    }

    /// Fills the new image `spec` from a snapshot or a volume: a clone-v2 child, grown to
    /// `mib`, then flattened so it depends on nothing.
    pub(super) fn clone_into(
        &self,
        place: &Place,
        creds: &Credentials,
        source: &Source,
        spec: &str,
        mib: u64,
        features: &str,
    ) -> Result<(), Error> {
        let (parent, temp) = match source {
            Source::Empty => return Err(Error::internal("clone_into without a source")),
            Source::Snapshot(id) => {
                let (vid, sp) = self.snap_place(id, creds, "snapshot")?;
                let source = self
                    .get_omap(&sp, creds, &format!("csi.snap.{}", vid.uuid), "csi.source")?
                    .ok_or_else(|| Error::NotFound(format!("snapshot {id} does not exist")))?;
                (format!("{}@csi-snap-{}", sp.image_spec(&source), vid.uuid), None)
            }
            Source::Volume(id) => {
                let (vid, vp) = self.snap_place(id, creds, "source volume")?;
                let src = vp.image_spec(&format!("csi-vol-{}", vid.uuid));
                // A temporary snapshot named after the new image, so a retry reuses it.
                let new_image = spec.rsplit('/').next().unwrap_or(spec);
                let temp = format!("{src}@csi-clone-{new_image}");
                let out = self.rbd(&vp, creds, &["snap", "create", "--no-progress", &temp])?;
                match out.status {
                    0 | 17 => {}
                    2 => return Err(Error::NotFound(format!("source volume {id} does not exist"))),
                    _ => return Err(rbd_error(&format!("rbd snap create {temp}"), &out)),
                }
                (temp.clone(), Some((vp, temp)))
            }
        };
        let out = self.rbd(
            place,
            creds,
            &["clone", "--rbd-default-clone-format", "2", "--image-feature", features, &parent, spec],
        )?;
        let cloned = match out.status {
            0 | 17 => Ok(()),
            2 => Err(Error::NotFound(format!("clone source {parent} does not exist"))),
            _ => Err(rbd_error(&format!("rbd clone {parent}"), &out)),
        };
        let result = cloned.and_then(|()| {
            let size_arg = format!("{mib}M");
            let out = self.rbd(place, creds, &["resize", "--no-progress", "--size", &size_arg, spec])?;
            match out.status {
                0 => {}
                22 if out.stderr.contains("new size is equal") => {}
                22 if out.stderr.contains("shrink") => {
                    return Err(Error::OutOfRange(format!("{mib} MiB is smaller than the source {parent}")))
                }
                _ => return Err(rbd_error(&format!("rbd resize {spec}"), &out)),
            }
            self.flatten(place, creds, spec)
        });
        if let Some((vp, temp)) = temp {
            let out = self.rbd(&vp, creds, &["snap", "rm", "--no-progress", &temp])?;
            if out.status != 0 && out.status != 2 {
                log::warn!("cannot remove temporary snapshot {temp}: {}", crate::ceph::last_error_line(&out.stderr));
            }
        }
        result
    }

    /// Makes `spec` independent of its parent; an image without a parent is fine.
    pub(super) fn flatten(&self, place: &Place, creds: &Credentials, spec: &str) -> Result<(), Error> {
        let out = self.rbd(place, creds, &["flatten", "--no-progress", spec])?;
        if out.status == 0 || (out.status == 22 && out.stderr.contains("has no parent")) {
            return Ok(());
        }
        Err(rbd_error(&format!("rbd flatten {spec}"), &out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rbd_ctime_strings() {
        assert_eq!(parse_ctime("Thu Jan  1 00:00:00 1970"), Some(0));
        assert_eq!(parse_ctime("Sat Nov 21 23:33:45 2026"), Some(1_795_304_025));
        assert_eq!(parse_ctime("garbage"), None);
    }
}
