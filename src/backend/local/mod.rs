//! The embedded `local` backend: every volume is a sparse file under
//! `<data-dir>/volumes`, every snapshot a copy (reflink where the filesystem can)
//! under `<data-dir>/snapshots`, each with a small metadata record. The metadata
//! record is the commit point: written last on create, removed first on delete, so a
//! crash leaves at worst an orphan file, which `open` removes.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use nix::unistd::{lseek, Whence};
use parking_lot::Mutex;

use crate::error::Error;
use crate::kvfile::{self, Record};
use crate::sys::Sys;

nix::ioctl_write_int!(ficlone, 0x94, 9);

pub const MIB: u64 = 1 << 20;
/// Size of a volume created without a capacity range.
pub const DEFAULT_SIZE: u64 = 1 << 30;

/// A volume or snapshot as recorded on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub id: String,
    pub name: String,
    pub size: u64,
    /// Volumes: "snapshot:<id>", "volume:<id>" or "". Snapshots: the source volume id.
    pub source: String,
    pub created_secs: i64,
    pub created_nanos: i32,
}

impl Item {
    fn to_record(&self) -> Record {
        let mut r = Record::new();
        r.insert("id".into(), self.id.clone());
        r.insert("name".into(), self.name.clone());
        r.insert("size".into(), self.size.to_string());
        r.insert("source".into(), self.source.clone());
        r.insert("created_secs".into(), self.created_secs.to_string());
        r.insert("created_nanos".into(), self.created_nanos.to_string());
        r
    }

    fn from_record(r: &Record) -> Option<Item> {
        Some(Item {
            id: r.get("id")?.clone(),
            name: r.get("name")?.clone(),
            size: r.get("size")?.parse().ok()?,
            source: r.get("source").cloned().unwrap_or_default(),
            created_secs: r.get("created_secs").and_then(|s| s.parse().ok()).unwrap_or(0),
            created_nanos: r.get("created_nanos").and_then(|s| s.parse().ok()).unwrap_or(0),
        })
    }
}

#[derive(Default)]
struct Index {
    volumes: HashMap<String, Item>,
    snapshots: HashMap<String, Item>,
}

/// Which table an operation is about.
#[derive(Clone, Copy)]
enum Kind {
    Volume,
    Snapshot,
}

pub struct Local {
    data_dir: PathBuf,
    sys: Arc<dyn Sys>,
    index: Mutex<Index>,
}

fn random_hex() -> Result<String, Error> {
    let mut buf = [0u8; 8];
    crate::sys::random_bytes(&mut buf)?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

fn now() -> (i64, i32) {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    (d.as_secs() as i64, d.subsec_nanos() as i32)
}

/// Copies `src` to a new `dst`: a reflink when the filesystem supports it, else a
/// sparse copy that writes only the data regions (holes and zero blocks stay holes).
pub fn copy_file(src: &Path, dst: &Path) -> Result<(), Error> {
    let s = File::open(src).map_err(|e| Error::io("open", src, e))?;
    let d = OpenOptions::new().write(true).create_new(true).open(dst).map_err(|e| Error::io("create", dst, e))?;
    let len = s.metadata().map_err(|e| Error::io("stat", src, e))?.len();
    // SAFETY: FICLONE takes the source fd as its argument; both fds are open.
    if unsafe { ficlone(d.as_raw_fd(), s.as_raw_fd() as _) }.is_ok() {
        return d.sync_all().map_err(|e| Error::io("fsync", dst, e));
    }
    d.set_len(len).map_err(|e| Error::io("truncate", dst, e))?;
    let mut buf = vec![0u8; MIB as usize];
    let mut off: i64 = 0;
    use std::os::unix::fs::FileExt;
    while (off as u64) < len {
        let data = match lseek(&s, off, Whence::SeekData) {
            Ok(p) => p,
            Err(nix::errno::Errno::ENXIO) => break,
            Err(e) => return Err(Error::sys("lseek", src.display(), e)),
        };
        let hole = lseek(&s, data, Whence::SeekHole).map_err(|e| Error::sys("lseek", src.display(), e))?;
        let mut pos = data;
        while pos < hole {
            let n = ((hole - pos) as usize).min(buf.len());
            s.read_exact_at(&mut buf[..n], pos as u64).map_err(|e| Error::io("read", src, e))?;
            if buf[..n].iter().any(|b| *b != 0) {
                d.write_all_at(&buf[..n], pos as u64).map_err(|e| Error::io("write", dst, e))?;
            }
            pos += n as i64;
        }
        off = hole;
    }
    d.sync_all().map_err(|e| Error::io("fsync", dst, e))
}

impl Local {
    /// Opens the data directory, finishing or undoing whatever a crash left half-made.
    pub fn open(data_dir: &Path, sys: Arc<dyn Sys>) -> Result<Local, String> {
        let mut index = Index::default();
        for (kind, sub) in [(Kind::Volume, "volumes"), (Kind::Snapshot, "snapshots")] {
            let dir = data_dir.join(sub);
            std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            owner_only(&dir);
            let entries = std::fs::read_dir(&dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
            let names: Vec<String> = entries.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
            for name in &names {
                let path = dir.join(name);
                owner_only(&path);
                if name.contains(".tmp") {
                    log::info!("removing leftover {}", path.display());
                    let _ = std::fs::remove_file(&path);
                } else if let Some(id) = name.strip_suffix(".img") {
                    if !names.contains(&format!("{id}.meta")) {
                        log::info!("removing orphan {} (its create or delete was interrupted)", path.display());
                        let _ = std::fs::remove_file(&path);
                    }
                } else if let Some(id) = name.strip_suffix(".meta") {
                    let rec = kvfile::read(&path).map_err(|e| e.to_string())?;
                    match rec.as_ref().and_then(Item::from_record) {
                        Some(item) if names.contains(&format!("{id}.img")) && item.id == id => {
                            match kind {
                                Kind::Volume => index.volumes.insert(item.id.clone(), item),
                                Kind::Snapshot => index.snapshots.insert(item.id.clone(), item),
                            };
                        }
                        _ => {
                            log::warn!("removing unusable metadata {}", path.display());
                            let _ = std::fs::remove_file(&path);
                        }
                    }
                }
            }
        }
        log::info!(
            "local backend: {} volumes, {} snapshots in {}",
            index.volumes.len(),
            index.snapshots.len(),
            data_dir.display()
        );
        Ok(Local { data_dir: data_dir.to_path_buf(), sys, index: Mutex::new(index) })
    }

    fn dir(&self, kind: Kind) -> PathBuf {
        self.data_dir.join(match kind {
            Kind::Volume => "volumes",
            Kind::Snapshot => "snapshots",
        })
    }

    pub fn image(&self, volume_id: &str) -> PathBuf {
        self.dir(Kind::Volume).join(format!("{volume_id}.img"))
    }

    fn snapshot_image(&self, id: &str) -> PathBuf {
        self.dir(Kind::Snapshot).join(format!("{id}.img"))
    }

    fn meta_path(&self, kind: Kind, id: &str) -> PathBuf {
        self.dir(kind).join(format!("{id}.meta"))
    }

    fn find_by_name(&self, kind: Kind, name: &str) -> Option<Item> {
        let idx = self.index.lock();
        let table = match kind {
            Kind::Volume => &idx.volumes,
            Kind::Snapshot => &idx.snapshots,
        };
        table.values().find(|i| i.name == name).cloned()
    }

    /// Writes the image at a temp path (`fill` creates it), then renames it into place
    /// and writes the metadata record: the commit point.
    fn commit(&self, kind: Kind, item: &Item, fill: impl FnOnce(&Path) -> Result<(), Error>) -> Result<(), Error> {
        let img = self.dir(kind).join(format!("{}.img", item.id));
        let tmp = self.dir(kind).join(format!("{}.img.tmp", item.id));
        let _ = std::fs::remove_file(&tmp);
        let result = fill(&tmp).and_then(|()| std::fs::rename(&tmp, &img).map_err(|e| Error::io("rename", &img, e)));
        if let Err(e) = result {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        if let Err(e) = kvfile::write(&self.meta_path(kind, &item.id), &item.to_record()) {
            let _ = std::fs::remove_file(&img);
            return Err(e);
        }
        let mut idx = self.index.lock();
        match kind {
            Kind::Volume => idx.volumes.insert(item.id.clone(), item.clone()),
            Kind::Snapshot => idx.snapshots.insert(item.id.clone(), item.clone()),
        };
        Ok(())
    }

    fn remove(&self, kind: Kind, id: &str) -> Result<(), Error> {
        kvfile::remove(&self.meta_path(kind, id))?;
        {
            let mut idx = self.index.lock();
            match kind {
                Kind::Volume => idx.volumes.remove(id),
                Kind::Snapshot => idx.snapshots.remove(id),
            };
        }
        let img = self.dir(kind).join(format!("{id}.img"));
        match std::fs::remove_file(&img) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io("unlink", &img, e)),
        }
    }
}

/// Takes group and other permissions off `path` (files an older version made with the
/// umask it was started with; new ones are made under umask 077).
fn owner_only(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(m) = std::fs::symlink_metadata(path) {
        let mode = m.permissions().mode();
        if m.file_type().is_symlink() || mode & 0o077 == 0 {
            return;
        }
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & 0o700));
    }
}

/// A new empty sparse file of `size` bytes.
fn create_sparse(path: &Path, size: u64) -> Result<(), Error> {
    let f = OpenOptions::new().write(true).create_new(true).open(path).map_err(|e| Error::io("create", path, e))?;
    f.set_len(size).map_err(|e| too_big(path, size, e))?;
    f.sync_all().map_err(|e| Error::io("fsync", path, e))
}

/// Grows `path` to `size` (never shrinks).
fn grow_file(path: &Path, size: u64) -> Result<(), Error> {
    let f = OpenOptions::new().write(true).open(path).map_err(|e| Error::io("open", path, e))?;
    if f.metadata().map_err(|e| Error::io("stat", path, e))?.len() < size {
        f.set_len(size).map_err(|e| too_big(path, size, e))?;
        f.sync_all().map_err(|e| Error::io("fsync", path, e))?;
    }
    Ok(())
}

/// A file that cannot be made `size` bytes long: OUT_OF_RANGE when the data dir's
/// filesystem has no room for such a file (EFBIG, e.g. ext4's 16 TiB).
fn too_big(path: &Path, size: u64, e: std::io::Error) -> Error {
    match e.raw_os_error() {
        Some(libc::EFBIG) | Some(libc::EINVAL) => {
            Error::OutOfRange(format!("{size} bytes is more than the data dir's filesystem allows for one volume"))
        }
        _ => Error::io("truncate", path, e),
    }
}

mod ops;

pub use ops::LocalAttacher;

#[cfg(test)]
mod tests;
