//! NodeGetVolumeStats and NodeExpandVolume.

use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::NodeOps;
use crate::error::{Error, NodeError};
use crate::sys::bounded::Outcome;
use crate::sys::{mountinfo, FsKind, FsUsage, MountEntry};

/// How long NodeGetVolumeStats waits for the kernel's answers about a volume path
/// before it reports the volume not responding.
pub const STATS_WITHIN: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeCondition {
    pub abnormal: bool,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stats {
    Filesystem(FsUsage, VolumeCondition),
    Block(u64, VolumeCondition),
    /// The kernel did not answer (a hung mount or device under the path): no usage.
    NotResponding(VolumeCondition),
}

fn healthy() -> VolumeCondition {
    VolumeCondition { abnormal: false, message: "volume is mounted and its device is present".to_string() }
}

impl NodeOps {
    /// `stats`, on a thread of its own so that a path the kernel hangs on (a dead
    /// mount under it, a device that does not answer) holds neither the worker nor the
    /// caller past `within`: the volume is then reported abnormal, "not responding".
    /// While that check is still blocked, later calls for the path answer at once.
    pub fn stats_within(self: &Arc<Self>, volume_id: &str, path: &Path, within: Duration) -> Result<Stats, Error> {
        let (ops, id, at) = (Arc::clone(self), volume_id.to_string(), path.to_path_buf());
        match self.checks.run(&path.display().to_string(), within, move || ops.stats(&id, &at)) {
            Outcome::Done(r) => r,
            Outcome::TimedOut { blocked_for } => Ok(Stats::NotResponding(VolumeCondition {
                abnormal: true,
                message: format!(
                    "{} is not responding: a check of it has been blocked in the kernel for {} s \
                     (a hung mount or device under it?)",
                    path.display(),
                    blocked_for.as_secs()
                ),
            })),
        }
    }

    /// Usage and condition of the volume at `path` (its staging path, a publish
    /// target, or a published block device node). NOT_FOUND unless `path` is there
    /// and is this volume: the stash says which device it is.
    pub fn stats(&self, volume_id: &str, path: &Path) -> Result<Stats, Error> {
        let path = &self.paths.resolve(path, "volume_path")?;
        let not_here =
            |why: String| Error::from(NodeError::NotAt { volume: volume_id.into(), path: path.clone(), why });
        let meta = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(not_here("it does not exist".into())),
            Err(e) => return Err(Error::io("stat", path, e)),
        };
        let Some(stash) = self.stash_or_attachment(volume_id)? else {
            return Err(not_here("the volume is not staged on this node".into()));
        };
        let device = &stash.device;
        let dev = self.device_number(&stash)?;
        if meta.file_type().is_block_device() {
            let here = self.sys.block_dev(path)?;
            if here.is_none() || here != dev {
                return Err(not_here("it is another block device".into()));
            }
            let size = self.sys.device_size(path)?;
            return Ok(Stats::Block(size, healthy()));
        }
        if !meta.is_dir() {
            return Err(not_here("it is neither a directory nor a block device".into()));
        }
        let table = self.sys.mountinfo()?;
        let condition = match mountinfo::mount_at(&table, path) {
            None => VolumeCondition { abnormal: true, message: format!("{} is not a mount point", path.display()) },
            Some(m) if Some(m.dev) != dev => {
                return Err(not_here(format!("it is a mount of {}", m.source)));
            }
            Some(_) if self.sys.block_dev(device)?.is_none() => {
                VolumeCondition { abnormal: true, message: format!("device {} is gone", device.display()) }
            }
            Some(_) => healthy(),
        };
        Ok(Stats::Filesystem(self.sys.statvfs(path)?, condition))
    }

    /// Grows what is on the volume to the device's new size; returns that size.
    pub fn expand(
        &self,
        volume_id: &str,
        volume_path: &Path,
        staging: Option<&Path>,
        required: u64,
    ) -> Result<u64, Error> {
        let volume_path = &self.paths.resolve(volume_path, "volume_path")?;
        let staging = staging.map(|s| self.paths.resolve(s, "staging_target_path")).transpose()?;
        if std::fs::symlink_metadata(volume_path).is_err() {
            return Err(NodeError::NoSuchPath { path: volume_path.clone() }.into());
        }
        let stash = match &staging {
            Some(staging) => self.stash_or_adopt(volume_id, staging)?,
            None => self.stash_or_attachment(volume_id)?,
        };
        let Some(stash) = stash else {
            return Err(NodeError::NotOnNode { volume: volume_id.into() }.into());
        };
        let device = stash.device.clone();
        if self.sys.block_dev(&device)?.is_none() {
            return Err(NodeError::DeviceGone { volume: volume_id.into(), device, restage: false }.into());
        }
        self.attacher.refresh(volume_id, &device)?;
        // A network block device learns of a resize asynchronously (krbd: ~0.15 s).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut size = self.sys.device_size(&device)?;
        while size < required && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(50));
            size = self.sys.device_size(&device)?;
        }
        if size < required {
            return Err(NodeError::DeviceTooSmall { volume: volume_id.into(), device, size, required }.into());
        }
        let block = match stash.is_block() {
            Some(block) => block,
            None => std::fs::metadata(volume_path).is_ok_and(|m| m.file_type().is_block_device()),
        };
        if block {
            return Ok(size);
        }
        let table = self.sys.mountinfo()?;
        // The staging mount first: a publish may be a read-only bind (which cannot
        // be grown through) of the same filesystem.
        let staged_at = staging.as_ref().map(|s| self.point_of(Some(&stash), s, volume_id));
        let candidates = [stash.recorded_point().map(Path::to_path_buf), staged_at, Some(volume_path.to_path_buf())];
        let dev = self.sys.block_dev(&device)?;
        let mounts: Vec<(PathBuf, &MountEntry)> = candidates
            .iter()
            .flatten()
            .filter_map(|p| mountinfo::mount_at(&table, p).filter(|m| Some(m.dev) == dev).map(|m| (p.clone(), m)))
            .collect();
        let Some((mount_point, m)) = mounts.iter().find(|(_, m)| !m.read_only()).or(mounts.first()) else {
            return Err(NodeError::NotMountedAt { volume: volume_id.into(), path: volume_path.clone() }.into());
        };
        if m.read_only() {
            return Err(NodeError::MountedReadOnly { volume: volume_id.into(), point: mount_point.clone() }.into());
        }
        let (mount_point, fs_type) = (mount_point.clone(), m.fs_type.clone());
        let fs =
            FsKind::parse(&fs_type).ok_or_else(|| Error::from(NodeError::CannotGrow { fs_type: fs_type.clone() }))?;
        self.sys.grow_fs(&mount_point, fs, size)?;
        log::info!("volume {volume_id}: grew {} on {} to {size} bytes", fs.as_str(), mount_point.display());
        Ok(size)
    }
}
