//! A capability's mount_flags → MsFlags + the data string for mount(2). Filesystem
//! options come from an allowlist per filesystem, so a flag the kernel would refuse
//! (or one that is no mount option at all) is refused with the request, not at
//! NodeStage as an I/O error.

use nix::mount::MsFlags;

use crate::error::{quote, Error};
use crate::sys::FsKind;

/// Bounds on the flags of one capability.
const MAX_FLAGS: usize = 64;
const MAX_FLAG_LEN: usize = 256;

/// Options both filesystems take (name, or name=value with the value checked below).
const COMMON: &[&str] = &["discard", "nodiscard", "quota", "noquota", "usrquota", "grpquota", "prjquota", "dax"];
const EXT4: &[&str] = &[
    "errors",
    "data",
    "commit",
    "barrier",
    "nobarrier",
    "user_xattr",
    "nouser_xattr",
    "acl",
    "noacl",
    "delalloc",
    "nodelalloc",
    "journal_checksum",
    "nojournal_checksum",
    "auto_da_alloc",
    "noauto_da_alloc",
    "init_itable",
    "noinit_itable",
    "dioread_nolock",
    "dioread_lock",
    "max_batch_time",
    "min_batch_time",
    "stripe",
    "inode_readahead_blks",
    "block_validity",
    "noblock_validity",
    "nombcache",
    "journal_ioprio",
];
const XFS: &[&str] = &[
    "nouuid",
    "uquota",
    "gquota",
    "pquota",
    "uqnoenforce",
    "gqnoenforce",
    "pqnoenforce",
    "qnoenforce",
    "inode32",
    "inode64",
    "largeio",
    "nolargeio",
    "logbufs",
    "logbsize",
    "allocsize",
    "swalloc",
    "wsync",
    "noalign",
    "attr2",
    "noattr2",
    "filestreams",
    "sunit",
    "swidth",
    "grpid",
    "nogrpid",
    "bsdgroups",
    "sysvgroups",
    "norecovery",
    "ikeep",
    "noikeep",
];

/// Checks the filesystem options (the `data` half of `parse`) for `fs`.
pub fn check_fs_options(fs: FsKind, data: &[String]) -> Result<(), Error> {
    let known = match fs {
        FsKind::Ext4 => EXT4,
        FsKind::Xfs => XFS,
    };
    for opt in data {
        let (name, value) = opt.split_once('=').unwrap_or((opt.as_str(), ""));
        if !COMMON.contains(&name) && !known.contains(&name) {
            return Err(Error::invalid(format!(
                "mount flag {} is not a mount option rbd-csi accepts for {} (kernel flags: ro, noatime, \
                 nodiratime, relatime, strictatime, lazytime, nodev, nosuid, noexec, sync, dirsync; {} options: {})",
                quote(opt, 64),
                fs.as_str(),
                fs.as_str(),
                COMMON.iter().chain(known).copied().collect::<Vec<_>>().join(", ")
            )));
        }
        if name == "errors" && value == "panic" {
            return Err(Error::invalid(
                "mount flag errors=panic is not allowed: a damaged volume would take the whole node down",
            ));
        }
        if !value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return Err(Error::invalid(format!(
                "mount flag {}: the value may hold letters, digits, - and _",
                quote(opt, 64)
            )));
        }
    }
    Ok(())
}

/// Splits `flags` (each entry may itself be comma-separated) into kernel flags and
/// filesystem options. Flags that would change what kind of mount this is (bind,
/// remount, move) are refused.
pub fn parse(flags: &[String]) -> Result<(MsFlags, Vec<String>), Error> {
    if flags.len() > MAX_FLAGS {
        return Err(Error::invalid(format!("more than {MAX_FLAGS} mount flags")));
    }
    if let Some(f) = flags.iter().find(|f| f.len() > MAX_FLAG_LEN) {
        return Err(Error::invalid(format!("mount flag {} is longer than {MAX_FLAG_LEN} bytes", quote(f, 40))));
    }
    let mut ms = MsFlags::empty();
    let mut data = Vec::new();
    for opt in flags.iter().flat_map(|f| f.split(',')).map(str::trim).filter(|o| !o.is_empty()) {
        match opt {
            "defaults" | "rw" | "async" | "auto" | "noauto" | "nouser" | "_netdev" => {}
            "ro" => ms |= MsFlags::MS_RDONLY,
            "noatime" => ms |= MsFlags::MS_NOATIME,
            "nodiratime" => ms |= MsFlags::MS_NODIRATIME,
            "relatime" => ms |= MsFlags::MS_RELATIME,
            "strictatime" => ms |= MsFlags::MS_STRICTATIME,
            "lazytime" => ms |= MsFlags::MS_LAZYTIME,
            "nodev" => ms |= MsFlags::MS_NODEV,
            "nosuid" => ms |= MsFlags::MS_NOSUID,
            "noexec" => ms |= MsFlags::MS_NOEXEC,
            "sync" => ms |= MsFlags::MS_SYNCHRONOUS,
            "dirsync" => ms |= MsFlags::MS_DIRSYNC,
            "mand" => ms |= MsFlags::MS_MANDLOCK,
            "bind" | "rbind" | "remount" | "move" | "shared" | "private" | "slave" | "unbindable" | "loop" => {
                return Err(Error::invalid(format!(
                    "mount flag {opt:?} is not allowed: it changes what kind of mount this is"
                )));
            }
            "suid" | "dev" | "exec" | "user" | "users" | "owner" | "group" => {
                return Err(Error::invalid(format!(
                    "mount flag {opt:?} is not allowed: volumes are never mounted with more rights than the default"
                )));
            }
            other => {
                if other.contains(char::is_whitespace) {
                    return Err(Error::invalid(format!("mount flag {other:?} contains white space")));
                }
                data.push(other.to_string());
            }
        }
    }
    Ok((ms, data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_flags_and_fs_options_are_split() {
        let (ms, data) = parse(&["noatime,nodev".into(), "discard".into(), "ro".into(), "defaults".into()]).unwrap();
        assert_eq!(ms, MsFlags::MS_NOATIME | MsFlags::MS_NODEV | MsFlags::MS_RDONLY);
        assert_eq!(data, vec!["discard".to_string()]);
    }

    #[test]
    fn mount_kind_changes_are_refused() {
        for bad in ["bind", "remount", "rbind", "a b", "loop", "suid"] {
            assert!(parse(&[bad.to_string()]).is_err(), "{bad}");
        }
        assert!(parse(&["x".repeat(10_000)]).is_err());
        assert!(parse(&vec!["noatime".to_string(); 65]).is_err());
    }

    #[test]
    fn filesystem_options_come_from_each_filesystems_list() {
        let data = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(check_fs_options(FsKind::Ext4, &data(&["discard", "errors=remount-ro", "commit=30"])).is_ok());
        assert!(check_fs_options(FsKind::Xfs, &data(&["nouuid", "logbsize=256k", "prjquota"])).is_ok());
        for (fs, bad) in [
            (FsKind::Ext4, "nouuid"),
            (FsKind::Xfs, "data=journal"),
            (FsKind::Ext4, "--help"),
            (FsKind::Ext4, "errors=/x"),
            (FsKind::Xfs, "context=system_u"),
            (FsKind::Ext4, "errors=panic"),
        ] {
            assert!(check_fs_options(fs, &data(&[bad])).is_err(), "{bad}");
        }
    }
}
