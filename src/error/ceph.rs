//! Why a call to Ceph failed, whichever client made it (librados, the rbd, rados and
//! ceph commands): the cause, read from an errno in one table, and what Ceph said.

use std::fmt;

/// Why a call to Ceph failed, whichever client made it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CephCause {
    /// The user's caps do not allow it (EPERM, EACCES).
    Denied,
    /// The pool, object, image or snapshot does not exist (ENOENT).
    Missing,
    /// It exists already (EEXIST).
    Exists,
    /// In use: watchers, children, snapshots, a lock (EBUSY, ENOTEMPTY).
    Busy,
    /// Another client holds the image's exclusive lock and will not hand it over
    /// (EROFS): a krbd mapping made with the `exclusive` map option refuses every other
    /// client the lock, and a snapshot or a resize needs it.
    Locked,
    /// The cluster cannot be reached or will not let this user in (ETIMEDOUT,
    /// ENOTCONN, ESHUTDOWN, ECONNREFUSED; a failed authentication).
    Unreachable,
    /// Out of space or over a quota (ENOSPC, EDQUOT).
    Full,
    /// Anything else.
    Other,
}

impl CephCause {
    /// The cause of Ceph's errno `errno` (positive): the one table every client uses
    /// (librados returns it negated; the rbd command exits with it).
    pub fn of_errno(errno: i32) -> CephCause {
        match errno {
            libc::EPERM | libc::EACCES => CephCause::Denied,
            libc::ENOENT => CephCause::Missing,
            libc::EEXIST => CephCause::Exists,
            libc::EBUSY | libc::ENOTEMPTY => CephCause::Busy,
            libc::EROFS => CephCause::Locked,
            libc::ETIMEDOUT | libc::ENOTCONN | libc::ESHUTDOWN | libc::ECONNREFUSED => CephCause::Unreachable,
            libc::ENOSPC | libc::EDQUOT => CephCause::Full,
            _ => CephCause::Other,
        }
    }
}

/// A failed call to Ceph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CephFailure {
    /// What was being done ("rbd info rbd/csi-vol-…").
    pub op: String,
    pub cause: CephCause,
    /// What Ceph said ("No such file or directory (errno 2)", a command's last line).
    pub detail: String,
}

impl fmt::Display for CephFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.op, self.detail)?;
        match self.cause {
            CephCause::Denied => f.write_str(": permission denied (check the user's caps)")?,
            CephCause::Locked => f.write_str(
                ": another client holds the image's exclusive lock and will not release it (a mapping made with \
                 mapOptions exclusive?): unstage the volume first",
            )?,
            _ => {}
        }
        Ok(())
    }
}
