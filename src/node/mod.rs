//! The node path shared by every backend (DESIGN.md §3): a backend only supplies an
//! `Attacher` ("volume → block device" and back); staging, formatting, mounting,
//! publishing, growing and stats are done here, through `Sys` and `Runner`.
//!
//! A small stash per staged volume (stash.rs: device, access type, fs, phase) lives under
//! `<data-dir>/node/`, written crash-safely, so Unstage, Expand and a restarted driver
//! know what is there. Together with /proc/self/mountinfo and the backend's own view
//! of attachments, every retry converges.

mod adopt;
pub mod mkfs;
pub mod mount_flags;
pub mod paths;
pub mod probe;
pub mod publish;
mod stash;
pub mod stats;
mod unstage;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use nix::mount::MsFlags;

use crate::error::{Error, NodeError, PathKind};
use crate::exec::Runner;
use crate::kvfile;
use crate::sys::bounded::Bounded;
use crate::sys::mountinfo::{self, MountEntry};
use crate::sys::{DevId, FsKind, Sys};
pub use paths::PathPolicy;
use probe::Content;
use stash::{Phase, StagedAs, Stash};

pub use stats::{Stats, VolumeCondition};

/// A volume's device, and whether this call attached it (false: it already was).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attached {
    pub device: PathBuf,
    pub fresh: bool,
}

/// Where a stage lives under the CO's staging_target_path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StageLayout {
    /// The staging path itself is the stage's mount (the local backend).
    Direct,
    /// ceph-csi's node layout (v3.12 nodeserver.go): the stage is
    /// `<staging>/<volume id>` (a filesystem mount, or for block access a file the
    /// device node is bound onto), with a note beside it naming the image
    /// (backend::image_meta). ceph-csi's node plugin can then take over this node's
    /// stages, and this node ceph-csi's.
    Nested,
}

/// What a backend does on the node.
pub trait Attacher: Send + Sync {
    /// Where this backend's stages live.
    fn layout(&self) -> StageLayout;
    /// Writes the note a `Nested` stage keeps in `staging`; before the attach, so a
    /// stage cut short still tells an unstage (ours or ceph-csi's) what to detach.
    fn write_note(&self, volume_id: &str, ctx: &HashMap<String, String>, staging: &Path) -> Result<(), Error>;
    /// The device of a stage this node keeps no stash for (another driver's, or a
    /// stash lost), from the note in `staging`; `detach` then knows how to detach it.
    /// None: no note there, or its image is not attached.
    fn adopt(&self, volume_id: &str, staging: &Path) -> Result<Option<PathBuf>, Error>;
    /// Removes the note from `staging`; "not there" is success.
    fn remove_note(&self, staging: &Path) -> Result<(), Error>;
    /// Attaches the volume, or returns the device of an existing attachment. An attach
    /// that fails leaves nothing attached. `Error::NotFound` when the volume does not
    /// exist. `read_only` asks for a read-only attachment (reader-only access modes)
    /// where the backend has one.
    fn attach(
        &self,
        volume_id: &str,
        ctx: &HashMap<String, String>,
        secrets: &HashMap<String, String>,
        read_only: bool,
    ) -> Result<Attached, Error>;
    /// The device the volume is attached as now, if any.
    fn find(&self, volume_id: &str) -> Result<Option<PathBuf>, Error>;
    /// Detaches `device`; "not attached" is success.
    fn detach(&self, volume_id: &str, device: &Path) -> Result<(), Error>;
    /// Drops what the backend keeps of the volume's attachment when nothing is attached
    /// any more (another driver's node detached it).
    fn forget_attachment(&self, volume_id: &str) -> Result<(), Error>;
    /// Makes the device see the volume's current size.
    fn refresh(&self, volume_id: &str, device: &Path) -> Result<(), Error>;
}

/// How the workload uses the volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    Block,
    Mount { fs: FsKind, flags: Vec<String>, mkfs_options: Option<String> },
}

#[derive(Debug, Clone)]
pub struct StageRequest {
    pub volume_id: String,
    pub staging: PathBuf,
    pub access: Access,
    pub read_only: bool,
    pub context: HashMap<String, String>,
    pub secrets: HashMap<String, String>,
}

pub struct NodeOps {
    pub sys: Arc<dyn Sys>,
    pub runner: Arc<dyn Runner>,
    pub attacher: Arc<dyn Attacher>,
    state_dir: PathBuf,
    paths: PathPolicy,
    /// Stats checks that may block in the kernel (`stats_within`).
    checks: Bounded,
}

/// A file name for a volume id (ids are validated to [A-Za-z0-9._-], but be safe).
pub(crate) fn stash_name(volume_id: &str) -> String {
    volume_id.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '%' }).collect()
}

impl NodeOps {
    pub fn new(
        sys: Arc<dyn Sys>,
        runner: Arc<dyn Runner>,
        attacher: Arc<dyn Attacher>,
        state_dir: &Path,
        paths: PathPolicy,
    ) -> Result<NodeOps, String> {
        std::fs::create_dir_all(state_dir).map_err(|e| format!("cannot create {}: {e}", state_dir.display()))?;
        kvfile::remove_leftovers(state_dir);
        Ok(NodeOps { sys, runner, attacher, state_dir: state_dir.to_path_buf(), paths, checks: Bounded::new() })
    }

    /// Whether the node can serve every capability it advertises: the mkfs programs
    /// for blank ext4 and xfs volumes.
    pub fn ready(&self) -> Result<(), Error> {
        for program in ["mkfs.ext4", "mkfs.xfs"] {
            if !crate::exec::on_path(program) {
                return Err(crate::exec::missing(program, "the node formats blank volumes with it"));
            }
        }
        Ok(())
    }

    fn stash_path(&self, volume_id: &str) -> PathBuf {
        self.state_dir.join(format!("{}.stash", stash_name(volume_id)))
    }

    pub(crate) fn read_stash(&self, volume_id: &str) -> Result<Option<Stash>, Error> {
        let path = self.stash_path(volume_id);
        let Some(rec) = kvfile::read(&path)? else { return Ok(None) };
        match Stash::decode(&rec) {
            Some(stash) if stash.volume_id == volume_id => Ok(Some(stash)),
            // Another volume's, its name the same after escaping.
            Some(_) => Ok(None),
            None => {
                log::warn!("volume {volume_id}: {} names no volume or device; ignored", path.display());
                Ok(None)
            }
        }
    }

    fn write_stash(&self, stash: &Stash) -> Result<(), Error> {
        kvfile::write(&self.stash_path(&stash.volume_id), &stash.encode())
    }

    fn dev_id(&self, device: &Path) -> Result<DevId, Error> {
        self.sys.block_dev(device)?.ok_or_else(|| NodeError::NotABlockDevice { device: device.to_path_buf() }.into())
    }

    /// The path a stage of `volume_id` at `staging` mounts on, in this backend's layout.
    fn stage_point(&self, staging: &Path, volume_id: &str) -> PathBuf {
        match self.attacher.layout() {
            StageLayout::Direct => staging.to_path_buf(),
            StageLayout::Nested => staging.join(volume_id),
        }
    }

    /// Where the stage at `staging` is: where the stash recorded it (a stash from
    /// before points were recorded staged on the staging path itself), else where this
    /// backend's layout puts it.
    pub(crate) fn point_of(&self, stash: Option<&Stash>, staging: &Path, volume_id: &str) -> PathBuf {
        match stash.filter(|s| s.staging.as_deref() == Some(staging)) {
            Some(s) => s.point.clone().unwrap_or_else(|| staging.to_path_buf()),
            None => self.stage_point(staging, volume_id),
        }
    }

    pub fn stage(&self, req: &StageRequest) -> Result<(), Error> {
        let staging = self.paths.resolve(&req.staging, "staging_target_path")?;
        let req = &StageRequest { staging, ..req.clone() };
        let point = self.stage_point(&req.staging, &req.volume_id);
        if self.attacher.layout() == StageLayout::Nested {
            crate::sys::paths::create_dirs(&req.staging)?;
            self.attacher.write_note(&req.volume_id, &req.context, &req.staging)?;
        }
        let table = self.sys.mountinfo()?;
        let attached = match self.attacher.attach(&req.volume_id, &req.context, &req.secrets, req.read_only) {
            Ok(attached) => attached,
            Err(e) => {
                self.drop_unused_note(req, &point);
                return Err(e);
            }
        };
        crate::failpoint::hit("stage-after-attach");
        let device = attached.device;
        let result = self.stage_attached(req, &point, &table, &device);
        if result.is_err() {
            if attached.fresh {
                // Leave nothing behind from a stage that failed: the CO may never unstage.
                let table = self.sys.mountinfo()?;
                let dev = self.sys.block_dev(&device)?;
                if !table.iter().any(|e| Some(e.dev) == dev || e.is_node_bind_of(&device)) {
                    if let Err(e) = self.attacher.detach(&req.volume_id, &device) {
                        log::warn!("volume {}: cannot detach after failed stage: {e}", req.volume_id);
                    }
                    kvfile::remove(&self.stash_path(&req.volume_id))?;
                }
            }
            self.drop_unused_note(req, &point);
        }
        result
    }

    /// After a stage failed: its note goes, unless a stage is mounted at `point` (an
    /// earlier one, or another driver's, which the note describes).
    fn drop_unused_note(&self, req: &StageRequest, point: &Path) {
        if self.attacher.layout() != StageLayout::Nested {
            return;
        }
        match self.sys.mountinfo() {
            Ok(table) if mountinfo::mount_at(&table, point).is_none() => {
                if let Err(e) = self.attacher.remove_note(&req.staging) {
                    log::warn!("volume {}: cannot remove the note of a failed stage: {e}", req.volume_id);
                }
            }
            Ok(_) => {}
            Err(e) => log::warn!("volume {}: note of a failed stage kept: {e}", req.volume_id),
        }
    }

    /// Stages on `device`, attached for it, at `point`; `table` is the mount table read
    /// before.
    fn stage_attached(
        &self,
        req: &StageRequest,
        point: &Path,
        table: &[MountEntry],
        device: &Path,
    ) -> Result<(), Error> {
        let dev = self.dev_id(device)?;
        let previous = self.read_stash(&req.volume_id)?;
        let nested = self.attacher.layout() == StageLayout::Nested;

        if let Some(m) = mountinfo::mount_at(table, point) {
            match &req.access {
                Access::Mount { fs, .. } => {
                    if m.dev != dev {
                        return Err(staged_otherwise(point, m));
                    }
                    if m.fs_type != fs.as_str() {
                        return Err(NodeError::StagedAsOtherFs {
                            volume: req.volume_id.clone(),
                            point: point.to_path_buf(),
                            found: m.fs_type.clone(),
                            wanted: fs.as_str().into(),
                        }
                        .into());
                    }
                    // Mounted already: by an earlier call, by one that died before its
                    // record said so (and maybe before it grew), or by ceph-csi's node
                    // before a plugin swap. The record says staged now.
                    match self.sys.read_head(device, probe::HEAD_LEN).map(|head| probe::fs_bytes(&head)) {
                        Ok(Some(fs_bytes)) => self.grow_to_device(req, point, device, *fs, fs_bytes),
                        Ok(None) => {}
                        Err(e) => log::warn!("volume {}: cannot read the filesystem's size: {e}", req.volume_id),
                    }
                    return self.write_stash(&staged_record(req, point, device, dev, previous.as_ref()));
                }
                Access::Block if nested => {
                    if !m.is_node_bind_of(device) {
                        return Err(staged_otherwise(point, m));
                    }
                    return self.write_stash(&staged_record(req, point, device, dev, previous.as_ref()));
                }
                Access::Block => {}
            }
        }
        // Never a second mount of a device already in use: it is staged elsewhere on
        // this node (by this driver or another one) and must be unstaged there first.
        // Binds of a block volume's device node are its publishes: a block restage
        // (kubelet does that after a restart) goes on beside them.
        let elsewhere = mounts_where(table, point, |e| match req.access {
            Access::Block => e.dev == dev,
            Access::Mount { .. } => e.uses(dev, device),
        });
        if !elsewhere.is_empty() {
            return Err(NodeError::StagedElsewhere { volume: req.volume_id.clone(), at: elsewhere }.into());
        }

        let mut rec = Stash::of_stage(&req.volume_id, &req.staging, point, device, dev);
        rec.access = Some(staged_as(&req.access));
        // What publishes recorded stays (a restage of a published block volume).
        rec.published = previous.as_ref().map(|p| p.published.clone()).unwrap_or_default();
        let formatting_before = previous.as_ref().is_some_and(|p| p.phase == Some(Phase::Formatting));
        match &req.access {
            Access::Block => {
                if nested {
                    // ceph-csi's NodePublish binds from this file.
                    crate::sys::paths::create_file(point)?;
                    self.sys.mount(device, point, None, MsFlags::MS_BIND, None)?;
                    crate::failpoint::hit("stage-after-mount");
                }
                rec.phase = Some(Phase::Staged);
                self.write_stash(&rec)
            }
            Access::Mount { fs, flags, mkfs_options } => {
                rec.phase = Some(if formatting_before { Phase::Formatting } else { Phase::Attached });
                self.write_stash(&rec)?;
                let found =
                    self.format_if_blank(req, device, *fs, mkfs_options.as_deref(), formatting_before, &mut rec)?;
                self.mount_staging(req, point, device, *fs, flags)?;
                crate::failpoint::hit("stage-after-mount");
                if let Some(fs_bytes) = found {
                    self.grow_to_device(req, point, device, *fs, fs_bytes);
                }
                rec.phase = Some(Phase::Staged);
                self.write_stash(&rec)
            }
        }
    }

    /// Grows the filesystem of `fs_bytes` (its superblock's size) just mounted at
    /// `point` to its device when it is smaller, as ceph-csi does: a restore or
    /// clone into a bigger volume (Kubernetes never calls NodeExpandVolume after one),
    /// a static volume resized with `rbd resize`. A refusal (no CAP_SYS_RESOURCE for
    /// ext4) leaves the volume usable at its old size and says so in the log.
    fn grow_to_device(&self, req: &StageRequest, point: &Path, device: &Path, fs: FsKind, fs_bytes: u64) {
        if req.read_only {
            return;
        }
        let grown = (|| -> Result<(), Error> {
            let device_bytes = self.sys.device_size(device)?;
            if fs_bytes < device_bytes {
                self.sys.grow_fs(point, fs, device_bytes)?;
                log::info!("volume {}: grew {} from {fs_bytes} to {device_bytes} bytes", req.volume_id, fs.as_str());
            }
            Ok(())
        })();
        if let Err(e) = grown {
            log::warn!("volume {}: {} not grown to its device: {e}", req.volume_id, fs.as_str());
        }
    }

    /// Formats `device` only when it holds nothing, or when our own earlier mkfs of it
    /// was interrupted (stash phase "formatting": nothing was ever mounted from it).
    fn format_if_blank(
        &self,
        req: &StageRequest,
        device: &Path,
        fs: FsKind,
        mkfs_options: Option<&str>,
        resume: bool,
        rec: &mut Stash,
    ) -> Result<Option<u64>, Error> {
        let head = self.sys.read_head(device, probe::HEAD_LEN)?;
        let content = probe::detect(&head);
        let must_format = match (&content, resume) {
            (Content::Blank, _) => true,
            (_, true) => {
                log::warn!(
                    "volume {}: an earlier mkfs of {} was interrupted; formatting again",
                    req.volume_id,
                    device.display()
                );
                true
            }
            (c, false) if c.fs() == Some(fs.as_str()) => false,
            (Content::Known(found), false) if c_is_fs(found) => {
                return Err(NodeError::ForeignFilesystem {
                    volume: req.volume_id.clone(),
                    found: found.to_string(),
                    wanted: fs.as_str().into(),
                }
                .into())
            }
            (c, false) => {
                return Err(NodeError::ForeignContent {
                    volume: req.volume_id.clone(),
                    device: device.to_path_buf(),
                    found: c.describe(),
                }
                .into())
            }
        };
        if !must_format {
            return Ok(probe::fs_bytes(&head));
        }
        if req.read_only {
            return Err(NodeError::BlankReadOnly { volume: req.volume_id.clone() }.into());
        }
        rec.phase = Some(Phase::Formatting);
        self.write_stash(rec)?;
        crate::failpoint::hit("stage-before-mkfs");
        mkfs::run(self.runner.as_ref(), device, fs, mkfs_options)?;
        crate::failpoint::hit("stage-after-mkfs");
        rec.phase = Some(Phase::Attached);
        // A filesystem mkfs just made fills its device: nothing to grow.
        self.write_stash(rec).map(|()| None)
    }

    fn mount_staging(
        &self,
        req: &StageRequest,
        point: &Path,
        device: &Path,
        fs: FsKind,
        flags: &[String],
    ) -> Result<(), Error> {
        let (mut ms, mut data) = mount_flags::parse(flags)?;
        if req.read_only {
            ms |= MsFlags::MS_RDONLY;
        }
        if fs == FsKind::Xfs && !data.iter().any(|d| d == "nouuid") {
            // Clones and snapshot restores share the parent's XFS UUID.
            data.push("nouuid".to_string());
        }
        crate::sys::paths::create_dirs(point)?;
        let data = data.join(",");
        self.sys.mount(device, point, Some(fs.as_str()), ms, (!data.is_empty()).then_some(data.as_str()))
    }

    /// The device number of a stash's device: the one recorded at stage (it holds
    /// even when the node is gone), else the node's number now (an older stash).
    pub(crate) fn device_number(&self, stash: &Stash) -> Result<Option<DevId>, Error> {
        match stash.devno {
            Some(dev) => Ok(Some(dev)),
            None => self.sys.block_dev(&stash.device),
        }
    }
}

/// `path` (of `kind`) is mount `m` of something that is not volume `volume`.
pub(crate) fn not_the_volume(kind: PathKind, path: &Path, volume: &str, m: &MountEntry) -> Error {
    let fs_type = m.fs_type.clone();
    NodeError::NotTheVolume { kind, path: path.to_path_buf(), volume: volume.into(), source: m.source.clone(), fs_type }
        .into()
}

/// The staging path `point` is a mount of another device (`m`).
fn staged_otherwise(point: &Path, m: &MountEntry) -> Error {
    NodeError::StagedOtherwise { point: point.to_path_buf(), source: m.source.clone() }.into()
}

/// The mount points in `table` other than `except` where `uses` holds, for a message
/// ("" when there are none).
fn mounts_where(table: &[MountEntry], except: &Path, uses: impl Fn(&MountEntry) -> bool) -> String {
    let points: Vec<String> = table
        .iter()
        .filter(|e| e.mount_point != except && uses(e))
        .map(|e| e.mount_point.display().to_string())
        .collect();
    points.join(", ")
}

/// How a stage of `access` presents the volume.
fn staged_as(access: &Access) -> StagedAs {
    match access {
        Access::Mount { fs, .. } => StagedAs::Mount { fs: fs.as_str().into() },
        Access::Block => StagedAs::Block,
    }
}

/// The stash of a finished stage (keeping what publishes recorded).
fn staged_record(req: &StageRequest, point: &Path, device: &Path, dev: DevId, previous: Option<&Stash>) -> Stash {
    Stash {
        access: Some(staged_as(&req.access)),
        phase: Some(Phase::Staged),
        published: previous.map(|p| p.published.clone()).unwrap_or_default(),
        ..Stash::of_stage(&req.volume_id, &req.staging, point, device, dev)
    }
}

/// ceph-csi's mark of a pre-existing image (a static PV) in a volume context.
pub fn is_static(ctx: &HashMap<String, String>) -> bool {
    ctx.get("staticVolume").is_some_and(|v| v == "true")
}

fn c_is_fs(name: &str) -> bool {
    matches!(name, "ext4" | "xfs" | "btrfs")
}

#[cfg(test)]
mod tests;
