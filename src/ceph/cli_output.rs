//! What the `rados`, `ceph` and `rbd` commands print, read back: errors by exit status
//! and message, `rados getomapval`'s hex dumps, rbd's local-time timestamps.

use crate::error::{CephCause, Error};
use crate::exec::Output;

/// The last meaningful line a command printed, for error messages.
pub fn last_error_line(stderr: &str) -> String {
    stderr.lines().rev().map(str::trim).find(|l| !l.is_empty()).unwrap_or("").to_string()
}

/// What a command says when it cannot log in.
const CANNOT_AUTHENTICATE: &str = "cannot authenticate to the cluster (check userID/userKey and monitors)";

/// Turns a failed `rbd` exit (it exits with the errno) into our error.
pub fn rbd_error(what: &str, out: &Output) -> Error {
    if out.status == libc::EINVAL && (out.stderr.contains("couldn't connect") || out.stderr.contains("auth")) {
        return Error::ceph(what, CephCause::Unreachable, CANNOT_AUTHENTICATE);
    }
    let detail = format!("{} (rbd exit {})", last_error_line(&out.stderr), out.status);
    Error::ceph(what, CephCause::of_errno(out.status), detail)
}

/// A failed `rados` (or `ceph`) command `what`, by what it printed.
pub fn rados_error(what: &str, out: &Output) -> Error {
    let line = match last_error_line(&out.stderr) {
        l if l.is_empty() => last_error_line(&out.stdout),
        l => l,
    };
    let detail = format!("{line} (rados exit {})", out.status);
    if ["Operation not permitted", "Permission denied", "EACCES", "EPERM"].iter().any(|p| line.contains(p)) {
        Error::ceph(what, CephCause::Denied, detail)
    } else if out.stderr.contains("couldn't connect") || out.stderr.contains("auth") {
        Error::ceph(what, CephCause::Unreachable, CANNOT_AUTHENTICATE)
    } else if out.stderr.contains("failed to fetch mon config") {
        Error::ceph(what, CephCause::Unreachable, "cannot reach the monitors (within --client-mount-timeout)")
    } else {
        Error::ceph(what, CephCause::Other, detail)
    }
}

/// The bytes of `rados getomapval`'s hex dump ("00000000  02 01 19 …  |...|" lines).
pub(super) fn hexdump_bytes(dump: &str) -> Vec<u8> {
    dump.lines()
        .filter_map(|l| l.split_once("  ").filter(|(offset, _)| offset.len() == 8))
        .flat_map(|(_, rest)| rest.split('|').next().unwrap_or("").split_whitespace())
        .filter_map(|b| u8::from_str_radix(b, 16).ok())
        .collect()
}

pub(super) fn missing(out: &Output) -> bool {
    out.status != 0 && out.stderr.contains("No such file")
}

/// "Sat Nov 21 23:33:45 2026" (rbd's ctime() strings, which are local time in the
/// time zone this process shares with the `rbd` it ran) → seconds since the epoch.
pub fn parse_ctime(s: &str) -> Option<i64> {
    let f: Vec<&str> = s.split_whitespace().collect();
    let [_, mon, day, hms, year] = f.as_slice() else { return None };
    let month = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        .iter()
        .position(|m| m == mon)?;
    let (day, year): (i32, i32) = (day.parse().ok()?, year.parse().ok()?);
    let t: Vec<i32> = hms.split(':').map(|x| x.parse().ok()).collect::<Option<_>>()?;
    let [hour, min, sec] = t.as_slice() else { return None };
    // SAFETY: an all-zero tm is a valid value; mktime reads the fields set here (and
    // normalizes them); tm_isdst -1: whether summer time applies is for mktime to say.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    (tm.tm_year, tm.tm_mon, tm.tm_mday) = (year - 1900, month as i32, day);
    (tm.tm_hour, tm.tm_min, tm.tm_sec, tm.tm_isdst) = (*hour, *min, *sec, -1);
    // SAFETY: a valid tm.
    let t = unsafe { libc::mktime(&mut tm) };
    (t != -1).then_some(t as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(status: i32, stderr: &str) -> Output {
        Output { status, stdout: String::new(), stderr: stderr.to_string() }
    }

    #[test]
    fn failed_commands_are_told_by_cause() {
        let rbd = [
            (2, "rbd: error opening image i: (2) No such file or directory", CephCause::Missing),
            (17, "rbd: create error: (17) File exists", CephCause::Exists),
            (16, "rbd: error: image still has watchers", CephCause::Busy),
            (39, "rbd: image has snapshots", CephCause::Busy),
            (30, "rbd: failed to create snapshot: (30) Read-only file system", CephCause::Locked),
            (1, "rbd: (1) Operation not permitted", CephCause::Denied),
            (13, "rbd: (13) Permission denied", CephCause::Denied),
            (110, "rbd: (110) Connection timed out", CephCause::Unreachable),
            (22, "auth: unable to find a keyring", CephCause::Unreachable),
            (22, "rbd: invalid argument", CephCause::Other),
            (28, "rbd: (28) No space left on device", CephCause::Full),
        ];
        for (status, stderr, cause) in rbd {
            assert_eq!(rbd_error("rbd x", &out(status, stderr)).ceph_cause(), Some(cause), "{status} {stderr}");
        }
        let rados = [
            ("error: (1) Operation not permitted", CephCause::Denied),
            ("monclient(hunting): authenticate timed out", CephCause::Unreachable),
            ("failed to fetch mon config (--no-mon-config to skip)", CephCause::Unreachable),
            ("error getting omap keys: (5) Input/output error", CephCause::Other),
        ];
        for (stderr, cause) in rados {
            assert_eq!(rados_error("rados x", &out(1, stderr)).ceph_cause(), Some(cause), "{stderr}");
        }
        let denied = rbd_error("rbd info p/i", &out(13, "rbd: (13) Permission denied"));
        assert_eq!(
            denied.to_string(),
            "rbd info p/i: rbd: (13) Permission denied (rbd exit 13): permission denied (check the user's caps)"
        );
    }

    #[test]
    fn rados_hex_dumps() {
        let dump = "value (31 bytes) :\n\
            00000000  02 01 19 00 00 00 03 03  00 00 00 78 31 30 96 c5  |...........x10..|\n\
            00000010  11 6b 00 00 00 00 96 c5  11 6b 00 00 00 00 01     |.k.......k.....|\n\
            0000001f\n";
        let bytes = hexdump_bytes(dump);
        assert_eq!(bytes.len(), 31);
        assert_eq!(&bytes[..7], &[2, 1, 0x19, 0, 0, 0, 3]);
        assert_eq!(bytes[30], 1);
    }

    /// What ctime() prints for `t` in this process's time zone.
    fn ctime_of(t: i64) -> String {
        // SAFETY: an all-zero tm is valid; localtime_r fills it from a valid time_t.
        let mut tm: libc::tm = unsafe { std::mem::zeroed() };
        unsafe { libc::localtime_r(&(t as libc::time_t), &mut tm) };
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
        format!(
            "{} {} {:2} {:02}:{:02}:{:02} {}",
            days[tm.tm_wday as usize],
            months[tm.tm_mon as usize],
            tm.tm_mday,
            tm.tm_hour,
            tm.tm_min,
            tm.tm_sec,
            tm.tm_year + 1900
        )
    }

    /// rbd prints local time: read back in any zone, and (the test runs itself again
    /// with TZ set) in one 5:30 east of UTC.
    #[test]
    fn rbd_ctime_strings_are_local_time() {
        for t in [0, 1_700_000_000, 1_795_304_025] {
            assert_eq!(parse_ctime(&ctime_of(t)), Some(t), "{}", ctime_of(t));
        }
        assert_eq!(parse_ctime("garbage"), None);
        if std::env::var_os("RBD_CSI_TZ_CHILD").is_some() {
            assert_eq!(parse_ctime("Sun Nov 22 05:03:45 2026"), Some(1_795_304_025));
            return;
        }
        let me = std::env::current_exe().unwrap();
        let status = std::process::Command::new(me)
            .args(["--exact", "ceph::cli_output::tests::rbd_ctime_strings_are_local_time", "--quiet"])
            .env("TZ", "IST-5:30") // POSIX: UTC+5:30, no tzdata needed
            .env("RBD_CSI_TZ_CHILD", "1")
            .status()
            .unwrap();
        assert!(status.success(), "the test in TZ=IST-5:30 failed");
    }
}
