//! A capability's mount_flags → MsFlags + the data string for mount(2).

use nix::mount::MsFlags;

use crate::error::Error;

/// Splits `flags` (each entry may itself be comma-separated) into kernel flags and
/// filesystem options. Flags that would change what kind of mount this is (bind,
/// remount, move) are refused.
pub fn parse(flags: &[String]) -> Result<(MsFlags, Vec<String>), Error> {
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
            "bind" | "rbind" | "remount" | "move" | "shared" | "private" | "slave" | "unbindable" => {
                return Err(Error::invalid(format!("mount flag {opt:?} is not allowed")));
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
        for bad in ["bind", "remount", "rbind", "a b"] {
            assert!(parse(&[bad.to_string()]).is_err(), "{bad}");
        }
    }
}
