//! `Rados` through librados and librbd, loaded with dlopen at start (so the binary
//! neither links nor needs them: the static build and nodes without Ceph's libraries
//! fall back to the CLI). One connection per (monitors, user, key) is kept and shared
//! by all threads (librados is thread-safe); a call that finds it unused for `IDLE`
//! closes it. The key reaches librados as the in-memory `key` option: no file, no argv,
//! no environment. librados' own logging is off, so it never prints anything of ours.
//!
//! The C function table and helpers are in lib_ffi.rs, the RAII handles in
//! lib_handles.rs, the connection cache and commands in lib_conn.rs; this file is the
//! operations.

use std::ffi::{c_char, c_int, CStr};
use std::ptr;
use std::time::Instant;

pub use super::lib_conn::LibRados;
use super::lib_conn::{blocklist_command, Daemon, RETRY_MGR};
use super::lib_ffi::{
    check, cstr, fail, no_progress, CStrings, Options, Ptr, TrashInfoC, OPT_CLONE_FORMAT, OPT_DATA_POOL, OPT_FEATURES,
    OPT_ORDER, OPT_STRIPE_COUNT, OPT_STRIPE_UNIT,
};
use super::rados::{
    feature_bits, finish_trash_move, CloneLayout, ImageRef, Locker, Rados, Removal, SnapInfo, Striping, Target,
    TrashEntry, TRASH_SOURCE_REMOVING,
};
use super::{ClusterConfig, Credentials};
use crate::error::{CephCause, Error};

impl LibRados {
    fn image_options(
        &self,
        features: &str,
        data_pool: Option<&str>,
        striping: Striping,
        clone_v2: bool,
    ) -> Result<Options, Error> {
        let bits =
            feature_bits(features).ok_or_else(|| Error::invalid(format!("unknown image features {features:?}")))?;
        let mut handle: Ptr = ptr::null_mut();
        // SAFETY: a valid out pointer.
        unsafe { (self.api.rbd_image_options_create)(&mut handle) };
        let opts = Options { api: self.api, handle };
        // SAFETY: a live options handle; librbd copies the string.
        unsafe {
            check(
                || "image option features".into(),
                (self.api.rbd_image_options_set_uint64)(handle, OPT_FEATURES, bits),
            )?;
            if clone_v2 {
                check(
                    || "image option clone format".into(),
                    (self.api.rbd_image_options_set_uint64)(handle, OPT_CLONE_FORMAT, 2),
                )?;
            }
            // librbd takes the object size as its order (log2).
            let order = striping.object_size.map(|s| u64::from(s.trailing_zeros()));
            for (name, opt, value) in [
                ("order", OPT_ORDER, order),
                ("stripe unit", OPT_STRIPE_UNIT, striping.stripe_unit),
                ("stripe count", OPT_STRIPE_COUNT, striping.stripe_count),
            ] {
                if let Some(v) = value {
                    check(|| format!("image option {name}"), (self.api.rbd_image_options_set_uint64)(handle, opt, v))?;
                }
            }
            if let Some(dp) = data_pool {
                let dp = cstr(dp)?;
                check(
                    || "image option data pool".into(),
                    (self.api.rbd_image_options_set_string)(handle, OPT_DATA_POOL, dp.as_ptr()),
                )?;
            }
        }
        Ok(opts)
    }
}

impl Rados for LibRados {
    fn kind(&self) -> &'static str {
        "librados"
    }

    fn pool_id(&self, cluster: &ClusterConfig, creds: &Credentials, pool: &str) -> Result<Option<u64>, Error> {
        let conn = self.latest_map(cluster, creds)?;
        let name = cstr(pool)?;
        // SAFETY: a connected handle, a valid C string.
        let r = unsafe { (self.api.rados_pool_lookup)(conn.handle, name.as_ptr()) };
        if r == -i64::from(libc::ENOENT) {
            return Ok(None);
        }
        if r < 0 {
            return Err(fail(&format!("look up pool {pool}"), r as c_int));
        }
        Ok(Some(r as u64))
    }

    fn pool_name(&self, cluster: &ClusterConfig, creds: &Credentials, id: u64) -> Result<Option<String>, Error> {
        let conn = self.latest_map(cluster, creds)?;
        let mut buf = [0 as c_char; 512];
        // SAFETY: a connected handle; librados writes at most buf.len() bytes.
        let r = unsafe { (self.api.rados_pool_reverse_lookup)(conn.handle, id as i64, buf.as_mut_ptr(), buf.len()) };
        if r == -libc::ENOENT {
            return Ok(None);
        }
        check(|| format!("look up pool id {id}"), r)?;
        // SAFETY: NUL-terminated within buf on success.
        Ok(Some(unsafe { CStr::from_ptr(buf.as_ptr()) }.to_string_lossy().into_owned()))
    }

    fn pools(&self, cluster: &ClusterConfig, creds: &Credentials) -> Result<Vec<String>, Error> {
        let conn = self.conn(cluster, creds)?;
        let mut len = 4096;
        loop {
            let mut buf = vec![0u8; len];
            // SAFETY: a connected handle; librados writes at most `len` bytes and returns
            // the length it needs.
            let r = unsafe { (self.api.rados_pool_list)(conn.handle, buf.as_mut_ptr().cast(), len) };
            let need = check(|| "list pools".into(), r)? as usize;
            if need > len {
                len = need;
                continue;
            }
            buf.truncate(need);
            return Ok(buf
                .split(|b| *b == 0)
                .filter(|n| !n.is_empty())
                .map(|n| String::from_utf8_lossy(n).into_owned())
                .collect());
        }
    }

    fn omap_get(&self, t: &Target, object: &str, keys: &[&str]) -> Result<Vec<Option<String>>, Error> {
        self.with_io(t, |io| {
            let api = io.api();
            let names = CStrings::new(keys)?;
            let oid = cstr(object)?;
            // SAFETY: the key array outlives the operate call inside read_omap.
            let found = io.read_omap(&oid, |op, iter, prval| unsafe {
                (api.rados_read_op_omap_get_vals_by_keys)(op, names.ptrs.as_ptr(), keys.len(), iter, prval)
            });
            match found {
                Ok(pairs) => {
                    Ok(keys.iter().map(|k| pairs.iter().find(|(pk, _)| pk == k).map(|(_, v)| v.clone())).collect())
                }
                Err(r) if r == -libc::ENOENT => Ok(vec![None; keys.len()]),
                Err(r) => Err(fail(&format!("read {object} in pool {}", t.pool), r)),
            }
        })
    }

    fn omap_list(&self, t: &Target, object: &str) -> Result<Vec<(String, String)>, Error> {
        self.with_io(t, |io| {
            let api = io.api();
            let oid = cstr(object)?;
            let mut all: Vec<(String, String)> = Vec::new();
            loop {
                let after = cstr(all.last().map_or("", |(k, _)| k.as_str()))?;
                let mut more: u8 = 0;
                // SAFETY: `after` and `more` outlive the operate call inside read_omap.
                let page = io.read_omap(&oid, |op, iter, prval| unsafe {
                    (api.rados_read_op_omap_get_vals2)(op, after.as_ptr(), ptr::null(), 1000, iter, &mut more, prval)
                });
                match page {
                    Ok(page) => {
                        let done = more == 0 || page.is_empty();
                        all.extend(page);
                        if done {
                            return Ok(all);
                        }
                    }
                    Err(r) if r == -libc::ENOENT => return Ok(all),
                    Err(r) => return Err(fail(&format!("list {object}"), r)),
                }
            }
        })
    }

    fn omap_set(&self, t: &Target, object: &str, pairs: &[(&str, &str)]) -> Result<(), Error> {
        self.with_io(t, |io| {
            let keys: Vec<&str> = pairs.iter().map(|(k, _)| *k).collect();
            let vals: Vec<&str> = pairs.iter().map(|(_, v)| *v).collect();
            let (keys, lens) = (CStrings::new(&keys)?, vals.iter().map(|v| v.len()).collect::<Vec<_>>());
            let val_ptrs: Vec<*const c_char> = vals.iter().map(|v| v.as_ptr().cast()).collect();
            let api = io.api();
            // SAFETY: arrays of `pairs.len()` entries that outlive the operate call.
            let r = io.write_op(object, |op| unsafe {
                (api.rados_write_op_omap_set)(op, keys.ptrs.as_ptr(), val_ptrs.as_ptr(), lens.as_ptr(), pairs.len())
            });
            check(|| format!("write {object} in pool {}", t.pool), r).map(drop)
        })
    }

    fn omap_remove(&self, t: &Target, object: &str, keys: &[&str]) -> Result<(), Error> {
        self.with_io(t, |io| {
            let names = CStrings::new(keys)?;
            let api = io.api();
            // SAFETY: an array of `keys.len()` C strings that outlives operate.
            let r = io.write_op(object, |op| unsafe {
                (api.rados_write_op_omap_rm_keys)(op, names.ptrs.as_ptr(), keys.len())
            });
            if r == -libc::ENOENT {
                return Ok(());
            }
            check(|| format!("remove keys of {object}"), r).map(drop)
        })
    }

    fn remove_object(&self, t: &Target, object: &str) -> Result<(), Error> {
        self.with_io(t, |io| {
            let oid = cstr(object)?;
            // SAFETY: a live ioctx, a valid C string.
            let r = unsafe { (io.api().rados_remove)(io.handle, oid.as_ptr()) };
            if r == -libc::ENOENT {
                return Ok(());
            }
            check(|| format!("remove {object}"), r).map(drop)
        })
    }

    fn object_exists(&self, t: &Target, object: &str) -> Result<bool, Error> {
        self.with_io(t, |io| io.object_exists(object))
    }

    fn lock_exclusive(&self, t: &Target, object: &str, lock: &str, cookie: &str) -> Result<bool, Error> {
        self.with_io(t, |io| io.lock_exclusive(object, lock, cookie))
    }

    fn lockers(&self, t: &Target, object: &str, lock: &str) -> Result<Vec<Locker>, Error> {
        self.with_io(t, |io| io.lockers(object, lock))
    }

    fn break_lock(&self, t: &Target, object: &str, lock: &str, locker: &Locker) -> Result<(), Error> {
        self.with_io(t, |io| io.break_lock(object, lock, locker))
    }

    fn image_create(
        &self,
        t: &Target,
        image: &str,
        bytes: u64,
        features: &str,
        data_pool: Option<&str>,
        striping: Striping,
    ) -> Result<(), Error> {
        let opts = self.image_options(features, data_pool, striping, false)?;
        self.with_io(t, |io| {
            let name = cstr(image)?;
            // SAFETY: a live ioctx and options handle, a valid C string.
            let r = unsafe { (io.api().rbd_create4)(io.handle, name.as_ptr(), bytes, opts.handle) };
            if r == -libc::EEXIST {
                return Ok(());
            }
            check(|| format!("create image {}", t.spec(image)), r).map(drop)
        })
    }

    fn image_info(&self, t: &Target, image: &str) -> Result<Option<(u64, String)>, Error> {
        self.with_io(t, |io| match io.image(ImageRef::Name(image), true)? {
            Some(img) => Ok(Some((img.size()?, img.id()?))),
            None => Ok(None),
        })
    }

    /// Checked as `rbd rm` checks (watchers, snapshots), then moved to the trash and
    /// removed from there by a mgr task, as ceph-csi does: O(1) here whatever the
    /// image's size (without object-map, removing the data touches every object). When
    /// the mgr cannot take the task, the trashed image is removed here.
    fn image_remove(&self, t: &Target, image: &str) -> Result<Removal, Error> {
        self.with_io(t, |io| {
            let id = {
                let Some(img) = io.image(ImageRef::Name(image), true)? else {
                    // No image by that name, unless an `rbd rm` cut short by a crash
                    // left it on its way through the trash: librbd's remove by name
                    // finishes that (and finds nothing otherwise).
                    let name = cstr(image)?;
                    // SAFETY: a live ioctx, a valid C string.
                    let r = unsafe { (io.api().rbd_remove)(io.handle, name.as_ptr()) };
                    return match -r {
                        0 => {
                            log::warn!("{}: removed, though it could not be opened (left by a crash)", t.spec(image));
                            Ok(Removal::Removed)
                        }
                        libc::ENOENT => Ok(Removal::Missing),
                        _ => Err(fail(&format!("remove {}", t.spec(image)), r)),
                    };
                };
                if !img.watchers()?.is_empty() {
                    return Ok(Removal::InUse);
                }
                if !img.snaps()?.is_empty() {
                    return Ok(Removal::HasSnapshots);
                }
                img.id()?
            };
            let name = cstr(image)?;
            // SAFETY: a live ioctx, a valid C string.
            let r = unsafe { (io.api().rbd_trash_move)(io.handle, name.as_ptr(), 0) };
            match -r {
                0 => {}
                libc::ENOENT => return Ok(Removal::Missing),
                _ => return Err(fail(&format!("move {} to the trash", t.spec(image)), r)),
            }
            crate::failpoint::hit("delete-after-trash-move");
            let mgr_down = io.conn.mgr_down_since.lock().is_some_and(|t| t.elapsed() < RETRY_MGR);
            let handed_over = !mgr_down
                && match self.mgr_trash_remove(io, t, &id) {
                    Ok(()) => true,
                    Err(e) => {
                        log::warn!("the mgr did not take the removal of trashed image {id} ({e}); removing it here");
                        if e.ceph_cause() == Some(CephCause::Unreachable) {
                            *io.conn.mgr_down_since.lock() = Some(Instant::now());
                        }
                        false
                    }
                };
            if !handed_over {
                self.trash_remove(t, &id)?;
            }
            Ok(Removal::Removed)
        })
    }

    fn trash_move(&self, t: &Target, image: &str) -> Result<(), Error> {
        self.with_io(t, |io| {
            let name = cstr(image)?;
            // SAFETY: a live ioctx, a valid C string.
            let r = unsafe { (io.api().rbd_trash_move)(io.handle, name.as_ptr(), 0) };
            if r == -libc::ENOENT {
                return Ok(());
            }
            check(|| format!("move {} to the trash", t.spec(image)), r).map(drop)
        })
    }

    fn trash_remove_later(&self, t: &Target, image_id: &str) -> Result<(), Error> {
        self.with_io(t, |io| self.mgr_trash_remove(io, t, image_id))
    }

    fn watchers(&self, t: &Target, image_id: &str) -> Result<Vec<String>, Error> {
        self.with_io(t, |io| match io.image(ImageRef::Id(image_id), true)? {
            Some(img) => img.watchers(),
            None => Ok(Vec::new()),
        })
    }

    fn enable_exclusive_lock(&self, t: &Target, image_id: &str) -> Result<bool, Error> {
        const EXCLUSIVE_LOCK: u64 = 1 << 2;
        self.with_io(t, |io| {
            let missing = || Error::ceph_missing(format!("image id {}", t.spec(image_id)));
            // A look first: opening for writing would watch the image for a moment.
            if io.image(ImageRef::Id(image_id), true)?.ok_or_else(missing)?.features()? & EXCLUSIVE_LOCK != 0 {
                return Ok(false);
            }
            let img = io.image(ImageRef::Id(image_id), false)?.ok_or_else(missing)?;
            // SAFETY: an open image.
            let r = unsafe { (io.api().rbd_update_features)(img.handle, EXCLUSIVE_LOCK, 1) };
            check(|| format!("enable exclusive-lock on image id {}", t.spec(image_id)), r)?;
            Ok(true)
        })
    }

    fn blocklist_add(&self, cluster: &ClusterConfig, creds: &Credentials, addr: &str, secs: u32) -> Result<(), Error> {
        let conn = self.conn(cluster, creds)?;
        let cmd = blocklist_command(addr, Some(secs));
        self.command(&conn, Daemon::Mon, &cmd).map_err(|(r, text)| fail(&format!("blocklist {addr}{text}"), r))
    }

    fn blocklist_remove(&self, cluster: &ClusterConfig, creds: &Credentials, addr: &str) -> Result<(), Error> {
        let conn = self.conn(cluster, creds)?;
        let cmd = blocklist_command(addr, None);
        self.command(&conn, Daemon::Mon, &cmd).map_err(|(r, text)| fail(&format!("unblocklist {addr}{text}"), r))
    }

    fn trash_entry(&self, t: &Target, image_id: &str) -> Result<Option<TrashEntry>, Error> {
        self.with_io(t, |io| {
            let id = cstr(image_id)?;
            let mut info = TrashInfoC {
                id: ptr::null_mut(),
                name: ptr::null_mut(),
                source: 0,
                deletion_time: 0,
                deferment_end_time: 0,
            };
            // SAFETY: a live ioctx, a valid C string, a struct librbd fills.
            let r = unsafe { (io.api().rbd_trash_get)(io.handle, id.as_ptr(), &mut info) };
            if r == -libc::ENOENT {
                return Ok(None);
            }
            check(|| format!("look up trashed image {image_id}"), r)?;
            // SAFETY: filled by a successful rbd_trash_get; freed right after.
            let name = unsafe { CStr::from_ptr(info.name) }.to_string_lossy().into_owned();
            let by_removal = i64::from(info.source) == TRASH_SOURCE_REMOVING;
            // SAFETY: as filled by rbd_trash_get, freed once.
            unsafe { (io.api().rbd_trash_get_cleanup)(&mut info) };
            Ok(Some(TrashEntry { name, by_removal }))
        })
    }

    fn trash_remove(&self, t: &Target, image_id: &str) -> Result<(), Error> {
        self.with_io(t, |io| {
            let id = cstr(image_id)?;
            // SAFETY: a live ioctx, a valid C string.
            let mut r = unsafe { (io.api().rbd_trash_remove)(io.handle, id.as_ptr(), false) };
            if r == -libc::EUCLEAN {
                log::warn!("trashed image {image_id}: finishing its move to the trash, cut short by a crash");
                finish_trash_move(self, t, image_id)?;
                // SAFETY: as above.
                r = unsafe { (io.api().rbd_trash_remove)(io.handle, id.as_ptr(), false) };
            }
            if r == -libc::ENOENT {
                return Ok(());
            }
            // Snapshots (or clones hanging on them) keep it: the mgr removes it once
            // they are gone; without a mgr, the delete of its last dependent does.
            if r == -libc::ENOTEMPTY {
                if let Err(e) = self.mgr_trash_remove(io, t, image_id) {
                    log::warn!("trashed image {image_id} waits for its last dependent's delete: {e}");
                }
                return Ok(());
            }
            let removed = check(|| format!("remove trashed image {image_id}"), r).map(drop);
            if r == -libc::EBUSY && self.mgr_trash_remove(io, t, image_id).is_ok() {
                log::info!("trashed image {image_id} is still open somewhere; the mgr removes it once it is not");
                return Ok(());
            }
            removed
        })
    }

    fn resize(&self, t: &Target, image: &str, bytes: u64) -> Result<(), Error> {
        self.with_io(t, |io| {
            let img = io
                .image(ImageRef::Name(image), false)?
                .ok_or_else(|| Error::ceph_missing(format!("image {}", t.spec(image))))?;
            let size = img.size()?;
            if size == bytes {
                return Ok(());
            }
            if size > bytes {
                return Err(Error::OutOfRange(format!(
                    "{} has {size} bytes, more than {bytes}; images never shrink",
                    t.spec(image)
                )));
            }
            // SAFETY: an open image; a no-op progress callback.
            let r = unsafe { (io.api().rbd_resize2)(img.handle, bytes, false, no_progress, ptr::null_mut()) };
            check(|| format!("resize {}", t.spec(image)), r).map(drop)
        })
    }

    fn metadata_set(&self, t: &Target, image: &str, pairs: &[(&str, &str)]) -> Result<(), Error> {
        self.with_io(t, |io| {
            let img = io
                .image(ImageRef::Name(image), false)?
                .ok_or_else(|| Error::ceph_missing(format!("image {}", t.spec(image))))?;
            for (key, value) in pairs {
                let (k, v) = (cstr(key)?, cstr(value)?);
                // SAFETY: an open image, valid C strings; librbd copies them.
                let r = unsafe { (io.api().rbd_metadata_set)(img.handle, k.as_ptr(), v.as_ptr()) };
                check(|| format!("set metadata {key} of {}", t.spec(image)), r)?;
            }
            Ok(())
        })
    }

    fn flatten(&self, t: &Target, image: &str) -> Result<(), Error> {
        self.with_io(t, |io| {
            let img = io
                .image(ImageRef::Name(image), false)?
                .ok_or_else(|| Error::ceph_missing(format!("image {}", t.spec(image))))?;
            // SAFETY: an open image.
            let r = unsafe { (io.api().rbd_flatten)(img.handle) };
            // EINVAL: the image has no parent.
            if r == -libc::EINVAL {
                return Ok(());
            }
            check(|| format!("flatten {}", t.spec(image)), r).map(drop)
        })
    }

    fn snap_create(&self, t: &Target, image: &str, snap: &str) -> Result<(), Error> {
        self.with_io(t, |io| {
            let img = io
                .image(ImageRef::Name(image), false)?
                .ok_or_else(|| Error::ceph_missing(format!("image {}", t.spec(image))))?;
            let name = cstr(snap)?;
            // SAFETY: an open image, a valid C string.
            let r = unsafe { (io.api().rbd_snap_create)(img.handle, name.as_ptr()) };
            if r == -libc::EEXIST {
                return Ok(());
            }
            check(|| format!("snapshot {}@{snap}", t.spec(image)), r).map(drop)
        })
    }

    fn snap_list(&self, t: &Target, image: ImageRef) -> Result<Option<Vec<SnapInfo>>, Error> {
        self.with_io(t, |io| match io.image(image, matches!(image, ImageRef::Name(_)))? {
            Some(img) => Ok(Some(img.snaps()?)),
            None => Ok(None),
        })
    }

    fn snap_remove(&self, t: &Target, image: ImageRef, snap: &str) -> Result<bool, Error> {
        self.with_io(t, |io| {
            let Some(img) = io.image(image, false)? else { return Ok(false) };
            let name = cstr(snap)?;
            // SAFETY: an open image, a valid C string.
            let r = unsafe { (io.api().rbd_snap_remove)(img.handle, name.as_ptr()) };
            if r == -libc::ENOENT {
                return Ok(true);
            }
            check(|| format!("remove snapshot {image:?}@{snap}"), r).map(|_| true)
        })
    }

    fn clone_image(
        &self,
        parent: &Target,
        image: &str,
        snap: &str,
        child: &Target,
        child_image: &str,
        layout: CloneLayout,
    ) -> Result<(), Error> {
        let opts = self.image_options(layout.features, layout.data_pool, layout.striping, true)?;
        self.with_io(parent, |pio| {
            self.with_io(child, |cio| {
                let (p, s, c) = (cstr(image)?, cstr(snap)?, cstr(child_image)?);
                // SAFETY: live ioctxs and options, valid C strings.
                let r = unsafe {
                    (cio.api().rbd_clone3)(pio.handle, p.as_ptr(), s.as_ptr(), cio.handle, c.as_ptr(), opts.handle)
                };
                match -r {
                    0 | libc::EEXIST => Ok(()),
                    libc::ENOENT => Err(Error::ceph_missing(format!("clone source {}@{snap}", parent.spec(image)))),
                    _ => Err(fail(&format!("clone {}@{snap} to {}", parent.spec(image), child.spec(child_image)), r)),
                }
            })
        })
    }
}
