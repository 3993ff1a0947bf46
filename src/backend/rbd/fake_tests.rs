//! The rbd controller on an in-memory Ceph (fake.rs): idempotence, crash-resume at
//! every step, name reuse, snapshots that outlive their volume, and claims. Every
//! check looks at what is left in the fake, not only at the answers.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::fake::{FakeRados, Parent};
use super::{RbdController, VolumeId};
use crate::backend::{CreateParams, Sharing, SnapshotInfo, Source, VolumeInfo, CLAIMED_FOR};
use crate::ceph::rados::{ImageRef, Rados};
use crate::error::{Error, Kind, VolumeError};

const GIB: u64 = 1 << 30;

/// A config.json in a directory of its own, removed at the end.
struct Env {
    dir: PathBuf,
}

/// One cluster and a controller on it.
struct World {
    fake: Arc<FakeRados>,
    ctl: RbdController,
}

impl Env {
    fn new() -> Env {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("rbd-csi-fake-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("config.json"), r#"[{"clusterID": "c1", "monitors": ["10.0.0.1:6789"]}]"#).unwrap();
        Env { dir }
    }

    /// A controller process on `fake`, as production makes one.
    fn controller(&self, fake: &Arc<FakeRados>) -> RbdController {
        RbdController::new(self.dir.join("config.json"), Arc::clone(fake) as Arc<dyn Rados>)
    }

    /// A fresh cluster (pools rbd = 1, other = 2) and a controller on it.
    fn world(&self) -> World {
        let fake = FakeRados::new(&[("rbd", 1), ("other", 2)]);
        World { ctl: self.controller(&fake), fake }
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn secrets() -> HashMap<String, String> {
    let pairs = [("userID", "csi"), ("userKey", "AQBbm90dGhla2V5bm90dGhla2V5bm90dGhla2V5bg==")];
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn params(name: &str) -> CreateParams {
    let parameters = [("clusterID", "c1"), ("pool", "rbd"), ("csi.storage.k8s.io/pvc/name", name)];
    CreateParams {
        name: name.to_string(),
        required_bytes: 0,
        limit_bytes: 0,
        source: Source::Empty,
        parameters: parameters.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        secrets: secrets(),
        accessibility: None,
    }
}

fn restore_params(name: &str, snap: &SnapshotInfo) -> CreateParams {
    CreateParams { source: Source::Snapshot(snap.id.clone()), ..params(name) }
}

fn uuid_of(id: &str) -> String {
    VolumeId::decode(id).expect("a ceph-csi id").uuid
}

/// Everything in pool rbd but empty name directories: images, trash entries (but,
/// when `queued_ok`, those a mgr task will remove, with their headers), omap keys and
/// objects.
fn leftovers(fake: &FakeRados, queued_ok: bool) -> Vec<String> {
    let (s, tasks) = (fake.space("rbd"), fake.mgr_tasks());
    let mut left: Vec<String> = s.images.keys().map(|name| format!("image {name}")).collect();
    let (queued, trash): (Vec<&String>, Vec<&String>) = s.trash.keys().partition(|id| queued_ok && tasks.contains(id));
    left.extend(trash.iter().map(|id| format!("trashed image {id}")));
    let mut kept = vec!["csi.volumes.default".to_string(), "csi.snaps.default".to_string()];
    kept.extend(queued.iter().map(|id| format!("rbd_header.{id}")));
    for (name, omap) in &s.objects {
        if !kept.contains(name) {
            left.push(format!("object {name}"));
        }
        left.extend(omap.keys().map(|k| format!("{name} key {k}")));
    }
    left
}

/// Everything gone; queued trash entries only until the mgr has run.
fn assert_all_gone(fake: &FakeRados) {
    assert_eq!(leftovers(fake, true), Vec::<String>::new());
    fake.run_mgr();
    assert_eq!(leftovers(fake, false), Vec::<String>::new(), "after the mgr ran");
}

/// A name directory's keys (a pending key left beside its name key by a crash is one
/// too: every retry removes it).
fn name_keys(dir: &BTreeMap<String, String>) -> BTreeMap<&str, &str> {
    dir.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// Volume `name` exists once, under `id`, with a complete journal and its image
/// (other volumes and snapshots may be there besides).
fn assert_volume(fake: &FakeRados, name: &str, id: &str) {
    let s = fake.space("rbd");
    let uuid = uuid_of(id);
    let dir = &s.objects["csi.volumes.default"];
    let name_key = format!("csi.volume.{name}");
    let keys = name_keys(dir);
    assert_eq!(keys.get(name_key.as_str()), Some(&uuid.as_str()), "name key; directory: {dir:?}");
    assert!(keys.keys().all(|k| k.starts_with("csi.volume.")), "a pending key is left: {dir:?}");
    let image_name = format!("csi-vol-{uuid}");
    let image = s.images.get(&image_name).unwrap_or_else(|| panic!("no image {image_name}: {:?}", s.images.keys()));
    assert_eq!((image.parent.as_ref(), image.features.as_str()), (None, "layering"), "a volume depends on nothing");
    let rec = &s.objects[&format!("csi.volume.{uuid}")];
    assert_eq!(rec.get("csi.volname").map(String::as_str), Some(name));
    assert_eq!(rec.get("csi.imagename"), Some(&image_name));
    assert_eq!(rec.get("csi.imageid"), Some(&image.id));
    assert_eq!(image.metadata.get("csi.storage.k8s.io/pvc/name").map(String::as_str), Some(name));
}

/// `assert_volume`, and nothing else is there: one image, no trash, no other object.
fn assert_only_volume(fake: &FakeRados, name: &str, id: &str) {
    assert_volume(fake, name, id);
    let s = fake.space("rbd");
    let uuid = uuid_of(id);
    assert_eq!(s.images.len(), 1, "{:?}", s.images.keys());
    assert!(s.trash.is_empty(), "{:?}", s.trash);
    let header = format!("rbd_header.{}", s.images[&format!("csi-vol-{uuid}")].id);
    let objects: Vec<&str> = s.objects.keys().map(String::as_str).collect();
    let mut expected = vec!["csi.volume.".to_string() + &uuid, "csi.volumes.default".to_string(), header];
    expected.sort();
    assert_eq!(objects, expected);
}

/// Snapshot `name` of live volume `vol` is complete, in ceph-csi's layout: an image
/// cloned from the volume's (trashed) snapshot, carrying its own snapshot.
fn assert_snapshot(fake: &FakeRados, vol: &VolumeInfo, snap: &SnapshotInfo, name: &str) {
    assert_eq!((snap.source_volume.as_str(), snap.size, snap.ready), (vol.id.as_str(), GIB, true));
    let s = fake.space("rbd");
    let uuid = uuid_of(&snap.id);
    let dir = &s.objects["csi.snaps.default"];
    let name_key = format!("csi.snap.{name}");
    assert_eq!(name_keys(dir), BTreeMap::from([(name_key.as_str(), uuid.as_str())]), "{dir:?}");
    let (image_name, source_name) = (format!("csi-snap-{uuid}"), format!("csi-vol-{}", uuid_of(&vol.id)));
    let (image, source) = (&s.images[&image_name], &s.images[&source_name]);
    assert_eq!(image.features, "layering,deep-flatten");
    let names: Vec<&str> = image.snaps.iter().map(|x| x.info.name.as_str()).collect();
    assert_eq!(names, [image_name.as_str()]);
    assert_eq!(source.snaps.len(), 1, "{:?}", source.snaps);
    assert!(source.snaps[0].trashed, "the volume's snapshot is in the trash namespace");
    let parent =
        Parent { space: ("rbd".into(), String::new()), image_id: source.id.clone(), snap_id: source.snaps[0].id };
    assert_eq!(image.parent, Some(parent));
    let rec = &s.objects[&format!("csi.snap.{uuid}")];
    let value = |k: &str| rec.get(k).map(String::as_str);
    assert_eq!(value("csi.snapname"), Some(name));
    assert_eq!(value("csi.source"), Some(source_name.as_str()));
    assert_eq!(value("csi.imagename"), Some(image_name.as_str()));
    assert_eq!(value("csi.sourceid"), Some(source.id.as_str()));
    assert_eq!(value("csi.imageid"), Some(image.id.as_str()));
    assert_eq!((s.images.len(), s.trash.len()), (2, 0), "{:?} {:?}", s.images.keys(), s.trash.keys());
    assert_eq!(s.objects.keys().filter(|o| o.starts_with("csi.snap.")).count(), 1);
}

/// Runs `call`, on a fresh cluster after `prepare`, with a crash at its 1st, 2nd, …
/// mutating call, each followed by a retry without one that must succeed and pass
/// `check`; stops at the first run that ends before its crash point (also checked).
/// Returns the number of mutating calls of a whole run.
fn crash_at_every_step<P, R>(
    env: &Env,
    prepare: impl Fn(&World) -> P,
    call: impl Fn(&World, &P) -> Result<R, Error>,
    check: impl Fn(&World, &P, R),
) -> u64 {
    for k in 0..200 {
        let w = env.world();
        let p = prepare(&w);
        let before = w.fake.mutations();
        w.fake.fail_after(k);
        let first = call(&w, &p);
        if !w.fake.heal() {
            assert_eq!(w.fake.mutations() - before, k, "the run before crashed at its call {k}");
            check(&w, &p, first.unwrap_or_else(|e| panic!("without a crash: {e}")));
            return k;
        }
        let retried = call(&w, &p).unwrap_or_else(|e| panic!("the retry after a crash at mutating call {k}: {e}"));
        check(&w, &p, retried);
    }
    panic!("more than 200 mutating calls");
}

#[test]
fn create_is_idempotent_and_delete_leaves_nothing() {
    let env = Env::new();
    let World { fake, ctl } = env.world();
    let v = ctl.create(&params("pvc-1")).unwrap();
    assert_eq!(v.size, GIB);
    assert_eq!(ctl.create(&params("pvc-1")).unwrap().id, v.id, "the same name, the same volume");
    assert_only_volume(&fake, "pvc-1", &v.id);
    let bigger = CreateParams { required_bytes: 2 * GIB, ..params("pvc-1") };
    assert!(matches!(ctl.create(&bigger), Err(Error::Volume(VolumeError::NameTaken { .. }))));
    assert_only_volume(&fake, "pvc-1", &v.id);

    let image = format!("csi-vol-{}", uuid_of(&v.id));
    fake.set_watchers("rbd", ImageRef::Name(&image), &["10.0.0.9:0/1"]);
    assert!(matches!(ctl.delete(&v.id, &secrets()), Err(Error::Volume(VolumeError::InUse { .. }))), "mapped somewhere");
    assert_only_volume(&fake, "pvc-1", &v.id);
    fake.set_watchers("rbd", ImageRef::Name(&image), &[]);
    ctl.delete(&v.id, &secrets()).unwrap();
    assert_eq!(leftovers(&fake, false), Vec::<String>::new());
    ctl.delete(&v.id, &secrets()).unwrap();
    assert_eq!(leftovers(&fake, false), Vec::<String>::new());
}

#[test]
fn create_and_delete_resume_after_a_crash_at_every_step() {
    let env = Env::new();
    let create = |w: &World, _: &()| w.ctl.create(&params("pvc-1"));
    let steps = crash_at_every_step(&env, |_| (), create, |w, _, v| assert_only_volume(&w.fake, "pvc-1", &v.id));
    assert!(steps >= 7, "a create makes {steps} mutating calls");

    let prepare = |w: &World| w.ctl.create(&params("pvc-1")).unwrap();
    let delete = |w: &World, v: &VolumeInfo| w.ctl.delete(&v.id, &secrets());
    let steps = crash_at_every_step(&env, prepare, delete, |w, _, ()| {
        assert_eq!(leftovers(&w.fake, false), Vec::<String>::new());
    });
    assert!(steps >= 3, "a delete makes {steps} mutating calls");
}

#[test]
fn a_name_used_again_is_a_new_volume() {
    let env = Env::new();
    let World { fake, ctl } = env.world();
    let first = ctl.create(&params("pvc-1")).unwrap();
    ctl.delete(&first.id, &secrets()).unwrap();
    let second = ctl.create(&params("pvc-1")).unwrap();
    assert_ne!(second.id, first.id);
    assert_only_volume(&fake, "pvc-1", &second.id);
    // A late retry of the first volume's delete.
    ctl.delete(&first.id, &secrets()).unwrap();
    assert_only_volume(&fake, "pvc-1", &second.id);
}

#[test]
fn snapshots_outlive_their_volume_and_restore() {
    let env = Env::new();
    let World { fake, ctl } = env.world();
    let v = ctl.create(&params("pvc-1")).unwrap();
    let snap = ctl.snapshot_create(&v.id, "snap-1", &secrets()).unwrap();
    assert_snapshot(&fake, &v, &snap, "snap-1");
    assert_eq!(ctl.snapshot_create(&v.id, "snap-1", &secrets()).unwrap(), snap, "idempotent");
    let other = ctl.create(&params("pvc-other")).unwrap();
    let taken = ctl.snapshot_create(&other.id, "snap-1", &secrets());
    assert!(matches!(taken, Err(Error::Volume(VolumeError::NameTaken { kind: Kind::Snapshot, .. }))), "{taken:?}");
    ctl.delete(&other.id, &secrets()).unwrap();

    // The volume goes; its image waits in the trash while the snapshot hangs on it.
    let source_id = fake.space("rbd").images[&format!("csi-vol-{}", uuid_of(&v.id))].id.clone();
    ctl.delete(&v.id, &secrets()).unwrap();
    let s = fake.space("rbd");
    assert!(s.trash.contains_key(&source_id) && fake.mgr_tasks().contains(&source_id));
    assert!(!s.objects.contains_key(&format!("csi.volume.{}", uuid_of(&v.id))));
    assert_eq!(ctl.snapshot_list(&snap.id, "", &secrets()).unwrap(), [snap.clone()]);

    let r = ctl.create(&restore_params("pvc-2", &snap)).unwrap();
    assert_eq!(r.source, Source::Snapshot(snap.id.clone()));
    assert_volume(&fake, "pvc-2", &r.id);
    fake.run_mgr();
    assert!(fake.space("rbd").trash.contains_key(&source_id), "the snapshot still keeps the volume's image");

    ctl.snapshot_delete(&snap.id, &secrets()).unwrap();
    assert_eq!(ctl.snapshot_list(&snap.id, "", &secrets()).unwrap(), Vec::<SnapshotInfo>::new());
    let gone = ctl.create(&restore_params("pvc-3", &snap));
    assert!(matches!(gone, Err(Error::Volume(VolumeError::NoSuch { kind: Kind::Snapshot, .. }))), "{gone:?}");
    ctl.delete(&r.id, &secrets()).unwrap();
    // Without the mgr: the snapshot's delete removed the trashed volume image at once.
    assert_eq!(leftovers(&fake, false), Vec::<String>::new());
}

#[test]
fn a_create_whose_source_is_gone_gives_its_reservation_back() {
    let env = Env::new();
    let w = env.world();
    let v = w.ctl.create(&params("pvc-src")).unwrap();
    let snap = snapshot(&w, &v).unwrap();
    // The source's image is removed behind the driver's back; its journal entry stays.
    w.fake.lose_image("rbd", &format!("csi-vol-{}", uuid_of(&v.id)));
    let clone = CreateParams { source: Source::Volume(v.id.clone()), ..params("pvc-clone") };
    let err = w.ctl.create(&clone).unwrap_err();
    assert_eq!(err.code(), grpcio::RpcStatusCode::NOT_FOUND, "{err}");
    let dir = w.fake.space("rbd").objects.get("csi.volumes.default").cloned().unwrap_or_default();
    assert_eq!(
        dir.keys().collect::<Vec<_>>(),
        ["csi.volume.pvc-src"],
        "the clone's name is free again, nothing pending"
    );

    // So is a snapshot's image.
    let snap_image = w.fake.space("rbd").images.keys().find(|n| n.starts_with("csi-snap-")).cloned().unwrap();
    w.fake.lose_image("rbd", &snap_image);
    let err = w.ctl.create(&restore_params("pvc-restore", &snap)).unwrap_err();
    assert_eq!(err.code(), grpcio::RpcStatusCode::NOT_FOUND, "{err}");
    let dir = w.fake.space("rbd").objects.get("csi.volumes.default").cloned().unwrap_or_default();
    assert_eq!(dir.keys().collect::<Vec<_>>(), ["csi.volume.pvc-src"], "the restore's name is free again");
}

#[test]
fn a_snapshot_image_a_crash_left_half_made_is_made_again() {
    let env = Env::new();
    let w = env.world();
    let v = volume(&w);
    let source = format!("csi-vol-{}", uuid_of(&v.id));
    let cluster = w.ctl.cluster("c1").unwrap();
    let creds = crate::ceph::Credentials::from_secrets(&secrets()).unwrap();
    let images = crate::ceph::rados::Target { cluster: &cluster, creds: &creds, pool: "rbd", namespace: "" };
    // A clone killed inside librbd took the name without making a header.
    w.fake.half_make("rbd", "csi-snap-x");
    w.ctl.make_snapshot_image(&images, &source, "csi-snap-x").unwrap();
    let space = w.fake.space("rbd");
    let snap_image = &space.images["csi-snap-x"];
    assert_eq!(snap_image.snaps.iter().map(|x| x.info.name.as_str()).collect::<Vec<_>>(), ["csi-snap-x"]);
    assert!(space.images[&source].snaps.iter().all(|x| x.trashed), "the source keeps no snapshot of it");
    assert!(space.half_made.is_empty(), "the remains are gone");
}

fn volume(w: &World) -> VolumeInfo {
    w.ctl.create(&params("pvc-1")).unwrap()
}

fn snapshot(w: &World, v: &VolumeInfo) -> Result<SnapshotInfo, Error> {
    w.ctl.snapshot_create(&v.id, "snap-1", &secrets())
}

fn volume_and_snapshot(w: &World) -> (VolumeInfo, SnapshotInfo) {
    let v = volume(w);
    let snap = snapshot(w, &v).unwrap();
    (v, snap)
}

#[test]
fn create_snapshot_resumes_after_a_crash_at_every_step() {
    let env = Env::new();
    let steps = crash_at_every_step(&env, volume, snapshot, |w, v, snap| {
        assert_snapshot(&w.fake, v, &snap, "snap-1");
        assert_eq!(w.ctl.snapshot_list(&snap.id, "", &secrets()).unwrap(), [snap]);
    });
    assert!(steps >= 11, "a snapshot takes {steps} mutating calls");
}

#[test]
fn volume_calls_with_a_snapshot_resume_after_a_crash_at_every_step() {
    let env = Env::new();
    // DeleteVolume of a volume with a snapshot: its image waits in the trash.
    let delete = |w: &World, (v, _): &(VolumeInfo, SnapshotInfo)| w.ctl.delete(&v.id, &secrets());
    crash_at_every_step(&env, volume_and_snapshot, delete, |w, (v, snap), ()| {
        let s = w.fake.space("rbd");
        assert_eq!(s.images.len(), 1, "only the snapshot's image: {:?}", s.images.keys());
        assert_eq!(s.trash.len(), 1);
        assert!(s.trash.keys().all(|id| w.fake.mgr_tasks().contains(id)), "{:?}", s.trash.keys());
        assert!(!s.objects.contains_key(&format!("csi.volume.{}", uuid_of(&v.id))));
        assert_eq!(w.ctl.snapshot_list(&snap.id, "", &secrets()).unwrap(), [snap.clone()]);
    });

    // A restore from it (a clone cut short is trashed and made again).
    let restore = |w: &World, (_, snap): &(VolumeInfo, SnapshotInfo)| w.ctl.create(&restore_params("pvc-2", snap));
    let steps = crash_at_every_step(&env, volume_and_snapshot, restore, |w, (v, snap), r| {
        assert_volume(&w.fake, "pvc-2", &r.id);
        w.ctl.snapshot_delete(&snap.id, &secrets()).unwrap();
        w.ctl.delete(&v.id, &secrets()).unwrap();
        w.ctl.delete(&r.id, &secrets()).unwrap();
        assert_all_gone(&w.fake);
    });
    assert!(steps >= 9, "a restore makes {steps} mutating calls");
}

#[test]
fn delete_snapshot_resumes_after_a_crash_at_every_step() {
    let env = Env::new();
    for volume_deleted in [false, true] {
        let prepare = |w: &World| {
            let (v, snap) = volume_and_snapshot(w);
            if volume_deleted {
                w.ctl.delete(&v.id, &secrets()).unwrap();
            }
            (v, snap)
        };
        let delete = |w: &World, (_, snap): &(VolumeInfo, SnapshotInfo)| w.ctl.snapshot_delete(&snap.id, &secrets());
        let steps = crash_at_every_step(&env, prepare, delete, |w, (v, snap), ()| {
            assert_eq!(w.ctl.snapshot_list(&snap.id, "", &secrets()).unwrap(), Vec::<SnapshotInfo>::new());
            if !volume_deleted {
                let s = w.fake.space("rbd");
                let image = &s.images[&format!("csi-vol-{}", uuid_of(&v.id))];
                assert!(image.snaps.is_empty(), "the volume keeps a snapshot: {:?}", image.snaps);
                w.ctl.delete(&v.id, &secrets()).unwrap();
            }
            assert_all_gone(&w.fake);
        });
        assert!(steps >= 5, "a snapshot's delete makes {steps} mutating calls");
    }
}

#[test]
fn without_a_mgr_a_retried_snapshot_delete_removes_the_trashed_volume() {
    let env = Env::new();
    let prepare = |w: &World| {
        w.fake.set_mgr(false);
        let (v, snap) = volume_and_snapshot(w);
        w.ctl.delete(&v.id, &secrets()).unwrap();
        snap
    };
    let delete = |w: &World, snap: &SnapshotInfo| w.ctl.snapshot_delete(&snap.id, &secrets());
    crash_at_every_step(&env, prepare, delete, |w, _, ()| {
        assert_eq!(leftovers(&w.fake, false), Vec::<String>::new());
    });
}

#[test]
fn a_single_node_volume_is_claimed_for_one_node() {
    let env = Env::new();
    let World { fake, ctl } = env.world();
    // A second controller process (another Ceph client) on the same cluster.
    let other = env.controller(&fake.other_client());
    let v = ctl.create(&params("pvc-1")).unwrap();
    let header = format!("rbd_header.{}", fake.space("rbd").images[&format!("csi-vol-{}", uuid_of(&v.id))].id);
    let holders = || -> Vec<String> {
        let s = fake.space("rbd");
        let locks = s.locks.get(&header).and_then(|l| l.get(super::attach::CLAIM_LOCK)).cloned().unwrap_or_default();
        locks.into_iter().map(|l| l.cookie).collect()
    };
    let none = HashMap::new();
    let publish = |ctl: &RbdController, node: &str| ctl.publish(&v.id, node, Sharing::OneNode, &secrets(), &none);

    let context = publish(&ctl, "node-a").unwrap();
    assert_eq!(context.get(CLAIMED_FOR).map(String::as_str), Some("node-a"));
    assert_eq!(holders(), ["node-a"]);
    match publish(&ctl, "node-b") {
        Err(Error::Volume(VolumeError::ClaimedBy { node, .. })) => assert_eq!(node, "node-a"),
        other => panic!("node-b got {other:?}"),
    }
    assert_eq!(publish(&other, "node-a").unwrap(), context, "a restarted controller finds the claim its own");
    assert_eq!(publish(&ctl, "node-a").unwrap(), context);
    assert_eq!(holders(), ["node-a"]);
    let shared = ctl.publish(&v.id, "node-c", Sharing::Shared, &secrets(), &none).unwrap();
    assert!(shared.is_empty(), "a shared publish claims nothing: {shared:?}");

    ctl.unpublish(&v.id, "node-b", &secrets()).unwrap();
    assert_eq!(holders(), ["node-a"], "node-b's unpublish leaves node-a's claim");
    other.unpublish(&v.id, "node-a", &secrets()).unwrap();
    assert_eq!(holders(), Vec::<String>::new());
    other.unpublish(&v.id, "node-a", &secrets()).unwrap();
    publish(&ctl, "node-b").unwrap();
    assert_eq!(holders(), ["node-b"]);

    ctl.delete(&v.id, &secrets()).unwrap();
    assert!(matches!(publish(&ctl, "node-b"), Err(Error::Volume(VolumeError::NoSuch { kind: Kind::Volume, .. }))));
    assert_eq!(leftovers(&fake, false), Vec::<String>::new(), "the claim went with the image");
}

#[test]
fn a_forced_move_fences_the_holder_first() {
    let env = Env::new();
    let World { fake, ctl } = env.world();
    let v = ctl.create(&params("pvc-1")).unwrap();
    let image = format!("csi-vol-{}", uuid_of(&v.id));
    let none = HashMap::new();
    ctl.publish(&v.id, "node-a", Sharing::OneNode, &secrets(), &none).unwrap();
    assert!(fake.space("rbd").images[&image].features.contains("exclusive-lock"), "publish turns the feature on");
    // node-a's kernel maps it read-write (taking rbd_lock); a reader's watch lingers too.
    fake.map("rbd", &image, "10.0.0.1:0/111", true);
    fake.map("rbd", &image, "10.0.0.1:0/222", false);
    let fenced = ctl.unpublish(&v.id, "node-a", &secrets()).unwrap();
    assert_eq!(fenced, ["10.0.0.1:0/111", "10.0.0.1:0/222"]);
    assert_eq!(fake.blocklisted(), fenced);
    let records = fake.space("rbd").objects.get(super::attach::FENCED_OBJECT).cloned().unwrap_or_default();
    assert_eq!(records.keys().collect::<Vec<_>>(), ["10.0.0.1:0/111", "10.0.0.1:0/222"]);
    assert!(records.values().all(|r| r.starts_with(&format!("node-a {} ", v.id))), "{records:?}");
    ctl.publish(&v.id, "node-b", Sharing::OneNode, &secrets(), &none).unwrap();
    // node-b's map breaks the fenced writer's rbd_lock, as krbd does; nothing of it
    // is fenced when node-b is unpublished after a clean unmap.
    fake.map("rbd", &image, "10.0.0.2:0/333", true);
    fake.unmap("rbd", &image, "10.0.0.2:0/333");
    assert_eq!(ctl.unpublish(&v.id, "node-b", &secrets()).unwrap(), Vec::<String>::new());

    assert_eq!(ctl.unfence(&v.id, "node-b", &secrets()).unwrap(), Vec::<String>::new(), "node-b was not fenced");
    assert_eq!(ctl.unfence(&v.id, "node-a", &secrets()).unwrap(), fenced);
    assert_eq!(fake.blocklisted(), Vec::<String>::new());
    assert!(fake.space("rbd").objects.get(super::attach::FENCED_OBJECT).is_none_or(|r| r.is_empty()));
}

#[test]
fn a_forced_move_of_a_single_writer_spares_the_readers() {
    let env = Env::new();
    let World { fake, ctl } = env.world();
    let v = ctl.create(&params("pvc-1")).unwrap();
    let image = format!("csi-vol-{}", uuid_of(&v.id));
    let none = HashMap::new();
    // MULTI_NODE_SINGLE_WRITER: node-w writes, node-r reads (no claim).
    ctl.publish(&v.id, "node-w", Sharing::OneWriter, &secrets(), &none).unwrap();
    ctl.publish(&v.id, "node-r", Sharing::Shared, &secrets(), &none).unwrap();
    fake.map("rbd", &image, "10.0.0.1:0/111", true);
    fake.map("rbd", &image, "10.0.0.2:0/222", false);
    assert_eq!(ctl.unpublish(&v.id, "node-w", &secrets()).unwrap(), ["10.0.0.1:0/111"], "the writer alone");
    assert_eq!(fake.blocklisted(), ["10.0.0.1:0/111"]);
    // The same volume claimed single-node again: every watcher is the claimed node's.
    ctl.publish(&v.id, "node-a", Sharing::OneNode, &secrets(), &none).unwrap();
    assert_eq!(ctl.unpublish(&v.id, "node-a", &secrets()).unwrap(), ["10.0.0.1:0/111", "10.0.0.2:0/222"]);
}

#[test]
fn a_retry_removes_the_pending_key_a_crash_left() {
    let env = Env::new();
    let World { fake, ctl } = env.world();
    // Mutating calls 1-3: the pending key, the uuid object, the name key; 4: the pending key's removal.
    fake.fail_after(3);
    assert!(ctl.create(&params("pvc-1")).is_err());
    assert!(fake.heal());
    let v = ctl.create(&params("pvc-1")).unwrap();
    fake.fail_after(3);
    assert!(ctl.snapshot_create(&v.id, "snap-1", &secrets()).is_err());
    assert!(fake.heal());
    ctl.snapshot_create(&v.id, "snap-1", &secrets()).unwrap();
    let s = fake.space("rbd");
    let keys = |dir: &str| s.objects[dir].keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys("csi.volumes.default"), ["csi.volume.pvc-1"]);
    assert_eq!(keys("csi.snaps.default"), ["csi.snap.snap-1"]);
}

#[test]
fn a_snapshot_retried_after_a_crash_records_its_image_id() {
    let env = Env::new();
    let World { fake, ctl } = env.world();
    let v = ctl.create(&params("pvc-1")).unwrap();
    // Mutating calls 1-10 of CreateSnapshot make the snapshot image; 11 records its id.
    fake.fail_after(10);
    assert!(ctl.snapshot_create(&v.id, "snap-1", &secrets()).is_err());
    assert!(fake.heal());
    let snap = ctl.snapshot_create(&v.id, "snap-1", &secrets()).unwrap();
    ctl.delete(&v.id, &secrets()).unwrap();
    // DeleteSnapshot: 1 removes the image's snapshot, 2 moves the image to the trash,
    // 3 removes it from there.
    fake.fail_after(2);
    assert!(ctl.snapshot_delete(&snap.id, &secrets()).is_err());
    assert!(fake.heal());
    ctl.snapshot_delete(&snap.id, &secrets()).unwrap();
    assert_all_gone(&fake);
}
