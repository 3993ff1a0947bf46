//! Stages this node keeps no stash for: made by ceph-csi's node plugin before a plugin
//! swap (or by this driver, its stash lost). In the nested layout such a stage is
//! found from the mount at `<staging>/<volume id>` and the note beside it, and is
//! recorded as this node's from then on, so publishes, stats, expansion and the
//! unstage treat it as their own.

use std::path::Path;

use super::stash::{Phase, StagedAs, Stash};
use super::{NodeOps, StageLayout};
use crate::error::{Error, PathKind};
use crate::sys::mountinfo;

impl NodeOps {
    /// The stash of `volume_id`, or one made now for a stage found at `staging`.
    pub(crate) fn stash_or_adopt(&self, volume_id: &str, staging: &Path) -> Result<Option<Stash>, Error> {
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
        let mut rec = Stash::of_stage(volume_id, staging, &point, &device, dev);
        if m.dev == dev {
            rec.access = Some(StagedAs::Mount { fs: m.fs_type.clone() });
        } else if m.is_node_bind_of(&device) {
            rec.access = Some(StagedAs::Block);
        } else {
            return Err(super::not_the_volume(PathKind::Staging, &point, volume_id, &m));
        }
        rec.phase = Some(Phase::Staged);
        self.write_stash(&rec)?;
        log::info!("volume {volume_id}: took over the stage at {} ({})", point.display(), device.display());
        Ok(Some(rec))
    }

    /// The stash of `volume_id`, or, when there is none, what the backend says of its
    /// attachment (the device and its number): enough to recognise the volume at a
    /// path for stats and expansion.
    pub(crate) fn stash_or_attachment(&self, volume_id: &str) -> Result<Option<Stash>, Error> {
        if let Some(stash) = self.read_stash(volume_id)? {
            return Ok(Some(stash));
        }
        let Some(device) = self.attacher.find(volume_id)? else { return Ok(None) };
        let Some(dev) = self.sys.block_dev(&device)? else { return Ok(None) };
        Ok(Some(Stash::of_device(volume_id, &device, dev)))
    }
}
