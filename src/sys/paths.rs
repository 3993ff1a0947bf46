//! Paths a CO names (staging and target paths) are resolved before they are used, and
//! used without following symlinks afterwards:
//! - `resolve` turns a path into the symlink-free one it names now, so the allowed
//!   prefixes and "staging ≠ target" are checked on what would really be mounted on
//!   (a link inside a prefix can point anywhere), and mountinfo (which shows resolved
//!   paths) matches it;
//! - `open_nofollow` opens a resolved path refusing a symlink in any component (one
//!   swapped in after `resolve`), and mount(2)/umount2(2) act on that fd through
//!   /proc/self/fd, so what was checked is what gets mounted on.

use std::ffi::{OsStr, OsString};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{open, openat, OFlag};
use nix::sys::stat::{fstat, Mode, SFlag};

use crate::error::Error;

/// How many symlinks `resolve` follows before it gives up (the kernel's limit too).
const MAX_LINKS: usize = 40;

/// One step of a path still to resolve.
enum Step {
    Root,
    Up,
    Name(OsString),
}

/// `path`'s steps, in reverse order (a stack: the next step is last).
fn steps(path: &Path) -> impl Iterator<Item = Step> + '_ {
    path.components().rev().filter_map(|c| match c {
        Component::RootDir | Component::Prefix(_) => Some(Step::Root),
        Component::ParentDir => Some(Step::Up),
        Component::CurDir => None,
        Component::Normal(n) => Some(Step::Name(n.to_os_string())),
    })
}

/// The symlink-free absolute path `path` names now. Components that do not exist yet
/// are kept as given (nothing exists there to follow). A symlink whose target does not
/// exist is refused: creating through it would create its target.
pub fn resolve(path: &Path) -> Result<PathBuf, Error> {
    let mut out = PathBuf::from("/");
    let mut todo: Vec<Step> = steps(path).collect();
    let (mut links, mut missing) = (0, false);
    while let Some(step) = todo.pop() {
        let name = match step {
            Step::Root => {
                out = PathBuf::from("/");
                continue;
            }
            Step::Up => {
                out.pop();
                continue;
            }
            Step::Name(name) => name,
        };
        let next = out.join(&name);
        if missing {
            out = next;
            continue;
        }
        match std::fs::symlink_metadata(&next) {
            Ok(m) if m.file_type().is_symlink() => {
                links += 1;
                if links > MAX_LINKS {
                    return Err(Error::invalid(format!("{} has too many levels of symlinks", path.display())));
                }
                let target = std::fs::read_link(&next).map_err(|e| Error::io("readlink", &next, e))?;
                if std::fs::metadata(&next).is_err() {
                    return Err(Error::invalid(format!(
                        "{} goes through {}, a symlink to {}, which does not exist",
                        path.display(),
                        next.display(),
                        target.display()
                    )));
                }
                // The link's target takes this component's place (relative to `out`).
                todo.extend(steps(&target));
            }
            Ok(_) => out = next,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                missing = true;
                out = next;
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => {
                return Err(Error::invalid(format!("{}: {} is not a directory", path.display(), out.display())))
            }
            Err(e) => return Err(Error::io("stat", &next, e)),
        }
    }
    Ok(out)
}

/// Opens `path` (absolute, `..`-free) with O_PATH, walking it one component at a time
/// with O_NOFOLLOW: a symlink anywhere is refused (ELOOP), nothing is followed.
pub fn open_nofollow(path: &Path) -> Result<OwnedFd, Error> {
    let err = |e: Errno| Error::sys("open", path.display(), e);
    let mut fd = open("/", OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty()).map_err(err)?;
    for comp in path.components() {
        let name: &OsStr = match comp {
            Component::RootDir => continue,
            Component::Normal(n) => n,
            _ => return Err(err(Errno::EINVAL)),
        };
        let next =
            openat(&fd, name, OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC, Mode::empty()).map_err(err)?;
        // O_PATH|O_NOFOLLOW opens a symlink itself instead of failing: refuse it.
        let st = fstat(&next).map_err(err)?;
        if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFLNK {
            return Err(Error::FailedPrecondition(format!(
                "{} has a symlink at {}; refusing to follow it",
                path.display(),
                name.to_string_lossy()
            )));
        }
        fd = next;
    }
    Ok(fd)
}

/// The /proc path that names what `fd` is open on.
pub fn fd_path(fd: &OwnedFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// `path`'s parent opened with `open_nofollow`, and `path`'s last component.
pub fn open_parent_nofollow(path: &Path) -> Result<(OwnedFd, PathBuf), Error> {
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(Error::invalid(format!("{} has no parent directory", path.display())));
    };
    Ok((open_nofollow(parent)?, PathBuf::from(OsStr::from_bytes(name.as_bytes()))))
}

/// Creates the directory `path` and its missing parents, refusing symlinks on the way
/// (mkdirat in directories opened with `open_nofollow`).
pub fn create_dirs(path: &Path) -> Result<(), Error> {
    let err = |e: Errno| Error::sys("mkdir", path.display(), e);
    let mut fd = open("/", OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty()).map_err(err)?;
    for comp in path.components() {
        let Component::Normal(name) = comp else { continue };
        let flags = OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
        let next = match openat(&fd, name, flags, Mode::empty()) {
            Err(Errno::ENOENT) => {
                match nix::sys::stat::mkdirat(&fd, name, Mode::from_bits_truncate(0o750)) {
                    Ok(()) | Err(Errno::EEXIST) => {}
                    Err(e) => return Err(err(e)),
                }
                openat(&fd, name, flags, Mode::empty())
            }
            other => other,
        };
        // ENOTDIR here is a symlink (O_NOFOLLOW|O_DIRECTORY) or a file in the way.
        fd = next.map_err(|e| match e {
            Errno::ENOTDIR | Errno::ELOOP => Error::FailedPrecondition(format!(
                "{}: {} is not a directory (a symlink or a file); refusing to create through it",
                path.display(),
                name.to_string_lossy()
            )),
            e => err(e),
        })?;
    }
    Ok(())
}

/// Creates the empty file `path` (its parent must exist) unless it exists; never
/// through a symlink.
pub fn create_file(path: &Path) -> Result<(), Error> {
    let (parent, name) = open_parent_nofollow(path)?;
    let flags = OFlag::O_CREAT | OFlag::O_WRONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    openat(&parent, &name, flags, Mode::from_bits_truncate(0o640)).map(drop).map_err(|e| match e {
        Errno::ELOOP => {
            Error::FailedPrecondition(format!("{} is a symlink; refusing to create through it", path.display()))
        }
        e => Error::sys("create", path.display(), e),
    })
}

/// Writes `bytes` to the file `path` (mode 0600) crash-safely: a temp file beside it,
/// synced, renamed over it. Never through a symlink (in the parent's components or
/// at the file itself: rename replaces a link rather than following it).
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let (parent, name) = open_parent_nofollow(path)?;
    let err = |e: Errno| Error::sys("write", path.display(), e);
    let mut tmp_name = OsString::from(".");
    tmp_name.push(name.as_os_str());
    tmp_name.push(".tmp");
    let flags = OFlag::O_CREAT | OFlag::O_TRUNC | OFlag::O_WRONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let fd = openat(&parent, tmp_name.as_os_str(), flags, Mode::from_bits_truncate(0o600)).map_err(err)?;
    let mut file = std::fs::File::from(fd);
    let written = std::io::Write::write_all(&mut file, bytes).and_then(|()| file.sync_all());
    if let Err(e) = written {
        let _ = nix::unistd::unlinkat(&parent, tmp_name.as_os_str(), nix::unistd::UnlinkatFlags::NoRemoveDir);
        return Err(Error::io("write", path, e));
    }
    nix::fcntl::renameat(&parent, tmp_name.as_os_str(), &parent, name.as_os_str()).map_err(err)
}

/// The contents of the regular file `path`, or None when it does not exist; never
/// through a symlink.
pub fn read_file(path: &Path) -> Result<Option<Vec<u8>>, Error> {
    let (parent, name) = match open_parent_nofollow(path) {
        Ok(p) => p,
        Err(Error::Sys { errno, .. }) if errno == Errno::ENOENT as i32 => return Ok(None),
        Err(e) => return Err(e),
    };
    let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let fd = match openat(&parent, name.as_os_str(), flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => return Ok(None),
        Err(e) => return Err(Error::sys("open", path.display(), e)),
    };
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut std::fs::File::from(fd), &mut bytes).map_err(|e| Error::io("read", path, e))?;
    Ok(Some(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_links_and_refuses_dangling_ones_and_links_on_open() {
        let d = std::env::temp_dir().join(format!("rbd-csi-paths-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("real/sub")).unwrap();
        let d = std::fs::canonicalize(&d).unwrap();
        std::os::unix::fs::symlink(d.join("real"), d.join("abs")).unwrap();
        std::os::unix::fs::symlink("real/sub", d.join("rel")).unwrap();
        std::os::unix::fs::symlink("/nonexistent-rbd-csi/x", d.join("dangling")).unwrap();
        std::os::unix::fs::symlink("loop2", d.join("loop1")).unwrap();
        std::os::unix::fs::symlink("loop1", d.join("loop2")).unwrap();

        assert_eq!(resolve(&d.join("abs/sub/new/deeper")).unwrap(), d.join("real/sub/new/deeper"));
        assert_eq!(resolve(&d.join("rel")).unwrap(), d.join("real/sub"));
        assert_eq!(resolve(&d.join("real/sub")).unwrap(), d.join("real/sub"));
        assert!(matches!(resolve(&d.join("dangling")), Err(Error::InvalidArgument(_))));
        assert!(matches!(resolve(&d.join("dangling/x")), Err(Error::InvalidArgument(_))));
        assert!(resolve(&d.join("loop1")).is_err());

        assert!(open_nofollow(&d.join("real/sub")).is_ok());
        assert!(matches!(open_nofollow(&d.join("abs/sub")), Err(Error::FailedPrecondition(_))));
        assert!(matches!(open_nofollow(&d.join("rel")), Err(Error::FailedPrecondition(_))));

        create_dirs(&d.join("real/a/b")).unwrap();
        create_dirs(&d.join("real/a/b")).unwrap();
        assert!(d.join("real/a/b").is_dir());
        assert!(matches!(create_dirs(&d.join("abs/c")), Err(Error::FailedPrecondition(_))));
        assert!(!d.join("real/c").exists(), "nothing made through the link");
        create_file(&d.join("real/f")).unwrap();
        create_file(&d.join("real/f")).unwrap();
        assert!(matches!(create_file(&d.join("dangling")), Err(Error::FailedPrecondition(_))));
        std::fs::remove_dir_all(&d).unwrap();
    }
}
