//! Node logic against the fake syscall layer: no root, no kernel state.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use nix::errno::Errno;
use parking_lot::Mutex;

use super::publish::PublishRequest;
use super::*;
use crate::error::{NodeError, PathKind};
use crate::exec::{Cmd, Output, Runner};
use crate::sys::fake::FakeSys;

/// Attaches volume "vN" as /dev/loopN in the fake.
struct FakeAttacher {
    sys: Arc<FakeSys>,
    layout: StageLayout,
    heads: Mutex<HashMap<String, Vec<u8>>>,
    detached: Mutex<Vec<String>>,
}

/// The fake's note: the volume id, in `<staging>/note`.
impl Attacher for FakeAttacher {
    fn layout(&self) -> StageLayout {
        self.layout
    }
    fn write_note(&self, id: &str, _c: &HashMap<String, String>, staging: &Path) -> Result<(), Error> {
        std::fs::write(staging.join("note"), id).map_err(|e| Error::io("write", staging, e))
    }
    fn adopt(&self, id: &str, staging: &Path) -> Result<Option<PathBuf>, Error> {
        match std::fs::read_to_string(staging.join("note")) {
            Ok(noted) if noted == id => self.find(id),
            Ok(noted) => Err(Error::FailedPrecondition(format!("the note names {noted}"))),
            Err(_) => Ok(None),
        }
    }
    fn remove_note(&self, staging: &Path) -> Result<(), Error> {
        let _ = std::fs::remove_file(staging.join("note"));
        Ok(())
    }
    fn attach(
        &self,
        id: &str,
        _c: &HashMap<String, String>,
        _s: &HashMap<String, String>,
        _ro: bool,
    ) -> Result<Attached, Error> {
        let n: u32 = id.trim_start_matches('v').parse().map_err(|_| Error::NotFound(id.to_string()))?;
        let device = PathBuf::from(format!("/dev/loop{n}"));
        let fresh = self.sys.block_dev(&device)?.is_none();
        if fresh {
            let head = self.heads.lock().get(id).cloned().unwrap_or_else(|| vec![0; 4096]);
            self.sys.add_device(&device.display().to_string(), n, 1 << 30, head);
        }
        Ok(Attached { device, fresh })
    }
    fn find(&self, id: &str) -> Result<Option<PathBuf>, Error> {
        let dev = PathBuf::from(format!("/dev/loop{}", id.trim_start_matches('v')));
        let attached = self.detached.lock().last().map(String::as_str) != Some(id);
        Ok(self.sys.block_dev(&dev)?.filter(|_| attached).map(|_| dev))
    }
    fn detach(&self, id: &str, device: &Path) -> Result<(), Error> {
        self.detached.lock().push(id.to_string());
        self.sys.state.lock().devices.remove(device);
        Ok(())
    }
    fn forget_attachment(&self, _id: &str) -> Result<(), Error> {
        Ok(())
    }
    fn refresh(&self, _id: &str, _device: &Path) -> Result<(), Error> {
        Ok(())
    }
}

/// "Formats" by writing the filesystem's magic into the fake device.
struct FakeMkfs {
    sys: Arc<FakeSys>,
    runs: Mutex<Vec<String>>,
    fail: bool,
}

impl Runner for FakeMkfs {
    fn run(&self, cmd: &Cmd) -> Result<Output, Error> {
        self.runs.lock().push(cmd.display());
        if self.fail {
            return Ok(Output { status: 1, stdout: String::new(), stderr: "boom".into() });
        }
        let dev = PathBuf::from(cmd.args.last().cloned().unwrap_or_default());
        let mut st = self.sys.state.lock();
        if let Some(d) = st.devices.get_mut(&dev) {
            d.2 = fs_head(if cmd.program == "mkfs.ext4" { FsKind::Ext4 } else { FsKind::Xfs }, d.1);
        }
        Ok(Output { status: 0, stdout: String::new(), stderr: String::new() })
    }
}

/// The head of a `bytes`-sized filesystem: its magic and, in its superblock, its size
/// (4 KiB blocks).
fn fs_head(fs: FsKind, bytes: u64) -> Vec<u8> {
    let mut head = vec![0u8; 4096];
    let blocks = bytes / 4096;
    match fs {
        FsKind::Ext4 => {
            head[1080..1082].copy_from_slice(&[0x53, 0xEF]);
            head[1024 + 4..1024 + 8].copy_from_slice(&(blocks as u32).to_le_bytes());
            head[1024 + 24..1024 + 28].copy_from_slice(&2u32.to_le_bytes());
        }
        FsKind::Xfs => {
            head[..4].copy_from_slice(b"XFSB");
            head[4..8].copy_from_slice(&4096u32.to_be_bytes());
            head[8..16].copy_from_slice(&blocks.to_be_bytes());
        }
    }
    head
}

struct Env {
    sys: Arc<FakeSys>,
    att: Arc<FakeAttacher>,
    mkfs: Arc<FakeMkfs>,
    ops: NodeOps,
    dir: PathBuf,
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn env(tag: &str, fail_mkfs: bool) -> Env {
    env_in(tag, fail_mkfs, StageLayout::Direct)
}

fn env_in(tag: &str, fail_mkfs: bool, layout: StageLayout) -> Env {
    let dir = std::env::temp_dir().join(format!("rbd-csi-node-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let sys = Arc::new(FakeSys::default());
    let att =
        Arc::new(FakeAttacher { sys: Arc::clone(&sys), layout, heads: Mutex::default(), detached: Mutex::default() });
    let mkfs = Arc::new(FakeMkfs { sys: Arc::clone(&sys), runs: Mutex::default(), fail: fail_mkfs });
    let ops = NodeOps::new(
        Arc::clone(&sys) as Arc<dyn Sys>,
        Arc::clone(&mkfs) as Arc<dyn Runner>,
        Arc::clone(&att) as Arc<dyn Attacher>,
        &dir.join("node"),
        PathPolicy::default(),
    )
    .unwrap();
    Env { sys, att, mkfs, ops, dir }
}

fn stage_req(e: &Env, id: &str, fs: FsKind) -> StageRequest {
    StageRequest {
        volume_id: id.to_string(),
        staging: e.dir.join(format!("stage-{id}")),
        access: Access::Mount { fs, flags: vec!["noatime".into()], mkfs_options: None },
        read_only: false,
        context: HashMap::new(),
        secrets: HashMap::new(),
    }
}

fn mounts_at(e: &Env, p: &Path) -> usize {
    e.sys.state.lock().mounts.iter().filter(|m| m.mount_point == p).count()
}

#[test]
fn blank_device_is_formatted_once_and_mounted_once() {
    let e = env("blank", false);
    let req = stage_req(&e, "v1", FsKind::Ext4);
    e.ops.stage(&req).unwrap();
    e.ops.stage(&req).unwrap();
    assert_eq!(e.mkfs.runs.lock().len(), 1);
    assert!(e.mkfs.runs.lock()[0].starts_with("mkfs.ext4 -F -m0 -E nodiscard,lazy_itable_init=1,lazy_journal_init=1"));
    assert_eq!(mounts_at(&e, &req.staging), 1);
    assert_eq!(e.ops.read_stash("v1").unwrap().unwrap().phase, Some(Phase::Staged));
}

#[test]
fn foreign_content_is_refused_untouched_and_detached() {
    for (head_at, magic, want) in
        [(0usize, &b"XFSB"[..], "xfs"), (0, b"LUKS\xba\xbe", "crypto_LUKS"), (100, b"\x07", "unrecognised")]
    {
        let e = env("foreign", false);
        let mut head = vec![0u8; 4096];
        head[head_at..head_at + magic.len()].copy_from_slice(magic);
        e.att.heads.lock().insert("v2".into(), head);
        let err = e.ops.stage(&stage_req(&e, "v2", FsKind::Ext4)).unwrap_err();
        let found = match &err {
            Error::Node(NodeError::ForeignFilesystem { found, .. } | NodeError::ForeignContent { found, .. }) => found,
            _ => panic!("{err}"),
        };
        assert!(found.contains(want), "{err}");
        assert!(e.mkfs.runs.lock().is_empty());
        assert!(e.sys.state.lock().mounts.is_empty());
        assert_eq!(*e.att.detached.lock(), vec!["v2".to_string()]);
        assert!(e.ops.read_stash("v2").unwrap().is_none());
    }
}

#[test]
fn failed_mkfs_or_mount_leaves_nothing_attached() {
    let e = env("mkfsfail", true);
    assert!(e.ops.stage(&stage_req(&e, "v3", FsKind::Xfs)).is_err());
    assert_eq!(*e.att.detached.lock(), vec!["v3".to_string()]);
    let e = env("mountfail", false);
    e.sys.fail("mount", Errno::EIO);
    assert!(e.ops.stage(&stage_req(&e, "v4", FsKind::Ext4)).is_err());
    assert_eq!(*e.att.detached.lock(), vec!["v4".to_string()]);
    assert!(e.ops.read_stash("v4").unwrap().is_none());
}

#[test]
fn interrupted_mkfs_of_our_own_is_redone_on_retry() {
    let e = env("resume", false);
    let req = stage_req(&e, "v5", FsKind::Ext4);
    // A previous run attached the device, recorded "formatting" and died mid-mkfs,
    // leaving bytes that are neither blank nor a filesystem.
    let mut head = vec![0u8; 4096];
    head[2000] = 0x42;
    e.att.heads.lock().insert("v5".into(), head);
    e.att.attach("v5", &HashMap::new(), &HashMap::new(), false).unwrap();
    let device = Stash::of_device("v5", Path::new("/dev/loop5"), DevId { major: 7, minor: 5 });
    let rec = Stash { devno: None, phase: Some(Phase::Formatting), ..device };
    e.ops.write_stash(&rec).unwrap();
    e.ops.stage(&req).unwrap();
    assert_eq!(e.mkfs.runs.lock().len(), 1);
    assert_eq!(mounts_at(&e, &req.staging), 1);
}

#[test]
fn publish_requires_the_staging_mount_of_the_volume() {
    let e = env("publish", false);
    let req = stage_req(&e, "v6", FsKind::Ext4);
    let publish = PublishRequest {
        volume_id: "v6".into(),
        staging: req.staging.clone(),
        target: e.dir.join("target"),
        block: false,
        read_only: true,
        flags: vec![],
    };
    assert!(matches!(e.ops.publish(&publish), Err(Error::Node(NodeError::NotStaged { .. }))));
    e.ops.stage(&req).unwrap();
    e.sys.umount(&req.staging).unwrap();
    let err = e.ops.publish(&publish).unwrap_err();
    assert!(matches!(err, Error::Node(NodeError::StagingNotMounted { .. })), "{err}");
    assert_eq!(mounts_at(&e, &publish.target), 0);
    e.ops.stage(&req).unwrap();
    e.ops.publish(&publish).unwrap();
    e.ops.publish(&publish).unwrap();
    assert_eq!(mounts_at(&e, &publish.target), 1);
    let calls = e.sys.calls();
    assert_eq!(calls.iter().filter(|c| c.starts_with("mount none")).count(), 1, "one read-only remount: {calls:?}");
    // Unstage while published: refused, nothing unmounted.
    let err = e.ops.unstage("v6", &req.staging).unwrap_err();
    assert!(matches!(err, Error::Node(NodeError::StillPublished { .. })), "{err}");
    assert_eq!(mounts_at(&e, &req.staging), 1);
    e.ops.unpublish("v6", &publish.target).unwrap();
    e.ops.unpublish("v6", &publish.target).unwrap();
    e.ops.unstage("v6", &req.staging).unwrap();
    e.ops.unstage("v6", &req.staging).unwrap();
    assert!(e.sys.state.lock().mounts.is_empty());
    assert!(e.ops.read_stash("v6").unwrap().is_none());
}

#[test]
fn unpublish_takes_stacked_mounts_off_one_by_one() {
    let e = env("stacked", false);
    let req = stage_req(&e, "v10", FsKind::Ext4);
    e.ops.stage(&req).unwrap();
    let publish = PublishRequest {
        volume_id: "v10".into(),
        staging: req.staging.clone(),
        target: e.dir.join("target"),
        block: false,
        read_only: false,
        flags: vec![],
    };
    e.ops.publish(&publish).unwrap();
    // Two more binds at the same path, as retries after lost replies can leave.
    let bind = e.sys.state.lock().mounts.iter().find(|m| m.mount_point == publish.target).cloned().unwrap();
    e.sys.state.lock().mounts.extend([bind.clone(), bind.clone()]);
    e.sys.state.lock().mountinfo_reads = 0;
    e.ops.unpublish("v10", &publish.target).unwrap();
    assert_eq!(mounts_at(&e, &publish.target), 0);
    // One read before, one after each of the 3 unmounts.
    assert_eq!(e.sys.state.lock().mountinfo_reads, 4);
    // More than 8 at one path: something keeps mounting there; say so.
    e.sys.state.lock().mounts.extend(std::iter::repeat(bind).take(9));
    let err = e.ops.unpublish("v10", &publish.target).unwrap_err();
    assert!(matches!(err, Error::Node(NodeError::StillMounted { times: 8, .. })), "{err}");
    assert_eq!(mounts_at(&e, &publish.target), 1);
}

#[test]
fn unstage_refuses_a_staging_mount_that_is_not_the_volume() {
    let e = env("foreign-mount", false);
    let staging = e.dir.join("stage-x");
    e.sys.add_device("/dev/sdz", 99, 1 << 20, vec![]);
    e.sys.mount(Path::new("/dev/sdz"), &staging, Some("ext4"), MsFlags::empty(), None).unwrap();
    let err = e.ops.unstage("v7", &staging).unwrap_err();
    assert!(matches!(err, Error::Node(NodeError::NotTheVolume { kind: PathKind::Staging, .. })), "{err}");
    assert_eq!(mounts_at(&e, &staging), 1);
}

#[test]
fn expand_grows_the_mounted_filesystem_to_the_device_size() {
    let e = env("expand", false);
    let req = stage_req(&e, "v8", FsKind::Xfs);
    e.ops.stage(&req).unwrap();
    e.sys.state.lock().devices.get_mut(Path::new("/dev/loop8")).unwrap().1 = 2 << 30;
    assert_eq!(e.ops.expand("v8", &req.staging, None, 0).unwrap(), 2 << 30);
    assert_eq!(e.sys.state.lock().grown, vec![(req.staging.clone(), FsKind::Xfs, 2 << 30)]);
    assert!(matches!(e.ops.expand("v9", &req.staging, None, 0), Err(Error::Node(NodeError::NotOnNode { .. }))));
}

#[test]
fn a_filesystem_smaller_than_its_device_grows_on_stage_and_a_refusal_still_stages() {
    let e = env("grow-on-stage", false);
    let plain = stage_req(&e, "v1", FsKind::Ext4);
    e.ops.stage(&plain).unwrap();
    assert!(e.sys.state.lock().grown.is_empty(), "a fresh filesystem fills its device");

    // A restore of a 300 MiB filesystem into a 1 GiB volume (or a static volume
    // resized outside the CO): Kubernetes never asks the node to expand it.
    e.att.heads.lock().insert("v2".into(), fs_head(FsKind::Xfs, 300 << 20));
    let req = stage_req(&e, "v2", FsKind::Xfs);
    e.ops.stage(&req).unwrap();
    assert_eq!(e.sys.state.lock().grown, vec![(req.staging.clone(), FsKind::Xfs, 1 << 30)]);
    e.ops.unstage("v2", &req.staging).unwrap();
    let ro = StageRequest { read_only: true, ..req };
    e.sys.state.lock().grown.clear();
    e.ops.stage(&ro).unwrap();
    assert!(e.sys.state.lock().grown.is_empty(), "a read-only stage changes nothing");

    e.att.heads.lock().insert("v3".into(), fs_head(FsKind::Ext4, 300 << 20));
    let refused = stage_req(&e, "v3", FsKind::Ext4);
    e.sys.fail("grow_fs", Errno::EPERM);
    e.ops.stage(&refused).unwrap();
    assert_eq!(mounts_at(&e, &refused.staging), 1);
    assert_eq!(e.ops.read_stash("v3").unwrap().unwrap().phase, Some(Phase::Staged));
}

fn publish_req(e: &Env, id: &str, read_only: bool) -> PublishRequest {
    PublishRequest {
        volume_id: id.into(),
        staging: e.dir.join(format!("stage-{id}")),
        target: e.dir.join(format!("target-{id}")),
        block: false,
        read_only,
        flags: vec![],
    }
}

#[test]
fn a_stage_that_died_after_its_mount_is_finished_by_the_retry() {
    let e = env("died-after-mount", false);
    let req = stage_req(&e, "v1", FsKind::Ext4);
    e.ops.stage(&req).unwrap();
    // What a crash right after mount(2) leaves: the mount, and a record still at
    // "attached" (its last write before the mount).
    let mut rec = e.ops.read_stash("v1").unwrap().unwrap();
    rec.phase = Some(Phase::Attached);
    e.ops.write_stash(&rec).unwrap();
    e.ops.stage(&req).unwrap();
    assert_eq!(e.ops.read_stash("v1").unwrap().unwrap().phase, Some(Phase::Staged));
    assert_eq!(mounts_at(&e, &req.staging), 1);
    e.ops.publish(&publish_req(&e, "v1", false)).unwrap();
}

#[test]
fn a_read_only_publish_that_died_before_its_remount_is_finished_by_the_retry() {
    let e = env("died-before-remount", false);
    let req = stage_req(&e, "v1", FsKind::Ext4);
    e.ops.stage(&req).unwrap();
    let publish = publish_req(&e, "v1", true);
    // What a crash between the bind and the read-only remount leaves: the publish
    // recorded as read-only, and a writable bind.
    let mut rec = e.ops.read_stash("v1").unwrap().unwrap();
    rec.published = vec![stash::Published { target: publish.target.clone(), read_only: true }];
    e.ops.write_stash(&rec).unwrap();
    e.sys.mount(&publish.staging, &publish.target, None, MsFlags::MS_BIND, None).unwrap();
    e.ops.publish(&publish).unwrap();
    let binds: Vec<_> = e.sys.state.lock().mounts.iter().filter(|m| m.mount_point == publish.target).cloned().collect();
    assert_eq!(binds.len(), 1);
    assert!(binds[0].read_only(), "the retry made the bind read-only");
    // A writable request on a read-only bind is a different publish.
    assert!(matches!(
        e.ops.publish(&publish_req(&e, "v1", false)),
        Err(Error::Node(NodeError::PublishedOtherwise { .. }))
    ));
    // So is a read-only request on a writable publish that finished.
    let mut rw = publish_req(&e, "v1", false);
    rw.target = e.dir.join("target-rw");
    e.ops.publish(&rw).unwrap();
    let ro_again = PublishRequest { read_only: true, ..rw };
    assert!(matches!(e.ops.publish(&ro_again), Err(Error::Node(NodeError::PublishedOtherwise { .. }))));
}

#[test]
fn unpublish_leaves_what_is_not_the_volumes_alone() {
    let e = env("unpublish-foreign", false);
    // A foreign mount, a plain file and an empty directory, named as an unknown
    // volume's target and as a target of a volume that is staged but not there.
    e.sys.add_device("/dev/sdz", 99, 1 << 20, vec![]);
    let foreign = e.dir.join("foreign");
    e.sys.mount(Path::new("/dev/sdz"), &foreign, Some("tmpfs"), MsFlags::empty(), None).unwrap();
    let file = e.dir.join("file");
    let empty = e.dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    std::fs::write(&file, b"").unwrap();
    e.ops.stage(&stage_req(&e, "v1", FsKind::Ext4)).unwrap();
    for id in ["v9", "v1"] {
        let err = e.ops.unpublish(id, &foreign).unwrap_err();
        let not_ours = matches!(err, Error::Node(NodeError::NotTheVolume { kind: PathKind::Target, ref source, .. }) if source == "/dev/sdz");
        assert!(not_ours, "{err}");
        assert_eq!(mounts_at(&e, &foreign), 1);
        e.ops.unpublish(id, &file).unwrap();
        e.ops.unpublish(id, &empty).unwrap();
        assert!(file.exists() && empty.is_dir(), "nothing the driver did not make is removed");
    }
    // The volume's own target goes, bind and directory.
    let publish = publish_req(&e, "v1", false);
    e.ops.publish(&publish).unwrap();
    assert!(publish.target.is_dir());
    e.ops.unpublish("v1", &publish.target).unwrap();
    assert_eq!(mounts_at(&e, &publish.target), 0);
    assert!(!publish.target.exists());
    assert_eq!(e.ops.read_stash("v1").unwrap().unwrap().published, []);
}

#[test]
fn a_target_made_before_a_crash_is_removed_by_unpublish() {
    let e = env("died-after-target", false);
    e.ops.stage(&stage_req(&e, "v1", FsKind::Ext4)).unwrap();
    let publish = publish_req(&e, "v1", false);
    e.ops.publish(&publish).unwrap();
    // As if the driver died after making the directory, before the bind.
    e.sys.umount(&publish.target).unwrap();
    e.ops.unpublish("v1", &publish.target).unwrap();
    assert!(!publish.target.exists());
}

#[test]
fn an_unstage_that_died_after_its_detach_is_finished_even_if_the_device_was_reused() {
    let e = env("died-after-detach", false);
    let req = stage_req(&e, "v1", FsKind::Ext4);
    e.ops.stage(&req).unwrap();
    // The unstage unmounted and detached, then died before removing the stash; the
    // device name went to something else, mounted elsewhere.
    e.sys.umount(&req.staging).unwrap();
    e.att.detach("v1", Path::new("/dev/loop1")).unwrap();
    e.sys.add_device("/dev/loop1", 77, 1 << 20, vec![]);
    let other = e.dir.join("other");
    e.sys.mount(Path::new("/dev/loop1"), &other, Some("ext4"), MsFlags::empty(), None).unwrap();
    e.ops.unstage("v1", &req.staging).unwrap();
    assert!(e.ops.read_stash("v1").unwrap().is_none());
    assert_eq!(mounts_at(&e, &other), 1, "the other device's mount is untouched");
    assert_eq!(e.att.detached.lock().len(), 1, "nothing detached a second time");
}

#[test]
fn expand_through_a_read_only_publish_grows_the_staging_mount() {
    let e = env("expand-ro", false);
    let req = stage_req(&e, "v1", FsKind::Xfs);
    e.ops.stage(&req).unwrap();
    let publish = publish_req(&e, "v1", true);
    e.ops.publish(&publish).unwrap();
    e.sys.state.lock().devices.get_mut(Path::new("/dev/loop1")).unwrap().1 = 2 << 30;
    assert_eq!(e.ops.expand("v1", &publish.target, None, 0).unwrap(), 2 << 30);
    assert_eq!(e.sys.state.lock().grown, vec![(req.staging.clone(), FsKind::Xfs, 2 << 30)]);
    let err = e.ops.expand("v1", &publish.target, None, 3 << 30).unwrap_err();
    assert!(matches!(err, Error::Node(NodeError::DeviceTooSmall { required, .. }) if required == 3 << 30), "{err}");
}

/// ceph-csi's layout: the stage is `<staging>/<volume id>`, the note beside it; the
/// publish binds from there; the unstage takes all of it down, leaving the staging
/// path empty for kubelet to remove.
#[test]
fn nested_layout_stages_publishes_and_unstages_under_the_staging_path() {
    let e = env_in("nested", false, StageLayout::Nested);
    let req = stage_req(&e, "v1", FsKind::Ext4);
    let point = req.staging.join("v1");
    e.ops.stage(&req).unwrap();
    e.ops.stage(&req).unwrap();
    assert_eq!(mounts_at(&e, &point), 1);
    assert_eq!(mounts_at(&e, &req.staging), 0, "nothing mounted on the staging path itself");
    assert_eq!(std::fs::read_to_string(req.staging.join("note")).unwrap(), "v1");
    let publish = publish_req(&e, "v1", false);
    let target = publish.target.clone();
    e.ops.publish(&publish).unwrap();
    assert_eq!(mounts_at(&e, &target), 1);
    let err = e.ops.unstage("v1", &req.staging).unwrap_err();
    assert!(matches!(err, Error::Node(NodeError::StillPublished { ref at, .. }) if at.contains("target")), "{err}");
    e.ops.unpublish("v1", &target).unwrap();
    e.ops.unstage("v1", &req.staging).unwrap();
    assert_eq!(mounts_at(&e, &point), 0);
    assert!(!point.exists() && !req.staging.join("note").exists(), "staging path left empty");
    assert_eq!(*e.att.detached.lock(), vec!["v1".to_string()]);
    e.ops.unstage("v1", &req.staging).unwrap();
}

/// A stage ceph-csi's node made (its mount at `<staging>/<volume id>`, its note, no
/// stash of ours) is taken over: restaged in place, published, unstaged.
#[test]
fn nested_layout_takes_over_a_stage_it_did_not_make() {
    let e = env_in("adopt", false, StageLayout::Nested);
    let req = stage_req(&e, "v2", FsKind::Ext4);
    let point = req.staging.join("v2");
    e.att.heads.lock().insert("v2".into(), fs_head(FsKind::Ext4, 1 << 30));
    let device = e.att.attach("v2", &HashMap::new(), &HashMap::new(), false).unwrap().device;
    std::fs::create_dir_all(&point).unwrap();
    std::fs::write(req.staging.join("note"), "v2").unwrap();
    e.sys.mount(&device, &point, Some("ext4"), MsFlags::empty(), None).unwrap();

    // A publish of the adopted stage, then its unstage.
    let publish = publish_req(&e, "v2", false);
    let target = publish.target.clone();
    e.ops.publish(&publish).unwrap();
    assert_eq!(mounts_at(&e, &target), 1);
    assert_eq!(e.ops.read_stash("v2").unwrap().unwrap().point, Some(point.clone()));
    e.ops.unpublish("v2", &target).unwrap();
    std::fs::remove_file(e.ops.stash_path("v2")).unwrap();
    e.ops.unstage("v2", &req.staging).unwrap();
    assert_eq!(mounts_at(&e, &point), 0);
    assert_eq!(*e.att.detached.lock(), vec!["v2".to_string()]);
    assert!(e.mkfs.runs.lock().is_empty(), "nothing formatted");
}

/// A device already mounted somewhere else on the node (another staging path, by
/// this driver or another one) is never mounted a second time.
#[test]
fn a_device_in_use_elsewhere_is_not_mounted_again() {
    for layout in [StageLayout::Direct, StageLayout::Nested] {
        let e = env_in("elsewhere", false, layout);
        e.att.heads.lock().insert("v3".into(), fs_head(FsKind::Ext4, 1 << 30));
        let device = e.att.attach("v3", &HashMap::new(), &HashMap::new(), false).unwrap().device;
        let other = e.dir.join("other-stage/v3");
        std::fs::create_dir_all(&other).unwrap();
        e.sys.mount(&device, &other, Some("ext4"), MsFlags::empty(), None).unwrap();
        let req = stage_req(&e, "v3", FsKind::Ext4);
        let err = e.ops.stage(&req).unwrap_err();
        let elsewhere =
            matches!(err, Error::Node(NodeError::StagedElsewhere { ref at, .. }) if at.contains("other-stage"));
        assert!(elsewhere, "{layout:?}: {err}");
        assert_eq!(e.sys.state.lock().mounts.len(), 1, "{layout:?}: one mount, as before");
        assert!(!req.staging.join("note").exists(), "{layout:?}: the failed stage left no note");
        assert!(e.att.detached.lock().is_empty(), "{layout:?}: the mapping in use stays");
    }
}

/// Block access in the nested layout binds the device node onto `<staging>/<id>`,
/// where ceph-csi's NodePublish looks for it.
#[test]
fn nested_block_stage_binds_the_device_onto_a_file() {
    let e = env_in("nblock", false, StageLayout::Nested);
    let req = StageRequest { access: Access::Block, ..stage_req(&e, "v4", FsKind::Ext4) };
    let point = req.staging.join("v4");
    e.ops.stage(&req).unwrap();
    e.ops.stage(&req).unwrap();
    assert_eq!(mounts_at(&e, &point), 1);
    assert!(point.is_file());
    e.ops.unstage("v4", &req.staging).unwrap();
    assert_eq!(mounts_at(&e, &point), 0);
    assert!(!point.exists());
    assert_eq!(*e.att.detached.lock(), vec!["v4".to_string()]);
}
