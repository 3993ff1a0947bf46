//! A fake `Sys` for unit tests: a mount table, block devices with contents, and a
//! switch to fail a chosen call.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::mount::MsFlags;
use parking_lot::Mutex;

use super::{DevId, FsKind, FsUsage, MountEntry, Sys};
use crate::error::Error;

#[derive(Default)]
pub struct FakeState {
    pub mounts: Vec<MountEntry>,
    /// device path → (id, size, contents of the head)
    pub devices: HashMap<PathBuf, (DevId, u64, Vec<u8>)>,
    /// loop device → backing file
    pub loops: HashMap<PathBuf, PathBuf>,
    /// calls that must fail, by name ("mount", "umount", ...), with this errno
    pub fail: HashMap<&'static str, Errno>,
    /// every call made, in order, e.g. "mount /dev/loop0 /stage"
    pub calls: Vec<String>,
    pub grown: Vec<(PathBuf, FsKind, u64)>,
    /// how many times the mount table was read
    pub mountinfo_reads: usize,
}

#[derive(Default)]
pub struct FakeSys {
    pub state: Mutex<FakeState>,
}

impl FakeSys {
    pub fn add_device(&self, path: &str, minor: u32, size: u64, head: Vec<u8>) {
        self.state.lock().devices.insert(PathBuf::from(path), (DevId { major: 7, minor }, size, head));
    }

    pub fn fail(&self, call: &'static str, errno: Errno) {
        self.state.lock().fail.insert(call, errno);
    }

    fn check(&self, call: &'static str, what: String) -> Result<(), Error> {
        let mut st = self.state.lock();
        st.calls.push(format!("{call} {what}"));
        match st.fail.get(call) {
            Some(e) => Err(Error::sys(call, what, *e)),
            None => Ok(()),
        }
    }

    pub fn calls(&self) -> Vec<String> {
        self.state.lock().calls.clone()
    }
}

impl Sys for FakeSys {
    fn mountinfo(&self) -> Result<Vec<MountEntry>, Error> {
        let mut st = self.state.lock();
        st.mountinfo_reads += 1;
        Ok(st.mounts.clone())
    }

    fn mount(
        &self,
        src: &Path,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> Result<(), Error> {
        self.check("mount", format!("{} {}", src.display(), target.display()))?;
        let mut st = self.state.lock();
        if flags.contains(MsFlags::MS_REMOUNT) {
            if let Some(e) = st.mounts.iter_mut().rev().find(|e| e.mount_point == target) {
                e.options = if flags.contains(MsFlags::MS_RDONLY) { "ro".into() } else { "rw".into() };
            }
            return Ok(());
        }
        let (dev, fs_type, root) = if flags.contains(MsFlags::MS_BIND) {
            match st.mounts.iter().rev().find(|e| e.mount_point == src) {
                Some(e) => (e.dev, e.fs_type.clone(), e.root.clone()),
                None => match st.devices.get(src) {
                    Some(_) => (
                        DevId { major: 0, minor: 5 },
                        "devtmpfs".to_string(),
                        format!("/{}", src.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()),
                    ),
                    None => return Err(Error::sys("mount", src.display(), Errno::ENOENT)),
                },
            }
        } else {
            match st.devices.get(src) {
                Some((id, _, _)) => (*id, fstype.unwrap_or("").to_string(), "/".to_string()),
                None => return Err(Error::sys("mount", src.display(), Errno::ENOENT)),
            }
        };
        let ro = flags.contains(MsFlags::MS_RDONLY) || data.is_some_and(|d| d.split(',').any(|o| o == "ro"));
        st.mounts.push(MountEntry {
            dev,
            root,
            mount_point: target.to_path_buf(),
            options: if ro { "ro".into() } else { "rw".into() },
            fs_type,
            source: src.display().to_string(),
        });
        Ok(())
    }

    fn umount(&self, target: &Path) -> Result<(), Error> {
        self.check("umount", target.display().to_string())?;
        let mut st = self.state.lock();
        match st.mounts.iter().rposition(|e| e.mount_point == target) {
            Some(i) => {
                st.mounts.remove(i);
                Ok(())
            }
            None => Err(Error::sys("umount", target.display(), Errno::EINVAL)),
        }
    }

    fn block_dev(&self, dev: &Path) -> Result<Option<DevId>, Error> {
        Ok(self.state.lock().devices.get(dev).map(|d| d.0))
    }

    fn device_size(&self, dev: &Path) -> Result<u64, Error> {
        self.check("device_size", dev.display().to_string())?;
        self.state.lock().devices.get(dev).map(|d| d.1).ok_or_else(|| Error::sys("open", dev.display(), Errno::ENOENT))
    }

    fn read_head(&self, dev: &Path, len: usize) -> Result<Vec<u8>, Error> {
        self.check("read_head", dev.display().to_string())?;
        let st = self.state.lock();
        let (_, _, head) = st.devices.get(dev).ok_or_else(|| Error::sys("open", dev.display(), Errno::ENOENT))?;
        Ok(head.iter().copied().take(len).collect())
    }

    fn statvfs(&self, path: &Path) -> Result<FsUsage, Error> {
        self.check("statvfs", path.display().to_string())?;
        Ok(FsUsage { total_bytes: 1 << 30, available_bytes: 1 << 29, used_bytes: 1 << 29, ..Default::default() })
    }

    fn grow_fs(&self, mount_point: &Path, fs: FsKind, device_bytes: u64) -> Result<(), Error> {
        self.check("grow_fs", mount_point.display().to_string())?;
        self.state.lock().grown.push((mount_point.to_path_buf(), fs, device_bytes));
        Ok(())
    }

    fn loop_attach(&self, file: &Path) -> Result<PathBuf, Error> {
        self.check("loop_attach", file.display().to_string())?;
        let mut st = self.state.lock();
        let n = (0..).find(|n| !st.loops.contains_key(&PathBuf::from(format!("/dev/loop{n}")))).unwrap_or(0);
        let dev = PathBuf::from(format!("/dev/loop{n}"));
        st.loops.insert(dev.clone(), file.to_path_buf());
        let size = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
        let head = std::fs::read(file).map(|b| b.into_iter().take(70_000).collect()).unwrap_or_default();
        st.devices.insert(dev.clone(), (DevId { major: 7, minor: n }, size, head));
        Ok(dev)
    }

    fn loop_detach(&self, dev: &Path) -> Result<(), Error> {
        self.check("loop_detach", dev.display().to_string())?;
        let mut st = self.state.lock();
        st.loops.remove(dev);
        st.devices.remove(dev);
        Ok(())
    }

    fn loop_refresh(&self, dev: &Path) -> Result<(), Error> {
        self.check("loop_refresh", dev.display().to_string())?;
        let mut st = self.state.lock();
        let Some(file) = st.loops.get(dev).cloned() else {
            return Err(Error::sys("open", dev.display(), Errno::ENXIO));
        };
        let size = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
        if let Some(d) = st.devices.get_mut(dev) {
            d.1 = size;
        }
        Ok(())
    }

    fn loop_find(&self, file: &Path) -> Result<Option<PathBuf>, Error> {
        Ok(self.state.lock().loops.iter().find(|(_, f)| f.as_path() == file).map(|(d, _)| d.clone()))
    }
}
