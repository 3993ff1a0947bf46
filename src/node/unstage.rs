//! NodeUnstage: take a stage down (its mount, the attachment, the note, the stash),
//! whoever made it, once nothing else on the node uses the volume.

use std::path::{Path, PathBuf};

use super::stash::Stash;
use super::{publish, NodeOps, StageLayout};
use crate::error::{Error, NodeError, PathKind};
use crate::kvfile;
use crate::sys::mountinfo;

impl NodeOps {
    /// The device the volume is attached as now. The backend's word comes first: a
    /// stash can outlive its attachment (a crash after the detach; the device name
    /// taken by another volume since). The stash's device counts only when the
    /// backend cannot tell and the device still has the number the stash recorded.
    fn attached_device(&self, volume_id: &str, stash: Option<&Stash>) -> Result<Option<PathBuf>, Error> {
        if let Some(device) = self.attacher.find(volume_id)? {
            return Ok(Some(device));
        }
        let Some(stash) = stash else { return Ok(None) };
        Ok(match (self.sys.block_dev(&stash.device)?, stash.devno) {
            (Some(now), Some(then)) if now == then => Some(stash.device.clone()),
            // A stash from before device numbers were recorded: nothing to compare.
            (Some(_), None) => Some(stash.device.clone()),
            _ => None,
        })
    }

    /// Takes the stage at `staging` down: its mount (ours, or one ceph-csi's node made
    /// in its layout), the attachment, the note and the stash. Refused while the
    /// volume is still in use elsewhere on the node (a publish).
    pub fn unstage(&self, volume_id: &str, staging: &Path) -> Result<(), Error> {
        let staging = &self.paths.resolve(staging, "staging_target_path")?;
        let stash = self.read_stash(volume_id)?;
        let point = self.point_of(stash.as_ref(), staging, volume_id);
        let device = match &stash {
            Some(_) => self.attached_device(volume_id, stash.as_ref())?,
            // No stash: maybe a stage made by ceph-csi's node, which its note describes.
            None => match self.attacher.adopt(volume_id, staging)? {
                Some(device) => Some(device),
                None => self.attached_device(volume_id, None)?,
            },
        };
        let device = device.map(|d| self.sys.block_dev(&d).map(|dev| (d, dev))).transpose()?;
        let table = self.sys.mountinfo()?;
        let staged_mount = mountinfo::mount_at(&table, &point).cloned();
        if let Some((device, Some(dev))) = &device {
            let others = super::mounts_where(&table, &point, |e| e.uses(*dev, device));
            if !others.is_empty() {
                return Err(NodeError::StillPublished { volume: volume_id.to_string(), at: others }.into());
            }
        }
        if let Some(m) = staged_mount {
            let ours = matches!(&device, Some((d, Some(dev))) if m.uses(*dev, d));
            if !ours {
                return Err(super::not_the_volume(PathKind::Staging, &point, volume_id, &m));
            }
            self.sys.umount(&point)?;
        }
        if point != *staging {
            // The directory (or block file) of the nested layout: kubelet removes the
            // staging path after the unstage and wants it empty.
            publish::remove_target(volume_id, &point);
        }
        crate::failpoint::hit("unstage-after-umount");
        match &device {
            Some((device, _)) => self.attacher.detach(volume_id, device)?,
            None => self.attacher.forget_attachment(volume_id)?,
        }
        crate::failpoint::hit("unstage-after-detach");
        if self.attacher.layout() == StageLayout::Nested {
            self.attacher.remove_note(staging)?;
        }
        kvfile::remove(&self.stash_path(volume_id))
    }
}
