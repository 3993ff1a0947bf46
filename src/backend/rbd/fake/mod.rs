//! An in-memory Ceph behind the `Rados` trait, for unit tests of the rbd controller.
//!
//! This file holds the model's state and what a test does to it (crashes, the mgr,
//! kernel mappings, the blocklist); the `Rados` calls are in calls.rs.
//!
//! What it models, per pool and rados namespace (`Space`): rados objects with their
//! omap (a plain object is one with an empty omap), exclusive cls locks on objects,
//! rbd images (id, size, features, metadata, snapshots, a clone-v2 parent link), and
//! the rbd trash. Each method follows the "already done" and "not there" cases its doc
//! comment in ceph/rados.rs states. Clone v2 as librbd does it: a snapshot with
//! children goes to the trash namespace when removed (renamed, listed by `snap_list`,
//! no longer reachable by its name) and disappears with the flatten or removal of its
//! last child. An image's header object `rbd_header.<id>` exists while the image does
//! (in the trash too) and takes its locks along. Removals by the mgr are queued
//! (`mgr_tasks`) and run only when a test calls `run_mgr`; `set_mgr(false)` models a
//! cluster whose mgr takes no tasks.
//!
//! What it does not model: data (images hold no bytes), object sizes, striping and
//! data pools (accepted and ignored), clusters and users (one cluster; any credentials
//! do), operations cut short inside librbd (every call here is atomic: a trash move
//! never stays MOVING), and watches: an image's watchers are whatever a test sets
//! (`set_watchers`, or `map` for a kernel mapping, which as krbd does also takes
//! `rbd_lock` when it maps an image with exclusive-lock read-write), so that `image_remove`
//! answers `InUse`. The OSD blocklist is a set of addresses; adding one drops its
//! watches (as the OSDs do) and keeps its locks.
//!
//! Crashes: `fail_after(n)` lets n more mutating calls through; the next one fails with
//! UNAVAILABLE and changes nothing, and from then on this client is down (every call
//! fails) until `heal`, as the process the caller models would have died there.
//! `other_client` is a second controller process on the same cluster (another Ceph
//! client id, for cls locks).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::ceph::rados::{ImageRef, Locker, SnapInfo, Target, TrashEntry};
use crate::error::{CephCause, Error};

/// (pool, rados namespace).
pub type SpaceKey = (String, String);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snap {
    /// Unique in the cluster; what a clone's parent link names.
    pub id: u64,
    pub info: SnapInfo,
    /// In clone v2's trash namespace: removed while it had children.
    pub trashed: bool,
}

/// A clone's parent: a snapshot of an image, by ids (as librbd keeps it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parent {
    pub space: SpaceKey,
    pub image_id: String,
    pub snap_id: u64,
}

#[derive(Debug, Clone, Default)]
pub struct Image {
    pub id: String,
    pub size: u64,
    pub features: String,
    pub snaps: Vec<Snap>,
    pub parent: Option<Parent>,
    pub metadata: BTreeMap<String, String>,
    /// Addresses of the clients watching it.
    pub watchers: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Space {
    /// Every object, by name → its omap.
    pub objects: BTreeMap<String, BTreeMap<String, String>>,
    /// object → lock name → holders.
    pub locks: BTreeMap<String, BTreeMap<String, Vec<Locker>>>,
    /// Images by name.
    pub images: BTreeMap<String, Image>,
    /// Trashed images by id.
    pub trash: BTreeMap<String, (Image, TrashEntry)>,
    /// Names a clone killed inside librbd left taken by an image without a header:
    /// nothing opens them, a clone to the name finds it exists, removing frees it.
    pub half_made: BTreeSet<String>,
}

#[derive(Default)]
struct State {
    pools: Vec<(String, u64)>,
    spaces: BTreeMap<SpaceKey, Space>,
    /// Image ids, snapshot ids, client ids.
    counter: u64,
    /// Trashed images the mgr was asked to remove.
    mgr_tasks: Vec<(SpaceKey, String)>,
    /// No mgr takes tasks (`set_mgr`).
    no_mgr: bool,
    /// Blocklisted client addresses.
    blocklist: std::collections::BTreeSet<String>,
}

#[derive(Default)]
struct Injection {
    /// Mutating calls let through so far.
    mutations: u64,
    /// The count at which the next mutating call fails.
    fail_at: Option<u64>,
    /// A failure fired: every call fails until `heal`.
    down: bool,
}

pub struct FakeRados {
    state: Arc<Mutex<State>>,
    /// This client's Ceph name (`client.<n>`), as lockers show it.
    client: String,
    inject: Mutex<Injection>,
}

fn injected() -> Error {
    Error::ceph("an injected failure", CephCause::Unreachable, "injected")
}

/// The name librbd gives a snapshot it moves to the trash namespace (a uuid).
fn trashed_name(snap_id: u64) -> String {
    format!("00000000-0000-4000-8000-{snap_id:012x}")
}

fn header(image_id: &str) -> String {
    format!("rbd_header.{image_id}")
}

impl State {
    fn next(&mut self) -> u64 {
        self.counter += 1;
        self.counter
    }

    fn space(&mut self, key: &SpaceKey) -> &mut Space {
        self.spaces.entry(key.clone()).or_default()
    }

    /// A live image by name, or a live or trashed one by id.
    fn image(&mut self, key: &SpaceKey, image: ImageRef) -> Option<&mut Image> {
        let space = self.space(key);
        match image {
            ImageRef::Name(name) => space.images.get_mut(name),
            ImageRef::Id(id) => match space.images.values_mut().find(|i| i.id == id) {
                Some(live) => Some(live),
                None => space.trash.get_mut(id).map(|(i, _)| i),
            },
        }
    }

    /// How many images (live or trashed, anywhere) are clones of `parent`.
    fn children(&self, parent: &Parent) -> usize {
        let all = self.spaces.values().flat_map(|s| s.images.values().chain(s.trash.values().map(|(i, _)| i)));
        all.filter(|i| i.parent.as_ref() == Some(parent)).count()
    }

    fn new_image(&mut self, key: &SpaceKey, name: &str, size: u64, features: &str, parent: Option<Parent>) {
        let id = format!("{:x}", 0x10ab_0000_0000u64 + self.next());
        let space = self.space(key);
        space.objects.insert(header(&id), BTreeMap::new());
        let image = Image { id, size, features: features.to_string(), parent, ..Image::default() };
        space.images.insert(name.to_string(), image);
    }

    /// Cuts a clone's parent link; its parent's snapshot goes when it was trashed and
    /// this was its last child (clone v2).
    fn detach(&mut self, parent: Option<Parent>) {
        let Some(p) = parent else { return };
        if self.children(&p) > 0 {
            return;
        }
        if let Some(image) = self.image(&p.space, ImageRef::Id(&p.image_id)) {
            image.snaps.retain(|s| !(s.id == p.snap_id && s.trashed));
        }
    }

    /// Whatever is left of a removed image: its header (and locks), its parent link.
    fn drop_image(&mut self, key: &SpaceKey, image: Image) {
        let space = self.space(key);
        space.objects.remove(&header(&image.id));
        space.locks.remove(&header(&image.id));
        self.detach(image.parent);
    }

    /// false when no mgr takes the task.
    fn add_mgr_task(&mut self, key: &SpaceKey, id: &str) -> bool {
        let task = (key.clone(), id.to_string());
        if !self.no_mgr && !self.mgr_tasks.contains(&task) {
            self.mgr_tasks.push(task);
        }
        !self.no_mgr
    }
}

impl FakeRados {
    /// A cluster with these pools (name, id), all empty.
    pub fn new(pools: &[(&str, u64)]) -> Arc<FakeRados> {
        let pools = pools.iter().map(|(n, id)| (n.to_string(), *id)).collect();
        let state = Arc::new(Mutex::new(State { pools, ..State::default() }));
        Self::client_of(state)
    }

    fn client_of(state: Arc<Mutex<State>>) -> Arc<FakeRados> {
        let client = format!("client.{}", 4100 + state.lock().next());
        Arc::new(FakeRados { state, client, inject: Mutex::default() })
    }

    /// Another controller process on the same cluster: the same state, another Ceph
    /// client, its own failure injection.
    pub fn other_client(&self) -> Arc<FakeRados> {
        Self::client_of(Arc::clone(&self.state))
    }

    /// Lets `n` more mutating calls through; the next one fails and this client goes
    /// down (see the module comment).
    pub fn fail_after(&self, n: u64) {
        let mut i = self.inject.lock();
        i.fail_at = Some(i.mutations + n);
    }

    /// Brings this client back up and disarms `fail_after`: true when the failure fired.
    pub fn heal(&self) -> bool {
        let mut i = self.inject.lock();
        let fired = i.down;
        (i.down, i.fail_at) = (false, None);
        fired
    }

    /// The mutating calls let through so far.
    pub fn mutations(&self) -> u64 {
        self.inject.lock().mutations
    }

    /// A copy of one pool's default namespace.
    pub fn space(&self, pool: &str) -> Space {
        self.state.lock().space(&(pool.to_string(), String::new())).clone()
    }

    /// Removes image `name` of `pool` behind the driver's back (an operator's `rbd rm`).
    pub fn lose_image(&self, pool: &str, name: &str) {
        let mut state = self.state.lock();
        state.space(&(pool.to_string(), String::new())).images.remove(name);
    }

    /// Leaves image name `name` of `pool` taken by an image without a header, as a
    /// clone killed inside librbd does.
    pub fn half_make(&self, pool: &str, name: &str) {
        let mut state = self.state.lock();
        state.space(&(pool.to_string(), String::new())).half_made.insert(name.to_string());
    }

    /// The ids of the trashed images the mgr was asked to remove.
    pub fn mgr_tasks(&self) -> Vec<String> {
        self.state.lock().mgr_tasks.iter().map(|(_, id)| id.clone()).collect()
    }

    /// Runs the mgr's queued removals until they get no further: trashed images nothing
    /// keeps are removed (their task done), kept ones stay queued, tasks for images not
    /// in the trash end.
    pub fn run_mgr(&self) {
        let mut state = self.state.lock();
        loop {
            let before = state.mgr_tasks.len();
            for (key, id) in std::mem::take(&mut state.mgr_tasks) {
                let space = state.space(&key);
                match space.trash.get(&id) {
                    None => {}
                    Some((i, _)) if !i.snaps.is_empty() || !i.watchers.is_empty() => state.mgr_tasks.push((key, id)),
                    Some(_) => {
                        let (image, _) = space.trash.remove(&id).expect("just seen");
                        state.drop_image(&key, image);
                    }
                }
            }
            if state.mgr_tasks.len() == before {
                return;
            }
        }
    }

    /// Whether a mgr takes tasks (it does unless told otherwise).
    pub fn set_mgr(&self, up: bool) {
        self.state.lock().no_mgr = !up;
    }

    /// Sets the addresses of the clients watching image `image` of `pool` (live or
    /// trashed, by name or id).
    pub fn set_watchers(&self, pool: &str, image: ImageRef, watchers: &[&str]) {
        let mut state = self.state.lock();
        state.image(&(pool.to_string(), String::new()), image).expect("no such image").watchers =
            watchers.iter().map(|w| w.to_string()).collect();
    }

    /// A kernel mapping of image `image` of `pool` by the client at `addr`: it watches
    /// the header, and a read-write one of an image with exclusive-lock takes
    /// `rbd_lock` as it maps: a live holder hands it over (plain krbd mappings do), a
    /// blocklisted one's is broken.
    pub fn map(&self, pool: &str, image: &str, addr: &str, read_write: bool) {
        let mut state = self.state.lock();
        let key = (pool.to_string(), String::new());
        let img = state.image(&key, ImageRef::Name(image)).expect("no such image");
        img.watchers.push(addr.to_string());
        let (id, locking) = (img.id.clone(), img.features.split(',').any(|f| f == "exclusive-lock"));
        if read_write && locking {
            let locker = Locker { client: format!("client.{addr}"), cookie: "auto 1".into(), addr: addr.into() };
            state.space(&key).locks.entry(header(&id)).or_default().insert("rbd_lock".into(), vec![locker]);
        }
    }

    /// The mapping by `addr` of image `image` of `pool` goes (`rbd unmap`): its watch
    /// and its `rbd_lock`.
    pub fn unmap(&self, pool: &str, image: &str, addr: &str) {
        let mut state = self.state.lock();
        let key = (pool.to_string(), String::new());
        let img = state.image(&key, ImageRef::Name(image)).expect("no such image");
        img.watchers.retain(|w| w != addr);
        let id = img.id.clone();
        if let Some(holders) = state.space(&key).locks.get_mut(&header(&id)).and_then(|l| l.get_mut("rbd_lock")) {
            holders.retain(|h| h.addr != addr);
        }
    }

    /// The blocklisted addresses.
    pub fn blocklisted(&self) -> Vec<String> {
        self.state.lock().blocklist.iter().cloned().collect()
    }

    /// Every call passes here: a down client reaches nothing; a mutating call counts,
    /// or fails (changing nothing) when it is the one `fail_after` chose.
    fn enter(&self, mutating: bool) -> Result<(), Error> {
        let mut i = self.inject.lock();
        if i.down {
            return Err(injected());
        }
        if mutating {
            if i.fail_at == Some(i.mutations) {
                i.down = true;
                return Err(injected());
            }
            i.mutations += 1;
        }
        Ok(())
    }

    /// Runs `f` on the state for target `t`'s pool and namespace (NOT_FOUND: no such pool).
    fn with<T>(&self, t: &Target, mutating: bool, f: impl FnOnce(&mut State, &SpaceKey) -> T) -> Result<T, Error> {
        self.enter(mutating)?;
        let mut state = self.state.lock();
        if !state.pools.iter().any(|(name, _)| name == t.pool) {
            return Err(Error::ceph_missing(format!("pool {:?}", t.pool)));
        }
        Ok(f(&mut state, &(t.pool.to_string(), t.namespace.to_string())))
    }

    fn missing(t: &Target, image: &str) -> Error {
        Error::ceph_missing(format!("image {}", t.spec(image)))
    }
}

mod calls;
