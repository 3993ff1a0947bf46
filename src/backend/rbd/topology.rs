//! ceph-csi's `topologyConstrainedPools` StorageClass parameter: a JSON list of pools,
//! each serving the topologies whose segments match its `domainSegments`:
//!
//! ```text
//! [{"poolName": "p1", "dataPool": "ec1",
//!   "domainSegments": [{"domainLabel": "zone", "value": "z1"}]}, …]
//! ```
//!
//! As ceph-csi v3.12 does (internal/util/topology.go, internal/rbd/rbd_journal.go
//! `updateTopologyConstraints`): with accessibility requirements, CreateVolume takes the
//! first pool whose segments all match a requested topology, trying the preferred
//! topologies in order and then the requisite ones; a segment matches a topology key
//! whose part after the first '/' is its `domainLabel` (`topology.rbd.csi.rs/zone`
//! → `zone`) with its value; a pool without segments serves every topology. The image
//! goes there with the entry's `dataPool` (none when it has none, whatever `dataPool`
//! says), the journal too (unless `journalPool` names one: ceph-csi v3.11+ keeps it in
//! the chosen pool), so the volume id carries that pool's id and every later call finds
//! the volume as any other; the reply's accessible_topology is the topology matched.
//! A restore stays in its snapshot's pool, which must be listed and serve a requested
//! topology; a clone goes wherever its topology leads. Without accessibility
//! requirements the parameter chooses nothing and `pool` is used.
//!
//! Where ceph-csi is lax, rbd-csi refuses with INVALID_ARGUMENT instead: JSON that is
//! not a list of such entries (also without requirements, where ceph-csi never reads
//! it), an empty list, an unknown key (ceph-csi ignores a misspelt `domainSegments`,
//! and the pool then serves every topology), an entry without a pool, a segment without
//! a label or value. A requested topology no pool serves is RESOURCE_EXHAUSTED, the
//! CSI spec's code for it, on which external-provisioner reschedules (ceph-csi answers
//! INTERNAL).

use std::collections::HashMap;
use std::fmt::Write as _;

use crate::backend::{Accessibility, Segments};
use crate::error::{quote, Error};
use crate::jsonparse::{self, Json};
use crate::topology::domain;

pub const PARAMETER: &str = "topologyConstrainedPools";

const SHAPE: &str =
    r#"expected [{"poolName": "…", "dataPool": "…", "domainSegments": [{"domainLabel": "…", "value": "…"}]}, …]"#;

/// One entry of the parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopologyPool {
    pub pool: String,
    pub data_pool: Option<String>,
    /// (domainLabel, value): all must match; none: every topology.
    pub segments: Vec<(String, String)>,
}

/// Where a constrained volume goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub pool: String,
    pub data_pool: Option<String>,
    /// The requested topology it serves: the volume's accessible_topology.
    pub topology: Segments,
}

fn refused(why: impl std::fmt::Display) -> Error {
    Error::invalid(format!("parameter {PARAMETER}: {why}"))
}

/// A JSON object's values for `known` keys (None: absent or null). Keys match
/// case-insensitively, as Go's encoding/json matches them for ceph-csi; an unknown or
/// repeated key is refused.
fn fields<'a>(j: &'a Json, known: &[&str], what: &str) -> Result<Vec<Option<&'a Json>>, Error> {
    let Json::Obj(pairs) = j else { return Err(refused(format!("{what} must be a JSON object; {SHAPE}"))) };
    let mut out = vec![None; known.len()];
    let mut seen = vec![false; known.len()];
    for (key, value) in pairs {
        let Some(i) = known.iter().position(|k| k.eq_ignore_ascii_case(key)) else {
            return Err(refused(format!("{what} has unknown key {} (known: {})", quote(key, 40), known.join(", "))));
        };
        if std::mem::replace(&mut seen[i], true) {
            return Err(refused(format!("{what} has {} twice", known[i])));
        }
        out[i] = Some(value).filter(|v| **v != Json::Null);
    }
    Ok(out)
}

/// A string field; "" when absent.
fn text<'a>(value: Option<&'a Json>, what: &str, key: &str) -> Result<&'a str, Error> {
    match value {
        None => Ok(""),
        Some(Json::Str(s)) => Ok(s),
        Some(_) => Err(refused(format!("{what}: {key} must be a string"))),
    }
}

fn entry(n: usize, j: &Json) -> Result<TopologyPool, Error> {
    let what = format!("pool entry {n}");
    let f = fields(j, &["poolName", "dataPool", "domainSegments"], &what)?;
    let pool = text(f[0], &what, "poolName")?;
    if pool.is_empty() {
        return Err(refused(format!("{what} needs a poolName")));
    }
    let data_pool = text(f[1], &what, "dataPool")?;
    let segments = match f[2] {
        None => Vec::new(),
        Some(Json::Arr(list)) => list
            .iter()
            .enumerate()
            .map(|(m, s)| {
                let what = format!("{what}, domain segment {}", m + 1);
                let f = fields(s, &["domainLabel", "value"], &what)?;
                let (label, value) = (text(f[0], &what, "domainLabel")?, text(f[1], &what, "value")?);
                if label.is_empty() || value.is_empty() {
                    return Err(refused(format!(
                        r#"{what} needs a domainLabel and a value, as {{"domainLabel": "zone", "value": "z1"}}"#
                    )));
                }
                Ok((label.to_string(), value.to_string()))
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(refused(format!("{what}: domainSegments must be a list; {SHAPE}"))),
    };
    Ok(TopologyPool {
        pool: pool.to_string(),
        data_pool: Some(data_pool.to_string()).filter(|d| !d.is_empty()),
        segments,
    })
}

/// The pools the parameter lists.
pub fn parse(value: &str) -> Result<Vec<TopologyPool>, Error> {
    // ceph-csi turns newlines (a multi-line YAML value) into spaces before parsing.
    let json = jsonparse::parse(&value.replace('\n', " "))
        .map_err(|e| refused(format!("{} is not valid JSON ({e}); {SHAPE}", quote(value, 64))))?;
    let list = json.as_array().ok_or_else(|| refused(format!("must be a JSON list of pools; {SHAPE}")))?;
    if list.is_empty() {
        return Err(refused("lists no pools: list at least one, or leave the parameter out"));
    }
    list.iter().enumerate().map(|(i, e)| entry(i + 1, e)).collect()
}

/// The parameter's value check (params.rs): "" is unset.
pub fn check(value: &str) -> Result<(), Error> {
    if value.is_empty() {
        return Ok(());
    }
    parse(value).map(drop)
}

/// Whether `pool` serves `topology`: each of its segments is matched by a key of that
/// domain with that value.
fn serves(pool: &TopologyPool, topology: &Segments) -> bool {
    pool.segments.iter().all(|(label, value)| topology.iter().any(|(k, v)| domain(k) == label && v == value))
}

/// The first pool serving a preferred topology, in order, else a requisite one.
fn first_serving(pools: &[TopologyPool], wanted: &Accessibility) -> Option<Placement> {
    wanted.preferred.iter().chain(&wanted.requisite).find_map(|topology| {
        pools.iter().find(|p| serves(p, topology)).map(|p| Placement {
            pool: p.pool.clone(),
            data_pool: p.data_pool.clone(),
            topology: topology.clone(),
        })
    })
}

/// Topologies for a message, a few of them: Kubernetes may send every node's.
fn describe(list: &[Segments]) -> String {
    const SHOWN: usize = 4;
    let mut out = String::from("[");
    for (i, t) in list.iter().take(SHOWN).enumerate() {
        let mut keys: Vec<_> = t.iter().collect();
        keys.sort();
        let inner: Vec<String> = keys.iter().map(|(k, v)| format!("{}={}", quote(k, 64), quote(v, 64))).collect();
        let _ = write!(out, "{}{{{}}}", if i > 0 { ", " } else { "" }, inner.join(", "));
    }
    if list.len() > SHOWN {
        let _ = write!(out, ", … {} more", list.len() - SHOWN);
    }
    out + "]"
}

fn describe_pool(p: &TopologyPool) -> String {
    let segs: Vec<String> = p.segments.iter().map(|(l, v)| format!("{l}={v}")).collect();
    match segs.is_empty() {
        true => format!("{} (every topology)", p.pool),
        false => format!("{} {{{}}}", p.pool, segs.join(", ")),
    }
}

/// The parameter's pools and the requirements they are matched against.
pub struct Constraint<'a> {
    pools: Vec<TopologyPool>,
    wanted: &'a Accessibility,
}

impl<'a> Constraint<'a> {
    /// None when the parameter is unset, or the request has no accessibility
    /// requirements: then it chooses nothing (ceph-csi reads it only with them).
    pub fn new(params: &HashMap<String, String>, wanted: Option<&'a Accessibility>) -> Result<Option<Self>, Error> {
        let Some(value) = params.get(PARAMETER).filter(|v| !v.is_empty()) else { return Ok(None) };
        let pools = parse(value)?;
        let wanted = wanted.filter(|w| !w.requisite.is_empty() || !w.preferred.is_empty());
        Ok(wanted.map(|wanted| Constraint { pools, wanted }))
    }

    fn requested(&self) -> String {
        format!("preferred {}, requisite {}", describe(&self.wanted.preferred), describe(&self.wanted.requisite))
    }

    /// The first pool serving a requested topology.
    pub fn place(&self) -> Result<Placement, Error> {
        first_serving(&self.pools, self.wanted).ok_or_else(|| {
            let pools: Vec<String> = self.pools.iter().map(describe_pool).collect();
            Error::ResourceExhausted(format!(
                "no pool of {PARAMETER} serves the requested topology ({}); the pools serve: {}; provision \
                 where one of them is, or list a pool for this topology in the StorageClass",
                self.requested(),
                pools.join(", ")
            ))
        })
    }

    /// A restore: the snapshot's `pool` (ceph-csi takes its first entry) if it serves
    /// a requested topology.
    pub fn place_in(&self, pool: &str, snapshot: &str) -> Result<Placement, Error> {
        let Some(entry) = self.pools.iter().find(|p| p.pool == pool) else {
            return Err(refused(format!(
                "snapshot {snapshot} is in pool {pool}, and {PARAMETER} does not list pool {pool}: a restore \
                 stays in the pool of its snapshot (as in ceph-csi); list {pool} with the topology it serves"
            )));
        };
        first_serving(std::slice::from_ref(entry), self.wanted).ok_or_else(|| {
            Error::ResourceExhausted(format!(
                "a restore stays in the pool of its snapshot, {pool} (as in ceph-csi), and {PARAMETER} has it \
                 serve {}, not the requested topology ({})",
                describe_pool(entry),
                self.requested()
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segs(pairs: &[(&str, &str)]) -> Segments {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    const K: &str = "topology.rbd.csi.rs";

    fn pools() -> Vec<TopologyPool> {
        parse(
            r#"[{"poolName":"p1","domainSegments":[{"domainLabel":"zone","value":"z1"}]},
                {"poolName":"p2","dataPool":"ec2","domainSegments":
                  [{"domainLabel":"zone","value":"z2"},{"domainLabel":"rack","value":"r1"}]}]"#,
        )
        .unwrap()
    }

    fn wanted(requisite: &[Segments], preferred: &[Segments]) -> Accessibility {
        Accessibility { requisite: requisite.to_vec(), preferred: preferred.to_vec() }
    }

    #[test]
    fn parses_ceph_csis_form() {
        let p = pools();
        assert_eq!(
            p[0],
            TopologyPool { pool: "p1".into(), data_pool: None, segments: vec![("zone".into(), "z1".into())] }
        );
        assert_eq!(p[1].data_pool.as_deref(), Some("ec2"));
        assert_eq!(p[1].segments.len(), 2);
        // Go's encoding/json matches keys case-insensitively; null is absent.
        let p = parse(r#"[{"PoolName":"p3","datapool":null,"DomainSegments":null}]"#).unwrap();
        assert_eq!(p, vec![TopologyPool { pool: "p3".into(), data_pool: None, segments: vec![] }]);
    }

    #[test]
    fn bad_values_are_refused_naming_the_parameter() {
        for (value, says) in [
            (r#"[{"poolName":"p1""#, "not valid JSON"),
            ("[]", "lists no pools"),
            (r#"{"poolName":"p1"}"#, "a JSON list"),
            (r#"["p1"]"#, "pool entry 1 must be a JSON object"),
            (r#"[{"domainSegments":[]}]"#, "pool entry 1 needs a poolName"),
            (r#"[{"poolName":""}]"#, "needs a poolName"),
            (r#"[{"poolName":7}]"#, "poolName must be a string"),
            (r#"[{"poolName":"p1","domainSegment":[]}]"#, "unknown key \"domainSegment\""),
            (r#"[{"poolName":"p1","poolName":"p2"}]"#, "poolName twice"),
            (r#"[{"poolName":"p1","domainSegments":{}}]"#, "domainSegments must be a list"),
            (
                r#"[{"poolName":"p1","domainSegments":[{"domainLabel":"zone"}]}]"#,
                "segment 1 needs a domainLabel and a value",
            ),
            (r#"[{"poolName":"p1","domainSegments":[{"value":"z1"}]}]"#, "needs a domainLabel"),
            (
                r#"[{"poolName":"p1","domainSegments":[{"domainLabel":"zone","value":"z1","x":1}]}]"#,
                "unknown key \"x\"",
            ),
        ] {
            let err = parse(value).unwrap_err();
            assert!(
                matches!(&err, Error::InvalidArgument(m) if m.contains(PARAMETER) && m.contains(says)),
                "{value}: {err}"
            );
        }
        check("").unwrap();
        assert!(check("[]").is_err());
    }

    #[test]
    fn preferred_topologies_first_then_requisite() {
        let (z1, z2r1) = (
            segs(&[(&format!("{K}/zone"), "z1")]),
            segs(&[(&format!("{K}/zone"), "z2"), (&format!("{K}/rack"), "r1")]),
        );
        let p = pools();
        let got = first_serving(&p, &wanted(&[z1.clone(), z2r1.clone()], std::slice::from_ref(&z2r1))).unwrap();
        assert_eq!(got, Placement { pool: "p2".into(), data_pool: Some("ec2".into()), topology: z2r1.clone() });
        let got = first_serving(&p, &wanted(&[z2r1.clone(), z1.clone()], &[segs(&[("zone", "z9")])])).unwrap();
        assert_eq!((got.pool.as_str(), got.topology), ("p2", z2r1));
        let got = first_serving(&p, &wanted(&[segs(&[("zone", "z9")]), z1.clone()], &[])).unwrap();
        assert_eq!((got.pool.as_str(), got.data_pool, got.topology), ("p1", None, z1));
        // Every segment of the pool must match: zone=z2 alone is not p2's.
        assert_eq!(first_serving(&p, &wanted(&[segs(&[("zone", "z2")])], &[])), None);
    }

    #[test]
    fn labels_match_under_any_prefix_and_pools_without_segments_serve_all() {
        let p = pools();
        let t = segs(&[("topology.kubernetes.io/zone", "z1"), ("kubernetes.io/hostname", "n1")]);
        assert_eq!(first_serving(&p, &wanted(std::slice::from_ref(&t), &[])).map(|x| x.pool), Some("p1".to_string()));
        let any =
            parse(r#"[{"poolName":"p1","domainSegments":[{"domainLabel":"zone","value":"z9"}]},{"poolName":"all"}]"#)
                .unwrap();
        let got = first_serving(&any, &wanted(std::slice::from_ref(&t), &[])).map(|x| (x.pool, x.topology));
        assert_eq!(got, Some(("all".to_string(), t)));
    }

    #[test]
    fn constraints_apply_only_with_the_parameter_and_requirements() {
        let mut params = HashMap::from([("pool".to_string(), "rbd".to_string())]);
        let w = wanted(&[segs(&[("zone", "z1")])], &[]);
        assert!(Constraint::new(&params, Some(&w)).unwrap().is_none());
        params.insert(
            PARAMETER.into(),
            r#"[{"poolName":"p1","domainSegments":[{"domainLabel":"zone","value":"z1"}]}]"#.into(),
        );
        assert!(Constraint::new(&params, None).unwrap().is_none());
        assert!(Constraint::new(&params, Some(&Accessibility::default())).unwrap().is_none());
        let c = Constraint::new(&params, Some(&w)).unwrap().unwrap();
        assert_eq!(c.place().unwrap().pool, "p1");
        let far = wanted(&[segs(&[("zone", "z7")])], &[]);
        let c = Constraint::new(&params, Some(&far)).unwrap().unwrap();
        let err = c.place().unwrap_err();
        assert!(
            matches!(&err, Error::ResourceExhausted(m) if m.contains("no pool of topologyConstrainedPools serves") && m.contains("p1 {zone=z1}")),
            "{err}"
        );
        params.insert(PARAMETER.into(), "[".into());
        assert!(matches!(Constraint::new(&params, None), Err(Error::InvalidArgument(_))));
    }

    #[test]
    fn restores_stay_in_the_snapshots_pool() {
        let params = HashMap::from([(
            PARAMETER.to_string(),
            r#"[{"poolName":"p1","domainSegments":[{"domainLabel":"zone","value":"z1"}]},{"poolName":"p2"}]"#
                .to_string(),
        )]);
        let w = wanted(&[segs(&[("zone", "z1")])], &[]);
        let c = Constraint::new(&params, Some(&w)).unwrap().unwrap();
        assert_eq!(c.place_in("p2", "snap").unwrap().pool, "p2");
        assert_eq!(c.place_in("p1", "snap").unwrap().pool, "p1");
        assert!(
            matches!(c.place_in("p3", "snap"), Err(Error::InvalidArgument(m)) if m.contains("does not list pool p3"))
        );
        let far = wanted(&[segs(&[("zone", "z7")])], &[]);
        let c = Constraint::new(&params, Some(&far)).unwrap().unwrap();
        assert!(
            matches!(c.place_in("p1", "snap"), Err(Error::ResourceExhausted(m)) if m.contains("pool of its snapshot, p1"))
        );
    }

    #[test]
    fn messages_show_a_few_topologies() {
        let many: Vec<Segments> = (0..10).map(|i| segs(&[("zone", &format!("z{i}"))])).collect();
        let d = describe(&many);
        assert!(d.contains("\"zone\"=\"z3\"") && !d.contains("z4") && d.contains("6 more"), "{d}");
    }
}
