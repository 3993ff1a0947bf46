//! Why a node call refused or failed, by what it found on the node: the volume, the
//! paths and the mounts involved. The node code (src/node/) says what it found; which
//! gRPC code a CO is told is for error/mod.rs to decide.

use std::fmt;
use std::path::PathBuf;

/// Which of the CO's paths a message is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathKind {
    Staging,
    Target,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeError {
    // The volume is not where the call needs it.
    /// NodePublish of a volume this node has not staged.
    NotStaged { volume: String },
    /// Expand or stats of a volume this node does not have.
    NotOnNode { volume: String },
    /// A volume path that does not exist.
    NoSuchPath { path: PathBuf },
    /// Stats of a path that is not the volume (`why`: what it is instead).
    NotAt { volume: String, path: PathBuf, why: String },
    /// The device the volume was staged on is gone (`restage`: a publish, which a new
    /// stage would let through).
    DeviceGone { volume: String, device: PathBuf, restage: bool },
    /// The stage's mount point holds no mount.
    StagingNotMounted { volume: String, point: PathBuf },
    /// Expand found no mount of the volume at the path.
    NotMountedAt { volume: String, path: PathBuf },

    // Something else is where the volume should be; it is left alone.
    /// A path holds a mount that is not the volume's.
    NotTheVolume { kind: PathKind, path: PathBuf, volume: String, source: String, fs_type: String },
    /// The staging path is a mount of another device already.
    StagedOtherwise { point: PathBuf, source: String },
    /// The volume is staged with another filesystem than asked.
    StagedAsOtherFs { volume: String, point: PathBuf, found: String, wanted: String },
    /// The target path is another mount (or the volume with other flags) already.
    PublishedOtherwise { target: PathBuf, source: String, read_only: bool },
    /// A publish for another access type than the stage's.
    AccessMismatch { volume: String, staged_block: bool },
    /// The volume is staged at other paths of this node.
    StagedElsewhere { volume: String, at: String },
    /// The volume is still published (or otherwise in use) at other paths.
    StillPublished { volume: String, at: String },

    // What is on the device.
    /// A filesystem other than the one asked for: never reformatted.
    ForeignFilesystem { volume: String, found: String, wanted: String },
    /// Data that is no filesystem this driver makes: never formatted.
    ForeignContent { volume: String, device: PathBuf, found: String },
    /// A blank volume staged read-only: there is nothing to mount.
    BlankReadOnly { volume: String },
    /// The device is smaller than the size asked for.
    DeviceTooSmall { volume: String, device: PathBuf, size: u64, required: u64 },
    /// Only read-only mounts of the volume: nothing to grow through.
    MountedReadOnly { volume: String, point: PathBuf },
    /// A filesystem this driver cannot grow.
    CannotGrow { fs_type: String },

    // The node misbehaved.
    /// A path the attacher gave is no block device.
    NotABlockDevice { device: PathBuf },
    /// A target still mounted after `times` unmounts.
    StillMounted { path: PathBuf, times: u32 },
    /// mkfs ran and failed.
    MkfsFailed { command: String, status: i32, stderr: String },
}

fn access(block: bool) -> &'static str {
    if block {
        "block"
    } else {
        "mount"
    }
}

impl fmt::Display for NodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use NodeError::*;
        match self {
            NotStaged { volume } | NotOnNode { volume } => write!(f, "volume {volume} is not staged on this node"),
            NoSuchPath { path } => write!(f, "volume path {} does not exist", path.display()),
            NotAt { volume, path, why } => write!(f, "volume {volume} is not at {}: {why}", path.display()),
            DeviceGone { volume, device, restage } => {
                write!(f, "volume {volume}: device {} is gone", device.display())?;
                if *restage {
                    f.write_str("; stage the volume again")?;
                }
                Ok(())
            }
            StagingNotMounted { volume, point } => {
                write!(f, "staging path {} is not mounted; stage volume {volume} first", point.display())
            }
            NotMountedAt { volume, path } => write!(f, "volume {volume} is not mounted at {}", path.display()),
            NotTheVolume { kind: PathKind::Staging, path, volume, source, .. } => {
                write!(f, "staging path {} is a mount of {source}, not of volume {volume}", path.display())
            }
            NotTheVolume { kind: PathKind::Target, path, volume, source, fs_type } => write!(
                f,
                "target path {} is a mount of {source} ({fs_type}), not of volume {volume}; left as it is",
                path.display()
            ),
            StagedOtherwise { point, source } => {
                write!(f, "staging path {} is already a mount of another device ({source})", point.display())
            }
            StagedAsOtherFs { volume, point, found, wanted } => {
                write!(f, "volume {volume} is already staged at {} as {found}, not {wanted}", point.display())
            }
            PublishedOtherwise { target, source, read_only } => write!(
                f,
                "target path {} is already a different mount ({source}{})",
                target.display(),
                if *read_only { ", read-only" } else { "" }
            ),
            AccessMismatch { volume, staged_block } => write!(
                f,
                "volume {volume} was staged for {} access, not {}",
                access(*staged_block),
                access(!staged_block)
            ),
            StagedElsewhere { volume, at } => {
                write!(f, "volume {volume} is already in use on this node at {at}; unstage it there first")
            }
            StillPublished { volume, at } => write!(f, "volume {volume} is still in use at {at}; unpublish it first"),
            ForeignFilesystem { volume, found, wanted } => {
                write!(f, "volume {volume} holds a {found} filesystem, not {wanted}; refusing to reformat")
            }
            ForeignContent { volume, device, found } => {
                write!(f, "volume {volume} device {} holds {found}; refusing to format it", device.display())
            }
            BlankReadOnly { volume } => {
                write!(f, "volume {volume} is blank and the access mode is read-only: nothing to mount")
            }
            DeviceTooSmall { volume, device, size, required } => write!(
                f,
                "volume {volume}: device {} has {size} bytes, less than the {required} asked for; \
                 expand the volume on the controller first",
                device.display()
            ),
            MountedReadOnly { volume, point } => write!(
                f,
                "volume {volume} is mounted read-only only ({}): a read-only filesystem cannot grow",
                point.display()
            ),
            CannotGrow { fs_type } => write!(f, "cannot grow a {fs_type} filesystem"),
            NotABlockDevice { device } => write!(f, "{} is not a block device", device.display()),
            StillMounted { path, times } => write!(f, "{} is still mounted after {times} unmounts", path.display()),
            MkfsFailed { command, status, stderr } => write!(f, "{command} failed (exit {status}): {stderr}"),
        }
    }
}
