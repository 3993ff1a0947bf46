//! The crate's error type and the one place that turns an error into a gRPC status.
//! Failures keep their cause (`Sys`: the syscall, path and errno; `Ceph`: what Ceph
//! said, by `CephCause`; `Node` and `Volume`: what a node or controller call found,
//! by `NodeError` and `VolumeError`); `code()` alone decides what a CO is told, with
//! one exhaustive match.

use std::fmt;

use grpcio::{RpcStatus, RpcStatusCode};

use crate::queue::QueueError;

mod ceph;
mod node;
mod volume;

pub use ceph::{CephCause, CephFailure};
pub use node::{NodeError, PathKind};
pub use volume::{Kind, VolumeError};

/// Every failure a request can end in. Each variant carries enough context (path,
/// volume, errno) for the operator; `code()` decides the gRPC code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The request is malformed: a missing or bad field.
    InvalidArgument(String),
    /// The volume, snapshot or node object does not exist.
    NotFound(String),
    /// A different object with the same name exists.
    AlreadyExists(String),
    /// The system is not in a state that allows the operation.
    FailedPrecondition(String),
    /// The requested size is outside what is allowed.
    OutOfRange(String),
    /// Not enough room (space, capacity).
    ResourceExhausted(String),
    /// This driver does not implement the call (yet).
    Unimplemented(String),
    /// The backend or a dependency is not usable right now; the caller may retry.
    Unavailable(String),
    /// A list call's starting_token is not one we gave out (the spec says ABORTED).
    InvalidToken(String),
    /// The serial queue refused or could not finish the job.
    Queue(QueueError),
    /// A system call failed.
    Sys { op: String, path: String, errno: i32 },
    /// A call to Ceph failed (librados, or the rbd, rados and ceph commands).
    Ceph(CephFailure),
    /// A node call found the volume, a path or a device not as it needs them.
    Node(NodeError),
    /// A controller call found the volumes and snapshots not as it needs them.
    Volume(VolumeError),
    /// An unexpected internal failure.
    Internal(String),
}

impl Error {
    pub fn invalid(msg: impl Into<String>) -> Self {
        Error::InvalidArgument(msg.into())
    }

    pub fn internal(msg: impl Into<String>) -> Self {
        Error::Internal(msg.into())
    }

    /// A failed syscall `op` on `path` with the errno from `err`.
    pub fn sys(op: &str, path: impl fmt::Display, err: nix::Error) -> Self {
        Error::Sys { op: op.to_string(), path: path.to_string(), errno: err as i32 }
    }

    /// A failed std::io call `op` on `path`, keeping its errno.
    pub fn io(op: &str, path: &std::path::Path, err: std::io::Error) -> Self {
        Error::Sys {
            op: op.to_string(),
            path: path.display().to_string(),
            errno: err.raw_os_error().unwrap_or(libc::EIO),
        }
    }

    /// The gRPC code of this error.
    pub fn code(&self) -> RpcStatusCode {
        match self {
            Error::InvalidArgument(_) => RpcStatusCode::INVALID_ARGUMENT,
            Error::NotFound(_) => RpcStatusCode::NOT_FOUND,
            Error::AlreadyExists(_) => RpcStatusCode::ALREADY_EXISTS,
            Error::FailedPrecondition(_) => RpcStatusCode::FAILED_PRECONDITION,
            Error::OutOfRange(_) => RpcStatusCode::OUT_OF_RANGE,
            Error::ResourceExhausted(_) => RpcStatusCode::RESOURCE_EXHAUSTED,
            Error::Unimplemented(_) => RpcStatusCode::UNIMPLEMENTED,
            Error::Unavailable(_) => RpcStatusCode::UNAVAILABLE,
            Error::InvalidToken(_) => RpcStatusCode::ABORTED,
            Error::Queue(q) => match q {
                QueueError::Full { .. } => RpcStatusCode::RESOURCE_EXHAUSTED,
                QueueError::DeadlinePassed => RpcStatusCode::DEADLINE_EXCEEDED,
                QueueError::ShuttingDown => RpcStatusCode::UNAVAILABLE,
                QueueError::Panicked(_) => RpcStatusCode::INTERNAL,
            },
            Error::Sys { errno, .. } => sys_code(*errno),
            Error::Ceph(f) => match f.cause {
                CephCause::Denied | CephCause::Busy | CephCause::Locked => RpcStatusCode::FAILED_PRECONDITION,
                CephCause::Missing => RpcStatusCode::NOT_FOUND,
                CephCause::Exists => RpcStatusCode::ALREADY_EXISTS,
                CephCause::Unreachable => RpcStatusCode::UNAVAILABLE,
                CephCause::Full => RpcStatusCode::RESOURCE_EXHAUSTED,
                CephCause::Other => RpcStatusCode::INTERNAL,
            },
            Error::Node(e) => node_code(e),
            Error::Volume(e) => match e {
                VolumeError::NoSuch { .. } | VolumeError::OtherBackend { .. } | VolumeError::NoSuchSource { .. } => {
                    RpcStatusCode::NOT_FOUND
                }
                VolumeError::NameTaken { .. } => RpcStatusCode::ALREADY_EXISTS,
                VolumeError::ClaimedBy { .. } | VolumeError::InUse { .. } => RpcStatusCode::FAILED_PRECONDITION,
                VolumeError::ClaimContended { .. } => RpcStatusCode::UNAVAILABLE,
                VolumeError::Vanished { .. } => RpcStatusCode::INTERNAL,
            },
            Error::Internal(_) => RpcStatusCode::INTERNAL,
        }
    }

    /// A failed call to Ceph: `op` (what was being done), its cause, and what Ceph
    /// said of it.
    pub fn ceph(op: impl Into<String>, cause: CephCause, detail: impl Into<String>) -> Self {
        Error::Ceph(CephFailure { op: op.into(), cause, detail: detail.into() })
    }

    /// Ceph's answer that `what` (a pool, an image, a snapshot) does not exist.
    pub fn ceph_missing(what: impl Into<String>) -> Self {
        Error::ceph(what, CephCause::Missing, "does not exist")
    }

    /// No volume (or snapshot, by `kind`) has id `id`.
    pub fn no_such(kind: Kind, id: &str) -> Self {
        Error::Volume(VolumeError::NoSuch { kind, id: id.to_string() })
    }

    /// The cause, when this is a failed call to Ceph.
    pub fn ceph_cause(&self) -> Option<CephCause> {
        match self {
            Error::Ceph(f) => Some(f.cause),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidArgument(m)
            | Error::NotFound(m)
            | Error::AlreadyExists(m)
            | Error::FailedPrecondition(m)
            | Error::OutOfRange(m)
            | Error::ResourceExhausted(m)
            | Error::Unimplemented(m)
            | Error::Unavailable(m)
            | Error::InvalidToken(m)
            | Error::Internal(m) => f.write_str(m),
            Error::Queue(q) => write!(f, "{q}"),
            Error::Ceph(c) => write!(f, "{c}"),
            Error::Node(e) => write!(f, "{e}"),
            Error::Volume(e) => write!(f, "{e}"),
            Error::Sys { op, path, errno } => {
                let desc = nix::errno::Errno::from_raw(*errno).desc();
                write!(f, "{op} {path}: {desc} (errno {errno})")
            }
        }
    }
}

impl std::error::Error for Error {}

/// The gRPC code of a failed syscall, by its errno: no room is RESOURCE_EXHAUSTED (a
/// CO retries it, and CreateVolume's spec says so for capacity); a device or mount that
/// went away under the call is UNAVAILABLE (retryable); the rest is the driver's or
/// the system's fault, INTERNAL. What a call found by design (a path that is not the
/// volume's, a device gone) is a `NodeError`, decided by `node_code`.
fn sys_code(errno: i32) -> RpcStatusCode {
    match errno {
        libc::ENOSPC | libc::EDQUOT => RpcStatusCode::RESOURCE_EXHAUSTED,
        libc::ENOTCONN | libc::ESHUTDOWN | libc::ETIMEDOUT | libc::ENXIO | libc::ENODEV => RpcStatusCode::UNAVAILABLE,
        _ => RpcStatusCode::INTERNAL,
    }
}

/// The gRPC code of what a node call found (the CSI spec's NodeStage, NodePublish,
/// NodeUnpublish, NodeUnstage, NodeExpandVolume and NodeGetVolumeStats errors).
fn node_code(e: &NodeError) -> RpcStatusCode {
    use NodeError::*;
    match e {
        NotOnNode { .. } | NoSuchPath { .. } | NotAt { .. } => RpcStatusCode::NOT_FOUND,
        NotStaged { .. }
        | DeviceGone { .. }
        | StagingNotMounted { .. }
        | NotMountedAt { .. }
        | NotTheVolume { .. }
        | StagedElsewhere { .. }
        | StillPublished { .. }
        | ForeignFilesystem { .. }
        | ForeignContent { .. }
        | BlankReadOnly { .. }
        | MountedReadOnly { .. }
        | CannotGrow { .. } => RpcStatusCode::FAILED_PRECONDITION,
        // The spec: a volume staged or published at the path already, incompatibly.
        StagedOtherwise { .. } | StagedAsOtherFs { .. } | PublishedOtherwise { .. } => RpcStatusCode::ALREADY_EXISTS,
        AccessMismatch { .. } => RpcStatusCode::INVALID_ARGUMENT,
        DeviceTooSmall { .. } => RpcStatusCode::OUT_OF_RANGE,
        NotABlockDevice { .. } | StillMounted { .. } | MkfsFailed { .. } => RpcStatusCode::INTERNAL,
    }
}

impl From<VolumeError> for Error {
    fn from(e: VolumeError) -> Self {
        Error::Volume(e)
    }
}

impl From<NodeError> for Error {
    fn from(e: NodeError) -> Self {
        Error::Node(e)
    }
}

impl From<QueueError> for Error {
    fn from(e: QueueError) -> Self {
        Error::Queue(e)
    }
}

/// `s` quoted for an error message, cut to about `max` characters: requests can carry
/// kilobytes in one field, and an echo of them would not fit a gRPC status.
pub fn quote(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((cut, _)) => format!("{:?}…", &s[..cut]),
        None => format!("{s:?}"),
    }
}

/// The status sent to the client for `err`: its code and its message.
pub fn status(err: &Error) -> RpcStatus {
    RpcStatus::with_message(err.code(), err.to_string())
}

/// Upper-case gRPC code name as the CSI spec and grpc tools print it ("NOT_FOUND").
pub fn code_name(code: RpcStatusCode) -> String {
    // grpcio's Debug form is "<number>-<NAME>".
    let dbg = format!("{code:?}");
    match dbg.split_once('-') {
        Some((_, name)) => name.to_string(),
        None => dbg,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_errors_map_to_retryable_codes() {
        assert_eq!(Error::from(QueueError::Full { limit: 3 }).code(), RpcStatusCode::RESOURCE_EXHAUSTED);
        assert_eq!(Error::from(QueueError::ShuttingDown).code(), RpcStatusCode::UNAVAILABLE);
        assert_eq!(Error::from(QueueError::DeadlinePassed).code(), RpcStatusCode::DEADLINE_EXCEEDED);
        assert_eq!(Error::from(QueueError::Panicked("x".into())).code(), RpcStatusCode::INTERNAL);
    }

    #[test]
    fn sys_error_message_names_op_path_and_errno() {
        let e = Error::sys("mount", "/a/b", nix::errno::Errno::ENOENT);
        assert_eq!(e.code(), RpcStatusCode::INTERNAL);
        assert_eq!(e.to_string(), "mount /a/b: No such file or directory (errno 2)");
    }

    #[test]
    fn sys_errors_are_told_by_errno() {
        let code = |errno| Error::Sys { op: "write".into(), path: "/v.img".into(), errno }.code();
        assert_eq!(code(libc::ENOSPC), RpcStatusCode::RESOURCE_EXHAUSTED);
        assert_eq!(code(libc::EDQUOT), RpcStatusCode::RESOURCE_EXHAUSTED);
        assert_eq!(code(libc::ENOTCONN), RpcStatusCode::UNAVAILABLE);
        assert_eq!(code(libc::ENXIO), RpcStatusCode::UNAVAILABLE);
        assert_eq!(code(libc::EINVAL), RpcStatusCode::INTERNAL);
        assert_eq!(code(libc::EIO), RpcStatusCode::INTERNAL);
    }

    #[test]
    fn ceph_failures_are_told_by_cause() {
        let cases = [
            (libc::EACCES, RpcStatusCode::FAILED_PRECONDITION),
            (libc::EPERM, RpcStatusCode::FAILED_PRECONDITION),
            (libc::ENOENT, RpcStatusCode::NOT_FOUND),
            (libc::EEXIST, RpcStatusCode::ALREADY_EXISTS),
            (libc::EBUSY, RpcStatusCode::FAILED_PRECONDITION),
            (libc::ENOTEMPTY, RpcStatusCode::FAILED_PRECONDITION),
            (libc::EROFS, RpcStatusCode::FAILED_PRECONDITION),
            (libc::ETIMEDOUT, RpcStatusCode::UNAVAILABLE),
            (libc::ESHUTDOWN, RpcStatusCode::UNAVAILABLE),
            (libc::ENOSPC, RpcStatusCode::RESOURCE_EXHAUSTED),
            (libc::EDQUOT, RpcStatusCode::RESOURCE_EXHAUSTED),
            (libc::EINVAL, RpcStatusCode::INTERNAL),
        ];
        for (errno, code) in cases {
            let e = Error::ceph("rbd info p/i", CephCause::of_errno(errno), "x");
            assert_eq!(e.code(), code, "errno {errno}");
        }
        let denied = Error::ceph("rbd info p/i", CephCause::Denied, "Operation not permitted (errno 1)");
        assert_eq!(
            denied.to_string(),
            "rbd info p/i: Operation not permitted (errno 1): permission denied (check the user's caps)"
        );
        assert_eq!(denied.ceph_cause(), Some(CephCause::Denied));
        assert_eq!(Error::internal("x").ceph_cause(), None);
    }

    #[test]
    fn node_causes_get_the_csi_specs_codes() {
        let v = || "v1".to_string();
        let p = || std::path::PathBuf::from("/p");
        let cases = [
            (NodeError::NotStaged { volume: v() }, RpcStatusCode::FAILED_PRECONDITION),
            (NodeError::NotOnNode { volume: v() }, RpcStatusCode::NOT_FOUND),
            (NodeError::NotAt { volume: v(), path: p(), why: "x".into() }, RpcStatusCode::NOT_FOUND),
            (NodeError::StagedOtherwise { point: p(), source: "/dev/sdz".into() }, RpcStatusCode::ALREADY_EXISTS),
            (NodeError::AccessMismatch { volume: v(), staged_block: true }, RpcStatusCode::INVALID_ARGUMENT),
            (NodeError::DeviceTooSmall { volume: v(), device: p(), size: 1, required: 2 }, RpcStatusCode::OUT_OF_RANGE),
            (NodeError::StillPublished { volume: v(), at: "/t".into() }, RpcStatusCode::FAILED_PRECONDITION),
            (NodeError::StillMounted { path: p(), times: 8 }, RpcStatusCode::INTERNAL),
        ];
        for (e, code) in cases {
            assert_eq!(Error::from(e.clone()).code(), code, "{e:?}");
        }
        let e = Error::from(NodeError::AccessMismatch { volume: v(), staged_block: false });
        assert_eq!(e.to_string(), "volume v1 was staged for mount access, not block");
    }

    #[test]
    fn volume_causes_get_the_csi_specs_codes() {
        let v = || "v1".to_string();
        let cases = [
            (Error::no_such(Kind::Snapshot, "s1"), RpcStatusCode::NOT_FOUND),
            (VolumeError::NoSuchSource { id: v() }.into(), RpcStatusCode::NOT_FOUND),
            (
                VolumeError::OtherBackend { kind: Kind::Volume, id: v(), backend: "local" }.into(),
                RpcStatusCode::NOT_FOUND,
            ),
            (
                VolumeError::NameTaken { kind: Kind::Volume, name: v(), differs: "x".into() }.into(),
                RpcStatusCode::ALREADY_EXISTS,
            ),
            (VolumeError::ClaimedBy { volume: v(), node: "a".into() }.into(), RpcStatusCode::FAILED_PRECONDITION),
            (VolumeError::ClaimContended { volume: v() }.into(), RpcStatusCode::UNAVAILABLE),
            (VolumeError::InUse { what: v(), by: "x".into() }.into(), RpcStatusCode::FAILED_PRECONDITION),
            (VolumeError::Vanished { what: v() }.into(), RpcStatusCode::INTERNAL),
        ];
        for (e, code) in cases {
            assert_eq!(e.code(), code, "{e:?}");
        }
        assert_eq!(Error::no_such(Kind::Snapshot, "s1").to_string(), "snapshot s1 does not exist");
    }

    #[test]
    fn quotes_are_cut() {
        assert_eq!(quote("abc", 5), "\"abc\"");
        assert_eq!(quote(&"é".repeat(10), 3), "\"ééé\"…");
    }

    #[test]
    fn code_names_are_spec_spelling() {
        assert_eq!(code_name(RpcStatusCode::RESOURCE_EXHAUSTED), "RESOURCE_EXHAUSTED");
        assert_eq!(code_name(RpcStatusCode::UNIMPLEMENTED), "UNIMPLEMENTED");
    }
}
