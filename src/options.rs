//! Flags of `rbd-csi serve`, parsed with getopts into `ServeOptions`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use getopts::Options;

/// Which CSI services this process serves (Identity always).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    All,
    Node,
    Controller,
}

impl Mode {
    pub fn has_controller(self) -> bool {
        matches!(self, Mode::All | Mode::Controller)
    }
    pub fn has_node(self) -> bool {
        matches!(self, Mode::All | Mode::Node)
    }
}

impl FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "all" => Ok(Mode::All),
            "node" => Ok(Mode::Node),
            "controller" => Ok(Mode::Controller),
            _ => Err(format!("--mode must be all, node or controller, not {s:?}")),
        }
    }
}

/// Where volumes live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    Local,
    Rbd,
}

impl FromStr for BackendKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "local" => Ok(BackendKind::Local),
            "rbd" => Ok(BackendKind::Rbd),
            _ => Err(format!("--backend must be local or rbd, not {s:?}")),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub socket: PathBuf,
    pub node_id: String,
    pub mode: Mode,
    pub driver_name: String,
    pub backend: BackendKind,
    pub data_dir: PathBuf,
    pub config: PathBuf,
    pub workers: usize,
    /// Worker threads in all while jobs are stuck (`queue::Limits::max_workers`).
    pub max_workers: usize,
    /// How long an operation may run before another thread takes its place.
    pub stuck_after: Duration,
    pub grpc_threads: usize,
    pub max_queued: usize,
    pub log_level: String,
    pub log_format: crate::logging::Format,
    pub allowed_path_prefixes: Vec<PathBuf>,
    pub shutdown_grace: Duration,
    /// Where /metrics and /healthz are served over HTTP; None: not at all.
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// rbd backend, node: "rbd", "sysfs" or "auto".
    pub mapper: String,
    /// rbd backend, controller: "librados", "cli" or "auto".
    pub ceph_client: String,
    /// rbd backend, node: the segments NodeGetInfo reports (`topology.<driver>/<label>`),
    /// from `--node-topology` and `--node-topology-file`; None when neither is given.
    pub node_topology: Option<HashMap<String, String>>,
}

pub const DEFAULT_ENDPOINT: &str = "unix:///run/rbd-csi/csi.sock";
pub const DEFAULT_DRIVER_NAME: &str = "rbd.csi.rs";

/// Where ceph-csi mounts its config.json.
pub const DEFAULT_CONFIG: &str = "/etc/ceph-csi-config/config.json";

fn serve_options() -> Options {
    let mut o = Options::new();
    o.optopt(
        "",
        "endpoint",
        &format!("CSI socket: unix:///path or a plain path (default $CSI_ENDPOINT, else {DEFAULT_ENDPOINT})"),
        "URL",
    );
    o.optopt("", "nodeid", "this node's id, returned by NodeGetInfo (default: the hostname)", "ID");
    o.optopt("", "mode", "services to serve: all, node or controller (default all)", "MODE");
    o.optopt("", "drivername", &format!("CSI driver name (default {DEFAULT_DRIVER_NAME})"), "NAME");
    o.optopt("", "backend", "local (sparse files on loop devices) or rbd (Ceph RBD); default local", "KIND");
    o.optopt("", "data-dir", "local backend: where volume files and metadata live (default /var/lib/rbd-csi)", "DIR");
    o.optopt("", "config", "rbd backend: ceph-csi config.json (default /etc/ceph-csi-config/config.json)", "FILE");
    o.optopt("", "workers", "worker threads that run volume operations (default 8)", "N");
    o.optopt(
        "",
        "stuck-after",
        "seconds an operation may run before another worker thread takes its place (default 2)",
        "SECS",
    );
    o.optopt("", "max-workers", "worker threads in all while operations are stuck (default 4 x --workers)", "N");
    o.optopt(
        "",
        "metrics-addr",
        "serve Prometheus /metrics and /healthz over HTTP on ADDR:PORT, e.g. 127.0.0.1:9808 (default: off)",
        "ADDR",
    );
    o.optopt("", "grpc-threads", "gRPC completion-queue threads; they never block (default 2)", "N");
    o.optopt("", "max-queued", "queued + running operations before RESOURCE_EXHAUSTED (default 1024)", "N");
    o.optopt("", "log-format", "text or json, one object a line (default text)", "F");
    o.optopt("", "log-level", "error, warn, info, debug or trace (default info)", "LEVEL");
    o.optmulti("", "allowed-path-prefix", "staging/target paths must be under one of these (repeatable)", "DIR");
    o.optopt("", "shutdown-grace", "seconds to let running operations finish on SIGTERM (default 30)", "SECS");
    o.optopt(
        "",
        "mapper",
        "rbd backend, node: how to map images: rbd, sysfs or auto (default auto: rbd if on PATH)",
        "M",
    );
    o.optopt(
        "",
        "ceph-client",
        "rbd backend, controller: librados (in process), cli (rbd/rados commands) or auto (default: librados if it loads)",
        "C",
    );
    o.optmulti(
        "",
        "node-topology",
        "rbd backend, node: this node's topology, reported as topology.<drivername>/<label> (repeatable; \
         a label given here wins over the file's)",
        "LABEL=VALUE[,LABEL=VALUE]",
    );
    o.optopt("", "node-topology-file", "rbd backend, node: a file of LABEL=VALUE lines (# comments)", "PATH");
    o.optflag("h", "help", "print this help");
    o
}

pub fn serve_usage() -> String {
    serve_options().usage(
        "Usage: rbd-csi serve [options]\n\nServes the CSI Identity, Controller and Node services on a unix socket.",
    )
}

/// The socket path in `endpoint` ("unix:///p", "unix:/p" or "/p").
pub fn parse_endpoint(endpoint: &str) -> Result<PathBuf, String> {
    let path = if let Some(rest) = endpoint.strip_prefix("unix://") {
        rest
    } else if let Some(rest) = endpoint.strip_prefix("unix:") {
        rest
    } else if endpoint.contains("://") {
        return Err(format!("endpoint {endpoint:?}: only unix sockets are supported"));
    } else {
        endpoint
    };
    if !path.starts_with('/') {
        return Err(format!("endpoint {endpoint:?}: the socket path must be absolute"));
    }
    Ok(PathBuf::from(path))
}

fn number(m: &getopts::Matches, name: &str, default: usize) -> Result<usize, String> {
    match m.opt_str(name) {
        None => Ok(default),
        Some(s) => match s.parse::<usize>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(format!("--{name} must be a positive number, not {s:?}")),
        },
    }
}

/// A duration flag in seconds (fractions allowed), above zero.
fn seconds(m: &getopts::Matches, name: &str, default: Duration) -> Result<Duration, String> {
    match m.opt_str(name) {
        None => Ok(default),
        Some(s) => match s.parse::<f64>() {
            Ok(x) if x > 0.0 && x < 1e9 => Ok(Duration::from_secs_f64(x)),
            _ => Err(format!("--{name} must be a positive number of seconds, not {s:?}")),
        },
    }
}

fn hostname() -> String {
    nix::unistd::gethostname().ok().and_then(|h| h.into_string().ok()).unwrap_or_else(|| "localhost".to_string())
}

/// Parses `serve` arguments. `Ok(None)` means --help was asked for.
pub fn parse_serve(args: &[String]) -> Result<Option<ServeOptions>, String> {
    let m = serve_options().parse(args).map_err(|e| e.to_string())?;
    if m.opt_present("help") {
        return Ok(None);
    }
    if let Some(extra) = m.free.first() {
        return Err(format!("unexpected argument {extra:?}"));
    }
    // Nomad (and ceph-csi's deployments) pass the socket in CSI_ENDPOINT.
    let endpoint = m
        .opt_str("endpoint")
        .or_else(|| std::env::var("CSI_ENDPOINT").ok().filter(|e| !e.is_empty()))
        .unwrap_or_else(|| DEFAULT_ENDPOINT.to_string());
    let grace = number(&m, "shutdown-grace", 30)?;
    let log_level = m.opt_str("log-level").unwrap_or_else(|| "info".to_string());
    if !["error", "warn", "info", "debug", "trace"].contains(&log_level.as_str()) {
        return Err(format!("--log-level must be error, warn, info, debug or trace, not {log_level:?}"));
    }
    let prefixes: Vec<PathBuf> = m.opt_strs("allowed-path-prefix").into_iter().map(PathBuf::from).collect();
    if let Some(p) = prefixes.iter().find(|p| !p.is_absolute()) {
        return Err(format!("--allowed-path-prefix {p:?} must be absolute"));
    }
    let driver_name = m.opt_str("drivername").unwrap_or_else(|| DEFAULT_DRIVER_NAME.to_string());
    let backend: BackendKind = m.opt_str("backend").as_deref().unwrap_or("local").parse()?;
    let mode: Mode = m.opt_str("mode").as_deref().unwrap_or("all").parse()?;
    let node_topology = node_topology(&m, &driver_name, backend, mode)?;
    let workers = number(&m, "workers", 8)?;
    Ok(Some(ServeOptions {
        socket: parse_endpoint(&endpoint)?,
        node_id: m.opt_str("nodeid").unwrap_or_else(hostname),
        mode,
        driver_name,
        backend,
        data_dir: PathBuf::from(m.opt_str("data-dir").unwrap_or_else(|| "/var/lib/rbd-csi".to_string())),
        config: PathBuf::from(m.opt_str("config").unwrap_or_else(|| DEFAULT_CONFIG.to_string())),
        workers,
        max_workers: number(&m, "max-workers", workers * 4)?.max(workers),
        stuck_after: seconds(&m, "stuck-after", Duration::from_secs(2))?,
        grpc_threads: number(&m, "grpc-threads", 2)?,
        metrics_addr: match m.opt_str("metrics-addr") {
            None => None,
            Some(a) => Some(a.parse().map_err(|_| format!("--metrics-addr must be ADDR:PORT, not {a:?}"))?),
        },
        max_queued: number(&m, "max-queued", 1024)?,
        log_level,
        log_format: m.opt_str("log-format").as_deref().unwrap_or("text").parse()?,
        allowed_path_prefixes: prefixes,
        shutdown_grace: Duration::from_secs(grace as u64),
        mapper: match m.opt_str("mapper").unwrap_or_else(|| "auto".to_string()) {
            m if ["rbd", "sysfs", "auto"].contains(&m.as_str()) => m,
            other => return Err(format!("--mapper must be rbd, sysfs or auto, not {other:?}")),
        },
        ceph_client: match m.opt_str("ceph-client").unwrap_or_else(|| "auto".to_string()) {
            c if ["librados", "cli", "auto"].contains(&c.as_str()) => c,
            other => return Err(format!("--ceph-client must be librados, cli or auto, not {other:?}")),
        },
        node_topology,
    }))
}

/// The rbd node's topology segments from `--node-topology` / `--node-topology-file`,
/// checked now so a bad label stops the start instead of reaching the CO. Refused
/// where nothing would report them (never ignored): the local backend reports its
/// own `topology.rbd.csi.rs/node`, and a controller reports no node topology.
fn node_topology(
    m: &getopts::Matches,
    driver: &str,
    backend: BackendKind,
    mode: Mode,
) -> Result<Option<HashMap<String, String>>, String> {
    let flags = m.opt_strs("node-topology");
    let file = m.opt_str("node-topology-file").map(PathBuf::from);
    if flags.is_empty() && file.is_none() {
        return Ok(None);
    }
    let flag = if flags.is_empty() { "--node-topology-file" } else { "--node-topology" };
    if backend != BackendKind::Rbd {
        return Err(format!(
            "{flag} is for the rbd backend; local volumes carry topology.rbd.csi.rs/node=<nodeid> already"
        ));
    }
    if !mode.has_node() {
        return Err(format!("{flag} is for a node plugin (--mode node or all); a controller reports no node topology"));
    }
    let labels = crate::topology::node_labels(&flags, file.as_deref().map(Path::new))?;
    crate::topology::segments(driver, &labels).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn endpoints_in_every_accepted_spelling() {
        assert_eq!(parse_endpoint("unix:///run/x.sock"), Ok(PathBuf::from("/run/x.sock")));
        assert_eq!(parse_endpoint("unix:/run/x.sock"), Ok(PathBuf::from("/run/x.sock")));
        assert_eq!(parse_endpoint("/run/x.sock"), Ok(PathBuf::from("/run/x.sock")));
        assert!(parse_endpoint("tcp://1.2.3.4:5").is_err());
        assert!(parse_endpoint("relative.sock").is_err());
    }

    #[test]
    fn defaults_and_overrides() {
        let o =
            parse_serve(&args(&["--endpoint", "/tmp/a.sock", "--mode", "node", "--workers", "3"])).unwrap().unwrap();
        assert_eq!(o.socket, PathBuf::from("/tmp/a.sock"));
        assert_eq!(o.mode, Mode::Node);
        assert_eq!(o.workers, 3);
        assert_eq!(o.backend, BackendKind::Local);
        assert_eq!(o.driver_name, DEFAULT_DRIVER_NAME);
    }

    #[test]
    fn bad_values_are_refused_with_the_flag_named() {
        for (bad, needle) in [
            (vec!["--mode", "both"], "--mode"),
            (vec!["--backend", "nfs"], "--backend"),
            (vec!["--workers", "0"], "--workers"),
            (vec!["--max-queued", "x"], "--max-queued"),
            (vec!["--stuck-after", "0"], "--stuck-after"),
            (vec!["--log-format", "xml"], "--log-format"),
            (vec!["--metrics-addr", "9808"], "--metrics-addr"),
            (vec!["--stuck-after", "soon"], "--stuck-after"),
            (vec!["--max-workers", "-1"], "--max-workers"),
            (vec!["--log-level", "loud"], "--log-level"),
            (vec!["--allowed-path-prefix", "rel"], "--allowed-path-prefix"),
            (vec!["--ceph-client", "python"], "--ceph-client"),
            (vec!["stray"], "unexpected"),
        ] {
            let err = parse_serve(&args(&bad)).unwrap_err();
            assert!(err.contains(needle), "{err}");
        }
        assert!(parse_serve(&args(&["--help"])).unwrap().is_none());
    }

    #[test]
    fn node_topology_only_where_a_node_reports_it() {
        let o =
            parse_serve(&args(&["--backend", "rbd", "--mode", "node", "--node-topology", "zone=z1"])).unwrap().unwrap();
        let want = HashMap::from([("topology.rbd.csi.rs/zone".to_string(), "z1".to_string())]);
        assert_eq!(o.node_topology, Some(want));
        assert_eq!(parse_serve(&args(&["--backend", "rbd"])).unwrap().unwrap().node_topology, None);
        for (bad, needle) in [
            (vec!["--node-topology", "zone=z1"], "for the rbd backend"),
            (vec!["--backend", "rbd", "--mode", "controller", "--node-topology", "zone=z1"], "for a node plugin"),
            (vec!["--backend", "rbd", "--node-topology", "zone"], "expected label=value"),
            (vec!["--backend", "rbd", "--node-topology", "zone=z1", "--drivername", "a_b"], "--drivername"),
        ] {
            let err = parse_serve(&args(&bad)).unwrap_err();
            assert!(err.contains(needle), "{bad:?}: {err}");
        }
    }
}
