//! The real `Sys`: mount(2), ioctls and /sys reads through nix.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags};

use super::{mountinfo, paths, DevId, FsKind, FsUsage, MountEntry, Sys};
use crate::error::Error;

// Block and filesystem ioctls (DESIGN.md §5).
nix::ioctl_read!(blkgetsize64, 0x12, 114, u64);
nix::ioctl_write_ptr!(ext4_resize_fs, b'f', 16, u64);
nix::ioctl_read!(xfs_fsgeometry_v1, b'X', 100, XfsGeomV1);
nix::ioctl_write_ptr!(xfs_growfs_data, b'X', 110, XfsGrowfsData);
// Loop ioctls are plain numbers, not _IO-encoded.
nix::ioctl_none_bad!(loop_ctl_get_free, 0x4C82);
nix::ioctl_write_ptr_bad!(loop_configure, 0x4C0A, LoopConfig);
nix::ioctl_none_bad!(loop_clr_fd, 0x4C01);
nix::ioctl_none_bad!(loop_set_capacity, 0x4C07);

/// struct xfs_fsop_geom_v1 (xfs/xfs_fs.h).
#[repr(C)]
#[derive(Default)]
pub struct XfsGeomV1 {
    blocksize: u32,
    rtextsize: u32,
    agblocks: u32,
    agcount: u32,
    logblocks: u32,
    sectsize: u32,
    inodesize: u32,
    imaxpct: u32,
    datablocks: u64,
    rtblocks: u64,
    rtextents: u64,
    logstart: u64,
    uuid: [u8; 16],
    sunit: u32,
    swidth: u32,
    version: i32,
    flags: u32,
    logsectsize: u32,
    rtsectsize: u32,
    dirblocksize: u32,
}

/// struct xfs_growfs_data.
#[repr(C)]
pub struct XfsGrowfsData {
    newblocks: u64,
    imaxpct: u32,
}

/// struct loop_info64 (linux/loop.h).
#[repr(C)]
pub struct LoopInfo64 {
    lo_device: u64,
    lo_inode: u64,
    lo_rdevice: u64,
    lo_offset: u64,
    lo_sizelimit: u64,
    lo_number: u32,
    lo_encrypt_type: u32,
    lo_encrypt_key_size: u32,
    lo_flags: u32,
    lo_file_name: [u8; 64],
    lo_crypt_name: [u8; 64],
    lo_encrypt_key: [u8; 32],
    lo_init: [u64; 2],
}

/// struct loop_config.
#[repr(C)]
pub struct LoopConfig {
    fd: u32,
    block_size: u32,
    info: LoopInfo64,
    reserved: [u64; 8],
}

fn open(path: &Path, write: bool) -> Result<File, Error> {
    OpenOptions::new()
        .read(true)
        .write(write)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| Error::io("open", path, e))
}

pub struct RealSys;

/// Serializes this process's loop attaches (see `loop_attach`).
static LOOP_ATTACH: parking_lot::Mutex<()> = parking_lot::Mutex::new(());
const LOOP_ATTACH_TRIES: u64 = 30;

impl Sys for RealSys {
    fn mountinfo(&self) -> Result<Vec<MountEntry>, Error> {
        let text = std::fs::read_to_string("/proc/self/mountinfo")
            .map_err(|e| Error::io("read", Path::new("/proc/self/mountinfo"), e))?;
        Ok(mountinfo::parse(&text))
    }

    fn mount(
        &self,
        src: &Path,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> Result<(), Error> {
        // Mount on (and bind from) what the checked path names, never through a link.
        let target_fd = paths::open_nofollow(target)?;
        let src_fd = if flags.contains(MsFlags::MS_BIND) && !flags.contains(MsFlags::MS_REMOUNT) {
            Some(paths::open_nofollow(src)?)
        } else {
            None
        };
        let src_path = src_fd.as_ref().map(paths::fd_path);
        nix::mount::mount(Some(src_path.as_deref().unwrap_or(src)), &paths::fd_path(&target_fd), fstype, flags, data)
            .map_err(|e| Error::sys("mount", format!("{} on {}", src.display(), target.display()), e))
    }

    fn umount(&self, target: &Path) -> Result<(), Error> {
        // Through the parent's fd: an fd on the mount point itself would keep it busy.
        let (parent, name) = paths::open_parent_nofollow(target)?;
        nix::mount::umount2(&paths::fd_path(&parent).join(name), MntFlags::UMOUNT_NOFOLLOW)
            .map_err(|e| Error::sys("umount", target.display(), e))
    }

    fn block_dev(&self, dev: &Path) -> Result<Option<DevId>, Error> {
        match std::fs::metadata(dev) {
            Ok(m) if m.file_type().is_block_device() => {
                let rdev = m.rdev();
                Ok(Some(DevId { major: libc::major(rdev), minor: libc::minor(rdev) }))
            }
            Ok(_) => Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io("stat", dev, e)),
        }
    }

    fn device_size(&self, dev: &Path) -> Result<u64, Error> {
        let f = open(dev, false)?;
        let mut size: u64 = 0;
        // SAFETY: BLKGETSIZE64 writes one u64 through the pointer, which is valid.
        unsafe { blkgetsize64(f.as_raw_fd(), &mut size) }.map_err(|e| Error::sys("BLKGETSIZE64", dev.display(), e))?;
        Ok(size)
    }

    fn read_head(&self, dev: &Path, len: usize) -> Result<Vec<u8>, Error> {
        let f = open(dev, false)?;
        let mut buf = Vec::with_capacity(len);
        f.take(len as u64).read_to_end(&mut buf).map_err(|e| Error::io("read", dev, e))?;
        Ok(buf)
    }

    fn statvfs(&self, path: &Path) -> Result<FsUsage, Error> {
        let s = nix::sys::statvfs::statvfs(path).map_err(|e| Error::sys("statvfs", path.display(), e))?;
        let frsize = s.fragment_size() as u64;
        let blocks = s.blocks() as u64;
        let free = s.blocks_free() as u64;
        let avail = s.blocks_available() as u64;
        let files = s.files() as u64;
        let ffree = s.files_free() as u64;
        Ok(FsUsage {
            total_bytes: blocks * frsize,
            available_bytes: avail * frsize,
            used_bytes: blocks.saturating_sub(free) * frsize,
            total_inodes: files,
            free_inodes: ffree,
            used_inodes: files.saturating_sub(ffree),
        })
    }

    fn grow_fs(&self, mount_point: &Path, fs: FsKind, device_bytes: u64) -> Result<(), Error> {
        let dir = open(mount_point, false)?;
        let fd = dir.as_raw_fd();
        match fs {
            FsKind::Ext4 => {
                let bsize = nix::sys::statvfs::fstatvfs(&dir)
                    .map_err(|e| Error::sys("fstatvfs", mount_point.display(), e))?
                    .fragment_size() as u64;
                let blocks = device_bytes / bsize.max(1);
                // SAFETY: EXT4_IOC_RESIZE_FS reads one u64 through the valid pointer.
                match unsafe { ext4_resize_fs(fd, &blocks) } {
                    Ok(_) => {}
                    Err(Errno::EPERM) => {
                        return Err(Error::FailedPrecondition(format!(
                            "online ext4 resize of {} was refused (EPERM): the driver needs CAP_SYS_RESOURCE",
                            mount_point.display()
                        )))
                    }
                    Err(e) => return Err(Error::sys("EXT4_IOC_RESIZE_FS", mount_point.display(), e)),
                }
            }
            FsKind::Xfs => {
                let mut geo = XfsGeomV1::default();
                // SAFETY: XFS_IOC_FSGEOMETRY_V1 fills the struct, which has the kernel layout.
                unsafe { xfs_fsgeometry_v1(fd, &mut geo) }
                    .map_err(|e| Error::sys("XFS_IOC_FSGEOMETRY", mount_point.display(), e))?;
                let newblocks = device_bytes / u64::from(geo.blocksize.max(1));
                if newblocks <= geo.datablocks {
                    return Ok(());
                }
                let grow = XfsGrowfsData { newblocks, imaxpct: geo.imaxpct };
                // SAFETY: XFS_IOC_FSGROWFSDATA reads the struct, which has the kernel layout.
                unsafe { xfs_growfs_data(fd, &grow) }
                    .map_err(|e| Error::sys("XFS_IOC_FSGROWFSDATA", mount_point.display(), e))?;
            }
        }
        Ok(())
    }

    fn loop_attach(&self, file: &Path) -> Result<PathBuf, Error> {
        let backing = open(file, true)?;
        let ctl = open(Path::new("/dev/loop-control"), true)?;
        // GET_FREE names a device without reserving it: two workers asking at once get
        // the same one and one CONFIGURE fails EBUSY. Ours take turns; another
        // program's (losetup) can still win a race, so EBUSY asks for a fresh device,
        // with a growing pause, up to a bound.
        let _one_at_a_time = LOOP_ATTACH.lock();
        for attempt in 0..LOOP_ATTACH_TRIES {
            // SAFETY: LOOP_CTL_GET_FREE takes no argument.
            let n = unsafe { loop_ctl_get_free(ctl.as_raw_fd()) }
                .map_err(|e| Error::sys("LOOP_CTL_GET_FREE", "/dev/loop-control", e))?;
            let dev = PathBuf::from(format!("/dev/loop{n}"));
            let loopdev = open(&dev, true)?;
            // SAFETY: an all-zero loop_config is valid; only fd is set below.
            let mut cfg: LoopConfig = unsafe { std::mem::zeroed() };
            cfg.fd = backing.as_raw_fd() as u32;
            // SAFETY: LOOP_CONFIGURE reads the struct, which has the kernel layout.
            match unsafe { loop_configure(loopdev.as_raw_fd(), &cfg) } {
                Ok(_) => return Ok(dev),
                Err(Errno::EBUSY) => std::thread::sleep(std::time::Duration::from_millis(1 + 5 * attempt)),
                Err(e) => return Err(Error::sys("LOOP_CONFIGURE", dev.display(), e)),
            }
        }
        Err(Error::Unavailable(format!(
            "no free loop device for {} after {LOOP_ATTACH_TRIES} tries (other programs keep taking them)",
            file.display()
        )))
    }

    fn loop_detach(&self, dev: &Path) -> Result<(), Error> {
        let f = open(dev, false)?;
        // SAFETY: LOOP_CLR_FD takes no argument.
        match unsafe { loop_clr_fd(f.as_raw_fd()) } {
            Ok(_) | Err(Errno::ENXIO) => Ok(()),
            Err(e) => Err(Error::sys("LOOP_CLR_FD", dev.display(), e)),
        }
    }

    fn loop_refresh(&self, dev: &Path) -> Result<(), Error> {
        let f = open(dev, false)?;
        // SAFETY: LOOP_SET_CAPACITY takes no argument.
        unsafe { loop_set_capacity(f.as_raw_fd()) }.map_err(|e| Error::sys("LOOP_SET_CAPACITY", dev.display(), e))?;
        Ok(())
    }

    fn loop_find(&self, file: &Path) -> Result<Option<PathBuf>, Error> {
        let entries = match std::fs::read_dir("/sys/block") {
            Ok(e) => e,
            Err(e) => return Err(Error::io("readdir", Path::new("/sys/block"), e)),
        };
        let want = std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf());
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.starts_with("loop") {
                continue;
            }
            let Ok(backing) = std::fs::read_to_string(entry.path().join("loop/backing_file")) else { continue };
            if Path::new(backing.trim_end_matches('\n')) == want {
                return Ok(Some(PathBuf::from(format!("/dev/{name}"))));
            }
        }
        Ok(None)
    }
}
