//! librados connections for `LibRados` (via_lib.rs holds its `Rados` calls): one
//! connection per (monitors, user, key), shared by all threads (librados is
//! thread-safe) and closed by a call that finds it unused for `IDLE`; an unreachable
//! cluster is remembered for a while so that calls fail fast; commands to the monitors
//! and the mgr (JSON, built here with their escaping).

use std::collections::HashMap;
use std::ffi::{c_char, c_int};
use std::ptr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::lib_ffi::{check, cstr, fail, Api, Ptr};
use super::lib_handles::{Conn, IoCtx};
use super::rados::Target;
use super::{ClusterConfig, Credentials};
use crate::error::{CephCause, Error};

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
pub(super) const RETRY_MGR: Duration = Duration::from_secs(300);

/// Where a command goes.
#[derive(Clone, Copy)]
pub(super) enum Daemon {
    Mon,
    Mgr,
}

pub struct LibRados {
    pub(super) api: &'static Api,
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

    pub(super) fn conn(&self, cluster: &ClusterConfig, creds: &Credentials) -> Result<Arc<Conn>, Error> {
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
    pub(super) fn forget_on_unavailable<T>(&self, t: &Target, r: Result<T, Error>) -> Result<T, Error> {
        if r.as_ref().is_err_and(|e| e.ceph_cause() == Some(CephCause::Unreachable)) {
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
    pub(super) fn latest_map(&self, cluster: &ClusterConfig, creds: &Credentials) -> Result<Arc<Conn>, Error> {
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
            let op = format!("pool {:?} of cluster {}", t.pool, t.cluster.cluster_id);
            return Err(Error::ceph(op, CephCause::Missing, "does not exist"));
        }
        check(|| format!("open pool {}", t.pool), r)?;
        let io = IoCtx { conn, handle };
        let ns = cstr(t.namespace)?;
        // SAFETY: a live ioctx; librados copies the namespace.
        unsafe { (self.api.rados_ioctx_set_namespace)(io.handle, ns.as_ptr()) };
        Ok(io)
    }

    /// Runs `f` on an I/O context for `t`, dropping the connection if it looks broken.
    pub(super) fn with_io<T>(&self, t: &Target, f: impl FnOnce(&IoCtx) -> Result<T, Error>) -> Result<T, Error> {
        let r = self.ioctx(t).and_then(|io| f(&io));
        self.forget_on_unavailable(t, r)
    }

    /// Asks the mgr to remove a trashed image in the background (`rbd task add trash
    /// remove`, which the caps `mgr 'profile rbd pool=…'` allow).
    pub(super) fn mgr_trash_remove(&self, io: &IoCtx, t: &Target, image_id: &str) -> Result<(), Error> {
        let spec = t.spec(image_id);
        self.mgr_command(io, t, &trash_remove_command(&spec))
            .map_err(|(r, text)| fail(&format!("mgr task to remove {spec}{text}"), r))
    }

    /// A mgr command, on the connection's own mgr connection. librados (16.2) keeps a
    /// mgr command that timed out pending and resends it when the mgr is back; its
    /// reply is then written into the caller's freed buffers and the process crashes
    /// (seen here: a mgr stopped with SIGSTOP, then resumed). So such a connection is
    /// shut down at once (which drops its pending commands), commands take turns on it
    /// (none is in flight when it goes), and a command that waited its turn behind one
    /// that timed out fails at once.
    fn mgr_command(&self, io: &IoCtx, t: &Target, json: &str) -> Result<(), (c_int, String)> {
        let mut slot = io.conn.mgr.lock();
        if io.conn.mgr_down_since.lock().is_some_and(|since| since.elapsed() < RETRY_MGR) {
            return Err((-libc::ETIMEDOUT, " (the mgr did not answer a moment ago)".into()));
        }
        let conn = match slot.take() {
            Some(conn) => conn,
            None => Box::new(
                Conn::open(self.api, t.cluster, t.creds).map_err(|(e, _)| (-libc::ENOTCONN, format!(" ({e})")))?,
            ),
        };
        let r = self.command(&conn, Daemon::Mgr, json);
        if matches!(r, Err((e, _)) if e == -libc::ETIMEDOUT) {
            *io.conn.mgr_down_since.lock() = Some(Instant::now());
            drop(conn);
        } else {
            *slot = Some(conn);
        }
        r
    }

    /// Sends a JSON command to the monitors or the mgr: Err(negative errno, " (its
    /// message)") when it failed.
    pub(super) fn command(&self, conn: &Conn, to: Daemon, json: &str) -> Result<(), (c_int, String)> {
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
}

/// The mgr command that removes a trashed image (`pool[/namespace]/id`), as JSON: the
/// spec is escaped, since pool and namespace names may hold any character.
pub(super) fn trash_remove_command(spec: &str) -> String {
    let mut cmd = String::from(r#"{"prefix": "rbd task add trash remove", "image_id_spec": "#);
    crate::json::write_str(&mut cmd, spec);
    cmd.push('}');
    cmd
}

/// `osd blocklist add` (for `secs` seconds) or, without, `rm` of an address.
pub(super) fn blocklist_command(addr: &str, secs: Option<u32>) -> String {
    let op = if secs.is_some() { "add" } else { "rm" };
    let mut cmd = format!(r#"{{"prefix": "osd blocklist", "blocklistop": "{op}", "addr": "#);
    crate::json::write_str(&mut cmd, addr);
    if let Some(secs) = secs {
        cmd.push_str(&format!(r#", "expire": {secs}.0"#));
    }
    cmd.push('}');
    cmd
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
