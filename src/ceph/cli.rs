//! Runs the `rbd` and `rados` commands against one cluster as one user: the monitors
//! and user on argv, the key through a memfd only the child inherits
//! (`--keyfile /proc/self/fd/3`), the key scrubbed from what they print. What they
//! print is read in cli_output.rs.

use std::io::Write;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use nix::sys::memfd::{memfd_create, MFdFlags};

use super::{ClusterConfig, Credentials};
use crate::error::Error;
use crate::exec::{Cmd, Output, Runner, SECRET_FD};

/// The key in a memfd: a file that lives in memory only, closed (and gone) with the
/// last descriptor, so nothing is left on disk even when the driver is killed.
fn key_memfd(creds: &Credentials) -> Result<Arc<OwnedFd>, Error> {
    let fd =
        memfd_create("rbd-csi-key", MFdFlags::MFD_CLOEXEC).map_err(|e| Error::sys("memfd_create", "rbd-csi-key", e))?;
    let mut f = std::fs::File::from(fd);
    f.write_all(creds.key_text().as_bytes())
        .map_err(|e| Error::Internal(format!("cannot write the key to a memfd: {e}")))?;
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

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use parking_lot::Mutex;

    use super::*;
    use crate::ceph::rbd_error;

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
        assert_eq!(rbd_error("info", &out).ceph_cause(), Some(crate::error::CephCause::Unreachable));
    }
}
