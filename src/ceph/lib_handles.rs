//! The librados/librbd handles, each closed on drop: a connected cluster (`Conn`), an
//! I/O context on a pool and namespace (`IoCtx`), an open image (`Image`).

use std::ffi::{c_char, c_int, CStr, CString};
use std::ptr;
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;

use super::lib_ffi::{bare_addr, check, cstr, drain_omap, Api, Ptr, SnapInfoC, WatcherC};
use super::rados::{ImageRef, SnapInfo};
use super::{ClusterConfig, Credentials};
use crate::error::{CephCause, Error};

/// How long connecting may take before the monitors count as unreachable.
pub(super) const CONNECT_TIMEOUT_SECS: u32 = 15;

/// A connected cluster handle.
pub(super) struct Conn {
    pub(super) api: &'static Api,
    pub(super) handle: Ptr,
    pub(super) last_used: Mutex<Instant>,
    /// When a mgr task last timed out: trashed images are removed inline for a while.
    pub(super) mgr_down_since: Mutex<Option<Instant>>,
    /// A connection of its own for mgr commands, one at a time (`LibRados::mgr_command`).
    pub(super) mgr: Mutex<Option<Box<Conn>>>,
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
    pub(super) fn open(api: &'static Api, cluster: &ClusterConfig, creds: &Credentials) -> Result<Conn, (Error, bool)> {
        Self::configure(api, cluster, creds).map_err(|e| (e, false)).and_then(|conn| conn.connect(cluster, creds))
    }

    pub(super) fn configure(api: &'static Api, cluster: &ClusterConfig, creds: &Credentials) -> Result<Conn, Error> {
        let mut handle: Ptr = ptr::null_mut();
        let name = cstr(&format!("client.{}", creds.id))?;
        let ceph = cstr("ceph")?;
        // SAFETY: valid out pointer and C strings.
        let r = unsafe { (api.rados_create2)(&mut handle, ceph.as_ptr(), name.as_ptr(), 0) };
        check(|| "rados_create2".to_string(), r)?;
        // From here on Drop shuts the handle down, connected or not.
        let conn = Conn {
            api,
            handle,
            last_used: Mutex::new(Instant::now()),
            mgr_down_since: Mutex::new(None),
            mgr: Mutex::new(None),
        };
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

    pub(super) fn connect(self, cluster: &ClusterConfig, creds: &Credentials) -> Result<Conn, (Error, bool)> {
        // SAFETY: a configured, unconnected handle.
        let r = unsafe { (self.api.rados_connect)(self.handle) };
        if r >= 0 {
            return Ok(self);
        }
        let errno = -r;
        let op = format!("connect to cluster {}", cluster.cluster_id);
        Err(if errno == libc::ETIMEDOUT {
            let why =
                format!("cannot reach the monitors ({}) within {CONNECT_TIMEOUT_SECS} s", cluster.monitors.join(","));
            (Error::ceph(op, CephCause::Unreachable, why), true)
        } else {
            let why = format!(
                "cannot authenticate as client.{}: {} (check userID/userKey and monitors)",
                creds.id,
                nix::errno::Errno::from_raw(errno).desc()
            );
            (Error::ceph(op, CephCause::Unreachable, why), false)
        })
    }
}

/// An I/O context on a pool and namespace; destroyed on drop.
pub(super) struct IoCtx {
    pub(super) conn: Arc<Conn>,
    pub(super) handle: Ptr,
}

impl Drop for IoCtx {
    fn drop(&mut self) {
        // SAFETY: a handle from rados_ioctx_create, destroyed once, before its Conn.
        unsafe { (self.conn.api.rados_ioctx_destroy)(self.handle) }
    }
}

/// An open image; closed on drop.
pub(super) struct Image<'a> {
    pub(super) io: &'a IoCtx,
    pub(super) handle: Ptr,
}

impl Drop for Image<'_> {
    fn drop(&mut self) {
        // SAFETY: an open image handle, closed once.
        unsafe { (self.io.conn.api.rbd_close)(self.handle) };
    }
}

impl IoCtx {
    pub(super) fn api(&self) -> &'static Api {
        self.conn.api
    }

    /// Opens an image: None when it does not exist.
    pub(super) fn image(&self, image: ImageRef, read_only: bool) -> Result<Option<Image<'_>>, Error> {
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
                unsafe {
                    if read_only {
                        (api.rbd_open_by_id_read_only)(self.handle, n.as_ptr(), &mut handle, ptr::null())
                    } else {
                        (api.rbd_open_by_id)(self.handle, n.as_ptr(), &mut handle, ptr::null())
                    }
                }
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
    pub(super) fn read_omap(
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

    pub(super) fn write_op(&self, object: &str, build: impl FnOnce(Ptr)) -> c_int {
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

impl Image<'_> {
    pub(super) fn size(&self) -> Result<u64, Error> {
        let mut size = 0u64;
        // SAFETY: an open image, a valid out pointer.
        check(|| "image size".into(), unsafe { (self.io.api().rbd_get_size)(self.handle, &mut size) })?;
        Ok(size)
    }

    pub(super) fn id(&self) -> Result<String, Error> {
        let mut buf = [0 as c_char; 128];
        // SAFETY: an open image; librbd writes a NUL-terminated id within buf's length.
        check(|| "image id".into(), unsafe { (self.io.api().rbd_get_id)(self.handle, buf.as_mut_ptr(), buf.len()) })?;
        // SAFETY: NUL-terminated by librbd (checked length above).
        Ok(unsafe { CStr::from_ptr(buf.as_ptr()) }.to_string_lossy().into_owned())
    }

    /// The addresses of the clients watching the image (with it mapped, or open for
    /// writing; a read-only open, as this one's, adds no watch).
    pub(super) fn watchers(&self) -> Result<Vec<String>, Error> {
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
            let addrs = buf[..max]
                .iter()
                .filter(|w| !w.addr.is_null())
                // SAFETY: NUL-terminated strings librbd allocated, freed below.
                .map(|w| bare_addr(unsafe { CStr::from_ptr(w.addr) }.to_string_lossy().into_owned()))
                .collect();
            // SAFETY: the `max` entries rbd_watchers_list filled.
            unsafe { (api.rbd_watchers_list_cleanup)(buf.as_mut_ptr(), max) };
            return Ok(addrs);
        }
    }

    /// The image's feature bits.
    pub(super) fn features(&self) -> Result<u64, Error> {
        let mut bits = 0u64;
        // SAFETY: an open image, a valid out pointer.
        check(|| "image features".into(), unsafe { (self.io.api().rbd_get_features)(self.handle, &mut bits) })?;
        Ok(bits)
    }

    pub(super) fn snaps(&self) -> Result<Vec<SnapInfo>, Error> {
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
