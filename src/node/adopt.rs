//! Stages this node keeps no stash for: made by ceph-csi's node plugin before a plugin
//! swap (or by this driver, its stash lost). In the nested layout such a stage is
//! found from the mount at `<staging>/<volume id>` and the note beside it, and is
//! recorded as this node's from then on, so publishes, stats, expansion and the
//! unstage treat it as their own.

use std::path::{Path, PathBuf};

use super::{device_record, stage_record, NodeOps, StageLayout, PHASE_STAGED};
use crate::error::Error;
use crate::kvfile::Record;
use crate::sys::mountinfo;

impl NodeOps {
    /// The stash of `volume_id`, or one made now for a stage found at `staging`.
    pub(crate) fn stash_or_adopt(&self, volume_id: &str, staging: &Path) -> Result<Option<Record>, Error> {
        if let Some(stash) = self.read_stash(volume_id)? {
            return Ok(Some(stash));
        }
        if self.attacher.layout() != StageLayout::Nested {
            return Ok(None);
        }
        let point = self.stage_point(staging, volume_id);
        let table = self.sys.mountinfo()?;
        let Some(m) = mountinfo::mount_at(&table, &point).cloned() else { return Ok(None) };
        let device = match self.attacher.adopt(volume_id, staging)? {
            Some(device) => device,
            None => match self.attacher.find(volume_id)? {
                Some(device) => device,
                None => return Ok(None),
            },
        };
        let dev = self.dev_id(&device)?;
        let mut rec = stage_record(volume_id, staging, &point, &device, dev);
        if m.dev == dev {
            rec.insert("access".into(), "mount".into());
            rec.insert("fs".into(), m.fs_type.clone());
        } else if m.is_node_bind_of(&device) {
            rec.insert("access".into(), "block".into());
        } else {
            return Err(Error::FailedPrecondition(format!(
                "staging path {} is a mount of {}, not of volume {volume_id}",
                point.display(),
                m.source
            )));
        }
        rec.insert("phase".into(), PHASE_STAGED.into());
        self.write_stash(&rec)?;
        log::info!("volume {volume_id}: took over the stage at {} ({})", point.display(), device.display());
        Ok(Some(rec))
    }

    /// The stash of `volume_id`, or, when there is none, what the backend says of its
    /// attachment (the device and its number): enough to recognise the volume at a
    /// path for stats and expansion.
    pub(crate) fn stash_or_attachment(&self, volume_id: &str) -> Result<Option<Record>, Error> {
        if let Some(stash) = self.read_stash(volume_id)? {
            return Ok(Some(stash));
        }
        let Some(device) = self.attacher.find(volume_id)? else { return Ok(None) };
        let Some(dev) = self.sys.block_dev(&device)? else { return Ok(None) };
        Ok(Some(device_record(volume_id, &device, dev)))
    }
}

/// Where a stash says the stage is mounted (older stashes: on the staging path).
pub(crate) fn recorded_point(stash: &Record) -> Option<PathBuf> {
    stash.get(super::POINT).or_else(|| stash.get("staging")).map(PathBuf::from)
}
