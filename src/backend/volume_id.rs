//! ceph-csi's v1 volume id, encoded and decoded here only: the rbd controller makes
//! and reads ids, the kernel RBD attacher reads them to find a volume's image. It says
//! where a volume lives (cluster, pool id, uuid); it holds no state and reaches nothing.

/// A ceph-csi v1 volume id: `0001-<len(cluster) hex4>-<cluster>-<pool id hex16>-<uuid>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeId {
    pub cluster_id: String,
    pub pool_id: u64,
    pub uuid: String,
}

impl VolumeId {
    pub fn encode(&self) -> String {
        format!("{:04x}-{:04x}-{}-{:016x}-{}", 1, self.cluster_id.len(), self.cluster_id, self.pool_id, self.uuid)
    }

    pub fn decode(id: &str) -> Option<VolumeId> {
        let rest = id.strip_prefix("0001-")?;
        let len = usize::from_str_radix(rest.get(..4)?, 16).ok()?;
        let rest = rest.get(4..)?.strip_prefix('-')?;
        let cluster_id = rest.get(..len)?.to_string();
        let rest = rest.get(len..)?.strip_prefix('-')?;
        let pool_id = u64::from_str_radix(rest.get(..16)?, 16).ok()?;
        let uuid = rest.get(16..)?.strip_prefix('-')?.to_string();
        let uuid_ok = uuid.len() == 36 && uuid.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
        (uuid_ok && !cluster_id.is_empty()).then_some(VolumeId { cluster_id, pool_id, uuid })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_ids_are_ceph_csi_v1() {
        let id = VolumeId {
            cluster_id: "a088ee67-89b1-4571-94b8-b3418c830f51".into(),
            pool_id: 2,
            uuid: "8f5b3b2e-1c1d-4f3c-9a51-0d6f1b2c3d4e".into(),
        };
        let s = id.encode();
        assert_eq!(
            s,
            "0001-0024-a088ee67-89b1-4571-94b8-b3418c830f51-0000000000000002-8f5b3b2e-1c1d-4f3c-9a51-0d6f1b2c3d4e"
        );
        assert!(s.len() <= 128);
        assert_eq!(VolumeId::decode(&s), Some(id));
        for bad in
            ["", "0002-0001-x-0000000000000002-8f5b3b2e-1c1d-4f3c-9a51-0d6f1b2c3d4e", "0001-0024-short", "lv-0011"]
        {
            assert_eq!(VolumeId::decode(bad), None, "{bad}");
        }
    }
}
