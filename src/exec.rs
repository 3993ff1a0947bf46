//! Running external programs (on the node only `mkfs.*` and `rbd map/unmap`; the
//! controller's `rbd`/`rados`/`ceph` when it reaches Ceph through the CLIs),
//! behind a `Runner` trait so tests can fake them. Every exec has a timeout; argument
//! lists are logged with values of secret-bearing flags stripped.

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::metrics::{self, ExecOutcome};

/// The descriptor number a command's secret (`Cmd::secret`) has in the child: it
/// reads it as `/proc/self/fd/3`.
pub const SECRET_FD: i32 = 3;

#[derive(Debug, Clone)]
pub struct Cmd {
    pub program: String,
    pub args: Vec<String>,
    /// The child's standard input, whole before it starts: a memfd, never a pipe this
    /// process still has to fill, since a child outliving a killed driver would read a
    /// pipe's EOF as an empty input (`rados setomapval` then stores an empty value).
    pub stdin: Option<Vec<u8>>,
    pub timeout: Duration,
    /// A file (a memfd holding a key) the child gets as descriptor `SECRET_FD` and
    /// no other child sees: secrets never touch the disk, argv or the environment.
    pub secret: Option<Arc<OwnedFd>>,
}

impl Cmd {
    pub fn new(program: &str, args: &[&str]) -> Cmd {
        Cmd {
            program: program.to_string(),
            args: args.iter().map(|s| s.to_string()).collect(),
            stdin: None,
            timeout: Duration::from_secs(120),
            secret: None,
        }
    }

    /// The command line for logs: the value after `--key`/`--secret` is hidden, as is
    /// any `key=`/`secret=` option value.
    pub fn display(&self) -> String {
        let mut out = vec![self.program.clone()];
        let mut hide_next = false;
        for a in &self.args {
            if hide_next {
                out.push("<hidden>".to_string());
                hide_next = false;
                continue;
            }
            hide_next = a == "--key" || a == "--secret";
            let shown = a
                .split(',')
                .map(|part| match part.split_once('=') {
                    Some((k, _)) if k == "key" || k == "secret" => format!("{k}=<hidden>"),
                    _ => part.to_string(),
                })
                .collect::<Vec<_>>()
                .join(",");
            out.push(shown);
        }
        out.join(" ")
    }
}

/// Whether `program` is a file in one of PATH's directories.
pub fn on_path(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
}

/// "`program` is missing; what it is for; what to install": UNAVAILABLE, which COs
/// retry, so the call succeeds once an operator installs it.
pub fn missing(program: &str, what_for: &str) -> Error {
    let package = match program {
        "rbd" | "rados" => "ceph-common",
        "mkfs.ext4" => "e2fsprogs",
        "mkfs.xfs" => "xfsprogs",
        _ => "the package that has it",
    };
    Error::Unavailable(format!("{program} is not on PATH ({what_for}): install {package}"))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

pub trait Runner: Send + Sync {
    /// Runs `cmd`; a non-zero exit is an `Ok(Output)` — the caller interprets it.
    fn run(&self, cmd: &Cmd) -> Result<Output, Error>;
}

pub struct RealRunner;

impl Runner for RealRunner {
    fn run(&self, cmd: &Cmd) -> Result<Output, Error> {
        let shown = cmd.display();
        log::debug!("exec: {shown}");
        let start = Instant::now();
        // CEPH_KEYRING / CEPH_ARGS would override the user and keyfile we pass.
        let mut command = Command::new(&cmd.program);
        if let Some(secret) = &cmd.secret {
            let fd = secret.as_raw_fd();
            // SAFETY: the closure runs in the forked child before exec and only makes
            // async-signal-safe calls (dup2, fcntl). The secret is opened close-on-exec,
            // so only this child gets it, as SECRET_FD.
            unsafe {
                command.pre_exec(move || {
                    let r = if fd == SECRET_FD { libc::fcntl(fd, libc::F_SETFD, 0) } else { libc::dup2(fd, SECRET_FD) };
                    if r < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let stdin = match &cmd.stdin {
            Some(data) => Stdio::from(filled_memfd(&cmd.program, data)?),
            None => Stdio::null(),
        };
        // A process group of its own, so a timeout kills whatever it started too.
        let mut child = command
            .process_group(0)
            .args(&cmd.args)
            .env_remove("CEPH_KEYRING")
            .env_remove("CEPH_ARGS")
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                metrics::global().exec(&cmd.program, ExecOutcome::NotStarted, start.elapsed());
                match e.kind() {
                    std::io::ErrorKind::NotFound => missing(&cmd.program, "this call runs it"),
                    _ => Error::Internal(format!("cannot run {}: {e}", cmd.program)),
                }
            })?;
        // Drain pipes on threads so a chatty child cannot block on a full pipe.
        let mut out_pipe = child.stdout.take();
        let mut err_pipe = child.stderr.take();
        let out_t = std::thread::spawn(move || {
            let mut s = String::new();
            if let Some(p) = out_pipe.as_mut() {
                let _ = p.read_to_string(&mut s);
            }
            s
        });
        let err_t = std::thread::spawn(move || {
            let mut s = String::new();
            if let Some(p) = err_pipe.as_mut() {
                let _ = p.read_to_string(&mut s);
            }
            s
        });
        let status = loop {
            match child.try_wait() {
                Ok(Some(st)) => break st,
                Ok(None) if start.elapsed() >= cmd.timeout => {
                    kill_group(child, &shown);
                    metrics::global().exec(&cmd.program, ExecOutcome::TimedOut, start.elapsed());
                    return Err(Error::Unavailable(format!("{shown}: timed out after {:?}", cmd.timeout)));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(5)),
                Err(e) => return Err(Error::Internal(format!("{shown}: wait: {e}"))),
            }
        };
        let stdout = out_t.join().unwrap_or_default();
        let stderr = err_t.join().unwrap_or_default();
        let code = status.code().unwrap_or(128 + std::os::unix::process::ExitStatusExt::signal(&status).unwrap_or(0));
        log::debug!("exec: {shown}: exit {code} in {:?}", start.elapsed());
        let outcome = if code == 0 { ExecOutcome::Ok } else { ExecOutcome::Failed };
        metrics::global().exec(&cmd.program, outcome, start.elapsed());
        Ok(Output { status: code, stdout, stderr })
    }
}

/// How long a killed child may take to exit before it is left to a reaper thread.
const REAP_WITHIN: Duration = Duration::from_secs(5);

/// Kills `child`'s process group and reaps the child; one stuck in the kernel (an
/// `rbd unmap` in uninterruptible sleep) does not hold the caller: a thread of its own
/// waits for it.
fn kill_group(mut child: std::process::Child, shown: &str) {
    let pgid = nix::unistd::Pid::from_raw(child.id() as i32);
    if let Err(e) = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL) {
        log::warn!("exec: {shown}: cannot kill its process group: {e}");
        let _ = child.kill();
    }
    let end = Instant::now() + REAP_WITHIN;
    while Instant::now() < end {
        if !matches!(child.try_wait(), Ok(None)) {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    log::warn!("exec: {shown}: killed but not gone after {REAP_WITHIN:?} (stuck in the kernel?); left to a reaper");
    let _ = std::thread::Builder::new().name("rbd-csi-reaper".into()).spawn(move || child.wait());
}

/// A memfd holding `data`, read from its start: a child's whole standard input.
fn filled_memfd(program: &str, data: &[u8]) -> Result<std::fs::File, Error> {
    use std::io::Seek;
    let what = format!("{program} stdin");
    let fd = nix::sys::memfd::memfd_create("rbd-csi-stdin", nix::sys::memfd::MFdFlags::MFD_CLOEXEC)
        .map_err(|e| Error::sys("memfd_create", &what, e))?;
    let mut f = std::fs::File::from(fd);
    f.write_all(data).and_then(|()| f.rewind()).map_err(|e| Error::io("write", Path::new(&what), e))?;
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_hides_secrets() {
        let c = Cmd::new("rbd", &["map", "--id", "csi", "--key", "AQB==", "-o", "noudev,secret=AQC==", "pool/img"]);
        assert_eq!(c.display(), "rbd map --id csi --key <hidden> -o noudev,secret=<hidden> pool/img");
    }

    #[test]
    fn runs_collects_output_and_exit_code() {
        let out = RealRunner.run(&Cmd::new("sh", &["-c", "echo out; echo err >&2; exit 3"])).unwrap();
        assert_eq!(out, Output { status: 3, stdout: "out\n".into(), stderr: "err\n".into() });
    }

    #[test]
    fn the_secret_reaches_the_child_as_fd_3_only() {
        use std::io::Seek;
        let fd = nix::sys::memfd::memfd_create("t", nix::sys::memfd::MFdFlags::MFD_CLOEXEC).unwrap();
        let mut f = std::fs::File::from(fd);
        f.write_all(b"s3cret").unwrap();
        f.rewind().unwrap();
        let script = "cat /proc/self/fd/3; for f in /proc/self/fd/*; do readlink $f; done | grep -c 'memfd:t '";
        let mut c = Cmd::new("sh", &["-c", script]);
        c.secret = Some(Arc::new(OwnedFd::from(f)));
        let out = RealRunner.run(&c).unwrap();
        // The child holds the secret once, as fd 3 (not also under its number here).
        assert_eq!(out.stdout, "s3cret1\n", "{out:?}");
        let plain = RealRunner.run(&Cmd::new("sh", &["-c", "cat /proc/self/fd/3 2>/dev/null || echo none"])).unwrap();
        assert_eq!(plain.stdout, "none\n");
    }

    #[test]
    fn stdin_is_whole_before_the_child_starts() {
        let mut c = Cmd::new("sh", &["-c", "stat -L -c %F /proc/self/fd/0; cat"]);
        c.stdin = Some(b"value".to_vec());
        let out = RealRunner.run(&c).unwrap();
        // A regular file (a memfd), not a pipe still being written.
        assert_eq!(out.stdout, "regular file\nvalue", "{out:?}");
    }

    #[test]
    fn timeout_kills_the_child() {
        let mut c = Cmd::new("sleep", &["5"]);
        c.timeout = Duration::from_millis(100);
        let t = Instant::now();
        assert!(matches!(RealRunner.run(&c), Err(Error::Unavailable(_))));
        assert!(t.elapsed() < Duration::from_secs(3));
    }

    #[test]
    fn timeout_kills_what_the_child_started_too() {
        let dir = std::env::temp_dir().join(format!("rbd-csi-exec-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pidfile = dir.join("pid");
        let script = format!("sleep 60 & echo $! >{}; wait", pidfile.display());
        let mut c = Cmd::new("sh", &["-c", &script]);
        c.timeout = Duration::from_millis(300);
        assert!(matches!(RealRunner.run(&c), Err(Error::Unavailable(_))));
        let pid = std::fs::read_to_string(&pidfile).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        // Gone, or a zombie waiting for init: not sleeping on with our pipes open.
        let state = std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())).unwrap_or_default();
        let state = state.rsplit(") ").next().and_then(|rest| rest.split(' ').next()).unwrap_or("gone");
        assert!(matches!(state, "gone" | "Z" | "X" | ""), "the grandchild {} is still {state}", pid.trim());
    }
}
