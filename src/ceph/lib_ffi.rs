//! librados and librbd as a table of C functions filled by dlopen/dlsym (declared here
//! by hand from Pacific's librados.h / librbd.h), and the small helpers every call
//! needs: C strings, errno → Error, omap iterators, image options.

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::ptr;

use crate::error::{CephCause, Error};

pub(super) type Ptr = *mut c_void;

#[repr(C)]
pub(super) struct SnapInfoC {
    pub(super) id: u64,
    pub(super) size: u64,
    pub(super) name: *const c_char,
}

#[repr(C)]
pub(super) struct WatcherC {
    pub(super) addr: *mut c_char,
    pub(super) id: i64,
    pub(super) cookie: u64,
}

/// librbd.h's rbd_trash_image_info_t.
#[repr(C)]
pub(super) struct TrashInfoC {
    pub(super) id: *mut c_char,
    pub(super) name: *mut c_char,
    pub(super) source: c_int,
    pub(super) deletion_time: libc::time_t,
    pub(super) deferment_end_time: libc::time_t,
}

pub(super) type ProgressFn = extern "C" fn(u64, u64, Ptr) -> c_int;

/// Declares the C functions used, as a table filled by dlsym.
macro_rules! ffi {
    ($( $lib:literal { $( fn $name:ident($($t:ty),*) $(-> $ret:ty)?; )* } )*) => {
        #[allow(non_snake_case)]
        pub(super) struct Api { $($( pub(super) $name: unsafe extern "C" fn($($t),*) $(-> $ret)?, )*)* }

        impl Api {
            pub(super) fn load() -> Result<Api, String> {
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
        fn rados_wait_for_latest_osdmap(Ptr) -> c_int;
        fn rados_pool_lookup(Ptr, *const c_char) -> i64;
        fn rados_pool_reverse_lookup(Ptr, i64, *mut c_char, usize) -> c_int;
        fn rados_pool_list(Ptr, *mut c_char, usize) -> c_int;
        fn rados_ioctx_create(Ptr, *const c_char, *mut Ptr) -> c_int;
        fn rados_ioctx_destroy(Ptr);
        fn rados_ioctx_set_namespace(Ptr, *const c_char);
        fn rados_remove(Ptr, *const c_char) -> c_int;
        fn rados_stat(Ptr, *const c_char, *mut u64, *mut libc::time_t) -> c_int;
        fn rados_lock_exclusive(Ptr, *const c_char, *const c_char, *const c_char, *const c_char, *mut libc::timeval, u8) -> c_int;
        fn rados_list_lockers(Ptr, *const c_char, *const c_char, *mut c_int, *mut c_char, *mut usize, *mut c_char, *mut usize, *mut c_char, *mut usize, *mut c_char, *mut usize) -> isize;
        fn rados_break_lock(Ptr, *const c_char, *const c_char, *const c_char, *const c_char) -> c_int;
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
        fn rados_mon_command(Ptr, *const *const c_char, usize, *const c_char, usize, *mut *mut c_char, *mut usize, *mut *mut c_char, *mut usize) -> c_int;
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
        fn rbd_open_by_id_read_only(Ptr, *const c_char, *mut Ptr, *const c_char) -> c_int;
        fn rbd_get_features(Ptr, *mut u64) -> c_int;
        fn rbd_update_features(Ptr, u64, u8) -> c_int;
        fn rbd_close(Ptr) -> c_int;
        fn rbd_get_size(Ptr, *mut u64) -> c_int;
        fn rbd_get_id(Ptr, *mut c_char, usize) -> c_int;
        fn rbd_trash_move(Ptr, *const c_char, u64) -> c_int;
        fn rbd_trash_remove(Ptr, *const c_char, bool) -> c_int;
        fn rbd_trash_get(Ptr, *const c_char, *mut TrashInfoC) -> c_int;
        fn rbd_trash_get_cleanup(*mut TrashInfoC);
        fn rbd_remove(Ptr, *const c_char) -> c_int;
        fn rbd_resize2(Ptr, u64, bool, ProgressFn, Ptr) -> c_int;
        fn rbd_flatten(Ptr) -> c_int;
        fn rbd_metadata_set(Ptr, *const c_char, *const c_char) -> c_int;
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
pub(super) const OPT_FEATURES: c_int = 1;
pub(super) const OPT_ORDER: c_int = 2;
pub(super) const OPT_STRIPE_UNIT: c_int = 3;
pub(super) const OPT_STRIPE_COUNT: c_int = 4;
pub(super) const OPT_DATA_POOL: c_int = 10;
pub(super) const OPT_CLONE_FORMAT: c_int = 12;

pub(super) fn open_library(name: &str) -> Result<Ptr, String> {
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

pub(super) extern "C" fn no_progress(_: u64, _: u64, _: Ptr) -> c_int {
    0
}

/// A client address as librados writes it ("v1:127.0.0.1:0/3162996") in the form the
/// CLIs, the OSDs' listings and the blocklist use, without the messenger type.
pub(super) fn bare_addr(addr: String) -> String {
    match addr.strip_prefix("v1:").or_else(|| addr.strip_prefix("v2:")) {
        Some(bare) => bare.to_string(),
        None => addr,
    }
}

pub(super) fn cstr(s: &str) -> Result<CString, Error> {
    CString::new(s).map_err(|_| Error::invalid(format!("{s:?} contains a NUL byte")))
}

/// A failed librados/librbd call `what`, by its negative errno `r`.
pub(super) fn fail(what: &str, r: c_int) -> Error {
    let errno = -r;
    let detail = format!("{} (errno {errno})", nix::errno::Errno::from_raw(errno).desc());
    Error::ceph(what, CephCause::of_errno(errno), detail)
}

/// 0 or more → Ok; a negative errno → the error `fail` makes of it.
pub(super) fn check(what: impl FnOnce() -> String, r: c_int) -> Result<c_int, Error> {
    if r < 0 {
        Err(fail(&what(), r))
    } else {
        Ok(r)
    }
}

/// NUL-terminated copies of `items` and an array of pointers to them.
pub(super) struct CStrings {
    pub(super) _owned: Vec<CString>,
    pub(super) ptrs: Vec<*const c_char>,
}

impl CStrings {
    pub(super) fn new(items: &[&str]) -> Result<CStrings, Error> {
        let owned: Vec<CString> = items.iter().map(|s| cstr(s)).collect::<Result<_, _>>()?;
        let ptrs = owned.iter().map(|c| c.as_ptr()).collect();
        Ok(CStrings { _owned: owned, ptrs })
    }
}

/// Reads an omap iterator to the end, then ends it.
///
/// SAFETY: `iter` must come from a read op that succeeded.
pub(super) unsafe fn drain_omap(api: &Api, iter: Ptr) -> Vec<(String, String)> {
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

/// rbd image options; destroyed on drop.
pub(super) struct Options {
    pub(super) api: &'static Api,
    pub(super) handle: Ptr,
}

impl Drop for Options {
    fn drop(&mut self) {
        // SAFETY: a handle from rbd_image_options_create, destroyed once.
        unsafe { (self.api.rbd_image_options_destroy)(self.handle) }
    }
}
