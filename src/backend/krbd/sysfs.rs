//! What /sys/bus/rbd says about the kernel's mappings: which image each device maps
//! (pool, namespace, name, snapshot), through attributes only (never udev symlinks),
//! and of which kernel client. Reads only; mapping and unmapping are krbd.rs's.

use std::path::{Path, PathBuf};

/// What identifies a mapped image in sysfs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSpec {
    pub pool: String,
    pub namespace: String,
    pub image: String,
}

pub fn read_attr(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).map(|s| s.trim_end().to_string()).unwrap_or_default()
}

/// The mapped devices: (device id, spec, snapshot).
pub fn mapped(sysfs: &Path) -> Vec<(u32, ImageSpec, String)> {
    let Ok(entries) = std::fs::read_dir(sysfs.join("devices")) else { return Vec::new() };
    let mut out: Vec<(u32, ImageSpec, String)> = entries
        .flatten()
        .filter_map(|e| {
            let id: u32 = e.file_name().to_str()?.parse().ok()?;
            let d = e.path();
            let spec = ImageSpec {
                pool: read_attr(&d, "pool"),
                namespace: read_attr(&d, "pool_ns"),
                image: read_attr(&d, "name"),
            };
            Some((id, spec, read_attr(&d, "current_snap")))
        })
        .collect();
    out.sort_by_key(|(id, _, _)| *id);
    out
}

/// The /dev/rbdN of the first mapped image head (not a snapshot) that `pick` accepts,
/// given its device id and spec.
pub fn find_head(sysfs: &Path, pick: impl Fn(u32, &ImageSpec) -> bool) -> Option<PathBuf> {
    mapped(sysfs)
        .into_iter()
        .find(|(n, s, snap)| (snap == "-" || snap.is_empty()) && pick(*n, s))
        .map(|(n, _, _)| PathBuf::from(format!("/dev/rbd{n}")))
}

/// The /dev/rbdN of `spec` (head, not a snapshot), if it is mapped.
pub fn find_mapping(sysfs: &Path, spec: &ImageSpec) -> Option<PathBuf> {
    find_head(sysfs, |_, s| s == spec)
}

/// The /dev/rbdN (head) of the image in pool `pool_id` whose name ends in `uuid`.
pub fn find_volume(sysfs: &Path, pool_id: u64, uuid: &str) -> Option<PathBuf> {
    let devices = sysfs.join("devices");
    find_head(sysfs, |n, s| {
        s.image.ends_with(uuid) && read_attr(&devices.join(n.to_string()), "pool_id").parse() == Ok(pool_id)
    })
}

/// Whether mapping `device` has a kernel client of its own (krbd's `noshare`).
pub fn own_client(sysfs: &Path, device: u32) -> bool {
    read_attr(&sysfs.join("devices").join(device.to_string()), "config_info").split([',', ' ']).any(|o| o == "noshare")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_mappings_through_sysfs_attributes_only() {
        let d = std::env::temp_dir().join(format!("krbd-sysfs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        for (id, pool, ns, name, snap) in
            [(0, "rbd", "", "csi-vol-a", "-"), (3, "rbd", "", "csi-vol-b", "-"), (4, "rbd", "", "csi-vol-b", "s1")]
        {
            let dev = d.join("devices").join(id.to_string());
            std::fs::create_dir_all(&dev).unwrap();
            for (k, v) in [("pool", pool), ("pool_ns", ns), ("name", name), ("current_snap", snap)] {
                std::fs::write(dev.join(k), format!("{v}\n")).unwrap();
            }
        }
        let spec = ImageSpec { pool: "rbd".into(), namespace: String::new(), image: "csi-vol-b".into() };
        assert_eq!(find_mapping(&d, &spec), Some(PathBuf::from("/dev/rbd3")));
        let other_ns = ImageSpec { namespace: "ns".into(), ..spec };
        assert_eq!(find_mapping(&d, &other_ns), None);
        assert_eq!(mapped(&d).len(), 3);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn finds_a_volume_by_pool_id_and_uuid_whatever_its_prefix() {
        let d = std::env::temp_dir().join(format!("krbd-find-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        let u = "5e97a3c4-abcd-446a-9401-87ed4abb59bd";
        for (id, pool_id, name, snap) in [
            (0, "2", format!("csi-vol-{u}"), "s1"),
            (1, "3", format!("legacy-{u}"), "-"),
            (2, "2", format!("legacy-{u}"), "-"),
        ] {
            let dev = d.join("devices").join(id.to_string());
            std::fs::create_dir_all(&dev).unwrap();
            for (k, v) in
                [("pool", "p"), ("pool_id", pool_id), ("pool_ns", ""), ("name", &name), ("current_snap", snap)]
            {
                std::fs::write(dev.join(k), format!("{v}\n")).unwrap();
            }
        }
        assert_eq!(find_volume(&d, 2, u), Some(PathBuf::from("/dev/rbd2")), "pool 2's head, not its snapshot");
        assert_eq!(find_volume(&d, 3, u), Some(PathBuf::from("/dev/rbd1")));
        assert_eq!(find_volume(&d, 4, u), None);
        assert_eq!(find_volume(&d, 2, "0e97a3c4-abcd-446a-9401-87ed4abb59bd"), None);
        std::fs::remove_dir_all(&d).unwrap();
    }
}
