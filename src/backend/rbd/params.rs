//! ceph-csi's StorageClass parameters for rbd, each either honoured as ceph-csi does
//! or refused with INVALID_ARGUMENT naming it and saying why; a key no ceph-csi
//! version knows is refused too. Nothing is dropped silently.

use std::collections::HashMap;

use crate::ceph::rados::Striping;
use crate::error::{quote, Error};

/// What rbd-csi does with one parameter.
enum Rule {
    /// Implemented as in ceph-csi.
    Honoured,
    /// Implemented, with a value this checks.
    Checked(fn(&str) -> Result<(), Error>),
    /// Accepted when its value is one of these (the setting rbd-csi has anyway, as
    /// ceph-csi would with it); any other value is refused for the reason given.
    Only(&'static [&'static str], &'static str),
    /// Accepted whatever its value, because ceph-csi ignores it too in every setting
    /// rbd-csi accepts (options of encryption or of the rbd-nbd mounter, which are
    /// refused themselves).
    Inert,
    /// Refused when set to anything but "": not implemented (yet), with the reason.
    NotYet(&'static str),
}

const ENCRYPTION: &str = "encryption is not implemented yet; rbd-csi refuses rather than create an unencrypted volume";

/// Every key ceph-csi's rbd driver reads from a StorageClass (v3.x), and how rbd-csi
/// takes it. Keys under `csi.storage.k8s.io/` belong to the Kubernetes sidecars.
const PARAMETERS: &[(&str, Rule)] = &[
    ("clusterID", Rule::Honoured),
    ("pool", Rule::Honoured),
    ("dataPool", Rule::Honoured),
    ("journalPool", Rule::Honoured),
    ("imageFeatures", Rule::Honoured),
    ("volumeNamePrefix", Rule::Honoured),
    ("mkfsOptions", Rule::Honoured),
    ("imageFormat", Rule::Only(&["2"], "images are always format 2 (as in ceph-csi)")),
    ("mounter", Rule::Only(&["", "rbd"], "the only mounter is the kernel RBD client (rbd); rbd-nbd is not offered")),
    ("tryOtherMounters", Rule::Only(&["", "false"], "there is no other mounter than the kernel RBD client")),
    ("thickProvision", Rule::Only(&["", "false"], "thick provisioning is not offered; images are thin")),
    ("encrypted", Rule::Only(&["", "false"], ENCRYPTION)),
    ("encryptionType", Rule::Inert),
    ("encryptionKMSID", Rule::Inert),
    ("encryptionCipher", Rule::Inert),
    ("encryptionKeySize", Rule::Inert),
    ("encryptionSectorSize", Rule::Inert),
    ("integrityMode", Rule::Inert),
    ("cephLogDir", Rule::Inert),
    ("cephLogStrategy", Rule::Inert),
    ("mapOptions", Rule::Checked(|v| crate::backend::krbd::options::map_options(v).map(drop))),
    ("unmapOptions", Rule::Checked(|v| crate::backend::krbd::options::unmap_force(v).map(drop))),
    ("stripeUnit", Rule::Honoured),
    ("stripeCount", Rule::Honoured),
    ("objectSize", Rule::Honoured),
    (super::topology::PARAMETER, Rule::Checked(super::topology::check)),
    ("BaseReadIops", Rule::NotYet("QoS limits are not offered yet")),
    ("BaseWriteIops", Rule::NotYet("QoS limits are not offered yet")),
    ("BaseReadBytesPerSecond", Rule::NotYet("QoS limits are not offered yet")),
    ("BaseWriteBytesPerSecond", Rule::NotYet("QoS limits are not offered yet")),
    ("ReadIopsPerGiB", Rule::NotYet("QoS limits are not offered yet")),
    ("WriteIopsPerGiB", Rule::NotYet("QoS limits are not offered yet")),
    ("ReadBpsPerGiB", Rule::NotYet("QoS limits are not offered yet")),
    ("WriteBpsPerGiB", Rule::NotYet("QoS limits are not offered yet")),
    ("BaseVolSizeBytes", Rule::NotYet("QoS limits are not offered yet")),
];

/// Checks CreateVolume's parameters for the rbd backend.
pub fn check(params: &HashMap<String, String>) -> Result<(), Error> {
    let mut keys: Vec<&String> = params.keys().collect();
    keys.sort();
    for key in keys {
        let value = params[key].as_str();
        if key.starts_with("csi.storage.k8s.io/") {
            continue;
        }
        let Some((_, rule)) = PARAMETERS.iter().find(|(k, _)| k == key) else {
            let known: Vec<&str> = PARAMETERS.iter().map(|(k, _)| *k).collect();
            let hint =
                if key.eq_ignore_ascii_case("fstype") { " (the filesystem is csi.storage.k8s.io/fstype)" } else { "" };
            return Err(Error::invalid(format!(
                "parameter {} is not a ceph-csi rbd parameter{hint}; known: {} (and csi.storage.k8s.io/*)",
                quote(key, 64),
                known.join(", ")
            )));
        };
        let refused = |why: &str| Error::invalid(format!("parameter {key}={}: {why}", quote(value, 64)));
        match rule {
            Rule::Checked(check) => check(value)?,
            Rule::Honoured | Rule::Inert => {}
            Rule::Only(allowed, why) if !allowed.contains(&value) => return Err(refused(why)),
            Rule::Only(..) => {}
            Rule::NotYet(why) if !value.is_empty() => return Err(refused(why)),
            Rule::NotYet(_) => {}
        }
    }
    Ok(())
}

/// Ceph's object size bounds (rbd: order 12 to 25).
const MIN_OBJECT: u64 = 4 << 10;
const MAX_OBJECT: u64 = 32 << 20;
/// Ceph's default object size.
const DEFAULT_OBJECT: u64 = 4 << 20;

/// The image layout the parameters ask for: `objectSize` (a power of two, 4 KiB to
/// 32 MiB), `stripeUnit` and `stripeCount` (together; the unit divides the object
/// size), checked here so Ceph never sees a layout it refuses.
pub fn striping(params: &HashMap<String, String>) -> Result<Striping, Error> {
    let number = |key: &str| -> Result<Option<u64>, Error> {
        match params.get(key).map(String::as_str).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(v) => v.parse::<u64>().ok().filter(|n| *n > 0).map(Some).ok_or_else(|| {
                Error::invalid(format!("parameter {key}={}: a positive number of bytes is expected", quote(v, 32)))
            }),
        }
    };
    let s = Striping {
        object_size: number("objectSize")?,
        stripe_unit: number("stripeUnit")?,
        stripe_count: number("stripeCount")?,
    };
    let object = s.object_size.unwrap_or(DEFAULT_OBJECT);
    if !object.is_power_of_two() || !(MIN_OBJECT..=MAX_OBJECT).contains(&object) {
        return Err(Error::invalid(format!(
            "parameter objectSize={object}: a power of two from {MIN_OBJECT} to {MAX_OBJECT} bytes is expected"
        )));
    }
    match (s.stripe_unit, s.stripe_count) {
        (None, None) => {}
        (Some(unit), Some(_)) if unit >= MIN_OBJECT && object % unit == 0 => {}
        (Some(unit), Some(_)) => {
            return Err(Error::invalid(format!(
                "parameter stripeUnit={unit}: at least {MIN_OBJECT} bytes and a divisor of the object size ({object})"
            )))
        }
        _ => return Err(Error::invalid("parameters stripeUnit and stripeCount go together")),
    }
    Ok(s)
}

/// The keys external-provisioner adds with `--extra-create-metadata`; ceph-csi keeps
/// them as the image's metadata (under the same names), and so does rbd-csi.
pub const IMAGE_METADATA: &[&str] =
    &["csi.storage.k8s.io/pv/name", "csi.storage.k8s.io/pvc/name", "csi.storage.k8s.io/pvc/namespace"];

/// The (key, value) pairs of `IMAGE_METADATA` the parameters carry.
pub fn image_metadata(params: &HashMap<String, String>) -> Vec<(&str, &str)> {
    IMAGE_METADATA.iter().filter_map(|k| Some((*k, params.get(*k)?.as_str()))).collect()
}

/// The parameters the volume context carries on to the node (ceph-csi passes its
/// parameters along; these are the ones the node uses).
pub const FOR_THE_NODE: &[&str] = &["mkfsOptions", "mapOptions", "unmapOptions"];

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn striping_is_checked_before_ceph_sees_it() {
        let s =
            striping(&params(&[("objectSize", "8388608"), ("stripeUnit", "65536"), ("stripeCount", "16")])).unwrap();
        assert_eq!(s, Striping { object_size: Some(8 << 20), stripe_unit: Some(65536), stripe_count: Some(16) });
        assert_eq!(s.cli_args().join(" "), "--object-size 8388608 --stripe-unit 65536 --stripe-count 16");
        assert_eq!(striping(&params(&[])).unwrap(), Striping::default());
        for bad in [
            &[("objectSize", "3000000")][..],
            &[("objectSize", "1024")],
            &[("objectSize", "-1")],
            &[("stripeUnit", "65536")],
            &[("stripeUnit", "3000"), ("stripeCount", "2")],
            &[("objectSize", "65536"), ("stripeUnit", "131072"), ("stripeCount", "2")],
        ] {
            assert!(matches!(striping(&params(bad)), Err(Error::InvalidArgument(_))), "{bad:?}");
        }
    }

    #[test]
    fn every_parameter_is_honoured_or_refused_by_name() {
        let ok = params(&[
            ("clusterID", "c"),
            ("pool", "rbd"),
            ("imageFeatures", "layering"),
            ("mkfsOptions", "-m0"),
            ("imageFormat", "2"),
            ("mounter", "rbd"),
            ("encrypted", "false"),
            ("encryptionKMSID", "vault"),
            ("thickProvision", "false"),
            ("mapOptions", "krbd:lock_on_read;nbd:try-netlink"),
            ("unmapOptions", "krbd:force"),
            (
                "topologyConstrainedPools",
                r#"[{"poolName":"rbd2","domainSegments":[{"domainLabel":"zone","value":"z1"}]}]"#,
            ),
            ("csi.storage.k8s.io/pv/name", "pv-1"),
            ("csi.storage.k8s.io/pvc/name", "data"),
            ("csi.storage.k8s.io/pvc/namespace", "default"),
        ]);
        check(&ok).unwrap();
        for (key, value, says) in [
            ("encrypted", "true", "encryption is not implemented"),
            ("thickProvision", "true", "thin"),
            ("mounter", "rbd-nbd", "rbd-nbd is not offered"),
            ("tryOtherMounters", "true", "no other mounter"),
            ("imageFormat", "1", "format 2"),
            ("mapOptions", "krbd:name=admin", "not allowed"),
            ("unmapOptions", "krbd:lazy", "not allowed"),
            ("topologyConstrainedPools", "[]", "lists no pools"),
            ("topologyConstrainedPools", "{", "not valid JSON"),
            ("BaseReadIops", "100", "QoS"),
            ("fsType", "ext4", "not a ceph-csi rbd parameter"),
            ("poool", "rbd", "known: clusterID, pool"),
        ] {
            let mut p = ok.clone();
            p.insert(key.to_string(), value.to_string());
            let err = check(&p).unwrap_err();
            assert!(
                matches!(err, Error::InvalidArgument(ref m) if m.contains(key) && m.contains(says)),
                "{key}: {err}"
            );
        }
    }
}
