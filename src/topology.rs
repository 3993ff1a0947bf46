//! Node topology without Kubernetes: the labels a node plugin is given
//! (`--node-topology label=value[,label=value]`, `--node-topology-file PATH`) and the
//! CSI topology segments they become, `topology.<drivername>/<label>`: the keys
//! ceph-csi's node plugin reports for its `--domainlabels`, which the CO copies to the
//! node and matches against the `domainLabel`s of a StorageClass's
//! `topologyConstrainedPools`.
//!
//! Labels and values are checked as Kubernetes label names and values (the CO turns the
//! keys into node labels, and the CSI spec asks for the same form), so a bad one is
//! refused at start rather than by the CO later.

use std::collections::HashMap;
use std::path::Path;

/// A label's value or name: 1 to 63 characters, letters, digits, '-', '_', '.', starting
/// and ending with a letter or digit (Kubernetes' label values and names).
fn label_word(s: &str) -> bool {
    let alnum = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    (1..=63).contains(&s.len())
        && alnum(s.chars().next())
        && alnum(s.chars().last())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// A DNS-1123 subdomain (a Kubernetes label key's prefix): at most 253 characters,
/// dot-separated parts of lower-case letters, digits and '-', each starting and ending
/// with a letter or digit.
fn dns_subdomain(s: &str) -> bool {
    let part = |p: &str| {
        let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        edge(p.chars().next())
            && edge(p.chars().last())
            && p.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    };
    (1..=253).contains(&s.len()) && s.split('.').all(part)
}

const WORD_RULE: &str =
    "use 1 to 63 characters: letters, digits, '-', '_' or '.', starting and ending with a letter or digit";

/// The part of a topology key or label that names the domain: after the first '/'
/// (`topology.kubernetes.io/zone` → `zone`), or all of it. ceph-csi matches a
/// StorageClass's `domainLabel` against this part of the request's keys, and takes its
/// `--domainlabels` the same way.
pub fn domain(key: &str) -> &str {
    key.split_once('/').map_or(key, |(_, name)| name)
}

/// One `[prefix/]label=value` (spaces around either side ignored) → (label, value).
fn item(text: &str, origin: &str) -> Result<(String, String), String> {
    let Some((label, value)) = text.split_once('=') else {
        return Err(format!("{origin}: expected label=value, not {text:?}"));
    };
    let (label, value) = (label.trim(), value.trim());
    if let Some((prefix, _)) = label.split_once('/') {
        if !dns_subdomain(prefix) {
            return Err(format!(
                "{origin}: label {label:?}: its prefix {prefix:?} must be a DNS subdomain (lower-case letters, \
                 digits, '-' and '.'); the key reported is topology.<drivername>/<label without its prefix>"
            ));
        }
    }
    let name = domain(label);
    if !label_word(name) {
        return Err(format!("{origin}: label {label:?}: {WORD_RULE}"));
    }
    if !label_word(value) {
        return Err(format!("{origin}: value of label {name} {value:?}: {WORD_RULE}"));
    }
    Ok((name.to_string(), value.to_string()))
}

/// Adds `(label, value)` from `origin`; a label may come once per source.
fn add(
    labels: &mut Vec<(String, String, String)>,
    origin: &str,
    (name, value): (String, String),
) -> Result<(), String> {
    if labels.iter().any(|(n, _, o)| *n == name && o == origin) {
        return Err(format!("{origin}: label {name} is given twice"));
    }
    labels.push((name, value, origin.to_string()));
    Ok(())
}

/// The labels of `--node-topology` flags (each `label=value[,label=value]`) and of a
/// `--node-topology-file` (one `label=value` a line; blank lines and `#` comments
/// skipped). A label in both takes the flag's value: the file is the host's standing
/// description, a flag the override of one deployment. Empty when neither is given.
pub fn node_labels(flags: &[String], file: Option<&Path>) -> Result<Vec<(String, String)>, String> {
    let mut labels: Vec<(String, String, String)> = Vec::new();
    if let Some(path) = file {
        let origin = format!("--node-topology-file {}", path.display());
        let text = std::fs::read_to_string(path).map_err(|e| format!("{origin}: {e}"))?;
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            add(&mut labels, &origin, item(line, &format!("{origin} line {}", n + 1))?)?;
        }
        if labels.is_empty() {
            return Err(format!("{origin} has no label=value line"));
        }
    }
    for flag in flags {
        for text in flag.split(',') {
            let (name, value) = item(text, "--node-topology")?;
            add(&mut labels, "--node-topology", (name, value))?;
        }
    }
    // Flags override the file's value of the same label.
    let mut out: Vec<(String, String)> = Vec::new();
    for (name, value, _) in labels {
        match out.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => out.push((name, value)),
        }
    }
    Ok(out)
}

/// The segments a node with `labels` reports: `topology.<driver, lower case>/<label>`
/// (ceph-csi lower-cases the driver name the same way).
pub fn segments(driver: &str, labels: &[(String, String)]) -> Result<HashMap<String, String>, String> {
    let prefix = format!("topology.{}", driver.to_ascii_lowercase());
    if !dns_subdomain(&prefix) {
        return Err(format!(
            "--drivername {driver:?} cannot prefix topology keys: topology.<drivername> must be a DNS subdomain \
             (letters, digits, '-' and '.')"
        ));
    }
    Ok(labels.iter().map(|(name, value)| (format!("{prefix}/{name}"), value.clone())).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    #[test]
    fn labels_from_flags_drop_their_prefix_as_ceph_csi_does() {
        let got = node_labels(&flags(&["zone=z1,topology.kubernetes.io/region=eu-1", " rack = r.7 "]), None).unwrap();
        assert_eq!(got, pairs(&[("zone", "z1"), ("region", "eu-1"), ("rack", "r.7")]));
        assert_eq!(node_labels(&[], None).unwrap(), vec![]);
    }

    #[test]
    fn the_flag_wins_over_the_file_label_by_label() {
        let path = std::env::temp_dir().join(format!("topo-labels-{}", std::process::id()));
        std::fs::write(&path, "# this host\nzone=z1\n\n  rack = r7 \n").unwrap();
        let got = node_labels(&flags(&["zone=z2"]), Some(&path)).unwrap();
        assert_eq!(got, pairs(&[("zone", "z2"), ("rack", "r7")]));
        std::fs::write(&path, "zone=z1\nrack r7\n").unwrap();
        let err = node_labels(&[], Some(&path)).unwrap_err();
        assert!(err.contains("line 2: expected label=value"), "{err}");
        std::fs::write(&path, "# nothing\n").unwrap();
        assert!(node_labels(&[], Some(&path)).unwrap_err().contains("has no label=value line"));
        std::fs::write(&path, "zone=a\nzone=b\n").unwrap();
        assert!(node_labels(&[], Some(&path)).unwrap_err().contains("label zone is given twice"));
        std::fs::remove_file(&path).unwrap();
        assert!(node_labels(&[], Some(&path)).unwrap_err().contains(&path.display().to_string()));
    }

    #[test]
    fn bad_labels_and_values_are_refused_naming_them() {
        let long = "x".repeat(64);
        for (flag, says) in [
            ("zone", "expected label=value"),
            ("zone=", "value of label zone"),
            ("zone=a_b_-", "value of label zone"),
            (&format!("zone={long}"), "63 characters"),
            (&format!("{long}=z"), "63 characters"),
            ("-zone=z1", "label \"-zone\""),
            ("zo ne=z1", "label \"zo ne\""),
            ("Bad_Prefix/zone=z1", "prefix \"Bad_Prefix\""),
            ("/zone=z1", "prefix \"\""),
            ("zone=z1,topology.kubernetes.io/zone=z2", "label zone is given twice"),
        ] {
            let err = node_labels(&flags(&[flag]), None).unwrap_err();
            assert!(err.contains(says), "{flag}: {err}");
        }
    }

    #[test]
    fn segments_are_keyed_by_the_lower_cased_driver_name() {
        let s = segments("Rbd.Example.COM", &pairs(&[("zone", "z1")])).unwrap();
        assert_eq!(s, HashMap::from([("topology.rbd.example.com/zone".to_string(), "z1".to_string())]));
        assert!(segments("bad_name", &pairs(&[("zone", "z1")])).unwrap_err().contains("--drivername \"bad_name\""));
    }

    #[test]
    fn domains_are_what_follows_the_first_slash() {
        assert_eq!(domain("topology.rbd.csi.rs/zone"), "zone");
        assert_eq!(domain("zone"), "zone");
        assert_eq!(domain("a/b/c"), "b/c");
    }
}
