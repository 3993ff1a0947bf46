//! Running external programs (on the node only `mkfs.*`, later `rbd map/unmap`),
//! behind a `Runner` trait so tests can fake them. Every exec has a timeout; argument
//! lists are logged with values of secret-bearing flags stripped.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::Error;

#[derive(Debug, Clone)]
pub struct Cmd {
    pub program: String,
    pub args: Vec<String>,
    pub stdin: Option<Vec<u8>>,
    pub timeout: Duration,
}

impl Cmd {
    pub fn new(program: &str, args: &[&str]) -> Cmd {
        Cmd {
            program: program.to_string(),
            args: args.iter().map(|s| s.to_string()).collect(),
            stdin: None,
            timeout: Duration::from_secs(120),
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
        let mut child = Command::new(&cmd.program)
            .args(&cmd.args)
            .env_remove("CEPH_KEYRING")
            .env_remove("CEPH_ARGS")
            .stdin(if cmd.stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| Error::Internal(format!("cannot run {}: {e}", cmd.program)))?;
        if let (Some(data), Some(mut stdin)) = (&cmd.stdin, child.stdin.take()) {
            let _ = stdin.write_all(data);
        }
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
                    let _ = child.kill();
                    let _ = child.wait();
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
        Ok(Output { status: code, stdout, stderr })
    }
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
    fn timeout_kills_the_child() {
        let mut c = Cmd::new("sleep", &["5"]);
        c.timeout = Duration::from_millis(100);
        let t = Instant::now();
        assert!(matches!(RealRunner.run(&c), Err(Error::Unavailable(_))));
        assert!(t.elapsed() < Duration::from_secs(3));
    }
}
