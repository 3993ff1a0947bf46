//! The local backend's controller operations and its node attacher (loop devices).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{copy_file, create_sparse, grow_file, now, random_hex, Item, Kind, Local, DEFAULT_SIZE};
use crate::backend::{ControllerOps, CreateParams, Secrets, SnapshotInfo, Source, VolumeInfo};
use crate::error::{Error, Kind as ErrKind, VolumeError};
use crate::node::{Attached, Attacher, StageLayout};
use crate::sys::Sys;

/// The size to give a local volume for a capacity range (whole MiB).
pub fn size_for(required: u64, limit: u64) -> Result<u64, Error> {
    crate::backend::size_for(required, limit, DEFAULT_SIZE)
}

/// `id` names no local volume (or snapshot): NOT_FOUND, and when it is not even shaped
/// like a local id (`lv-…`, `ls-…`), the message says which backend this plugin serves.
fn no_such(kind: ErrKind, id: &str) -> Error {
    let local_shaped = id.starts_with(match kind {
        ErrKind::Volume => "lv-",
        ErrKind::Snapshot => "ls-",
    });
    if local_shaped {
        Error::no_such(kind, id)
    } else {
        VolumeError::OtherBackend { kind, id: id.to_string(), backend: "local" }.into()
    }
}

fn volume_info(item: &Item) -> VolumeInfo {
    VolumeInfo {
        id: item.id.clone(),
        size: item.size,
        context: HashMap::new(),
        source: Source::from_text(&item.source),
        topology: Vec::new(),
    }
}

fn snapshot_info(item: &Item) -> SnapshotInfo {
    SnapshotInfo {
        id: item.id.clone(),
        source_volume: item.source.clone(),
        size: item.size,
        created_secs: item.created_secs,
        created_nanos: item.created_nanos,
        ready: true,
    }
}

impl Local {
    fn volume(&self, id: &str) -> Option<Item> {
        self.index.lock().volumes.get(id).cloned()
    }

    fn snapshot(&self, id: &str) -> Option<Item> {
        self.index.lock().snapshots.get(id).cloned()
    }

    /// Fails when the volume is attached to a loop device (in use on this node).
    fn ensure_detached(&self, id: &str) -> Result<(), Error> {
        if let Some(dev) = self.sys.loop_find(&self.image(id))? {
            let (what, by) = (format!("volume {id}"), format!("attached as {}", dev.display()));
            return Err(VolumeError::InUse { what, by }.into());
        }
        Ok(())
    }
}

impl ControllerOps for Local {
    fn create_volume(&self, p: &CreateParams) -> Result<VolumeInfo, Error> {
        let size = size_for(p.required_bytes, p.limit_bytes)?;
        if let Some(existing) = self.find_by_name(Kind::Volume, &p.name) {
            let fits = existing.size >= p.required_bytes && (p.limit_bytes == 0 || existing.size <= p.limit_bytes);
            if fits && Source::from_text(&existing.source) == p.source {
                return Ok(volume_info(&existing));
            }
            let from = if existing.source.is_empty() { String::new() } else { format!(" from {}", existing.source) };
            let differs =
                format!("as {} with {} bytes{from}; the request asks for something else", existing.id, existing.size);
            return Err(VolumeError::NameTaken { kind: ErrKind::Volume, name: p.name.clone(), differs }.into());
        }
        let (secs, nanos) = now();
        let item = Item {
            id: format!("lv-{}", random_hex()?),
            name: p.name.clone(),
            size,
            source: p.source.to_text(),
            created_secs: secs,
            created_nanos: nanos,
        };
        let from: Option<(PathBuf, u64)> = match &p.source {
            Source::Empty => None,
            Source::Snapshot(id) => {
                let snap = self.snapshot(id).ok_or_else(|| no_such(ErrKind::Snapshot, id))?;
                Some((self.snapshot_image(id), snap.size))
            }
            Source::Volume(id) => {
                let vol = self.volume(id).ok_or_else(|| no_such(ErrKind::Volume, id))?;
                nix::unistd::sync();
                Some((self.image(id), vol.size))
            }
        };
        // No capacity range: a clone or restore is the size of its source.
        let size = match &from {
            Some((_, src_size)) if p.required_bytes == 0 && p.limit_bytes == 0 => *src_size,
            _ => size,
        };
        let item = Item { size, ..item };
        if let Some((_, src_size)) = &from {
            if size < *src_size {
                return Err(Error::OutOfRange(format!(
                    "the source holds {src_size} bytes; a volume of {size} bytes cannot hold it"
                )));
            }
        }
        self.commit(Kind::Volume, &item, |tmp| match &from {
            None => create_sparse(tmp, size),
            Some((src, _)) => copy_file(src, tmp).and_then(|()| grow_file(tmp, size)),
        })?;
        log::info!("created volume {} ({:?}, {size} bytes)", item.id, item.name);
        Ok(volume_info(&item))
    }

    fn delete_volume(&self, id: &str, _secrets: &Secrets) -> Result<(), Error> {
        if self.volume(id).is_none() {
            return Ok(());
        }
        self.ensure_detached(id)?;
        self.remove(Kind::Volume, id)?;
        log::info!("deleted volume {id}");
        Ok(())
    }

    fn get_volume(&self, id: &str, _secrets: &Secrets) -> Result<Option<VolumeInfo>, Error> {
        Ok(self.volume(id).map(|i| volume_info(&i)))
    }

    fn expand_volume(&self, id: &str, required: u64, limit: u64, _secrets: &Secrets) -> Result<u64, Error> {
        let mut item = self.volume(id).ok_or_else(|| no_such(ErrKind::Volume, id))?;
        let size = size_for(required, limit)?;
        if size <= item.size {
            return Ok(item.size);
        }
        grow_file(&self.image(id), size)?;
        item.size = size;
        crate::kvfile::write(&self.meta_path(Kind::Volume, id), &item.to_record())?;
        self.index.lock().volumes.insert(id.to_string(), item);
        log::info!("expanded volume {id} to {size} bytes");
        Ok(size)
    }

    fn create_snapshot(&self, source_volume: &str, name: &str, _secrets: &Secrets) -> Result<SnapshotInfo, Error> {
        if let Some(existing) = self.find_by_name(Kind::Snapshot, name) {
            if existing.source == source_volume {
                return Ok(snapshot_info(&existing));
            }
            let differs = format!("as {} of volume {}, not of {source_volume}", existing.id, existing.source);
            return Err(VolumeError::NameTaken { kind: ErrKind::Snapshot, name: name.into(), differs }.into());
        }
        let vol = self
            .volume(source_volume)
            .ok_or_else(|| Error::from(VolumeError::NoSuchSource { id: source_volume.into() }))?;
        let (secs, nanos) = now();
        let item = Item {
            id: format!("ls-{}", random_hex()?),
            name: name.to_string(),
            size: vol.size,
            source: source_volume.to_string(),
            created_secs: secs,
            created_nanos: nanos,
        };
        // Crash-consistent: push what the kernel holds for the loop device to the file.
        nix::unistd::sync();
        let src = self.image(source_volume);
        self.commit(Kind::Snapshot, &item, |tmp| copy_file(&src, tmp))?;
        log::info!("created snapshot {} of {source_volume} ({name:?})", item.id);
        Ok(snapshot_info(&item))
    }

    fn delete_snapshot(&self, id: &str, _secrets: &Secrets) -> Result<(), Error> {
        if self.snapshot(id).is_none() {
            return Ok(());
        }
        self.remove(Kind::Snapshot, id)?;
        log::info!("deleted snapshot {id}");
        Ok(())
    }

    fn list_volumes(&self) -> Result<Vec<VolumeInfo>, Error> {
        let mut v: Vec<VolumeInfo> = self.index.lock().volumes.values().map(volume_info).collect();
        v.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(v)
    }

    fn list_snapshots(&self, _id: &str, _source: &str, _secrets: &Secrets) -> Result<Vec<SnapshotInfo>, Error> {
        let mut v: Vec<SnapshotInfo> = self.index.lock().snapshots.values().map(snapshot_info).collect();
        v.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(v)
    }

    fn capacity(&self) -> Result<u64, Error> {
        Ok(self.sys.statvfs(&self.data_dir)?.available_bytes)
    }
}

/// Attaches local volumes through loop devices.
pub struct LocalAttacher {
    pub local: Arc<Local>,
    pub sys: Arc<dyn Sys>,
}

impl Attacher for LocalAttacher {
    fn layout(&self) -> StageLayout {
        StageLayout::Direct
    }

    fn write_note(&self, _volume_id: &str, _ctx: &HashMap<String, String>, _staging: &Path) -> Result<(), Error> {
        Ok(())
    }

    fn adopt(&self, _volume_id: &str, _staging: &Path) -> Result<Option<PathBuf>, Error> {
        Ok(None)
    }

    fn remove_note(&self, _staging: &Path) -> Result<(), Error> {
        Ok(())
    }

    fn attach(
        &self,
        volume_id: &str,
        _ctx: &HashMap<String, String>,
        _secrets: &HashMap<String, String>,
        _read_only: bool,
    ) -> Result<Attached, Error> {
        let file = self.local.image(volume_id);
        if self.local.volume(volume_id).is_none() || !file.exists() {
            return Err(no_such(ErrKind::Volume, volume_id));
        }
        if let Some(device) = self.sys.loop_find(&file)? {
            return Ok(Attached { device, fresh: false });
        }
        let device = self.sys.loop_attach(&file)?;
        log::info!("volume {volume_id}: attached {} as {}", file.display(), device.display());
        Ok(Attached { device, fresh: true })
    }

    fn find(&self, volume_id: &str) -> Result<Option<PathBuf>, Error> {
        self.sys.loop_find(&self.local.image(volume_id))
    }

    fn detach(&self, volume_id: &str, device: &Path) -> Result<(), Error> {
        // Only ever detach the loop device that really holds this volume.
        if self.sys.loop_find(&self.local.image(volume_id))?.as_deref() == Some(device) {
            self.sys.loop_detach(device)?;
            log::info!("volume {volume_id}: detached {}", device.display());
        }
        Ok(())
    }

    fn forget_attachment(&self, _volume_id: &str) -> Result<(), Error> {
        Ok(())
    }

    fn refresh(&self, _volume_id: &str, device: &Path) -> Result<(), Error> {
        self.sys.loop_refresh(device)
    }
}
