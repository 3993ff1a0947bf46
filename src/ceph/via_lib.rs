//! `Rados` through librados and librbd, loaded with dlopen at start (so the binary
//! neither links nor needs them: the static build and nodes without Ceph's libraries
//! fall back to the CLI). One connection per (monitors, user, key) is kept and shared
//! by all threads (librados is thread-safe); it closes after `IDLE` unused. The key
//! reaches librados as the in-memory `key` option: no file, no argv, no environment.
//! librados' own logging is off, so it never prints anything of ours.

use std::collections::HashMap;
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::ptr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::rados::{feature_bits, ImageRef, Rados, Removal, SnapInfo, Target};
use super::{ClusterConfig, Credentials};
use crate::error::Error;

type Ptr = *mut c_void;

#[repr(C)]
struct SnapInfoC {
    id: u64,
    size: u64,
    name: *const c_char,
}

#[repr(C)]
struct WatcherC {
    addr: *mut c_char,
    id: i64,
    cookie: u64,
}

type ProgressFn = extern "C" fn(u64, u64, Ptr) -> c_int;

/// Declares the C functions used, as a table filled by dlsym.
macro_rules! ffi {
    ($( $lib:literal { $( fn $name:ident($($t:ty),*) $(-> $ret:ty)?; )* } )*) => {
        #[allow(non_snake_case)]
        struct Api { $($( $name: unsafe extern "C" fn($($t),*) $(-> $ret)?, )*)* }

        impl Api {
            fn load() -> Result<Api, String> {
                $( let handle = open_library($lib)?; $(
                    let $name = {
                        // SAFETY: a live handle and a NUL-terminated name.
                        let p = unsafe { libc::dlsym(handle, concat!(stringify!($name), "\0").as_ptr().cast()) };
                        if p.is_null() {
                            return Err(format!("{} has no {}", $lib, stringify!($name)));
                        }
                        // SAFETY: a non-null function address whose C type is the one declared
                        // below (checked against Pacific's librados.h / librbd.h).
                        unsafe { std::mem::transmute::<Ptr, unsafe extern "C" fn($($t),*) $(-> $ret)?>(p) }
                    };
                )* )*
                Ok(Api { $($( $name, )*)* })
            }
        }
    };
}

ffi! {
    "librados.so.2" {
        fn rados_create2(*mut Ptr, *const c_char, *const c_char, u64) -> c_int;
        fn rados_conf_set(Ptr, *const c_char, *const c_char) -> c_int;
        fn rados_connect(Ptr) -> c_int;
        fn rados_shutdown(Ptr);
        fn rados_pool_lookup(Ptr, *const c_char) -> i64;
        fn rados_pool_reverse_lookup(Ptr, i64, *mut c_char, usize) -> c_int;
        fn rados_pool_list(Ptr, *mut c_char, usize) -> c_int;
        fn rados_ioctx_create(Ptr, *const c_char, *mut Ptr) -> c_int;
        fn rados_ioctx_destroy(Ptr);
        fn rados_ioctx_set_namespace(Ptr, *const c_char);
        fn rados_remove(Ptr, *const c_char) -> c_int;
        fn rados_create_write_op() -> Ptr;
        fn rados_release_write_op(Ptr);
        fn rados_write_op_omap_set(Ptr, *const *const c_char, *const *const c_char, *const usize, usize);
        fn rados_write_op_omap_rm_keys(Ptr, *const *const c_char, usize);
        // The mtime argument is always NULL (the OSD sets it).
        fn rados_write_op_operate(Ptr, Ptr, *const c_char, Ptr, c_int) -> c_int;
        fn rados_create_read_op() -> Ptr;
        fn rados_release_read_op(Ptr);
        fn rados_read_op_omap_get_vals_by_keys(Ptr, *const *const c_char, usize, *mut Ptr, *mut c_int);
        fn rados_read_op_omap_get_vals2(Ptr, *const c_char, *const c_char, u64, *mut Ptr, *mut u8, *mut c_int);
        fn rados_read_op_operate(Ptr, Ptr, *const c_char, c_int) -> c_int;
        fn rados_omap_get_next(Ptr, *mut *mut c_char, *mut *mut c_char, *mut usize) -> c_int;
        fn rados_omap_get_end(Ptr);
        fn rados_mgr_command(Ptr, *const *const c_char, usize, *const c_char, usize, *mut *mut c_char, *mut usize, *mut *mut c_char, *mut usize) -> c_int;
        fn rados_buffer_free(*mut c_char);
    }
    "librbd.so.1" {
        fn rbd_image_options_create(*mut Ptr);
        fn rbd_image_options_destroy(Ptr);
        fn rbd_image_options_set_uint64(Ptr, c_int, u64) -> c_int;
        fn rbd_image_options_set_string(Ptr, c_int, *const c_char) -> c_int;
        fn rbd_create4(Ptr, *const c_char, u64, Ptr) -> c_int;
        fn rbd_clone3(Ptr, *const c_char, *const c_char, Ptr, *const c_char, Ptr) -> c_int;
        fn rbd_open(Ptr, *const c_char, *mut Ptr, *const c_char) -> c_int;
        fn rbd_open_read_only(Ptr, *const c_char, *mut Ptr, *const c_char) -> c_int;
        fn rbd_open_by_id(Ptr, *const c_char, *mut Ptr, *const c_char) -> c_int;
        fn rbd_close(Ptr) -> c_int;
        fn rbd_get_size(Ptr, *mut u64) -> c_int;
        fn rbd_get_id(Ptr, *mut c_char, usize) -> c_int;
        fn rbd_trash_move(Ptr, *const c_char, u64) -> c_int;
        fn rbd_trash_remove(Ptr, *const c_char, bool) -> c_int;
        fn rbd_resize2(Ptr, u64, bool, ProgressFn, Ptr) -> c_int;
        fn rbd_flatten(Ptr) -> c_int;
        fn rbd_snap_create(Ptr, *const c_char) -> c_int;
        fn rbd_snap_remove(Ptr, *const c_char) -> c_int;
        fn rbd_snap_list(Ptr, *mut SnapInfoC, *mut c_int) -> c_int;
        fn rbd_snap_list_end(*mut SnapInfoC);
        fn rbd_snap_get_timestamp(Ptr, u64, *mut libc::timespec) -> c_int;
        fn rbd_watchers_list(Ptr, *mut WatcherC, *mut usize) -> c_int;
        fn rbd_watchers_list_cleanup(*mut WatcherC, usize);
    }
}

// librbd.h's rbd_image_option_t.
const OPT_FEATURES: c_int = 1;
const OPT_DATA_POOL: c_int = 10;
const OPT_CLONE_FORMAT: c_int = 12;

/// How long connecting may take before the monitors count as unreachable.
const CONNECT_TIMEOUT_SECS: u32 = 15;

/// How long an unused connection stays open.
const IDLE: Duration = Duration::from_secs(600);

fn open_library(name: &str) -> Result<Ptr, String> {
    let c = CString::new(name).map_err(|_| format!("bad library name {name:?}"))?;
    // SAFETY: a valid C string; the handle is never closed (the functions stay in use).
    let h = unsafe { libc::dlopen(c.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
    if h.is_null() {
        // SAFETY: dlerror returns a C string or NULL, valid until the next dl call.
        let why = unsafe { libc::dlerror() };
        let why = if why.is_null() { "unknown".into() } else { unsafe { CStr::from_ptr(why) }.to_string_lossy() };
        return Err(format!("cannot load {name}: {why}"));
    }
    Ok(h)
}

extern "C" fn no_progress(_: u64, _: u64, _: Ptr) -> c_int {
    0
}

fn cstr(s: &str) -> Result<CString, Error> {
    CString::new(s).map_err(|_| Error::invalid(format!("{s:?} contains a NUL byte")))
}

/// A failed librados/librbd call `what`, by its negative errno `r`.
fn fail(what: &str, r: c_int) -> Error {
    let errno = -r;
    let msg = format!("{what}: {} (errno {errno})", nix::errno::Errno::from_raw(errno).desc());
    match errno {
        libc::EPERM | libc::EACCES => {
            Error::FailedPrecondition(format!("{msg}: permission denied (check the user's caps)"))
        }
        libc::ENOENT => Error::NotFound(msg),
        libc::EEXIST => Error::AlreadyExists(msg),
        libc::EBUSY | libc::ENOTEMPTY => Error::FailedPrecondition(msg),
        libc::ETIMEDOUT | libc::ENOTCONN | libc::ESHUTDOWN | libc::ECONNREFUSED => Error::Unavailable(msg),
        libc::ENOSPC | libc::EDQUOT => Error::ResourceExhausted(msg),
        _ => Error::Internal(msg),
    }
}

/// 0 or more → Ok; a negative errno → the error `fail` makes of it.
fn check(what: impl FnOnce() -> String, r: c_int) -> Result<c_int, Error> {
    if r < 0 {
        Err(fail(&what(), r))
    } else {
        Ok(r)
    }
}

/// A connected cluster handle.
struct Conn {
    api: &'static Api,
    handle: Ptr,
    last_used: Mutex<Instant>,
    /// When a mgr task last timed out: trashed images are removed inline for a while.
    mgr_down_since: Mutex<Option<Instant>>,
}

// SAFETY: librados cluster handles are thread-safe (librados.h: "The rados_t and
// rados_ioctx_t handles may be used from multiple threads").
unsafe impl Send for Conn {}
unsafe impl Sync for Conn {}

impl Drop for Conn {
    fn drop(&mut self) {
        // SAFETY: a handle from rados_create2, shut down once; no ioctx outlives it
        // (each IoCtx holds an Arc of its Conn).
        unsafe { (self.api.rados_shutdown)(self.handle) }
    }
}

impl Conn {
    /// A connected handle, or the error and whether the monitors never answered.
    fn open(api: &'static Api, cluster: &ClusterConfig, creds: &Credentials) -> Result<Conn, (Error, bool)> {
        Self::configure(api, cluster, creds).map_err(|e| (e, false)).and_then(|conn| conn.connect(cluster, creds))
    }

    fn configure(api: &'static Api, cluster: &ClusterConfig, creds: &Credentials) -> Result<Conn, Error> {
        let mut handle: Ptr = ptr::null_mut();
        let name = cstr(&format!("client.{}", creds.id))?;
        let ceph = cstr("ceph")?;
        // SAFETY: valid out pointer and C strings.
        let r = unsafe { (api.rados_create2)(&mut handle, ceph.as_ptr(), name.as_ptr(), 0) };
        check(|| "rados_create2".to_string(), r)?;
        // From here on Drop shuts the handle down, connected or not.
        let conn = Conn { api, handle, last_used: Mutex::new(Instant::now()), mgr_down_since: Mutex::new(None) };
        let key = creds.key_text();
        let mons = cluster.monitors.join(",");
        let connect_timeout = CONNECT_TIMEOUT_SECS.to_string();
        for (opt, val) in [
            ("mon_host", mons.as_str()),
            ("key", key),
            ("log_to_stderr", "false"),
            ("err_to_stderr", "false"),
            ("log_file", ""),
            ("admin_socket", ""),
            ("client_mount_timeout", connect_timeout.as_str()),
            // Also bounds a mgr command when no mgr is active.
            ("rados_mon_op_timeout", "10"),
            ("rados_osd_op_timeout", "60"),
        ] {
            let (o, v) = (cstr(opt)?, cstr(val)?);
            // SAFETY: a live handle, valid C strings.
            let r = unsafe { (api.rados_conf_set)(handle, o.as_ptr(), v.as_ptr()) };
            check(|| format!("rados_conf_set {opt}"), r)?;
        }
        Ok(conn)
    }

    fn connect(self, cluster: &ClusterConfig, creds: &Credentials) -> Result<Conn, (Error, bool)> {
        // SAFETY: a configured, unconnected handle.
        let r = unsafe { (self.api.rados_connect)(self.handle) };
        if r >= 0 {
            return Ok(self);
        }
        let errno = -r;
        Err(if errno == libc::ETIMEDOUT {
            let why = format!(
                "cannot reach the monitors of cluster {} ({}) within {CONNECT_TIMEOUT_SECS} s",
                cluster.cluster_id,
                cluster.monitors.join(",")
            );
            (Error::Unavailable(why), true)
        } else {
            let why = format!(
                "cannot authenticate to cluster {} as client.{}: {} (check userID/userKey and monitors)",
                cluster.cluster_id,
                creds.id,
                nix::errno::Errno::from_raw(errno).desc()
            );
            (Error::Unavailable(why), false)
        })
    }
}

/// An I/O context on a pool and namespace; destroyed on drop.
struct IoCtx {
    conn: Arc<Conn>,
    handle: Ptr,
}

impl Drop for IoCtx {
    fn drop(&mut self) {
        // SAFETY: a handle from rados_ioctx_create, destroyed once, before its Conn.
        unsafe { (self.conn.api.rados_ioctx_destroy)(self.handle) }
    }
}

/// An open image; closed on drop.
struct Image<'a> {
    io: &'a IoCtx,
    handle: Ptr,
}

impl Drop for Image<'_> {
    fn drop(&mut self) {
        // SAFETY: an open image handle, closed once.
        unsafe { (self.io.conn.api.rbd_close)(self.handle) };
    }
}

impl IoCtx {
    fn api(&self) -> &'static Api {
        self.conn.api
    }

    /// Opens an image: None when it does not exist.
    fn image(&self, image: ImageRef, read_only: bool) -> Result<Option<Image<'_>>, Error> {
        let mut handle: Ptr = ptr::null_mut();
        let api = self.api();
        let r = match image {
            ImageRef::Name(name) => {
                let n = cstr(name)?;
                // SAFETY: live ioctx, valid C string and out pointer; no snapshot.
                unsafe {
                    if read_only {
                        (api.rbd_open_read_only)(self.handle, n.as_ptr(), &mut handle, ptr::null())
                    } else {
                        (api.rbd_open)(self.handle, n.as_ptr(), &mut handle, ptr::null())
                    }
                }
            }
            ImageRef::Id(id) => {
                let n = cstr(id)?;
                // SAFETY: as above.
                unsafe { (api.rbd_open_by_id)(self.handle, n.as_ptr(), &mut handle, ptr::null()) }
            }
        };
        if r == -libc::ENOENT {
            return Ok(None);
        }
        check(|| format!("open image {image:?}"), r)?;
        Ok(Some(Image { io: self, handle }))
    }

    /// Runs a read op whose one action (`add`, given the op, the iterator and the
    /// action's return value to fill) reads omap pairs: the pairs, or the negative
    /// errno of the op or of the action.
    fn read_omap(
        &self,
        object: &CStr,
        add: impl FnOnce(Ptr, *mut Ptr, *mut c_int),
    ) -> Result<Vec<(String, String)>, c_int> {
        let api = self.api();
        let (mut iter, mut prval): (Ptr, c_int) = (ptr::null_mut(), 0);
        // SAFETY: a fresh op, released once; the iterator is drained (and ended) only
        // after a successful operate.
        unsafe {
            let op = (api.rados_create_read_op)();
            add(op, &mut iter, &mut prval);
            let r = (api.rados_read_op_operate)(op, self.handle, object.as_ptr(), 0);
            let out = if r == 0 && prval == 0 { Ok(drain_omap(api, iter)) } else { Err(if r < 0 { r } else { prval }) };
            (api.rados_release_read_op)(op);
            out
        }
    }

    fn write_op(&self, object: &str, build: impl FnOnce(Ptr)) -> c_int {
        let api = self.api();
        let Ok(oid) = CString::new(object) else { return -libc::EINVAL };
        // SAFETY: a fresh op, filled by `build` with pointers that live until operate
        // returns, released once.
        unsafe {
            let op = (api.rados_create_write_op)();
            build(op);
            let r = (api.rados_write_op_operate)(op, self.handle, oid.as_ptr(), ptr::null_mut(), 0);
            (api.rados_release_write_op)(op);
            r
        }
    }
}

/// NUL-terminated copies of `items` and an array of pointers to them.
struct CStrings {
    _owned: Vec<CString>,
    ptrs: Vec<*const c_char>,
}

impl CStrings {
    fn new(items: &[&str]) -> Result<CStrings, Error> {
        let owned: Vec<CString> = items.iter().map(|s| cstr(s)).collect::<Result<_, _>>()?;
        let ptrs = owned.iter().map(|c| c.as_ptr()).collect();
        Ok(CStrings { _owned: owned, ptrs })
    }
}

/// Reads an omap iterator to the end, then ends it.
///
/// SAFETY: `iter` must come from a read op that succeeded.
unsafe fn drain_omap(api: &Api, iter: Ptr) -> Vec<(String, String)> {
    let mut out = Vec::new();
    loop {
        let (mut k, mut v, mut len): (*mut c_char, *mut c_char, usize) = (ptr::null_mut(), ptr::null_mut(), 0);
        if (api.rados_omap_get_next)(iter, &mut k, &mut v, &mut len) < 0 || k.is_null() {
            break;
        }
        let key = CStr::from_ptr(k).to_string_lossy().into_owned();
        let val = if v.is_null() { Vec::new() } else { std::slice::from_raw_parts(v.cast::<u8>(), len).to_vec() };
        out.push((key, String::from_utf8_lossy(&val).into_owned()));
    }
    (api.rados_omap_get_end)(iter);
    out
}

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
        let cmd = cstr(&format!(r#"{{"prefix": "rbd task add trash remove", "image_id_spec": "{spec}"}}"#))?;
        let cmds = [cmd.as_ptr()];
        let (mut out, mut out_len, mut status, mut status_len): (*mut c_char, usize, *mut c_char, usize) =
            (ptr::null_mut(), 0, ptr::null_mut(), 0);
        // SAFETY: a connected handle, one command string, no input; librados allocates the
        // output buffers, freed below.
        let r = unsafe {
            (self.api.rados_mgr_command)(
                io.conn.handle,
                cmds.as_ptr(),
                1,
                ptr::null(),
                0,
                &mut out,
                &mut out_len,
                &mut status,
                &mut status_len,
            )
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
            r => {
                let text = if text.is_empty() { String::new() } else { format!(" ({text})") };
                Err(fail(&format!("mgr task to remove {spec}{text}"), -r.abs()))
            }
        }
    }

    fn image_options(&self, features: &str, data_pool: Option<&str>, clone_v2: bool) -> Result<Options, Error> {
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

/// rbd image options; destroyed on drop.
struct Options {
    api: &'static Api,
    handle: Ptr,
}

impl Drop for Options {
    fn drop(&mut self) {
        // SAFETY: a handle from rbd_image_options_create, destroyed once.
        unsafe { (self.api.rbd_image_options_destroy)(self.handle) }
    }
}

impl Image<'_> {
    fn size(&self) -> Result<u64, Error> {
        let mut size = 0u64;
        // SAFETY: an open image, a valid out pointer.
        check(|| "image size".into(), unsafe { (self.io.api().rbd_get_size)(self.handle, &mut size) })?;
        Ok(size)
    }

    fn id(&self) -> Result<String, Error> {
        let mut buf = [0 as c_char; 128];
        // SAFETY: an open image; librbd writes a NUL-terminated id within buf's length.
        check(|| "image id".into(), unsafe { (self.io.api().rbd_get_id)(self.handle, buf.as_mut_ptr(), buf.len()) })?;
        // SAFETY: NUL-terminated by librbd (checked length above).
        Ok(unsafe { CStr::from_ptr(buf.as_ptr()) }.to_string_lossy().into_owned())
    }

    /// How many clients watch the image (have it mapped or open).
    fn watchers(&self) -> Result<usize, Error> {
        let api = self.io.api();
        let mut max: usize = 8;
        loop {
            let mut buf: Vec<WatcherC> =
                (0..max).map(|_| WatcherC { addr: ptr::null_mut(), id: 0, cookie: 0 }).collect();
            // SAFETY: `buf` holds `max` entries; on success librbd fills `max` of them
            // (updated) and rbd_watchers_list_cleanup frees their addresses.
            let r = unsafe { (api.rbd_watchers_list)(self.handle, buf.as_mut_ptr(), &mut max) };
            if r == -libc::ERANGE {
                continue;
            }
            check(|| "list watchers".into(), r)?;
            // SAFETY: the `max` entries rbd_watchers_list filled.
            unsafe { (api.rbd_watchers_list_cleanup)(buf.as_mut_ptr(), max) };
            return Ok(max);
        }
    }

    fn snaps(&self) -> Result<Vec<SnapInfo>, Error> {
        let api = self.io.api();
        let mut max: c_int = 16;
        loop {
            let mut buf: Vec<SnapInfoC> =
                (0..max.max(1)).map(|_| SnapInfoC { id: 0, size: 0, name: ptr::null() }).collect();
            // SAFETY: `buf` holds `max` entries; on success librbd fills `n` of them and
            // a terminator, and rbd_snap_list_end frees their names.
            let n = unsafe { (api.rbd_snap_list)(self.handle, buf.as_mut_ptr(), &mut max) };
            if n == -libc::ERANGE {
                continue;
            }
            check(|| "list snapshots".into(), n)?;
            let mut out = Vec::with_capacity(n as usize);
            for s in &buf[..n as usize] {
                let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
                // SAFETY: an open image, a snapshot id it just listed, a valid out pointer.
                let r = unsafe { (api.rbd_snap_get_timestamp)(self.handle, s.id, &mut ts) };
                out.push(SnapInfo {
                    // SAFETY: names are NUL-terminated strings owned by `buf` until list_end.
                    name: unsafe { CStr::from_ptr(s.name) }.to_string_lossy().into_owned(),
                    size: s.size,
                    created_secs: if r < 0 { 0 } else { ts.tv_sec },
                });
            }
            // SAFETY: the array rbd_snap_list filled.
            unsafe { (api.rbd_snap_list_end)(buf.as_mut_ptr()) };
            return Ok(out);
        }
    }
}

impl Rados for LibRados {
    fn kind(&self) -> &'static str {
        "librados"
    }

    fn pool_id(&self, cluster: &ClusterConfig, creds: &Credentials, pool: &str) -> Result<Option<u64>, Error> {
        let conn = self.conn(cluster, creds)?;
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
        let conn = self.conn(cluster, creds)?;
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

    fn image_create(
        &self,
        t: &Target,
        image: &str,
        bytes: u64,
        features: &str,
        data_pool: Option<&str>,
    ) -> Result<(), Error> {
        let opts = self.image_options(features, data_pool, false)?;
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
                let Some(img) = io.image(ImageRef::Name(image), true)? else { return Ok(Removal::Missing) };
                if img.watchers()? > 0 {
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

    fn trash_remove(&self, t: &Target, image_id: &str) -> Result<(), Error> {
        self.with_io(t, |io| {
            let id = cstr(image_id)?;
            // SAFETY: a live ioctx, a valid C string.
            let r = unsafe { (io.api().rbd_trash_remove)(io.handle, id.as_ptr(), false) };
            // ENOTEMPTY: it still has snapshots, which keep it.
            if r == -libc::ENOENT || r == -libc::ENOTEMPTY {
                return Ok(());
            }
            check(|| format!("remove trashed image {image_id}"), r).map(drop)
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
        features: &str,
    ) -> Result<(), Error> {
        let opts = self.image_options(features, None, true)?;
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
