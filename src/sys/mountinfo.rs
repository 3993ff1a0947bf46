//! /proc/self/mountinfo parsing. Mount-point checks always use this table (never the
//! parent-device comparison, which misses bind mounts).

use std::path::{Path, PathBuf};

use super::DevId;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    pub dev: DevId,
    /// The path inside the mounted filesystem that is mounted here ("/" usually; for a
    /// bind-mounted device node, e.g. "/loop3").
    pub root: String,
    pub mount_point: PathBuf,
    pub options: String,
    pub fs_type: String,
    pub source: String,
}

impl MountEntry {
    pub fn read_only(&self) -> bool {
        self.options.split(',').any(|o| o == "ro")
    }

    /// A bind mount of the device node `device` itself (a block publish): it shows as
    /// devtmpfs with the node's name as its root.
    pub fn is_node_bind_of(&self, device: &Path) -> bool {
        self.fs_type == "devtmpfs"
            && device.file_name().is_some_and(|n| self.root == format!("/{}", n.to_string_lossy()))
    }

    /// Any use of the block device `dev` at `device`: a filesystem mounted from it or a
    /// bind of its node.
    pub fn uses(&self, dev: DevId, device: &Path) -> bool {
        self.dev == dev || self.is_node_bind_of(device)
    }
}

/// Undoes the kernel's octal escapes (\040 for space, \011, \012, \134).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c)) {
            let v = (b[i + 1] - b'0') as u32 * 64 + (b[i + 2] - b'0') as u32 * 8 + (b[i + 3] - b'0') as u32;
            out.push(v as u8);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses the text of a mountinfo file; malformed lines are skipped.
pub fn parse(text: &str) -> Vec<MountEntry> {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<MountEntry> {
    // 36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw,errors=continue
    let (left, right) = line.split_once(" - ")?;
    let f: Vec<&str> = left.split(' ').collect();
    if f.len() < 6 {
        return None;
    }
    let (major, minor) = f[2].split_once(':')?;
    let r: Vec<&str> = right.split(' ').collect();
    Some(MountEntry {
        dev: DevId { major: major.parse().ok()?, minor: minor.parse().ok()? },
        root: unescape(f[3]),
        mount_point: PathBuf::from(unescape(f[4])),
        options: f[5].to_string(),
        fs_type: r.first().map(|s| unescape(s)).unwrap_or_default(),
        source: r.get(1).map(|s| unescape(s)).unwrap_or_default(),
    })
}

/// The topmost mount at exactly `path`, if any.
pub fn mount_at<'a>(table: &'a [MountEntry], path: &Path) -> Option<&'a MountEntry> {
    table.iter().rev().find(|e| e.mount_point == path)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
36 22 7:3 / /var/lib/k/stage\\040dir rw,noatime shared:2 - xfs /dev/loop3 rw,nouuid
37 22 7:3 / /var/lib/k/pods/a rw,noatime shared:2 - xfs /dev/loop3 rw,nouuid
38 22 0:5 /loop4 /var/lib/k/pods/blk ro,nosuid - devtmpfs udev rw,size=100k
bad line
";

    #[test]
    fn parses_fields_escapes_and_bind_mounts() {
        let t = parse(SAMPLE);
        assert_eq!(t.len(), 4);
        assert_eq!(t[1].mount_point, PathBuf::from("/var/lib/k/stage dir"));
        assert_eq!(t[1].dev, DevId { major: 7, minor: 3 });
        assert_eq!(t[1].fs_type, "xfs");
        assert_eq!(t[1].source, "/dev/loop3");
        assert_eq!(t[3].root, "/loop4");
        assert!(t[3].read_only());
        assert!(!t[2].read_only());
        assert_eq!(mount_at(&t, Path::new("/var/lib/k/pods/a")).map(|e| e.dev.minor), Some(3));
        assert!(mount_at(&t, Path::new("/var/lib/k")).is_none());
        assert!(t[3].is_node_bind_of(Path::new("/dev/loop4")));
        assert!(!t[3].is_node_bind_of(Path::new("/dev/loop3")));
        assert!(t[2].uses(DevId { major: 7, minor: 3 }, Path::new("/dev/loop3")));
        assert!(!t[2].uses(DevId { major: 7, minor: 4 }, Path::new("/dev/loop4")));
    }
}
