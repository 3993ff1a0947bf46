//! cls locks and object existence through librados, as methods of an I/O context: the
//! primitives of the rbd controller's attachment claims (backend/rbd/attach.rs).

use std::ffi::{c_char, c_int};
use std::ptr;

use super::lib_ffi::{bare_addr, check, cstr};
use super::lib_handles::IoCtx;
use super::rados::Locker;
use crate::error::Error;

/// librados' LOCK_FLAG_MAY_RENEW is not used: a held lock is never taken over.
const NO_FLAGS: u8 = 0;

impl IoCtx {
    pub(super) fn object_exists(&self, object: &str) -> Result<bool, Error> {
        let oid = cstr(object)?;
        let (mut size, mut mtime): (u64, libc::time_t) = (0, 0);
        // SAFETY: a live ioctx, a valid C string, valid out pointers.
        let r = unsafe { (self.api().rados_stat)(self.handle, oid.as_ptr(), &mut size, &mut mtime) };
        if r == -libc::ENOENT {
            return Ok(false);
        }
        check(|| format!("stat {object}"), r).map(|_| true)
    }

    /// true: taken, or already held by this client with this cookie; false: busy.
    pub(super) fn lock_exclusive(&self, object: &str, lock: &str, cookie: &str) -> Result<bool, Error> {
        let (oid, name, cookie_c, desc) = (cstr(object)?, cstr(lock)?, cstr(cookie)?, cstr("")?);
        // SAFETY: a live ioctx, valid C strings; a NULL duration never expires.
        let r = unsafe {
            (self.api().rados_lock_exclusive)(
                self.handle,
                oid.as_ptr(),
                name.as_ptr(),
                cookie_c.as_ptr(),
                desc.as_ptr(),
                ptr::null_mut(),
                NO_FLAGS,
            )
        };
        match -r {
            0 | libc::EEXIST => Ok(true),
            libc::EBUSY => Ok(false),
            _ => check(|| format!("lock {object} ({lock})"), r).map(|_| true),
        }
    }

    pub(super) fn lockers(&self, object: &str, lock: &str) -> Result<Vec<Locker>, Error> {
        let (oid, name) = (cstr(object)?, cstr(lock)?);
        let mut cap = 256;
        loop {
            let mut bufs = [vec![0u8; cap], vec![0u8; cap], vec![0u8; cap], vec![0u8; cap]];
            let mut lens = [cap; 4];
            let mut exclusive: c_int = 0;
            let [tag, clients, cookies, addrs] = &mut bufs;
            let [tag_len, clients_len, cookies_len, addrs_len] = &mut lens;
            // SAFETY: a live ioctx, valid C strings, buffers of the lengths given.
            let r = unsafe {
                (self.api().rados_list_lockers)(
                    self.handle,
                    oid.as_ptr(),
                    name.as_ptr(),
                    &mut exclusive,
                    tag.as_mut_ptr().cast::<c_char>(),
                    tag_len,
                    clients.as_mut_ptr().cast::<c_char>(),
                    clients_len,
                    cookies.as_mut_ptr().cast::<c_char>(),
                    cookies_len,
                    addrs.as_mut_ptr().cast::<c_char>(),
                    addrs_len,
                )
            };
            if r == -(libc::ERANGE as isize) {
                cap = lens.into_iter().max().unwrap_or(cap).max(cap * 2);
                continue;
            }
            if r == -(libc::ENOENT as isize) {
                return Ok(Vec::new());
            }
            let n = check(|| format!("list the lockers of {object} ({lock})"), r as c_int)? as usize;
            let split = |buf: &[u8], len: usize| -> Vec<String> {
                buf[..len.min(buf.len())].split(|b| *b == 0).map(|s| String::from_utf8_lossy(s).into_owned()).collect()
            };
            let (clients, cookies, addrs) =
                (split(clients, *clients_len), split(cookies, *cookies_len), split(addrs, *addrs_len));
            return Ok((0..n)
                .map(|i| Locker {
                    client: clients.get(i).cloned().unwrap_or_default(),
                    cookie: cookies.get(i).cloned().unwrap_or_default(),
                    addr: bare_addr(addrs.get(i).cloned().unwrap_or_default()),
                })
                .collect());
        }
    }

    pub(super) fn break_lock(&self, object: &str, lock: &str, locker: &Locker) -> Result<(), Error> {
        let (oid, name, client, cookie) = (cstr(object)?, cstr(lock)?, cstr(&locker.client)?, cstr(&locker.cookie)?);
        // SAFETY: a live ioctx, valid C strings.
        let r = unsafe {
            (self.api().rados_break_lock)(self.handle, oid.as_ptr(), name.as_ptr(), client.as_ptr(), cookie.as_ptr())
        };
        if r == -libc::ENOENT {
            return Ok(());
        }
        check(|| format!("release {object} ({lock}) held by {}", locker.cookie), r).map(drop)
    }
}
