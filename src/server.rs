//! `rbd-csi serve`: the socket, the grpcio server, signals and an orderly stop.

use std::io::ErrorKind;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use grpcio::{CallOption, ChannelBuilder, EnvBuilder, ServerBuilder, ServerCredentials};
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::stat::{umask, Mode};

use crate::backend;
use crate::csi::ProbeRequest;
use crate::exec::RealRunner;
use crate::generated::csi_grpc::{create_controller, create_identity, create_node, IdentityClient};
use crate::metrics::{self, Info};
use crate::node::{NodeOps, PathPolicy};
use crate::oneshot::block_on_timeout;
use crate::options::ServeOptions;
use crate::rpc::controller::ControllerService;
use crate::rpc::identity::IdentityService;
use crate::rpc::node::NodeService;
use crate::rpc::Driver;
use crate::sys::real::RealSys;
use crate::sys::Sys;

/// Makes `path` free for a new socket: removes a stale socket nobody listens on,
/// refuses to take over one a live server answers on, and never deletes anything
/// that is not a socket.
pub fn prepare_socket(path: &Path) -> Result<(), String> {
    if let Some(dir) = path.parent().filter(|d| !d.exists()) {
        // The socket is 0660 for root and its group: a directory made here lets them
        // reach it (the driver runs under umask 077).
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| format!("cannot chmod {}: {e}", dir.display()))?;
    }
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("cannot inspect {}: {e}", path.display())),
    };
    if !meta.file_type().is_socket() {
        return Err(format!("{} exists and is not a socket; refusing to remove it", path.display()));
    }
    match UnixStream::connect(path) {
        Ok(_) => Err(format!("another server is listening on {}; refusing to take it over", path.display())),
        Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
            log::info!("removing stale socket {}", path.display());
            std::fs::remove_file(path).map_err(|e| format!("cannot remove stale socket {}: {e}", path.display()))
        }
        Err(e) => Err(format!("cannot check socket {}: {e}", path.display())),
    }
}

fn stop_signals() -> SigSet {
    let mut set = SigSet::empty();
    set.add(Signal::SIGTERM);
    set.add(Signal::SIGINT);
    set
}

/// Runs the plugin until SIGTERM or SIGINT.
/// Creates `dir` if needed and makes it 0700 (an older version's may be 0755).
fn private_dir(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| format!("cannot chmod {}: {e}", dir.display()))
}

pub fn serve(opts: ServeOptions) -> Result<(), String> {
    // Block the stop signals before any thread exists, so every thread inherits the
    // mask and only `sigwait` below sees them.
    let signals = stop_signals();
    nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&signals), None)
        .map_err(|e| format!("cannot block signals: {e}"))?;

    // Volume images, stashes and records are root's alone, whatever umask the driver
    // was started with (run.sh, systemd-run and Nomad's raw_exec leave 022).
    umask(Mode::from_bits_truncate(0o077));
    private_dir(&opts.data_dir)?;
    let sys: Arc<dyn Sys> = Arc::new(RealSys);
    let backend = backend::open(&opts, Arc::clone(&sys))?;
    let node = match (&backend.attacher, opts.mode.has_node()) {
        (Some(attacher), true) => {
            let paths = PathPolicy::new(&opts.allowed_path_prefixes);
            let state_dir = opts.data_dir.join("node");
            Some(Arc::new(NodeOps::new(sys, Arc::new(RealRunner), Arc::clone(attacher), &state_dir, paths)?))
        }
        _ => None,
    };
    let socket = opts.socket.clone();
    let grace = opts.shutdown_grace;
    log::info!(
        "rbd-csi {} starting: driver={} mode={:?} backend={} node={} workers={} (up to {} while operations are \
         stuck past {:?}) grpc_threads={} max_queued={}",
        crate::VERSION,
        opts.driver_name,
        opts.mode,
        backend.name,
        opts.node_id,
        opts.workers,
        opts.max_workers,
        opts.stuck_after,
        opts.grpc_threads,
        opts.max_queued
    );
    if let Some(segments) = opts.node_topology.as_ref() {
        let mut shown: Vec<String> = segments.iter().map(|(k, v)| format!("{k}={v}")).collect();
        shown.sort();
        log::info!("node topology: {}", shown.join(","));
    }
    let driver = Driver::new(opts, backend, node);
    if let Err(e) = driver.ready() {
        log::warn!("not ready (Probe says so until it is fixed): {e}");
    }
    prepare_socket(&socket)?;

    let env = Arc::new(EnvBuilder::new().cq_count(driver.opts.grpc_threads).name_prefix("rbd-csi-grpc").build());
    let mut builder =
        ServerBuilder::new(env).register_service(create_identity(IdentityService { driver: Arc::clone(&driver) }));
    if driver.opts.mode.has_controller() {
        builder = builder.register_service(create_controller(ControllerService { driver: Arc::clone(&driver) }));
    }
    if driver.opts.mode.has_node() {
        builder = builder.register_service(create_node(NodeService { driver: Arc::clone(&driver) }));
    }
    let mut server = builder.build().map_err(|e| format!("cannot build gRPC server: {e}"))?;

    // The socket is created 0660: only root and the socket's group may talk to us.
    let old = umask(Mode::from_bits_truncate(0o117));
    let bound = server.add_listening_port(format!("unix:{}", socket.display()), ServerCredentials::insecure());
    umask(old);
    bound.map_err(|e| format!("cannot listen on {}: {e}", socket.display()))?;
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o660))
        .map_err(|e| format!("cannot chmod {}: {e}", socket.display()))?;
    server.start();
    log::info!("listening on unix://{}", socket.display());
    if let Some(addr) = driver.opts.metrics_addr {
        start_metrics(addr, &driver, &socket)?;
    }

    let sig = signals.wait().map_err(|e| format!("sigwait: {e}"))?;
    log::info!("{sig:?}: stopping; letting running operations finish (up to {}s)", grace.as_secs());
    let stopped = server.shutdown();
    driver.probe_queue.shutdown(Duration::ZERO);
    if !driver.queue.shutdown(grace) {
        for s in driver.queue.stuck() {
            log::warn!("still running: {} ({} s)", s.label, s.running_for.as_secs());
        }
        log::warn!("operations still running after {}s; stopping anyway", grace.as_secs());
    }
    if block_on_timeout(stopped, Duration::from_secs(5)).is_none() {
        server.cancel_all_calls();
    }
    match std::fs::remove_file(&socket) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => log::warn!("cannot remove socket {}: {e}", socket.display()),
    }
    log::info!("stopped");
    // Everything is finished and the socket is gone: leave without tearing down the C
    // libraries in process (librados connections, gRPC core). Their teardown at exit
    // raced their own threads and now and then ended a clean stop in SIGSEGV (seen in
    // the guest's krbd runs); there is nothing left to flush or undo.
    // SAFETY: _exit(2) ends the process at once; no Rust code runs after it.
    unsafe { libc::_exit(0) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    fn tmpdir(tag: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("rbd-csi-test-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn stale_socket_is_removed_live_one_is_kept_other_files_untouched() {
        let d = tmpdir("sock");
        let stale = d.join("stale.sock");
        drop(UnixListener::bind(&stale).unwrap());
        assert!(stale.exists());
        prepare_socket(&stale).unwrap();
        assert!(!stale.exists());

        let live = d.join("live.sock");
        let _l = UnixListener::bind(&live).unwrap();
        let err = prepare_socket(&live).unwrap_err();
        assert!(err.contains("another server is listening"), "{err}");
        assert!(live.exists());

        let file = d.join("file.sock");
        std::fs::write(&file, b"data").unwrap();
        let err = prepare_socket(&file).unwrap_err();
        assert!(err.contains("not a socket"), "{err}");
        assert_eq!(std::fs::read(&file).unwrap(), b"data");

        let fresh = d.join("sub/dir/new.sock");
        prepare_socket(&fresh).unwrap();
        assert!(fresh.parent().unwrap().is_dir());
        std::fs::remove_dir_all(&d).unwrap();
    }
}

/// How long /healthz waits for its Probe through the gRPC socket.
const HEALTH_PROBE_WITHIN: Duration = Duration::from_secs(3);

/// Serves /metrics and /healthz on `addr` (`--metrics-addr`). Health is a Probe
/// through the real gRPC socket answered in time, and a queue not wedged (fewer free
/// worker threads than --workers: the pool at --max-workers with stuck operations).
fn start_metrics(addr: std::net::SocketAddr, driver: &Arc<Driver>, socket: &Path) -> Result<(), String> {
    let d = Arc::clone(driver);
    let render = Box::new(move || {
        metrics::global().render(&Info {
            driver: d.opts.driver_name.clone(),
            mode: format!("{:?}", d.opts.mode).to_lowercase(),
            backend: d.backend.name,
            ceph_client: d.backend.ceph_client,
            queue: d.queue.gauges(),
            stuck: d.queue.stuck(),
        })
    });
    let env = Arc::new(EnvBuilder::new().cq_count(1).name_prefix("rbd-csi-health").build());
    let client = IdentityClient::new(ChannelBuilder::new(env).connect(&format!("unix:{}", socket.display())));
    let d = Arc::clone(driver);
    let health = Box::new(move || {
        let answer = client.probe_opt(&ProbeRequest::new(), CallOption::default().timeout(HEALTH_PROBE_WITHIN));
        let resp =
            answer.map_err(|e| format!("Probe through {} got no answer in time: {e}", d.opts.socket.display()))?;
        let g = d.queue.gauges();
        if d.queue.starved() {
            return Err(format!(
                "wedged: {} of {} worker threads are held by stuck operations (--max-workers {}); other volumes wait",
                g.stuck, g.threads, d.opts.max_workers
            ));
        }
        let ready = resp.ready.as_ref().map_or(true, |r| r.value);
        Ok(format!(
            "ok: Probe answered, ready {ready}; {} operations running, {} queued, {} stuck",
            g.running, g.queued, g.stuck
        ))
    });
    let bound = metrics::http::start(addr, render, health)?;
    log::info!("metrics on http://{bound}/metrics, health on http://{bound}/healthz");
    Ok(())
}
