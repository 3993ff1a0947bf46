//! The system calls the node path makes, behind a trait so the node logic can be
//! tested against a fake (`fake::FakeSys`) that models a mount table and devices.
//! The real implementation (`real::RealSys`) calls the kernel through nix.

pub mod bounded;
pub mod mountinfo;
pub mod paths;
pub mod real;

#[cfg(test)]
pub mod fake;

use std::path::{Path, PathBuf};

pub use mountinfo::MountEntry;
use nix::mount::MsFlags;

use crate::error::Error;

/// Fills `buf` from the kernel's random source (getrandom(2): no /dev/urandom needed,
/// so it works in an empty chroot).
pub fn random_bytes(buf: &mut [u8]) -> Result<(), Error> {
    // SAFETY: getrandom writes at most buf.len() bytes into the valid buffer.
    let n = unsafe { libc::getrandom(buf.as_mut_ptr().cast(), buf.len(), 0) };
    if n != buf.len() as isize {
        return Err(Error::internal("getrandom failed"));
    }
    Ok(())
}

/// Filesystems the node formats, mounts and grows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsKind {
    Ext4,
    Xfs,
}

impl FsKind {
    pub fn parse(s: &str) -> Option<FsKind> {
        match s {
            "ext4" => Some(FsKind::Ext4),
            "xfs" => Some(FsKind::Xfs),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            FsKind::Ext4 => "ext4",
            FsKind::Xfs => "xfs",
        }
    }
}

/// statvfs numbers, in bytes and inodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FsUsage {
    pub total_bytes: u64,
    pub available_bytes: u64,
    pub used_bytes: u64,
    pub total_inodes: u64,
    pub free_inodes: u64,
    pub used_inodes: u64,
}

/// A block device's identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DevId {
    pub major: u32,
    pub minor: u32,
}

pub trait Sys: Send + Sync {
    /// The current mount table (/proc/self/mountinfo).
    fn mountinfo(&self) -> Result<Vec<MountEntry>, Error>;
    fn mount(
        &self,
        src: &Path,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> Result<(), Error>;
    fn umount(&self, target: &Path) -> Result<(), Error>;
    /// major:minor of a block device node; `Ok(None)` when the path is missing or not
    /// a block device.
    fn block_dev(&self, dev: &Path) -> Result<Option<DevId>, Error>;
    /// Size in bytes (ioctl BLKGETSIZE64).
    fn device_size(&self, dev: &Path) -> Result<u64, Error>;
    /// Up to `len` bytes from the start of the device (O_DIRECT is not needed: the
    /// node reads before anything is mounted).
    fn read_head(&self, dev: &Path, len: usize) -> Result<Vec<u8>, Error>;
    fn statvfs(&self, path: &Path) -> Result<FsUsage, Error>;
    /// Grows the filesystem mounted at `mount_point` to fill `device_bytes`.
    fn grow_fs(&self, mount_point: &Path, fs: FsKind, device_bytes: u64) -> Result<(), Error>;
    /// Attaches `file` to a free loop device.
    fn loop_attach(&self, file: &Path) -> Result<PathBuf, Error>;
    fn loop_detach(&self, dev: &Path) -> Result<(), Error>;
    /// Makes a loop device see its backing file's new size.
    fn loop_refresh(&self, dev: &Path) -> Result<(), Error>;
    /// The loop device whose backing file is `file`, if any.
    fn loop_find(&self, file: &Path) -> Result<Option<PathBuf>, Error>;
}
