//! ceph-csi's config.json: clusterID → monitors and rados namespace. Read here only;
//! what is done with a cluster is for the callers.

use std::path::Path;

use crate::error::Error;
use crate::jsonparse::{self, Json};

/// One entry of ceph-csi's config.json.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    pub cluster_id: String,
    pub monitors: Vec<String>,
    pub rados_namespace: String,
}

/// Reads config.json: `[{"clusterID": "...", "monitors": [...], "rbd": {"radosNamespace": ""}}]`.
pub fn parse_config(text: &str) -> Result<Vec<ClusterConfig>, String> {
    let j = jsonparse::parse(text).map_err(|e| e.to_string())?;
    let entries = j.as_array().ok_or("config.json must be a list of clusters")?;
    let mut out = Vec::new();
    for e in entries {
        let cluster_id = e.str_at("clusterID").to_string();
        if cluster_id.is_empty() {
            return Err("config.json: an entry has no clusterID".to_string());
        }
        let monitors: Vec<String> = e
            .get("monitors")
            .and_then(Json::as_array)
            .map(|m| m.iter().filter_map(Json::as_str).map(str::to_string).collect())
            .unwrap_or_default();
        if monitors.is_empty() {
            return Err(format!("config.json: cluster {cluster_id} has no monitors"));
        }
        let rados_namespace = e.get("rbd").map(|r| r.str_at("radosNamespace").to_string()).unwrap_or_default();
        out.push(ClusterConfig { cluster_id, monitors, rados_namespace });
    }
    Ok(out)
}

/// The entry for `cluster_id` in the config.json at `path` (read on every call, so an
/// updated config map takes effect without a restart).
pub fn find_cluster(path: &Path, cluster_id: &str) -> Result<ClusterConfig, Error> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Unavailable(format!("cannot read {}: {e}", path.display())))?;
    parse_config(&text)
        .map_err(|e| Error::Unavailable(format!("{}: {e}", path.display())))?
        .into_iter()
        .find(|c| c.cluster_id == cluster_id)
        .ok_or_else(|| Error::invalid(format!("clusterID {cluster_id:?} is not in {}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_json_in_ceph_csi_format() {
        let c = parse_config(r#"[{"clusterID":"c1","monitors":["10.0.0.1:6789"],"rbd":{"radosNamespace":"ns1"}},{"clusterID":"c2","monitors":["v2:127.0.0.1:3300"]}]"#).unwrap();
        assert_eq!(
            c[0],
            ClusterConfig {
                cluster_id: "c1".into(),
                monitors: vec!["10.0.0.1:6789".into()],
                rados_namespace: "ns1".into()
            }
        );
        assert_eq!(c[1].rados_namespace, "");
        assert!(parse_config("{}").is_err());
        assert!(parse_config(r#"[{"clusterID":"x","monitors":[]}]"#).is_err());
        assert!(parse_config(r#"[{"monitors":["a"]}]"#).is_err());
    }
}
