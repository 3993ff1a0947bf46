//! NodePublish / NodeUnpublish: bind the staged volume into the workload's path.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use nix::mount::MsFlags;

use super::stash::{Published, Stash};
use super::{paths, NodeOps};
use crate::error::{Error, NodeError, PathKind};
use crate::sys::paths as sys_paths;
use crate::sys::{mountinfo, DevId, MountEntry};

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
        let staging = self.paths.resolve(&req.staging, "staging_target_path")?;
        let target = self.paths.resolve(&req.target, "target_path")?;
        paths::check_apart(&staging, &target)?;
        let req = &PublishRequest { staging, target, ..req.clone() };
        let stash = self.stash_or_adopt(&req.volume_id, &req.staging)?.filter(Stash::is_staged);
        let Some(mut stash) = stash else {
            return Err(NodeError::NotStaged { volume: req.volume_id.clone() }.into());
        };
        let device = stash.device.clone();
        let staged_block = stash.is_block() == Some(true);
        if staged_block != req.block {
            return Err(NodeError::AccessMismatch { volume: req.volume_id.clone(), staged_block }.into());
        }
        let Some(dev) = self.sys.block_dev(&device)? else {
            return Err(NodeError::DeviceGone { volume: req.volume_id.clone(), device, restage: true }.into());
        };
        let table = self.sys.mountinfo()?;
        let point = self.point_of(Some(&stash), &req.staging, &req.volume_id);
        let source = if req.block {
            device.clone()
        } else {
            // ceph-csi #4762: never bind a staging path that is not really the volume,
            // or the workload writes into the host's filesystem.
            match mountinfo::mount_at(&table, &point) {
                Some(m) if m.dev == dev => point.clone(),
                Some(m) => return Err(super::not_the_volume(PathKind::Staging, &point, &req.volume_id, m)),
                None => {
                    return Err(
                        NodeError::StagingNotMounted { volume: req.volume_id.clone(), point: point.clone() }.into()
                    )
                }
            }
        };
        let (mut ms, _data) = super::mount_flags::parse(&req.flags)?;
        ms &= MsFlags::MS_NOATIME | MsFlags::MS_NODEV | MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC | MsFlags::MS_RDONLY;
        if req.read_only {
            ms |= MsFlags::MS_RDONLY;
        }
        let wanted = Published { target: req.target.clone(), read_only: req.read_only };
        if let Some(m) = mountinfo::mount_at(&table, &req.target) {
            let same = if req.block { m.is_node_bind_of(&device) } else { m.dev == dev };
            if same && m.read_only() == req.read_only && has_flags(m, ms) {
                return Ok(());
            }
            if same && !m.read_only() && stash.published.contains(&wanted) {
                // This very publish died between its bind and its remount: finish it.
                // A read-only request never leaves a writable bind.
                log::warn!("volume {}: finishing the remount of {}", req.volume_id, req.target.display());
                return self.remount(&req.target, ms);
            }
            return Err(NodeError::PublishedOtherwise {
                target: req.target.clone(),
                source: m.source.clone(),
                read_only: m.read_only(),
            }
            .into());
        }
        // Recorded before it is made, so a crash in between still lets the retry
        // finish it and unpublish remove what this call created.
        if !stash.published.contains(&wanted) {
            stash.published.retain(|p| p.target != req.target);
            stash.published.push(wanted);
            self.write_stash(&stash)?;
        }
        self.prepare_target(&req.target, req.block)?;
        crate::failpoint::hit("publish-after-target");
        self.sys.mount(&source, &req.target, None, MsFlags::MS_BIND, None)?;
        crate::failpoint::hit("publish-after-bind");
        if !ms.is_empty() {
            self.remount(&req.target, ms)?;
        }
        Ok(())
    }

    /// Remounts the bind at `target` with `ms` (read-only, nosuid, …); a failure takes
    /// the bind down rather than leave it with fewer restrictions than asked.
    fn remount(&self, target: &Path, ms: MsFlags) -> Result<(), Error> {
        let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | ms;
        if let Err(e) = self.sys.mount(Path::new("none"), target, None, flags, None) {
            let _ = self.sys.umount(target);
            return Err(e);
        }
        Ok(())
    }

    fn prepare_target(&self, target: &Path, block: bool) -> Result<(), Error> {
        if block {
            if let Some(parent) = target.parent() {
                sys_paths::create_dirs(parent)?;
            }
            sys_paths::create_file(target)
        } else {
            sys_paths::create_dirs(target)
        }
    }

    /// The volume's device and its number, if the node knows them: from its stash
    /// (the number as staged, even if the node is gone now), else from the backend's
    /// attachment (a stash lost to a crash).
    fn known_device(&self, volume_id: &str, stash: Option<&Stash>) -> Result<Option<(PathBuf, DevId)>, Error> {
        if let Some(stash) = stash {
            return Ok(self.device_number(stash)?.map(|dev| (stash.device.clone(), dev)));
        }
        let Some(device) = self.attacher.find(volume_id)? else { return Ok(None) };
        Ok(self.sys.block_dev(&device)?.map(|dev| (device, dev)))
    }

    /// Takes the volume's binds off `target` and removes the target if this node made
    /// it. Anything that is not provably the volume's (another mount, a file or a
    /// directory the driver did not create) is left alone: a mount is refused with
    /// FAILED_PRECONDITION, the rest is OK (nothing of the volume is there).
    pub fn unpublish(&self, volume_id: &str, target: &Path) -> Result<(), Error> {
        let target = &self.paths.resolve(target, "target_path")?;
        let mut stash = self.read_stash(volume_id)?;
        let device = self.known_device(volume_id, stash.as_ref())?;
        let mut table = self.sys.mountinfo()?;
        // Stacked binds at one path (a retry after a lost reply) come off one by one.
        let mut unmounted = 0;
        while let Some(m) = mountinfo::mount_at(&table, target) {
            let ours = device.as_ref().is_some_and(|(path, dev)| m.uses(*dev, path));
            if !ours {
                return Err(super::not_the_volume(PathKind::Target, target, volume_id, m));
            }
            if unmounted == 8 {
                return Err(NodeError::StillMounted { path: target.clone(), times: unmounted }.into());
            }
            self.sys.umount(target)?;
            unmounted += 1;
            table = self.sys.mountinfo()?;
        }
        crate::failpoint::hit("unpublish-after-umount");
        let made_here = stash.as_ref().is_some_and(|s| s.published.iter().any(|p| p.target == *target));
        if unmounted > 0 || made_here {
            remove_target(volume_id, target);
        }
        if let Some(stash) = stash.as_mut().filter(|_| made_here) {
            stash.published.retain(|p| p.target != *target);
            self.write_stash(stash)?;
        }
        Ok(())
    }
}

/// Whether the mount carries every restriction in `ms`.
fn has_flags(m: &MountEntry, ms: MsFlags) -> bool {
    [
        (MsFlags::MS_RDONLY, "ro"),
        (MsFlags::MS_NOSUID, "nosuid"),
        (MsFlags::MS_NODEV, "nodev"),
        (MsFlags::MS_NOEXEC, "noexec"),
        (MsFlags::MS_NOATIME, "noatime"),
    ]
    .iter()
    .all(|(flag, name)| !ms.contains(*flag) || m.options.split(',').any(|o| o == *name))
}

/// Removes a target this node made: an empty directory, or the empty file a block
/// volume was bound onto. Anything holding data stays.
pub(super) fn remove_target(volume_id: &str, target: &Path) {
    let removed = match std::fs::symlink_metadata(target) {
        Ok(m) if m.is_dir() => std::fs::remove_dir(target),
        Ok(m) if m.is_file() && m.len() == 0 => std::fs::remove_file(target),
        Ok(_) => {
            log::warn!("volume {volume_id}: {} is not an empty directory or file; left in place", target.display());
            Ok(())
        }
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    };
    if let Err(e) = removed {
        // A non-empty directory here is not ours to delete.
        log::warn!("volume {volume_id}: could not remove {}: {e}", target.display());
    }
}
