//! The Ceph operations the rbd controller needs, behind one trait with two
//! implementations: `via_lib` (librados/librbd loaded at run time, connections kept
//! per cluster and user: a few ms per operation) and `via_cli` (`rados`/`rbd` execs,
//! ~50 ms each, for builds that cannot load libraries, such as the static one).
//!
//! Every method states what "already done" and "not there" mean, so the controller's
//! retries are idempotent the same way through either implementation.

use super::{ClusterConfig, Credentials};
use crate::error::Error;

/// A pool and rados namespace of a cluster, reached as one user.
#[derive(Clone, Copy)]
pub struct Target<'a> {
    pub cluster: &'a ClusterConfig,
    pub creds: &'a Credentials,
    pub pool: &'a str,
    pub namespace: &'a str,
}

impl Target<'_> {
    /// `pool/image` or `pool/namespace/image`, as rbd and messages spell it.
    pub fn spec(&self, image: &str) -> String {
        if self.namespace.is_empty() {
            format!("{}/{image}", self.pool)
        } else {
            format!("{}/{}/{image}", self.pool, self.namespace)
        }
    }
}

/// An image by name, or by id (the only way to reach one in the trash).
#[derive(Clone, Copy, Debug)]
pub enum ImageRef<'a> {
    Name(&'a str),
    Id(&'a str),
}

/// What `image_remove` found.
#[derive(Debug, PartialEq, Eq)]
pub enum Removal {
    Removed,
    Missing,
    /// Mapped or open somewhere (it has watchers).
    InUse,
    /// It has snapshots; nothing was changed.
    HasSnapshots,
}

/// An image in the trash: the name it had, and whether a removal (`rbd rm`, which
/// passes through the trash) put it there rather than a trash move.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrashEntry {
    pub name: String,
    pub by_removal: bool,
}

/// librbd's RBD_TRASH_IMAGE_SOURCE_REMOVING: an entry `rbd rm` made on its way.
pub const TRASH_SOURCE_REMOVING: i64 = 3;

impl TrashEntry {
    /// From cls_rbd's encoding of a trash entry (the value of `id_<image id>` in the
    /// pool's `rbd_trash` object, cls::rbd::TrashImageSpec): a version header (version,
    /// compat, u32 length), the source (u8), the name (u32 length, bytes), then times
    /// and state. None when it does not read as one.
    pub fn decode(bytes: &[u8]) -> Option<TrashEntry> {
        let u32_at = |at: usize| Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?) as usize);
        let source = *bytes.get(6)?;
        let len = u32_at(7)?;
        let name = std::str::from_utf8(bytes.get(11..11 + len)?).ok()?.to_string();
        Some(TrashEntry { name, by_removal: i64::from(source) == TRASH_SOURCE_REMOVING })
    }
}

/// A holder of a cls lock on an object (`rados lock info`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Locker {
    /// The Ceph client that took it (`client.<global id>`): needed to break it.
    pub client: String,
    /// The lock's cookie: whom the client took it for.
    pub cookie: String,
    /// That client's address, without the messenger type ("127.0.0.1:0/3162996"),
    /// as the blocklist takes it.
    pub addr: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapInfo {
    pub name: String,
    pub size: u64,
    pub created_secs: i64,
}

/// rbd feature names → bits (librbd's features.h).
pub const FEATURE_BITS: &[(&str, u64)] = &[
    ("layering", 1),
    ("exclusive-lock", 1 << 2),
    ("object-map", 1 << 3),
    ("fast-diff", 1 << 4),
    ("deep-flatten", 1 << 5),
    ("journaling", 1 << 6),
];

/// A comma-separated feature list as bits; None when a name is unknown.
pub fn feature_bits(features: &str) -> Option<u64> {
    features
        .split(',')
        .map(str::trim)
        .try_fold(0, |acc, f| FEATURE_BITS.iter().find(|(n, _)| *n == f).map(|(_, bit)| acc | bit))
}

/// Finishes a trash move that a crash cut short (librbd adds the trash entry in state
/// MOVING, removes the image's name, then marks the entry NORMAL; until then nothing
/// removes it): librbd finishes it when the same request is made again by the image's
/// name, a `trash mv` for an entry a trash move made, an `rbd rm` (which then removes
/// the image) for one a removal made. A missing entry is fine.
pub fn finish_trash_move(ceph: &dyn Rados, t: &Target, image_id: &str) -> Result<(), Error> {
    match ceph.trash_entry(t, image_id)? {
        None => Ok(()),
        Some(e) if e.by_removal => ceph.image_remove(t, &e.name).map(drop),
        Some(e) => ceph.trash_move(t, &e.name),
    }
}

pub trait Rados: Send + Sync {
    /// "librados" or "cli", for logs.
    fn kind(&self) -> &'static str;

    fn pool_id(&self, cluster: &ClusterConfig, creds: &Credentials, pool: &str) -> Result<Option<u64>, Error>;
    fn pool_name(&self, cluster: &ClusterConfig, creds: &Credentials, id: u64) -> Result<Option<String>, Error>;
    /// Every pool's name, for listings across pools.
    fn pools(&self, cluster: &ClusterConfig, creds: &Credentials) -> Result<Vec<String>, Error>;

    /// The values of `keys` (None for a missing key); all None when the object is missing.
    fn omap_get(&self, t: &Target, object: &str, keys: &[&str]) -> Result<Vec<Option<String>>, Error>;
    /// Every key and value of an object; empty when it is missing.
    fn omap_list(&self, t: &Target, object: &str) -> Result<Vec<(String, String)>, Error>;
    /// Sets the pairs in one step, creating the object if needed.
    fn omap_set(&self, t: &Target, object: &str, pairs: &[(&str, &str)]) -> Result<(), Error>;
    /// Removes keys; a missing object or key is fine.
    fn omap_remove(&self, t: &Target, object: &str, keys: &[&str]) -> Result<(), Error>;
    /// Removes an object; a missing one is fine.
    fn remove_object(&self, t: &Target, object: &str) -> Result<(), Error>;
    fn object_exists(&self, t: &Target, object: &str) -> Result<bool, Error>;

    /// Takes the exclusive cls lock `lock` on `object` for `cookie`, never to expire.
    /// The OSD decides atomically: of concurrent takers exactly one wins. true when
    /// taken, or already held by this very client for this cookie; false when held by
    /// another (also: for this cookie, through another client). A missing object is
    /// created: check that it exists first.
    fn lock_exclusive(&self, t: &Target, object: &str, lock: &str, cookie: &str) -> Result<bool, Error>;
    /// The holders of `lock` on `object`; none when either is missing.
    fn lockers(&self, t: &Target, object: &str, lock: &str) -> Result<Vec<Locker>, Error>;
    /// Breaks `locker`'s hold on `lock` (only that client's, for that cookie: a lock
    /// taken again since is left alone); one already gone is fine.
    fn break_lock(&self, t: &Target, object: &str, lock: &str, locker: &Locker) -> Result<(), Error>;

    /// The addresses of the clients watching image `image_id`'s header: each kernel
    /// mapping, and each client with the image open for writing, in Locker::addr's
    /// form. This look adds none. Empty when the image is missing.
    fn watchers(&self, t: &Target, image_id: &str) -> Result<Vec<String>, Error>;
    /// Turns on image `image_id`'s exclusive-lock feature (krbd then takes the lock
    /// `rbd_lock` when it maps it read-write, recording its address there). true when
    /// turned on now, false when it was on; NOT_FOUND when the image is missing.
    fn enable_exclusive_lock(&self, t: &Target, image_id: &str) -> Result<bool, Error>;
    /// Blocklists a client address for `secs` seconds (`ceph osd blocklist add`): the
    /// OSDs refuse its I/O and drop its watches. An address listed already is fine.
    fn blocklist_add(&self, cluster: &ClusterConfig, creds: &Credentials, addr: &str, secs: u32) -> Result<(), Error>;
    /// Takes an address off the blocklist; one not listed is fine.
    fn blocklist_remove(&self, cluster: &ClusterConfig, creds: &Credentials, addr: &str) -> Result<(), Error>;

    /// Creates an image; one that already exists is fine (the caller checks its size).
    fn image_create(
        &self,
        t: &Target,
        image: &str,
        bytes: u64,
        features: &str,
        data_pool: Option<&str>,
        striping: Striping,
    ) -> Result<(), Error>;
    /// (size, image id), or None when there is no such image.
    fn image_info(&self, t: &Target, image: &str) -> Result<Option<(u64, String)>, Error>;
    /// Removes an image by name. `Removed` may leave its data being removed in the
    /// background (librados: trash + mgr task); nothing is changed when it is in use or
    /// has snapshots.
    fn image_remove(&self, t: &Target, image: &str) -> Result<Removal, Error>;
    /// Moves an image to the trash; a missing one is fine.
    fn trash_move(&self, t: &Target, image: &str) -> Result<(), Error>;
    /// Removes a trashed image by id; a missing one is fine, and so is one that still
    /// has snapshots (they keep it: it is left to the mgr, as by `trash_remove_later`,
    /// and without a mgr to the delete of its last dependent). One still open somewhere (busy: a client killed a
    /// moment ago keeps its watch for ~30 s) is handed to the mgr; FAILED_PRECONDITION
    /// when no mgr takes it. A trash move cut short by a crash (librbd refuses its entry,
    /// still in state MOVING, with EUCLEAN) is finished first: see `finish_trash_move`.
    fn trash_remove(&self, t: &Target, image_id: &str) -> Result<(), Error>;
    /// The trash entry of image `image_id`, also one a removal made; None when it is
    /// not in the trash.
    fn trash_entry(&self, t: &Target, image_id: &str) -> Result<Option<TrashEntry>, Error>;
    /// Asks the mgr to remove a trashed image as soon as it can (`rbd task add trash
    /// remove`, as ceph-csi does): the mgr retries, at growing intervals, while
    /// snapshots or clones keep the image. UNAVAILABLE when no mgr takes the task.
    fn trash_remove_later(&self, t: &Target, image_id: &str) -> Result<(), Error>;
    /// Grows an image to `bytes`: the same size is fine, smaller is OUT_OF_RANGE.
    fn resize(&self, t: &Target, image: &str, bytes: u64) -> Result<(), Error>;
    /// Flattens a clone; an image without a parent is fine.
    fn flatten(&self, t: &Target, image: &str) -> Result<(), Error>;
    /// Sets image metadata (`rbd image-meta set`); a missing image is NOT_FOUND.
    fn metadata_set(&self, t: &Target, image: &str, pairs: &[(&str, &str)]) -> Result<(), Error>;

    /// Creates a snapshot; an existing one is fine; a missing image is NOT_FOUND.
    fn snap_create(&self, t: &Target, image: &str, snap: &str) -> Result<(), Error>;
    /// The image's snapshots in every namespace (user and trash), or None without the image.
    fn snap_list(&self, t: &Target, image: ImageRef) -> Result<Option<Vec<SnapInfo>>, Error>;
    /// Removes a snapshot (one with clone-v2 children goes to the snapshot trash); a
    /// missing snapshot is fine. false when the image itself is missing.
    fn snap_remove(&self, t: &Target, image: ImageRef, snap: &str) -> Result<bool, Error>;
    /// A clone-v2 child of `image@snap` in `child`; an existing child is fine; a missing
    /// parent is NOT_FOUND.
    fn clone_image(
        &self,
        parent: &Target,
        image: &str,
        snap: &str,
        child: &Target,
        child_image: &str,
        layout: CloneLayout,
    ) -> Result<(), Error>;
}

/// An image's object size and striping (ceph-csi's `objectSize`, `stripeUnit`,
/// `stripeCount`); `None`: Ceph's defaults (4 MiB objects, no striping).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Striping {
    pub object_size: Option<u64>,
    pub stripe_unit: Option<u64>,
    pub stripe_count: Option<u64>,
}

/// What a clone is made with: its features and object layout.
#[derive(Debug, Clone, Copy)]
pub struct CloneLayout<'a> {
    pub features: &'a str,
    /// Where the clone's data goes (ceph-csi's dataPool), as for a new image.
    pub data_pool: Option<&'a str>,
    pub striping: Striping,
}

impl Striping {
    /// The `rbd create` / `rbd clone` arguments that set it.
    pub fn cli_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        for (flag, v) in [
            ("--object-size", self.object_size),
            ("--stripe-unit", self.stripe_unit),
            ("--stripe-count", self.stripe_count),
        ] {
            if let Some(v) = v {
                args.extend([flag.to_string(), v.to_string()]);
            }
        }
        args
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trash_entries_decode_as_cls_rbd_encodes_them() {
        // `rados getomapval rbd_trash id_<id>` of an `rbd rm` cut short (Pacific).
        let removal = [
            0x02, 0x01, 0x19, 0x00, 0x00, 0x00, 0x03, 0x03, 0x00, 0x00, 0x00, b'x', b'1', b'0', 0x96, 0xc5, 0x11, 0x6b,
            0, 0, 0, 0, 0x96, 0xc5, 0x11, 0x6b, 0, 0, 0, 0, 0x01,
        ];
        assert_eq!(TrashEntry::decode(&removal), Some(TrashEntry { name: "x10".into(), by_removal: true }));
        let mut moved = removal;
        moved[6] = 0; // RBD_TRASH_IMAGE_SOURCE_USER
        assert_eq!(TrashEntry::decode(&moved), Some(TrashEntry { name: "x10".into(), by_removal: false }));
        assert_eq!(TrashEntry::decode(&removal[..12]), None, "a name longer than the bytes");
        assert_eq!(TrashEntry::decode(&[]), None);
    }

    #[test]
    fn features_as_bits() {
        assert_eq!(feature_bits("layering"), Some(1));
        assert_eq!(feature_bits("layering, exclusive-lock,object-map"), Some(1 | 4 | 8));
        assert_eq!(feature_bits("layering,warp-drive"), None);
    }
}
