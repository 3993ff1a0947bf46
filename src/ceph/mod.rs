//! Talking to Ceph the way ceph-csi's users have it configured: config.json
//! (clusterID → monitors, rados namespace) and the secrets `userID` / `userKey`.
//!
//! Operations go through the `Rados` trait (rados.rs): in process through librados
//! when it can be loaded (via_lib.rs), else through the `rbd` and `rados` CLIs
//! (via_cli.rs, using `Cli` below). The key reaches the CLIs only through a memfd the
//! child alone inherits (`--keyfile /proc/self/fd/3`): never a file on disk, never
//! argv, never the environment, never a log line (and it is scrubbed from the CLIs' stderr, which
//! librados fills with an undecodable key).

mod cli_output;
mod lib_conn;
mod lib_ffi;
mod lib_handles;
mod lib_locks;
pub mod rados;
pub mod via_cli;
pub mod via_lib;

use std::collections::HashMap;
use std::fmt;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use nix::sys::memfd::{memfd_create, MFdFlags};

use crate::error::Error;
use crate::exec::{Cmd, Output, Runner, SECRET_FD};
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

/// `userID` and `userKey` from a request's secrets. The key never prints.
#[derive(Clone)]
pub struct Credentials {
    pub id: String,
    key: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Credentials {{ id: {:?}, key: <hidden> }}", self.id)
    }
}

impl Credentials {
    pub fn from_secrets(secrets: &HashMap<String, String>) -> Result<Credentials, Error> {
        let id = secrets.get("userID").map(|s| s.trim()).unwrap_or("");
        let key = secrets.get("userKey").map(|s| s.trim()).unwrap_or("");
        if id.is_empty() || key.is_empty() {
            return Err(Error::invalid("secrets must hold userID and userKey"));
        }
        if id.starts_with("client.") || id.contains(|c: char| c.is_whitespace() || c == ',' || c == '/') {
            return Err(Error::invalid("secrets: userID must be a bare cephx id such as \"csi\""));
        }
        if !key.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=')) {
            return Err(Error::invalid("secrets: userKey must be a base64 cephx key"));
        }
        Ok(Credentials { id: id.to_string(), key: key.to_string() })
    }

    /// The base64 key, for librados' in-memory `key` option only.
    pub(crate) fn key_text(&self) -> &str {
        &self.key
    }

    /// The key's raw bytes (the kernel keyring wants them decoded).
    pub fn raw_key(&self) -> Result<Vec<u8>, Error> {
        base64_decode(&self.key).ok_or_else(|| Error::invalid("secrets: userKey is not valid base64"))
    }

    /// Replaces the key wherever it appears in `text`.
    pub fn scrub(&self, text: &str) -> String {
        text.replace(&self.key, "<hidden>")
    }
}

/// Standard base64 (with padding) → bytes; `None` when malformed.
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let b = text.trim().as_bytes();
    if b.len() % 4 != 0 {
        return None;
    }
    let mut out = Vec::with_capacity(b.len() / 4 * 3);
    for chunk in b.chunks(4) {
        let pad = chunk.iter().rev().take_while(|c| **c == b'=').count();
        if pad > 2 {
            return None;
        }
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            n <<= 6;
            if i < 4 - pad {
                n |= val(*c)?;
            } else if *c != b'=' {
                return None;
            }
        }
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    Some(out)
}

/// The key in a memfd: a file that lives in memory only, closed (and gone) with the
/// last descriptor, so nothing is left on disk even when the driver is killed.
fn key_memfd(creds: &Credentials) -> Result<Arc<OwnedFd>, Error> {
    let fd =
        memfd_create("rbd-csi-key", MFdFlags::MFD_CLOEXEC).map_err(|e| Error::sys("memfd_create", "rbd-csi-key", e))?;
    let mut f = std::fs::File::from(fd);
    f.write_all(creds.key.as_bytes()).map_err(|e| Error::Internal(format!("cannot write the key to a memfd: {e}")))?;
    Ok(Arc::new(OwnedFd::from(f)))
}

/// Removes the keyfiles older versions wrote to `dir` (a 0600 file per command, left
/// behind when the driver was killed mid-command), and the directory.
pub fn remove_old_keyfiles(dir: &Path) {
    crate::kvfile::remove_where(dir, |name| name.starts_with("key."), "a keyfile an earlier run left");
    let _ = std::fs::remove_dir(dir);
}

/// Runs `rbd` and `rados` against one cluster with one user's credentials.
pub struct Cli {
    runner: Arc<dyn Runner>,
    pub timeout: Duration,
}

impl Cli {
    pub fn new(runner: Arc<dyn Runner>) -> Cli {
        Cli { runner, timeout: Duration::from_secs(120) }
    }

    /// Runs `program` (rbd or rados) with the cluster and user arguments first.
    pub fn run(
        &self,
        program: &str,
        cluster: &ClusterConfig,
        creds: &Credentials,
        args: &[&str],
        stdin: Option<Vec<u8>>,
    ) -> Result<Output, Error> {
        let mut all: Vec<String> = vec![
            "-m".into(),
            cluster.monitors.join(","),
            "--id".into(),
            creds.id.clone(),
            "--keyfile".into(),
            format!("/proc/self/fd/{SECRET_FD}"),
            "--conf".into(),
            "/dev/null".into(),
            // Unreachable monitors fail the call instead of holding it for 5 minutes.
            "--client-mount-timeout".into(),
            "15".into(),
        ];
        all.extend(args.iter().map(|s| s.to_string()));
        let mut cmd = Cmd::new(program, &[]);
        cmd.args = all;
        cmd.stdin = stdin;
        cmd.timeout = self.timeout;
        cmd.secret = Some(key_memfd(creds)?);
        let mut out = self.runner.run(&cmd)?;
        out.stderr = creds.scrub(&out.stderr);
        out.stdout = creds.scrub(&out.stdout);
        Ok(out)
    }
}

/// The last meaningful line of a CLI's stderr, for error messages.
/// The `Rados` that `--ceph-client` names: "librados", "cli", or "auto" (librados
/// when it loads, else the CLIs).
pub fn client(kind: &str) -> Result<Arc<dyn rados::Rados>, String> {
    let cli = || -> Result<Arc<dyn rados::Rados>, String> {
        Ok(Arc::new(via_cli::CliRados::new(Cli::new(Arc::new(crate::exec::RealRunner)))))
    };
    let lib = || -> Result<Arc<dyn rados::Rados>, String> { Ok(Arc::new(via_lib::LibRados::load()?)) };
    let chosen = match kind {
        "cli" => cli()?,
        "librados" => lib()?,
        _ => lib().or_else(|why| {
            log::info!("{why}; Ceph is reached through the rbd and rados commands");
            cli()
        })?,
    };
    log::info!("controller: Ceph through {}", chosen.kind());
    Ok(chosen)
}

pub fn last_error_line(stderr: &str) -> String {
    stderr.lines().rev().map(str::trim).find(|l| !l.is_empty()).unwrap_or("").to_string()
}

/// Turns a failed `rbd` exit (it exits with the errno) into our error.
pub fn rbd_error(what: &str, out: &Output) -> Error {
    let msg = format!("{what}: {} (rbd exit {})", last_error_line(&out.stderr), out.status);
    match out.status {
        2 => Error::NotFound(msg),
        17 => Error::AlreadyExists(msg),
        16 | 39 => Error::FailedPrecondition(msg),
        22 if out.stderr.contains("couldn't connect") || out.stderr.contains("auth") => Error::Unavailable(format!(
            "{what}: cannot authenticate to the cluster (check userID/userKey and monitors)"
        )),
        1 | 13 => Error::FailedPrecondition(format!("{msg}: permission denied (check the user's caps)")),
        110 => Error::Unavailable(msg),
        _ => Error::Internal(msg),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parking_lot::Mutex;

    #[test]
    fn base64() {
        assert_eq!(base64_decode("aGVsbG8="), Some(b"hello".to_vec()));
        assert_eq!(base64_decode("aGVsbG8h"), Some(b"hello!".to_vec()));
        assert_eq!(base64_decode("aGk="), Some(b"hi".to_vec()));
        assert_eq!(base64_decode("aGk"), None);
        assert_eq!(base64_decode("a=Gk"), None);
    }

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

    #[test]
    fn credentials_are_checked_and_never_printed() {
        let mut s = HashMap::new();
        assert!(Credentials::from_secrets(&s).is_err());
        s.insert("userID".to_string(), "csi".to_string());
        s.insert("userKey".to_string(), "AQBSECRETKEY0123456789==".to_string());
        let c = Credentials::from_secrets(&s).unwrap();
        assert!(!format!("{c:?}").contains("SECRET"));
        assert_eq!(c.scrub("failed to decode key 'AQBSECRETKEY0123456789=='"), "failed to decode key '<hidden>'");
        s.insert("userKey".to_string(), "bad key;rm".to_string());
        assert!(Credentials::from_secrets(&s).is_err());
    }

    /// Records what it was asked to run and what the keyfile held at that moment.
    struct Spy(Mutex<Vec<(Cmd, String, u32)>>);

    impl Runner for Spy {
        fn run(&self, cmd: &Cmd) -> Result<Output, Error> {
            let i = cmd.args.iter().position(|a| a == "--keyfile").unwrap();
            assert_eq!(cmd.args[i + 1], "/proc/self/fd/3");
            use std::os::fd::AsRawFd;
            let fd = cmd.secret.as_ref().expect("the key goes with the command").as_raw_fd();
            let content = std::fs::read_to_string(format!("/proc/self/fd/{fd}")).unwrap();
            let target = std::fs::read_link(format!("/proc/self/fd/{fd}")).unwrap();
            let in_memory = target.to_string_lossy().starts_with("/memfd:") as u32;
            self.0.lock().push((cmd.clone(), content, in_memory));
            Ok(Output { status: 22, stdout: String::new(), stderr: "auth: failed to decode key 'AQBSECRET=='".into() })
        }
    }

    #[test]
    fn the_key_goes_only_through_a_memfd_and_old_keyfiles_are_removed() {
        let dir = std::env::temp_dir().join(format!("rbd-csi-keys-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("key.123.0"), "AQBOLD==").unwrap();
        let spy = Arc::new(Spy(Mutex::new(Vec::new())));
        remove_old_keyfiles(&dir);
        assert!(!dir.exists(), "an old run's keyfile (and its directory) is removed");
        let cli = Cli::new(Arc::clone(&spy) as Arc<dyn Runner>);
        let mut s = HashMap::new();
        s.insert("userID".to_string(), "csi".to_string());
        s.insert("userKey".to_string(), "AQBSECRET==".to_string());
        let creds = Credentials::from_secrets(&s).unwrap();
        let cluster = ClusterConfig {
            cluster_id: "c".into(),
            monitors: vec!["m1:6789".into(), "m2:6789".into()],
            rados_namespace: String::new(),
        };
        let out = cli.run("rbd", &cluster, &creds, &["info", "p/i"], None).unwrap();
        let (cmd, content, in_memory) = spy.0.lock()[0].clone();
        assert_eq!(content, "AQBSECRET==");
        assert_eq!(in_memory, 1, "the key is in a memfd");
        assert!(!cmd.args.iter().any(|a| a.contains("AQBSECRET")), "key on argv: {:?}", cmd.args);
        assert_eq!(&cmd.args[..4], &["-m", "m1:6789,m2:6789", "--id", "csi"]);
        assert!(!out.stderr.contains("AQBSECRET"), "{}", out.stderr);
        assert!(!dir.exists(), "nothing written to disk");
        assert!(matches!(rbd_error("info", &out), Error::Unavailable(_)));
    }
}
