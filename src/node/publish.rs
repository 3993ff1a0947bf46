//! NodePublish / NodeUnpublish: bind the staged volume into the workload's path.

use std::fs::OpenOptions;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use nix::mount::MsFlags;

use super::{NodeOps, PHASE_STAGED};
use crate::error::Error;
use crate::sys::mountinfo;

#[derive(Debug, Clone)]
pub struct PublishRequest {
    pub volume_id: String,
    pub staging: PathBuf,
    pub target: PathBuf,
    pub block: bool,
    pub read_only: bool,
    pub flags: Vec<String>,
}

impl NodeOps {
    pub fn publish(&self, req: &PublishRequest) -> Result<(), Error> {
        let stash =
            self.read_stash(&req.volume_id)?.filter(|s| s.get("phase").map(String::as_str) == Some(PHASE_STAGED));
        let Some(stash) = stash else {
            return Err(Error::FailedPrecondition(format!("volume {} is not staged on this node", req.volume_id)));
        };
        let device = PathBuf::from(stash.get("device").cloned().unwrap_or_default());
        let staged_block = stash.get("access").map(String::as_str) == Some("block");
        if staged_block != req.block {
            return Err(Error::InvalidArgument(format!(
                "volume {} was staged for {} access, not {}",
                req.volume_id,
                if staged_block { "block" } else { "mount" },
                if req.block { "block" } else { "mount" }
            )));
        }
        let Some(dev) = self.sys.block_dev(&device)? else {
            return Err(Error::FailedPrecondition(format!(
                "volume {}: device {} is gone; stage the volume again",
                req.volume_id,
                device.display()
            )));
        };
        let table = self.sys.mountinfo()?;
        let source = if req.block {
            device.clone()
        } else {
            // ceph-csi #4762: never bind a staging path that is not really the volume,
            // or the workload writes into the host's filesystem.
            match mountinfo::mount_at(&table, &req.staging) {
                Some(m) if m.dev == dev => req.staging.clone(),
                Some(m) => {
                    return Err(Error::FailedPrecondition(format!(
                        "staging path {} is a mount of {}, not of volume {}",
                        req.staging.display(),
                        m.source,
                        req.volume_id
                    )))
                }
                None => {
                    return Err(Error::FailedPrecondition(format!(
                        "staging path {} is not mounted; stage volume {} first",
                        req.staging.display(),
                        req.volume_id
                    )))
                }
            }
        };
        if let Some(m) = mountinfo::mount_at(&table, &req.target) {
            let same = if req.block { m.is_node_bind_of(&device) } else { m.dev == dev };
            if same && m.read_only() == req.read_only {
                return Ok(());
            }
            return Err(Error::AlreadyExists(format!(
                "target path {} is already a different mount ({}{})",
                req.target.display(),
                m.source,
                if m.read_only() { ", read-only" } else { "" }
            )));
        }
        self.prepare_target(&req.target, req.block)?;
        let (mut ms, _data) = super::mount_flags::parse(&req.flags)?;
        ms &= MsFlags::MS_NOATIME | MsFlags::MS_NODEV | MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC | MsFlags::MS_RDONLY;
        self.sys.mount(&source, &req.target, None, MsFlags::MS_BIND, None)?;
        if req.read_only || !ms.is_empty() {
            let mut flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | ms;
            if req.read_only {
                flags |= MsFlags::MS_RDONLY;
            }
            if let Err(e) = self.sys.mount(Path::new("none"), &req.target, None, flags, None) {
                // Never leave a writable bind behind a failed read-only remount.
                let _ = self.sys.umount(&req.target);
                return Err(e);
            }
        }
        Ok(())
    }

    fn prepare_target(&self, target: &Path, block: bool) -> Result<(), Error> {
        let create = |p: &Path| Error::Internal(format!("cannot create target path {}", p.display()));
        if block {
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent).map_err(|_| create(parent))?;
            }
            OpenOptions::new().write(true).create(true).truncate(false).open(target).map_err(|_| create(target))?;
        } else {
            std::fs::create_dir_all(target).map_err(|_| create(target))?;
        }
        Ok(())
    }

    pub fn unpublish(&self, volume_id: &str, target: &Path) -> Result<(), Error> {
        // Never unmount another volume's bind: when we know the device, check it.
        let device = self.read_stash(volume_id)?.and_then(|s| s.get("device").map(PathBuf::from));
        let mut table = self.sys.mountinfo()?;
        if let (Some(device), Some(m)) = (&device, mountinfo::mount_at(&table, target)) {
            if let Some(dev) = self.sys.block_dev(device)? {
                if !m.uses(dev, device) {
                    return Err(Error::FailedPrecondition(format!(
                        "target path {} is a mount of {}, not of volume {volume_id}",
                        target.display(),
                        m.source
                    )));
                }
            }
        }
        // Stacked mounts at one path (a retry after a lost reply) come off one by one.
        let mut unmounted = 0;
        while mountinfo::mount_at(&table, target).is_some() {
            if unmounted == 8 {
                return Err(Error::Internal(format!("{} is still mounted after 8 unmounts", target.display())));
            }
            self.sys.umount(target)?;
            unmounted += 1;
            table = self.sys.mountinfo()?;
        }
        let removed = match std::fs::symlink_metadata(target) {
            Ok(m) if m.is_dir() => std::fs::remove_dir(target),
            Ok(_) => std::fs::remove_file(target),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        };
        if let Err(e) = removed {
            // A non-empty directory here is not ours to delete.
            log::warn!("volume {volume_id}: could not remove {}: {e}", target.display());
        }
        Ok(())
    }
}
