//! The `Rados` calls of the in-memory Ceph (fake/mod.rs holds its state and the tests'
//! controls): each follows the "already done" and "not there" cases its doc comment in
//! ceph/rados.rs states, and changes the state in one step under its lock.

use super::{trashed_name, FakeRados, Parent, Snap};
use crate::ceph::rados::{
    feature_bits, CloneLayout, ImageRef, Locker, Rados, Removal, SnapInfo, Striping, Target, TrashEntry,
};
use crate::ceph::{ClusterConfig, Credentials};
use crate::error::{CephCause, Error};

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
            if space.half_made.remove(image) {
                return Removal::Removed;
            }
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
                        return Err(Error::ceph(format!("trashed image {image_id}"), CephCause::Busy, "busy"));
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
            let gone = || Error::ceph_missing(format!("clone source {}@{snap}", parent.spec(image)));
            let p = s.space(parent_key).images.get(image).ok_or_else(gone)?;
            let x = p.snaps.iter().find(|x| !x.trashed && x.info.name == snap).ok_or_else(gone)?;
            let (size, link) =
                (x.info.size, Parent { space: parent_key.clone(), image_id: p.id.clone(), snap_id: x.id });
            let child_key = (child.pool.to_string(), child.namespace.to_string());
            let taken = s.space(&child_key).half_made.contains(child_image);
            // (librbd's EEXIST, which the callers take as done.)
            if !taken && !s.space(&child_key).images.contains_key(child_image) {
                s.new_image(&child_key, child_image, size, layout.features, Some(link));
            }
            Ok(())
        })?
    }
}
