//! An in-memory Ceph behind the `Rados` trait, for unit tests of the rbd controller.
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

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::ceph::rados::{
    feature_bits, CloneLayout, ImageRef, Locker, Rados, Removal, SnapInfo, Striping, Target, TrashEntry,
};
use crate::ceph::{ClusterConfig, Credentials};
use crate::error::Error;

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
    Error::Unavailable("injected".into())
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
            return Err(Error::NotFound(format!("pool {:?} does not exist", t.pool)));
        }
        Ok(f(&mut state, &(t.pool.to_string(), t.namespace.to_string())))
    }

    fn missing(t: &Target, image: &str) -> Error {
        Error::NotFound(format!("image {} does not exist", t.spec(image)))
    }
}

impl Rados for FakeRados {
    fn kind(&self) -> &'static str {
        "fake"
    }

    fn pool_id(&self, _: &ClusterConfig, _: &Credentials, pool: &str) -> Result<Option<u64>, Error> {
        self.enter(false)?;
        Ok(self.state.lock().pools.iter().find(|(n, _)| n == pool).map(|(_, id)| *id))
    }

    fn pool_name(&self, _: &ClusterConfig, _: &Credentials, id: u64) -> Result<Option<String>, Error> {
        self.enter(false)?;
        Ok(self.state.lock().pools.iter().find(|(_, i)| *i == id).map(|(n, _)| n.clone()))
    }

    fn pools(&self, _: &ClusterConfig, _: &Credentials) -> Result<Vec<String>, Error> {
        self.enter(false)?;
        Ok(self.state.lock().pools.iter().map(|(n, _)| n.clone()).collect())
    }

    fn omap_get(&self, t: &Target, object: &str, keys: &[&str]) -> Result<Vec<Option<String>>, Error> {
        self.with(t, false, |s, key| {
            let omap = s.space(key).objects.get(object);
            keys.iter().map(|k| omap.and_then(|o| o.get(*k)).cloned()).collect()
        })
    }

    fn omap_list(&self, t: &Target, object: &str) -> Result<Vec<(String, String)>, Error> {
        self.with(t, false, |s, key| {
            let omap = s.space(key).objects.get(object);
            omap.map(|o| o.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default()
        })
    }

    fn omap_set(&self, t: &Target, object: &str, pairs: &[(&str, &str)]) -> Result<(), Error> {
        self.with(t, true, |s, key| {
            let omap = s.space(key).objects.entry(object.to_string()).or_default();
            omap.extend(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        })
    }

    fn omap_remove(&self, t: &Target, object: &str, keys: &[&str]) -> Result<(), Error> {
        self.with(t, true, |s, key| {
            if let Some(omap) = s.space(key).objects.get_mut(object) {
                omap.retain(|k, _| !keys.contains(&k.as_str()));
            }
        })
    }

    fn remove_object(&self, t: &Target, object: &str) -> Result<(), Error> {
        self.with(t, true, |s, key| {
            let space = s.space(key);
            space.objects.remove(object);
            space.locks.remove(object);
        })
    }

    fn object_exists(&self, t: &Target, object: &str) -> Result<bool, Error> {
        self.with(t, false, |s, key| s.space(key).objects.contains_key(object))
    }

    fn lock_exclusive(&self, t: &Target, object: &str, lock: &str, cookie: &str) -> Result<bool, Error> {
        self.with(t, true, |s, key| {
            let space = s.space(key);
            space.objects.entry(object.to_string()).or_default();
            let holders = space.locks.entry(object.to_string()).or_default().entry(lock.to_string()).or_default();
            if holders.is_empty() {
                let addr = format!("10.0.0.1:0/{}", self.client);
                holders.push(Locker { client: self.client.clone(), cookie: cookie.to_string(), addr });
                return true;
            }
            holders.iter().any(|h| h.client == self.client && h.cookie == cookie)
        })
    }

    fn lockers(&self, t: &Target, object: &str, lock: &str) -> Result<Vec<Locker>, Error> {
        self.with(t, false, |s, key| {
            s.space(key).locks.get(object).and_then(|l| l.get(lock)).cloned().unwrap_or_default()
        })
    }

    fn break_lock(&self, t: &Target, object: &str, lock: &str, locker: &Locker) -> Result<(), Error> {
        self.with(t, true, |s, key| {
            if let Some(holders) = s.space(key).locks.get_mut(object).and_then(|l| l.get_mut(lock)) {
                holders.retain(|h| !(h.client == locker.client && h.cookie == locker.cookie));
            }
        })
    }

    fn watchers(&self, t: &Target, image_id: &str) -> Result<Vec<String>, Error> {
        self.with(t, false, |s, key| {
            s.image(key, ImageRef::Id(image_id)).map(|i| i.watchers.clone()).unwrap_or_default()
        })
    }

    fn enable_exclusive_lock(&self, t: &Target, image_id: &str) -> Result<bool, Error> {
        self.with(t, true, |s, key| {
            let img = s.image(key, ImageRef::Id(image_id)).ok_or_else(|| Self::missing(t, image_id))?;
            if img.features.split(',').any(|f| f == "exclusive-lock") {
                return Ok(false);
            }
            img.features.push_str(",exclusive-lock");
            Ok(true)
        })?
    }

    fn blocklist_add(&self, _: &ClusterConfig, _: &Credentials, addr: &str, _secs: u32) -> Result<(), Error> {
        self.enter(true)?;
        let mut state = self.state.lock();
        state.blocklist.insert(addr.to_string());
        for space in state.spaces.values_mut() {
            for img in space.images.values_mut().chain(space.trash.values_mut().map(|(i, _)| i)) {
                img.watchers.retain(|w| w != addr);
            }
        }
        Ok(())
    }

    fn blocklist_remove(&self, _: &ClusterConfig, _: &Credentials, addr: &str) -> Result<(), Error> {
        self.enter(true)?;
        self.state.lock().blocklist.remove(addr);
        Ok(())
    }

    fn image_create(
        &self,
        t: &Target,
        image: &str,
        bytes: u64,
        features: &str,
        _data_pool: Option<&str>,
        _striping: Striping,
    ) -> Result<(), Error> {
        self.with(t, true, |s, key| {
            if feature_bits(features).is_none() {
                return Err(Error::invalid(format!("unknown image features {features:?}")));
            }
            if !s.space(key).images.contains_key(image) {
                s.new_image(key, image, bytes, features, None);
            }
            Ok(())
        })?
    }

    fn image_info(&self, t: &Target, image: &str) -> Result<Option<(u64, String)>, Error> {
        self.with(t, false, |s, key| s.space(key).images.get(image).map(|i| (i.size, i.id.clone())))
    }

    fn image_remove(&self, t: &Target, image: &str) -> Result<Removal, Error> {
        self.with(t, true, |s, key| {
            let space = s.space(key);
            match space.images.get(image) {
                None => Removal::Missing,
                Some(i) if !i.watchers.is_empty() => Removal::InUse,
                Some(i) if !i.snaps.is_empty() => Removal::HasSnapshots,
                Some(_) => {
                    let removed = space.images.remove(image).expect("just seen");
                    s.drop_image(key, removed);
                    Removal::Removed
                }
            }
        })
    }

    fn trash_move(&self, t: &Target, image: &str) -> Result<(), Error> {
        self.with(t, true, |s, key| {
            let space = s.space(key);
            if let Some(moved) = space.images.remove(image) {
                let entry = TrashEntry { name: image.to_string(), by_removal: false };
                space.trash.insert(moved.id.clone(), (moved, entry));
            }
        })
    }

    fn trash_remove(&self, t: &Target, image_id: &str) -> Result<(), Error> {
        self.with(t, true, |s, key| {
            let space = s.space(key);
            match space.trash.get(image_id) {
                // Missing, or not in the trash (a live image is left alone).
                None => {}
                // Snapshots keep it: left to the mgr, if any.
                Some((i, _)) if !i.snaps.is_empty() => drop(s.add_mgr_task(key, image_id)),
                // Still open somewhere: the mgr removes it later, if there is one.
                Some((i, _)) if !i.watchers.is_empty() => {
                    if !s.add_mgr_task(key, image_id) {
                        return Err(Error::FailedPrecondition(format!("trashed image {image_id} is busy")));
                    }
                }
                Some(_) => {
                    let (removed, _) = space.trash.remove(image_id).expect("just seen");
                    s.drop_image(key, removed);
                }
            }
            Ok(())
        })?
    }

    fn trash_entry(&self, t: &Target, image_id: &str) -> Result<Option<TrashEntry>, Error> {
        self.with(t, false, |s, key| s.space(key).trash.get(image_id).map(|(_, e)| e.clone()))
    }

    fn trash_remove_later(&self, t: &Target, image_id: &str) -> Result<(), Error> {
        self.with(t, true, |s, key| match s.add_mgr_task(key, image_id) {
            true => Ok(()),
            false => Err(Error::Unavailable("no mgr took the task".into())),
        })?
    }

    fn resize(&self, t: &Target, image: &str, bytes: u64) -> Result<(), Error> {
        self.with(t, true, |s, key| {
            let i = s.space(key).images.get_mut(image).ok_or_else(|| Self::missing(t, image))?;
            if bytes < i.size {
                return Err(Error::OutOfRange(format!("{} has {} bytes, more than {bytes}", t.spec(image), i.size)));
            }
            i.size = bytes;
            Ok(())
        })?
    }

    fn flatten(&self, t: &Target, image: &str) -> Result<(), Error> {
        self.with(t, true, |s, key| {
            let i = s.space(key).images.get_mut(image).ok_or_else(|| Self::missing(t, image))?;
            let parent = i.parent.take();
            s.detach(parent);
            Ok(())
        })?
    }

    fn metadata_set(&self, t: &Target, image: &str, pairs: &[(&str, &str)]) -> Result<(), Error> {
        self.with(t, true, |s, key| {
            let i = s.space(key).images.get_mut(image).ok_or_else(|| Self::missing(t, image))?;
            i.metadata.extend(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())));
            Ok(())
        })?
    }

    fn snap_create(&self, t: &Target, image: &str, snap: &str) -> Result<(), Error> {
        self.with(t, true, |s, key| {
            let id = s.next();
            let i = s.space(key).images.get_mut(image).ok_or_else(|| Self::missing(t, image))?;
            if !i.snaps.iter().any(|x| !x.trashed && x.info.name == snap) {
                let info = SnapInfo { name: snap.to_string(), size: i.size, created_secs: 1_700_000_000 + id as i64 };
                i.snaps.push(Snap { id, info, trashed: false });
            }
            Ok(())
        })?
    }

    fn snap_list(&self, t: &Target, image: ImageRef) -> Result<Option<Vec<SnapInfo>>, Error> {
        self.with(t, false, |s, key| s.image(key, image).map(|i| i.snaps.iter().map(|x| x.info.clone()).collect()))
    }

    fn snap_remove(&self, t: &Target, image: ImageRef, snap: &str) -> Result<bool, Error> {
        self.with(t, true, |s, key| {
            let Some(i) = s.image(key, image) else { return false };
            let Some(found) = i.snaps.iter().find(|x| !x.trashed && x.info.name == snap) else { return true };
            let parent = Parent { space: key.clone(), image_id: i.id.clone(), snap_id: found.id };
            let has_children = s.children(&parent) > 0;
            let i = s.image(key, image).expect("just seen");
            if has_children {
                let x = i.snaps.iter_mut().find(|x| x.id == parent.snap_id).expect("just seen");
                (x.trashed, x.info.name) = (true, trashed_name(x.id));
            } else {
                i.snaps.retain(|x| x.id != parent.snap_id);
            }
            true
        })
    }

    fn clone_image(
        &self,
        parent: &Target,
        image: &str,
        snap: &str,
        child: &Target,
        child_image: &str,
        layout: CloneLayout,
    ) -> Result<(), Error> {
        // (The child's pool must exist too.)
        self.with(child, false, |_, _| ())?;
        self.with(parent, true, |s, parent_key| {
            let gone = || Error::NotFound(format!("clone source {}@{snap} does not exist", parent.spec(image)));
            let p = s.space(parent_key).images.get(image).ok_or_else(gone)?;
            let x = p.snaps.iter().find(|x| !x.trashed && x.info.name == snap).ok_or_else(gone)?;
            let (size, link) =
                (x.info.size, Parent { space: parent_key.clone(), image_id: p.id.clone(), snap_id: x.id });
            let child_key = (child.pool.to_string(), child.namespace.to_string());
            if !s.space(&child_key).images.contains_key(child_image) {
                s.new_image(&child_key, child_image, size, layout.features, Some(link));
            }
            Ok(())
        })?
    }
}
