//! ceph-csi's `mapOptions` / `unmapOptions` (StorageClass parameters, carried to the
//! node in the volume context) for the kernel RBD client. Format, as in ceph-csi:
//! `"<mounter>:op1,op2;<mounter>:op1,op2"`, where an empty mounter means krbd; the
//! `nbd:` part is for rbd-nbd, which rbd-csi does not offer, and is left aside as
//! ceph-csi's krbd path does. Map options come from an allowlist: tuning options
//! only — never ones that change who maps (name, secret, key), what (namespace) or
//! how safely (read-only is the access mode's; the cephx signature switches).

use crate::error::{quote, Error};

/// krbd map options (rbd(8), "Kernel rbd (krbd) options") that only tune a mapping.
const MAP_OPTIONS: &[&str] = &[
    "share",
    "noshare",
    "crc",
    "nocrc",
    "tcp_nodelay",
    "notcp_nodelay",
    "mount_timeout",
    "osdkeepalive",
    "osd_idle_ttl",
    "queue_depth",
    "lock_timeout",
    "notrim",
    "abort_on_full",
    "alloc_size",
    "crush_location",
    "read_from_replica",
    "compression_hint",
    "ms_mode",
    "rxbounce",
    "exclusive",
    "lock_on_read",
];

/// The krbd options in a ceph-csi options value (`field` names it in errors).
fn krbd_part<'a>(value: &'a str, field: &str) -> Result<Vec<&'a str>, Error> {
    let mut out = Vec::new();
    for part in value.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let (mounter, options) = match part.split_once(':') {
            Some((m, o)) if !m.contains(',') && !m.contains('=') => (m.trim(), o),
            _ => ("", part),
        };
        match mounter {
            "" | "krbd" => out.extend(options.split(',').map(str::trim).filter(|o| !o.is_empty())),
            "nbd" => {}
            other => {
                return Err(Error::invalid(format!(
                    "{field}: mounter {} is not krbd or nbd (format: \"krbd:op1,op2;nbd:op1\")",
                    quote(other, 32)
                )))
            }
        }
    }
    Ok(out)
}

/// The krbd map options of a `mapOptions` value, checked.
pub fn map_options(value: &str) -> Result<Vec<String>, Error> {
    let options = krbd_part(value, "mapOptions")?;
    for o in &options {
        let (name, v) = o.split_once('=').unwrap_or((o, ""));
        if !MAP_OPTIONS.contains(&name) {
            return Err(Error::invalid(format!(
                "mapOptions: krbd option {} is not allowed (allowed: {})",
                quote(o, 64),
                MAP_OPTIONS.join(", ")
            )));
        }
        if !v.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b)) {
            return Err(Error::invalid(format!("mapOptions: the value of {} is not allowed", quote(o, 64))));
        }
    }
    Ok(options.into_iter().map(str::to_string).collect())
}

/// Whether an `unmapOptions` value asks for a forced unmap (krbd's one unmap option).
pub fn unmap_force(value: &str) -> Result<bool, Error> {
    let mut force = false;
    for o in krbd_part(value, "unmapOptions")? {
        match o {
            "force" => force = true,
            other => {
                return Err(Error::invalid(format!(
                    "unmapOptions: krbd option {} is not allowed (allowed: force)",
                    quote(other, 64)
                )))
            }
        }
    }
    Ok(force)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceph_csi_formats_and_the_allowlist() {
        assert_eq!(map_options("lock_on_read,queue_depth=1024").unwrap(), ["lock_on_read", "queue_depth=1024"]);
        assert_eq!(map_options("krbd:lock_on_read;nbd:try-netlink").unwrap(), ["lock_on_read"]);
        assert_eq!(map_options("nbd:try-netlink").unwrap(), Vec::<String>::new());
        assert_eq!(map_options("krbd:ms_mode=secure,read_from_replica=localize").unwrap().len(), 2);
        for bad in
            ["name=admin", "secret=AQB", "key=client.x", "_pool_ns=x", "ro", "nocephx_require_signatures", "xyz:a"]
        {
            assert!(matches!(map_options(bad), Err(Error::InvalidArgument(_))), "{bad}");
        }
        assert!(unmap_force("krbd:force;nbd:force").unwrap());
        assert!(!unmap_force("").unwrap());
        assert!(unmap_force("other").is_err());
    }
}
