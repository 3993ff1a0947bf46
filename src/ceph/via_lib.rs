//! `Rados` through librados and librbd, loaded with dlopen at start (so the binary
//! neither links nor needs them: the static build and nodes without Ceph's libraries
//! fall back to the CLI). One connection per (monitors, user, key) is kept and shared
//! by all threads (librados is thread-safe); a call that finds it unused for `IDLE`
//! closes it. The key reaches librados as the in-memory `key` option: no file, no argv,
//! no environment. librados' own logging is off, so it never prints anything of ours.
//!
//! The C function table and helpers are in lib_ffi.rs, the RAII handles in
//! lib_handles.rs; this file is the connection cache and the operations.

use std::collections::HashMap;
use std::ffi::{c_char, c_int, CStr};
use std::ptr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::lib_ffi::{
    check, cstr, fail, no_progress, Api, CStrings, Options, Ptr, TrashInfoC, OPT_CLONE_FORMAT, OPT_DATA_POOL,
    OPT_FEATURES, OPT_ORDER, OPT_STRIPE_COUNT, OPT_STRIPE_UNIT,
};
use super::lib_handles::{Conn, IoCtx};
use super::rados::{
    feature_bits, finish_trash_move, CloneLayout, ImageRef, Locker, Rados, Removal, SnapInfo, Striping, Target,
    TrashEntry, TRASH_SOURCE_REMOVING,
};
use super::{ClusterConfig, Credentials};
use crate::error::Error;

/// How long an unused connection stays open.
const IDLE: Duration = Duration::from_secs(600);

/// A cluster connection as far as it got; its lock makes one connect when many ask
/// at once.
#[derive(Default)]
enum SlotState {
    #[default]
    Empty,
    Connected(Arc<Conn>),
    /// The monitors did not answer: fail fast until `RETRY_UNREACHABLE` has passed,
    /// rather than hold a worker for the whole connect timeout on every call.
    Unreachable(Instant, Error),
}

type Slot = Arc<Mutex<SlotState>>;

const RETRY_UNREACHABLE: Duration = Duration::from_secs(30);

/// How long a connection skips the mgr after a mgr task timed out.
const RETRY_MGR: Duration = Duration::from_secs(300);

/// Where a command goes.
#[derive(Clone, Copy)]
enum Daemon {
    Mon,
    Mgr,
}

pub struct LibRados {
    api: &'static Api,
    /// (monitors, user, key) → its connection.
    conns: Mutex<HashMap<String, Slot>>,
}

impl LibRados {
    /// Loads librados and librbd; Err (why not) when they cannot be loaded.
    pub fn load() -> Result<LibRados, String> {
        static API: OnceLock<Result<Api, String>> = OnceLock::new();
        match API.get_or_init(Api::load) {
            Ok(api) => Ok(LibRados { api, conns: Mutex::new(HashMap::new()) }),
            Err(e) => Err(e.clone()),
        }
    }

    fn conn(&self, cluster: &ClusterConfig, creds: &Credentials) -> Result<Arc<Conn>, Error> {
        let slot = {
            let mut conns = self.conns.lock();
            // Close connections nobody has used for a while.
            conns.retain(|_, slot| {
                slot.try_lock().map_or(true, |s| match &*s {
                    SlotState::Connected(c) => c.last_used.lock().elapsed() < IDLE,
                    SlotState::Unreachable(since, _) => since.elapsed() < RETRY_UNREACHABLE,
                    SlotState::Empty => false,
                })
            });
            Arc::clone(conns.entry(Self::conn_id(cluster, creds)).or_default())
        };
        let mut state = slot.lock();
        match &*state {
            SlotState::Connected(conn) => {
                *conn.last_used.lock() = Instant::now();
                return Ok(Arc::clone(conn));
            }
            SlotState::Unreachable(since, e) if since.elapsed() < RETRY_UNREACHABLE => return Err(e.clone()),
            _ => {}
        }
        match Conn::open(self.api, cluster, creds) {
            Ok(conn) => {
                let conn = Arc::new(conn);
                *state = SlotState::Connected(Arc::clone(&conn));
                Ok(conn)
            }
            Err((e, unreachable)) => {
                *state = if unreachable { SlotState::Unreachable(Instant::now(), e.clone()) } else { SlotState::Empty };
                Err(e)
            }
        }
    }

    fn conn_id(cluster: &ClusterConfig, creds: &Credentials) -> String {
        format!("{}\0{}\0{}", cluster.monitors.join(","), creds.id, creds.key_text())
    }

    /// Forgets a connection after an error that may mean it is broken (an unreachable
    /// cluster stays remembered as such).
    fn forget_on_unavailable<T>(&self, t: &Target, r: Result<T, Error>) -> Result<T, Error> {
        if let Err(Error::Unavailable(_)) = &r {
            let mut conns = self.conns.lock();
            let id = Self::conn_id(t.cluster, t.creds);
            // (A slot being connected right now is left alone: never wait for it here.)
            if conns.get(&id).is_some_and(|slot| slot.try_lock().is_some_and(|s| matches!(*s, SlotState::Connected(_))))
            {
                conns.remove(&id);
            }
        }
        r
    }

    /// The connection, once it holds the cluster's latest osdmap: a kept connection
    /// learns of new maps only when an operation needs one, so a pool deleted and made
    /// again under its name would still resolve to its old id (seen here) and a volume
    /// id would carry a pool that no longer exists.
    fn latest_map(&self, cluster: &ClusterConfig, creds: &Credentials) -> Result<Arc<Conn>, Error> {
        let conn = self.conn(cluster, creds)?;
        // SAFETY: a connected handle.
        let r = unsafe { (self.api.rados_wait_for_latest_osdmap)(conn.handle) };
        check(|| "wait for the latest osdmap".into(), r)?;
        Ok(conn)
    }

    fn ioctx(&self, t: &Target) -> Result<IoCtx, Error> {
        let conn = self.conn(t.cluster, t.creds)?;
        let pool = cstr(t.pool)?;
        let mut handle: Ptr = ptr::null_mut();
        // SAFETY: a connected handle, valid C string and out pointer.
        let r = unsafe { (self.api.rados_ioctx_create)(conn.handle, pool.as_ptr(), &mut handle) };
        if r == -libc::ENOENT {
            return Err(Error::NotFound(format!(
                "pool {:?} does not exist in cluster {}",
                t.pool, t.cluster.cluster_id
            )));
        }
        check(|| format!("open pool {}", t.pool), r)?;
        let io = IoCtx { conn, handle };
        let ns = cstr(t.namespace)?;
        // SAFETY: a live ioctx; librados copies the namespace.
        unsafe { (self.api.rados_ioctx_set_namespace)(io.handle, ns.as_ptr()) };
        Ok(io)
    }

    /// Runs `f` on an I/O context for `t`, dropping the connection if it looks broken.
    fn with_io<T>(&self, t: &Target, f: impl FnOnce(&IoCtx) -> Result<T, Error>) -> Result<T, Error> {
        let r = self.ioctx(t).and_then(|io| f(&io));
        self.forget_on_unavailable(t, r)
    }

    /// Asks the mgr to remove a trashed image in the background (`rbd task add trash
    /// remove`, which the caps `mgr 'profile rbd pool=…'` allow).
    fn mgr_trash_remove(&self, io: &IoCtx, t: &Target, image_id: &str) -> Result<(), Error> {
        let spec = t.spec(image_id);
        self.command(&io.conn, Daemon::Mgr, &trash_remove_command(&spec))
            .map_err(|(r, text)| fail(&format!("mgr task to remove {spec}{text}"), r))
    }

    /// Sends a JSON command to the monitors or the mgr: Err(negative errno, " (its
    /// message)") when it failed.
    fn command(&self, conn: &Conn, to: Daemon, json: &str) -> Result<(), (c_int, String)> {
        let cmd = cstr(json).map_err(|_| (-libc::EINVAL, String::new()))?;
        let cmds = [cmd.as_ptr()];
        let (mut out, mut out_len, mut status, mut status_len): (*mut c_char, usize, *mut c_char, usize) =
            (ptr::null_mut(), 0, ptr::null_mut(), 0);
        let send = match to {
            Daemon::Mon => self.api.rados_mon_command,
            Daemon::Mgr => self.api.rados_mgr_command,
        };
        // SAFETY: a connected handle, one command string, no input; librados allocates the
        // output buffers, freed below.
        let r = unsafe {
            send(conn.handle, cmds.as_ptr(), 1, ptr::null(), 0, &mut out, &mut out_len, &mut status, &mut status_len)
        };
        let text = if status.is_null() || status_len == 0 {
            String::new()
        } else {
            // SAFETY: `status_len` bytes from librados.
            String::from_utf8_lossy(unsafe { std::slice::from_raw_parts(status.cast::<u8>(), status_len) }).into_owned()
        };
        // SAFETY: buffers librados allocated (NULL is allowed).
        unsafe {
            (self.api.rados_buffer_free)(out);
            (self.api.rados_buffer_free)(status);
        }
        // librados returns a positive ETIMEDOUT when no mgr answered in time (seen with
        // Pacific): anything but 0 is a failure.
        match r {
            0 => Ok(()),
            r => Err((-r.abs(), if text.is_empty() { String::new() } else { format!(" ({text})") })),
        }
    }

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

/// The mgr command that removes a trashed image (`pool[/namespace]/id`), as JSON: the
/// spec is escaped, since pool and namespace names may hold any character.
fn trash_remove_command(spec: &str) -> String {
    let mut cmd = String::from(r#"{"prefix": "rbd task add trash remove", "image_id_spec": "#);
    crate::json::write_str(&mut cmd, spec);
    cmd.push('}');
    cmd
}

/// `osd blocklist add` (for `secs` seconds) or, without, `rm` of an address.
fn blocklist_command(addr: &str, secs: Option<u32>) -> String {
    let op = if secs.is_some() { "add" } else { "rm" };
    let mut cmd = format!(r#"{{"prefix": "osd blocklist", "blocklistop": "{op}", "addr": "#);
    crate::json::write_str(&mut cmd, addr);
    if let Some(secs) = secs {
        cmd.push_str(&format!(r#", "expire": {secs}.0"#));
    }
    cmd.push('}');
    cmd
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
                        if matches!(e, Error::Unavailable(_)) {
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
            let missing = || Error::NotFound(format!("image id {} does not exist", t.spec(image_id)));
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
                .ok_or_else(|| Error::NotFound(format!("image {} does not exist", t.spec(image))))?;
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
                .ok_or_else(|| Error::NotFound(format!("image {} does not exist", t.spec(image))))?;
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
                .ok_or_else(|| Error::NotFound(format!("image {} does not exist", t.spec(image))))?;
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
                .ok_or_else(|| Error::NotFound(format!("image {} does not exist", t.spec(image))))?;
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
                    libc::ENOENT => {
                        Err(Error::NotFound(format!("clone source {}@{snap} does not exist", parent.spec(image))))
                    }
                    _ => Err(fail(&format!("clone {}@{snap} to {}", parent.spec(image), child.spec(child_image)), r)),
                }
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{blocklist_command, trash_remove_command};
    use crate::jsonparse::parse;

    #[test]
    fn blocklist_commands_are_json() {
        let add = parse(&blocklist_command("127.0.0.1:0/3162996", Some(315_360_000))).expect("valid json");
        assert_eq!((add.str_at("prefix"), add.str_at("blocklistop")), ("osd blocklist", "add"));
        assert_eq!(add.str_at("addr"), "127.0.0.1:0/3162996");
        assert!(blocklist_command("a", Some(315_360_000)).contains(r#""expire": 315360000.0"#));
        let rm = parse(&blocklist_command("127.0.0.1:0/1", None)).expect("valid json");
        assert_eq!((rm.str_at("blocklistop"), rm.get("expire").is_none()), ("rm", true));
    }

    #[test]
    fn trash_remove_command_is_json_whatever_the_names() {
        for spec in ["rbd/1234abcd", r#"po"ol/n\s/1234abcd"#] {
            let cmd = parse(&trash_remove_command(spec)).expect("valid json");
            assert_eq!(cmd.str_at("prefix"), "rbd task add trash remove");
            assert_eq!(cmd.str_at("image_id_spec"), spec);
        }
    }
}
