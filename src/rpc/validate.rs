//! Request validation shared by the services: bad input gets INVALID_ARGUMENT with a
//! message naming the field, before anything is queued or changed.

use std::path::{Component, Path, PathBuf};

use crate::csi::volume_capability::access_mode::Mode;
use crate::csi::VolumeCapability;
use crate::error::{quote, Error};
use crate::node::{mount_flags, Access};
use crate::sys::FsKind;

pub const MAX_ID_LEN: usize = 128;
pub const MAX_NAME_LEN: usize = 256;
pub const MAX_PATH_LEN: usize = 4096;
pub const MAX_MAP_ENTRIES: usize = 128;
/// Topologies in one list of accessibility_requirements: Kubernetes may send one per
/// node of the cluster (immediate binding).
pub const MAX_TOPOLOGIES: usize = 4096;
/// A value may hold a certificate or a KMS token; the whole request stays bounded by
/// gRPC's message size.
pub const MAX_MAP_VALUE: usize = 64 * 1024;

/// A volume or snapshot id: 1–128 bytes of [A-Za-z0-9._-] (ceph-csi's ids and ours).
pub fn id(value: &str, field: &str) -> Result<(), Error> {
    if value.is_empty() {
        return Err(Error::invalid(format!("{field} is required")));
    }
    if value.len() > MAX_ID_LEN {
        return Err(Error::invalid(format!("{field} is longer than {MAX_ID_LEN} bytes")));
    }
    if !value.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) || value.starts_with('.') {
        return Err(Error::invalid(format!("{field} {} has characters a volume id cannot have", quote(value, 200))));
    }
    Ok(())
}

/// A CO-chosen name (CreateVolume, CreateSnapshot).
pub fn name(value: &str, field: &str) -> Result<(), Error> {
    if value.is_empty() {
        return Err(Error::invalid(format!("{field} is required")));
    }
    if value.len() > MAX_NAME_LEN {
        return Err(Error::invalid(format!("{field} is longer than {MAX_NAME_LEN} bytes")));
    }
    if value.chars().any(|c| c.is_control()) {
        return Err(Error::invalid(format!("{field} contains control characters")));
    }
    Ok(())
}

/// A node id (NodeGetInfo's, as a CO passes it back to ControllerPublishVolume):
/// 1–256 bytes of [A-Za-z0-9._:-], not starting with '-' (it becomes a lock's cookie,
/// also on the `rados` command line).
pub fn node_id(value: &str, field: &str) -> Result<(), Error> {
    name(value, field)?;
    if !value.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':')) || value.starts_with('-')
    {
        return Err(Error::invalid(format!("{field} {} has characters a node id cannot have", quote(value, 200))));
    }
    Ok(())
}

/// An absolute path without `..`, under one of `allowed` when any are configured.
pub fn path(value: &str, field: &str, allowed: &[PathBuf]) -> Result<PathBuf, Error> {
    if value.is_empty() {
        return Err(Error::invalid(format!("{field} is required")));
    }
    if value.len() > MAX_PATH_LEN {
        return Err(Error::invalid(format!("{field} is longer than {MAX_PATH_LEN} bytes")));
    }
    let p = Path::new(value);
    if !p.is_absolute() {
        return Err(Error::invalid(format!("{field} {} is not an absolute path", quote(value, 200))));
    }
    if p.components().any(|c| matches!(c, Component::ParentDir)) {
        return Err(Error::invalid(format!("{field} {} may not contain '..'", quote(value, 200))));
    }
    if value.chars().any(char::is_control) {
        return Err(Error::invalid(format!("{field} {} may not contain control characters", quote(value, 200))));
    }
    let clean: PathBuf = p.components().collect();
    if !allowed.is_empty() && !allowed.iter().any(|a| clean.starts_with(a) && clean != *a) {
        return Err(Error::invalid(format!("{field} {} is outside the allowed path prefixes", quote(value, 200))));
    }
    Ok(clean)
}

/// A size field: CSI sizes are int64 and may not be negative.
fn bytes(v: i64, field: &str) -> Result<u64, Error> {
    u64::try_from(v).map_err(|_| Error::invalid(format!("{field} may not be negative")))
}

/// A capacity range's (required, limit) bytes; (0, 0) when there is none.
pub fn range(r: Option<&crate::csi::CapacityRange>) -> Result<(u64, u64), Error> {
    match r {
        None => Ok((0, 0)),
        Some(r) => Ok((bytes(r.required_bytes, "required_bytes")?, bytes(r.limit_bytes, "limit_bytes")?)),
    }
}

/// Bounds on a string map (parameters, secrets, contexts).
pub fn map(m: &std::collections::HashMap<String, String>, field: &str) -> Result<(), Error> {
    if m.len() > MAX_MAP_ENTRIES {
        return Err(Error::invalid(format!("{field} has more than {MAX_MAP_ENTRIES} entries")));
    }
    if let Some((k, _)) = m.iter().find(|(k, v)| k.len() > MAX_NAME_LEN || v.len() > MAX_MAP_VALUE) {
        return Err(Error::invalid(format!("{field} entry {} is too large", quote(k, 40))));
    }
    Ok(())
}

/// Whether the access mode is one the driver serves, for the access type.
fn mode_supported(mode: Mode, block: bool) -> Result<bool, Error> {
    Ok(match mode {
        Mode::UNKNOWN => return Err(Error::invalid("volume_capability.access_mode is required")),
        Mode::SINGLE_NODE_WRITER
        | Mode::SINGLE_NODE_READER_ONLY
        | Mode::SINGLE_NODE_SINGLE_WRITER
        | Mode::SINGLE_NODE_MULTI_WRITER
        | Mode::MULTI_NODE_READER_ONLY => true,
        // Many writers on one filesystem corrupt it; a raw device is the user's business.
        Mode::MULTI_NODE_SINGLE_WRITER | Mode::MULTI_NODE_MULTI_WRITER => block,
    })
}

/// The checked meaning of one capability.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capability {
    pub access: Access,
    pub read_only_mode: bool,
}

/// Checks a capability; `Err` for malformed ones, `Ok(None)` for well-formed ones the
/// driver cannot serve (ValidateVolumeCapabilities reports those without an error).
pub fn capability(cap: &VolumeCapability, mkfs_options: Option<&str>) -> Result<Option<Capability>, Error> {
    let mode = cap
        .access_mode
        .as_ref()
        .ok_or_else(|| Error::invalid("volume_capability.access_mode is required"))?
        .mode
        .enum_value()
        .map_err(|n| Error::invalid(format!("volume_capability.access_mode {n} is unknown")))?;
    let block = cap.has_block();
    if !block && !cap.has_mount() {
        return Err(Error::invalid("volume_capability needs an access type: block or mount"));
    }
    if !mode_supported(mode, block)? {
        return Ok(None);
    }
    let read_only_mode = matches!(mode, Mode::SINGLE_NODE_READER_ONLY | Mode::MULTI_NODE_READER_ONLY);
    if block {
        return Ok(Some(Capability { access: Access::Block, read_only_mode }));
    }
    let m = cap.mount();
    let fs = match m.fs_type.as_str() {
        "" => FsKind::Ext4,
        other => match FsKind::parse(other) {
            Some(fs) => fs,
            None => return Ok(None),
        },
    };
    let (_, data) = mount_flags::parse(&m.mount_flags)?;
    mount_flags::check_fs_options(fs, &data)?;
    if let Some(options) = mkfs_options {
        crate::node::mkfs::check_options(fs, options)?;
    }
    Ok(Some(Capability {
        access: Access::Mount { fs, flags: m.mount_flags.clone(), mkfs_options: mkfs_options.map(str::to_string) },
        read_only_mode,
    }))
}

/// Like `capability`, but an unsupported capability is an INVALID_ARGUMENT error.
pub fn required_capability(cap: Option<&VolumeCapability>, mkfs_options: Option<&str>) -> Result<Capability, Error> {
    let cap = cap.ok_or_else(|| Error::invalid("volume_capability is required"))?;
    capability(cap, mkfs_options)?.ok_or_else(|| {
        Error::invalid(
            "volume_capability is not supported: filesystems are ext4 or xfs, and multi-node writers need block access",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert!(id("0001-0024-abc-0000000000000002-x", "volume_id").is_ok());
        for bad in ["", "a/b", "..", ".x", "a b", &"x".repeat(129)] {
            assert!(id(bad, "volume_id").is_err(), "{bad}");
        }
    }

    #[test]
    fn paths() {
        let allowed = vec![PathBuf::from("/var/lib/kubelet")];
        assert_eq!(path("/var/lib/kubelet/pods/x/", "p", &allowed).unwrap(), PathBuf::from("/var/lib/kubelet/pods/x"));
        for bad in [
            "",
            "rel/x",
            "/var/lib/kubelet/../etc",
            "/etc/x",
            "/var/lib/kubelet",
            "/var/lib/kubeletx/y",
            "/var/lib/kubelet/a\nb",
        ] {
            assert!(path(bad, "p", &allowed).is_err(), "{bad}");
        }
        assert!(path("/anything", "p", &[]).is_ok());
    }
}
