//! ceph-csi's StorageClass parameters for rbd, each either honoured as ceph-csi does
//! or refused with INVALID_ARGUMENT naming it and saying why; a key no ceph-csi
//! version knows is refused too. Nothing is dropped silently.

use std::collections::HashMap;

use crate::error::{quote, Error};

/// What rbd-csi does with one parameter.
enum Rule {
    /// Implemented as in ceph-csi.
    Honoured,
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
    ("mapOptions", Rule::NotYet("krbd map options are not passed on yet")),
    ("unmapOptions", Rule::NotYet("krbd unmap options are not passed on yet")),
    ("stripeUnit", Rule::NotYet("image striping is not offered yet")),
    ("stripeCount", Rule::NotYet("image striping is not offered yet")),
    ("objectSize", Rule::NotYet("a custom object size is not offered yet")),
    ("topologyConstrainedPools", Rule::NotYet("topology-constrained pools are not offered yet")),
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
            Rule::Honoured | Rule::Inert => {}
            Rule::Only(allowed, why) if !allowed.contains(&value) => return Err(refused(why)),
            Rule::Only(..) => {}
            Rule::NotYet(why) if !value.is_empty() => return Err(refused(why)),
            Rule::NotYet(_) => {}
        }
    }
    Ok(())
}

/// The parameters the volume context carries on to the node (ceph-csi passes its
/// parameters along; these are the ones the node uses).
pub const FOR_THE_NODE: &[&str] = &["mkfsOptions"];

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
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
            ("mapOptions", ""),
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
            ("mapOptions", "krbd:lock_on_read", "map options"),
            ("unmapOptions", "krbd:force", "unmap options"),
            ("stripeUnit", "65536", "striping"),
            ("objectSize", "8388608", "object size"),
            ("topologyConstrainedPools", "[]", "topology"),
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
