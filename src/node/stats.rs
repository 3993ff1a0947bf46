//! NodeGetVolumeStats and NodeExpandVolume.

use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use super::NodeOps;
use crate::error::Error;
use crate::sys::{mountinfo, FsKind, FsUsage};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeCondition {
    pub abnormal: bool,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stats {
    Filesystem(FsUsage, VolumeCondition),
    Block(u64, VolumeCondition),
}

fn healthy() -> VolumeCondition {
    VolumeCondition { abnormal: false, message: "volume is mounted and its device is present".to_string() }
}

impl NodeOps {
    pub fn stats(&self, volume_id: &str, path: &Path) -> Result<Stats, Error> {
        let meta = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NotFound(format!("volume path {} does not exist", path.display())))
            }
            Err(e) => return Err(Error::Internal(format!("stat {}: {e}", path.display()))),
        };
        if meta.file_type().is_block_device() {
            let size = self.sys.device_size(path)?;
            return Ok(Stats::Block(size, healthy()));
        }
        let stash = self.read_stash(volume_id)?;
        let table = self.sys.mountinfo()?;
        let condition = match mountinfo::mount_at(&table, path) {
            None => VolumeCondition { abnormal: true, message: format!("{} is not a mount point", path.display()) },
            Some(m) => match stash.as_ref().and_then(|s| s.get("device")).map(PathBuf::from) {
                Some(dev) => match self.sys.block_dev(&dev)? {
                    Some(id) if id == m.dev => healthy(),
                    Some(_) => VolumeCondition {
                        abnormal: true,
                        message: format!("{} is mounted from {}, not the volume's device", path.display(), m.source),
                    },
                    None => VolumeCondition { abnormal: true, message: format!("device {} is gone", dev.display()) },
                },
                None => VolumeCondition { abnormal: true, message: format!("volume {volume_id} is not staged here") },
            },
        };
        if !meta.is_dir() {
            return Err(Error::NotFound(format!(
                "volume path {} is neither a directory nor a block device",
                path.display()
            )));
        }
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
        let Some(stash) = self.read_stash(volume_id)? else {
            return Err(Error::NotFound(format!("volume {volume_id} is not staged on this node")));
        };
        let device = PathBuf::from(stash.get("device").cloned().unwrap_or_default());
        if self.sys.block_dev(&device)?.is_none() {
            return Err(Error::FailedPrecondition(format!("volume {volume_id}: device {} is gone", device.display())));
        }
        self.attacher.refresh(volume_id, &device)?;
        // A network block device learns of a resize asynchronously (krbd: ~0.15 s).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut size = self.sys.device_size(&device)?;
        while size < required && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(50));
            size = self.sys.device_size(&device)?;
        }
        if stash.get("access").map(String::as_str) == Some("block") {
            return Ok(size);
        }
        let table = self.sys.mountinfo()?;
        let stash_staging = stash.get("staging").map(PathBuf::from);
        let candidates = [Some(volume_path.to_path_buf()), staging.map(Path::to_path_buf), stash_staging];
        let dev = self.sys.block_dev(&device)?;
        let mount = candidates.iter().flatten().find_map(|p| {
            mountinfo::mount_at(&table, p).filter(|m| Some(m.dev) == dev).map(|m| (p.clone(), m.fs_type.clone()))
        });
        let Some((mount_point, fs_type)) = mount else {
            return Err(Error::FailedPrecondition(format!(
                "volume {volume_id} is not mounted at {}",
                volume_path.display()
            )));
        };
        let fs = FsKind::parse(&fs_type)
            .ok_or_else(|| Error::FailedPrecondition(format!("cannot grow a {fs_type} filesystem")))?;
        self.sys.grow_fs(&mount_point, fs, size)?;
        log::info!("volume {volume_id}: grew {} on {} to {size} bytes", fs.as_str(), mount_point.display());
        Ok(size)
    }
}
