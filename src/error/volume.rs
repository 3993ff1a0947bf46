//! Why a controller call refused, by what it found of the volumes and snapshots (both
//! backends): an id that names nothing, a request name taken by something else, a
//! claim held by another node, a volume still in use. Which gRPC code a CO is told is
//! for error/mod.rs to decide.

use std::fmt;

/// What a name or id is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Volume,
    Snapshot,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Volume => "volume",
            Kind::Snapshot => "snapshot",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VolumeError {
    /// No volume or snapshot has this id.
    NoSuch { kind: Kind, id: String },
    /// The id is not of the backend this plugin serves (`backend`): a ceph-csi id sent
    /// to a plugin started without `--backend rbd`, most likely.
    OtherBackend { kind: Kind, id: String, backend: &'static str },
    /// The volume a clone or snapshot is to be made from does not exist.
    NoSuchSource { id: String },
    /// The request name names a volume or snapshot other than the one asked for
    /// (`differs`: how, "as <id> with <n> bytes…").
    NameTaken { kind: Kind, name: String, differs: String },
    /// The volume is published to another node, and its access mode allows one.
    ClaimedBy { volume: String, node: String },
    /// The volume's claim changed hands under this call over and over.
    ClaimContended { volume: String },
    /// The volume's storage is in use (`what`: the volume or image, `by`: how).
    InUse { what: String, by: String },
    /// An image gone right after this call made it.
    Vanished { what: String },
}

impl fmt::Display for VolumeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VolumeError::NoSuch { kind, id } => write!(f, "{} {id} does not exist", kind.as_str()),
            VolumeError::OtherBackend { kind, id, backend } => write!(
                f,
                "{} {id} does not exist: it is no {backend} {} id, and this plugin serves --backend {backend} \
                 (a Ceph RBD volume needs a plugin started with --backend rbd)",
                kind.as_str(),
                kind.as_str()
            ),
            VolumeError::NoSuchSource { id } => write!(f, "source volume {id} does not exist"),
            VolumeError::NameTaken { kind, name, differs } => write!(f, "{} {name:?} exists {differs}", kind.as_str()),
            VolumeError::ClaimedBy { volume, node } => write!(
                f,
                "volume {volume} is published to node {node:?}, and its access mode allows one node: unpublish it \
                 there first (ControllerUnpublishVolume), or, if that node is lost, fence it (rbd-csi fence \
                 --volume-id {volume} --node-id {node})"
            ),
            VolumeError::ClaimContended { volume } => {
                write!(f, "volume {volume}: its claim changed hands three times meanwhile; retry")
            }
            VolumeError::InUse { what, by } => write!(f, "{what} is {by}; unstage it first"),
            VolumeError::Vanished { what } => write!(f, "{what} vanished right after it was made"),
        }
    }
}
