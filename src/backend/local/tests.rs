//! The local backend's controller logic on a temp directory (no root needed: nothing
//! is attached).

use std::collections::HashMap;
use std::sync::Arc;

use super::ops::size_for;
use super::*;
use crate::backend::{ControllerOps, CreateParams, Source};
use crate::error::{Kind as ErrKind, VolumeError};
use crate::sys::fake::FakeSys;

fn dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rbd-csi-local-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn params(name: &str, required: u64, source: Source) -> CreateParams {
    CreateParams {
        accessibility: None,
        name: name.into(),
        required_bytes: required,
        limit_bytes: 0,
        source,
        parameters: HashMap::new(),
        secrets: HashMap::new(),
    }
}

#[test]
fn sizes_round_up_to_mib_and_respect_limits() {
    assert_eq!(size_for(0, 0).unwrap(), DEFAULT_SIZE);
    assert_eq!(size_for(1, 0).unwrap(), MIB);
    assert_eq!(size_for(MIB + 1, 0).unwrap(), 2 * MIB);
    assert_eq!(size_for(MIB + 1, 3 * MIB / 2 * 2).unwrap(), 2 * MIB);
    assert_eq!(size_for(0, 10 * MIB).unwrap(), 10 * MIB);
    assert!(matches!(size_for(5 * MIB, 4 * MIB), Err(Error::OutOfRange(_))));
    assert!(matches!(size_for(MIB + 1, MIB + 2), Err(Error::OutOfRange(_))));
}

#[test]
fn create_is_idempotent_by_name_and_refuses_incompatible_repeats() {
    let d = dir("idem");
    let l = Local::open(&d, Arc::new(FakeSys::default())).unwrap();
    let a = l.create_volume(&params("pvc", 3 * MIB, Source::Empty)).unwrap();
    let b = l.create_volume(&params("pvc", 2 * MIB, Source::Empty)).unwrap();
    assert_eq!(a, b);
    let taken = l.create_volume(&params("pvc", 8 * MIB, Source::Empty));
    assert!(matches!(taken, Err(Error::Volume(VolumeError::NameTaken { kind: ErrKind::Volume, .. }))), "{taken:?}");
    let img = l.image(&a.id);
    assert_eq!(std::fs::metadata(&img).unwrap().len(), 3 * MIB);
    // Reloading from disk finds the same volume under the same name.
    let l2 = Local::open(&d, Arc::new(FakeSys::default())).unwrap();
    assert_eq!(l2.create_volume(&params("pvc", 3 * MIB, Source::Empty)).unwrap(), a);
    l2.delete_volume(&a.id, &HashMap::new()).unwrap();
    l2.delete_volume(&a.id, &HashMap::new()).unwrap();
    assert!(!img.exists());
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn open_removes_what_a_crash_left_half_made() {
    let d = dir("crash");
    let l = Local::open(&d, Arc::new(FakeSys::default())).unwrap();
    let kept = l.create_volume(&params("kept", MIB, Source::Empty)).unwrap();
    drop(l);
    let vols = d.join("volumes");
    std::fs::write(vols.join("lv-orphan.img"), b"x").unwrap(); // crash before the meta
    std::fs::write(vols.join("lv-half.img.tmp"), b"x").unwrap(); // crash mid-copy
    std::fs::write(vols.join("lv-nometa.meta"), b"id=lv-nometa\nname=n\nsize=1\n").unwrap(); // image gone
    let l = Local::open(&d, Arc::new(FakeSys::default())).unwrap();
    let mut left: Vec<String> =
        std::fs::read_dir(&vols).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    left.sort();
    assert_eq!(left, vec![format!("{}.img", kept.id), format!("{}.meta", kept.id)]);
    assert_eq!(l.list_volumes().unwrap().len(), 1);
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn snapshots_and_clones_copy_data_and_keep_holes() {
    let d = dir("copy");
    let l = Local::open(&d, Arc::new(FakeSys::default())).unwrap();
    let v = l.create_volume(&params("src", 64 * MIB, Source::Empty)).unwrap();
    {
        use std::os::unix::fs::FileExt;
        let f = OpenOptions::new().write(true).open(l.image(&v.id)).unwrap();
        f.write_all_at(b"hello at 10 MiB", 10 * MIB).unwrap();
    }
    let s = l.create_snapshot(&v.id, "snap", &HashMap::new()).unwrap();
    assert_eq!(l.create_snapshot(&v.id, "snap", &HashMap::new()).unwrap(), s);
    let other = l.create_volume(&params("other", MIB, Source::Empty)).unwrap();
    let taken = l.create_snapshot(&other.id, "snap", &HashMap::new());
    assert!(matches!(taken, Err(Error::Volume(VolumeError::NameTaken { kind: ErrKind::Snapshot, .. }))), "{taken:?}");
    let r = l.create_volume(&params("restore", 64 * MIB, Source::Snapshot(s.id.clone()))).unwrap();
    let c = l.create_volume(&params("clone", 128 * MIB, Source::Volume(v.id.clone()))).unwrap();
    assert!(matches!(
        l.create_volume(&params("small", MIB, Source::Snapshot(s.id.clone()))),
        Err(Error::OutOfRange(_))
    ));
    for id in [&r.id, &c.id] {
        let data = std::fs::read(l.image(id)).unwrap();
        assert_eq!(&data[10 * MIB as usize..10 * MIB as usize + 15], b"hello at 10 MiB");
        use std::os::unix::fs::MetadataExt;
        let blocks = std::fs::metadata(l.image(id)).unwrap().blocks();
        assert!(blocks < 4096, "copy of {id} is not sparse: {blocks} blocks");
    }
    assert_eq!(std::fs::metadata(l.image(&c.id)).unwrap().len(), 128 * MIB);
    std::fs::remove_dir_all(&d).unwrap();
}
