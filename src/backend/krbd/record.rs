//! The node's record of one volume's kernel mapping (`<data-dir>/maps/<volume>.map`),
//! written before the map and removed after the unmap: it names the image (a static
//! volume's id does not), how to unmap it (ceph-csi's `unmapOptions`, which NodeUnstage
//! does not carry), and which mapping of the image is the volume's.
//!
//! That last part matters when one kernel holds several mappings of an image: two node
//! plugins sharing a kernel (the guest tests) each with a claimed mapping of its own.
//! Before the map the record lists the image's mappings that already exist (`others`);
//! after it, the new mapping's device and kernel client (sysfs `client_id`,
//! `client_addr`). A retry finds that mapping, never another of the same image.

use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::kvfile::{self, Record};

use super::sysfs::{find_head, find_mapping, mapped, read_attr, ImageSpec};

/// The record's key for ceph-csi's `unmapOptions: force`.
const FORCE_UNMAP: &str = "unmap_force";
const OTHERS: &str = "others";
const DEVICE: &str = "device";
const CLIENT: &str = "client_id";
const ADDR: &str = "client_addr";

/// One mapping: its device id (/dev/rbdN) and its kernel client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    pub device: u32,
    /// sysfs `client_id`, e.g. "client4118": unique per kernel client instance.
    pub client: String,
    /// sysfs `client_addr`, e.g. "127.0.0.1:0/4141198488": what a fence blocklists.
    pub addr: String,
}

impl Mapping {
    /// The mapping /sys/bus/rbd/devices/<device> is.
    pub fn of(sysfs: &Path, device: u32) -> Mapping {
        let dir = sysfs.join("devices").join(device.to_string());
        Mapping { device, client: read_attr(&dir, "client_id"), addr: read_attr(&dir, "client_addr") }
    }

    pub fn path(&self) -> PathBuf {
        PathBuf::from(format!("/dev/rbd{}", self.device))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapRecord {
    pub spec: ImageSpec,
    pub force_unmap: bool,
    /// The image's mappings (device ids) that existed before this volume's map. None
    /// in a record an older version wrote: then any mapping of the image is the
    /// volume's.
    pub others: Option<Vec<u32>>,
    /// The volume's mapping, once made.
    pub mapping: Option<Mapping>,
}

impl MapRecord {
    /// A record for a map about to be made: every mapping of `spec` now is another's.
    pub fn before_map(sysfs: &Path, spec: ImageSpec, force_unmap: bool) -> MapRecord {
        let others = mapped(sysfs).into_iter().filter(|(_, s, _)| *s == spec).map(|(n, _, _)| n).collect();
        MapRecord { spec, force_unmap, others: Some(others), mapping: None }
    }

    pub fn read(path: &Path) -> Result<Option<MapRecord>, Error> {
        Ok(kvfile::read(path)?.map(|mut r| {
            let mut take = |k: &str| r.remove(k);
            let spec = ImageSpec {
                pool: take("pool").unwrap_or_default(),
                namespace: take("namespace").unwrap_or_default(),
                image: take("image").unwrap_or_default(),
            };
            let force_unmap = take(FORCE_UNMAP).is_some();
            let others = take(OTHERS).map(|o| o.split_whitespace().filter_map(|n| n.parse().ok()).collect());
            let mapping = match (take(DEVICE).and_then(|d| d.parse().ok()), take(CLIENT), take(ADDR)) {
                (Some(device), Some(client), addr) => Some(Mapping { device, client, addr: addr.unwrap_or_default() }),
                _ => None,
            };
            MapRecord { spec, force_unmap, others, mapping }
        }))
    }

    pub fn write(&self, path: &Path) -> Result<(), Error> {
        let mut rec: Record =
            [("pool", &self.spec.pool), ("namespace", &self.spec.namespace), ("image", &self.spec.image)]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect();
        if self.force_unmap {
            rec.insert(FORCE_UNMAP.into(), "true".into());
        }
        if let Some(others) = &self.others {
            rec.insert(OTHERS.into(), others.iter().map(u32::to_string).collect::<Vec<_>>().join(" "));
        }
        if let Some(m) = &self.mapping {
            rec.insert(DEVICE.into(), m.device.to_string());
            rec.insert(CLIENT.into(), m.client.clone());
            rec.insert(ADDR.into(), m.addr.clone());
        }
        kvfile::write(path, &rec)
    }

    /// The volume's mapping, if it is (still) mapped: the recorded device if it is
    /// still the image's through the same kernel client; else, before that was
    /// recorded, the image's mapping that is not among the others.
    pub fn find(&self, sysfs: &Path) -> Option<Mapping> {
        match (&self.mapping, &self.others) {
            (Some(m), _) => {
                let now = Mapping::of(sysfs, m.device);
                let head = find_head(sysfs, |n, s| n == m.device && *s == self.spec).is_some();
                (head && now.client == m.client).then_some(now)
            }
            (None, Some(others)) => {
                let dev = find_head(sysfs, |n, s| *s == self.spec && !others.contains(&n))?;
                Some(Mapping::of(sysfs, device_id(&dev)?))
            }
            (None, None) => Some(Mapping::of(sysfs, device_id(&find_mapping(sysfs, &self.spec)?)?)),
        }
    }
}

/// "/dev/rbd3" → 3.
pub fn device_id(device: &Path) -> Option<u32> {
    device.to_str()?.strip_prefix("/dev/rbd")?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(sysfs: &Path, id: u32, image: &str, client: &str) {
        let dev = sysfs.join("devices").join(id.to_string());
        std::fs::create_dir_all(&dev).unwrap();
        let addr = format!("127.0.0.1:0/{id}");
        for (k, v) in [("pool", "rbd"), ("pool_ns", ""), ("name", image), ("current_snap", "-"), ("client_id", client)]
        {
            std::fs::write(dev.join(k), format!("{v}\n")).unwrap();
        }
        std::fs::write(dev.join("client_addr"), format!("{addr}\n")).unwrap();
    }

    #[test]
    fn a_volume_finds_its_own_mapping_of_an_image_mapped_twice() {
        let d = std::env::temp_dir().join(format!("krbd-record-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        let spec = ImageSpec { pool: "rbd".into(), namespace: String::new(), image: "csi-vol-a".into() };
        // Another plugin's mapping of the image exists before ours.
        device(&d, 0, "csi-vol-a", "client10");
        let mut rec = MapRecord::before_map(&d, spec.clone(), false);
        assert_eq!(rec.others, Some(vec![0]));
        assert_eq!(rec.find(&d), None, "another's mapping is not the volume's");
        // Our map made device 2 (a crash before the record names it: found anyway).
        device(&d, 2, "csi-vol-a", "client12");
        assert_eq!(rec.find(&d).map(|m| m.device), Some(2));
        rec.mapping = rec.find(&d);
        let path = d.join("v.map");
        rec.write(&path).unwrap();
        let back = MapRecord::read(&path).unwrap().unwrap();
        assert_eq!(back, rec);
        assert_eq!(back.mapping.as_ref().map(|m| m.addr.as_str()), Some("127.0.0.1:0/2"));
        // Device 2 unmapped and the id reused by another kernel client: not ours.
        device(&d, 2, "csi-vol-a", "client13");
        assert_eq!(back.find(&d), None);
        // A record an older version wrote (no others, no mapping): any mapping is it.
        let legacy = MapRecord { spec, force_unmap: true, others: None, mapping: None };
        legacy.write(&path).unwrap();
        assert_eq!(MapRecord::read(&path).unwrap().unwrap().find(&d).map(|m| m.device), Some(0));
        std::fs::remove_dir_all(&d).unwrap();
    }
}
