//! Which staging and target paths the node works on: the CO's path resolved to the
//! symlink-free one it names (`sys::paths::resolve`), then checked against
//! `--allowed-path-prefix` — a link inside a prefix may point anywhere, so the string
//! alone proves nothing.

use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::sys::paths;

#[derive(Debug, Clone, Default)]
pub struct PathPolicy {
    /// Resolved prefixes; empty: any absolute path.
    allowed: Vec<PathBuf>,
}

impl PathPolicy {
    /// `allowed` as given by `--allowed-path-prefix` (resolved now: a prefix may itself
    /// be a link, e.g. /var/lib/kubelet on some hosts).
    pub fn new(allowed: &[PathBuf]) -> PathPolicy {
        PathPolicy { allowed: allowed.iter().map(|p| paths::resolve(p).unwrap_or_else(|_| p.clone())).collect() }
    }

    /// The symlink-free path `path` (`field` of the request) names, if it is allowed.
    pub fn resolve(&self, path: &Path, field: &str) -> Result<PathBuf, Error> {
        let real = paths::resolve(path).map_err(|e| match e {
            Error::InvalidArgument(m) => Error::InvalidArgument(format!("{field}: {m}")),
            e => e,
        })?;
        if !self.allowed.is_empty() && !self.allowed.iter().any(|a| real.starts_with(a) && real != *a) {
            return Err(Error::invalid(format!(
                "{field} {} resolves to {}, outside the allowed path prefixes",
                path.display(),
                real.display()
            )));
        }
        Ok(real)
    }
}

/// A staging and a target path must be different places, neither inside the other:
/// a bind on the staging path would hide the volume's mount under a second one.
pub fn check_apart(staging: &Path, target: &Path) -> Result<(), Error> {
    if staging.starts_with(target) || target.starts_with(staging) {
        return Err(Error::invalid(format!(
            "target_path {} and staging_target_path {} must be separate places (after resolving links)",
            target.display(),
            staging.display()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_out_of_the_prefix_is_refused_and_one_within_is_followed() {
        let d = std::env::temp_dir().join(format!("rbd-csi-policy-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("k/in")).unwrap();
        std::fs::create_dir_all(d.join("out")).unwrap();
        let d = std::fs::canonicalize(&d).unwrap();
        std::os::unix::fs::symlink(d.join("out"), d.join("k/escape")).unwrap();
        std::os::unix::fs::symlink("/etc", d.join("k/etc")).unwrap();
        std::os::unix::fs::symlink("in", d.join("k/inner")).unwrap();
        let policy = PathPolicy::new(&[d.join("k")]);
        assert_eq!(policy.resolve(&d.join("k/inner/x"), "p").unwrap(), d.join("k/in/x"));
        for bad in ["k/escape/x", "k/etc", "k/etc/x", "out/x", "k"] {
            assert!(matches!(policy.resolve(&d.join(bad), "p"), Err(Error::InvalidArgument(_))), "{bad}");
        }
        assert!(check_apart(&d.join("k/in/s"), &d.join("k/in/t")).is_ok());
        for (s, t) in [("k/in/s", "k/in/s"), ("k/in/s", "k/in/s/t"), ("k/in/t/s", "k/in/t")] {
            assert!(check_apart(&d.join(s), &d.join(t)).is_err(), "{s} {t}");
        }
        std::fs::remove_dir_all(&d).unwrap();
    }
}
