//! The CSI services. Each handler only validates, submits a job to the serial queue
//! and replies when the job's result arrives; it never blocks a completion-queue thread.

/// Runs the prepared job (`Ok((Call, work))`) on the queue, or replies at once with
/// the validation error.
macro_rules! run {
    ($self:ident, $ctx:ident, $sink:ident, $method:literal, $prepare:expr) => {{
        match $prepare {
            Ok((call, work)) => $crate::rpc::enqueue(&$self.driver, &$ctx, $sink, call, work),
            Err(e) => $crate::rpc::reply_now(&$ctx, $sink, $method, "", Err(e)),
        }
    }};
}

pub mod controller;
pub mod identity;
pub mod node;
pub mod validate;

use std::sync::Arc;
use std::time::Instant;

use grpcio::{RpcContext, RpcStatusCode, UnarySink};

use crate::backend::Backend;
use crate::error::{code_name, status, Error};
use crate::logging::{next_request_id, InRequest};
use crate::node::NodeOps;
use crate::options::ServeOptions;
use crate::queue::{JobSpec, Limits, Queue};
use crate::{json, oneshot};

/// Everything the services share.
pub struct Driver {
    pub opts: ServeOptions,
    pub queue: Queue,
    /// Probe's own queue and thread: a liveness probe is answered while every worker
    /// is busy or stuck (and a stuck readiness check holds only this one).
    pub probe_queue: Queue,
    pub backend: Backend,
    /// The node path; `None` when this process does not serve the Node service or the
    /// backend has no node side yet.
    pub node: Option<Arc<NodeOps>>,
}

impl Driver {
    pub fn new(opts: ServeOptions, backend: Backend, node: Option<Arc<NodeOps>>) -> Arc<Driver> {
        let queue = Queue::with_limits(Limits {
            workers: opts.workers,
            max_workers: opts.max_workers,
            max_jobs: opts.max_queued,
            stuck_after: opts.stuck_after,
        });
        let probe_queue =
            Queue::with_limits(Limits { workers: 1, max_workers: 2, max_jobs: 64, stuck_after: opts.stuck_after });
        Arc::new(Driver { opts, queue, probe_queue, backend, node })
    }

    /// Probe's readiness: the backend can reach its storage, and the node has what it
    /// runs (the error says what is missing and what to install).
    pub fn ready(&self) -> Result<(), Error> {
        self.backend.probe()?;
        self.node.as_ref().map_or(Ok(()), |n| n.ready())
    }
}

/// The queue key of a volume (or snapshot) id.
pub fn vol_key(id: &str) -> String {
    format!("vol:{id}")
}

/// The queue key of NodeGetVolumeStats for a volume: a lane apart from the volume's
/// own, since stats only reads (the stash and mount records are replaced atomically).
pub fn stats_key(id: &str) -> String {
    format!("stats:{id}")
}

/// The queue key of a CO-chosen name.
pub fn name_key(kind: &str, name: &str) -> String {
    format!("name:{kind}:{name}")
}

/// What the log line and the queue need to know about one call.
pub struct Call {
    pub method: &'static str,
    /// The volume (or snapshot) id for the log line; may be empty.
    pub volume: String,
    /// Serialization keys in the queue.
    pub keys: Vec<String>,
    /// Identical in-flight requests (same method and canonical request) share one run.
    pub fingerprint: Option<String>,
}

impl Call {
    /// A call serialized on `key`, coalesced with identical requests.
    pub fn new(method: &'static str, volume: &str, key: String, req: &dyn protobuf::MessageDyn) -> Call {
        Call::keys(method, volume, vec![key], req)
    }

    /// A call serialized on several keys.
    pub fn keys(method: &'static str, volume: &str, keys: Vec<String>, req: &dyn protobuf::MessageDyn) -> Call {
        Call { method, volume: volume.to_string(), keys, fingerprint: Some(format!("{method} {}", json::to_json(req))) }
    }
}

fn log_rpc(req: u64, method: &'static str, volume: &str, code: RpcStatusCode, start: Instant, err: Option<&Error>) {
    let _req = InRequest::enter(req);
    let took = start.elapsed();
    let name = if err.is_none() { "OK".to_string() } else { code_name(code) };
    crate::metrics::global().rpc(method, &name, took);
    let ms = took.as_secs_f64() * 1000.0;
    match err {
        None => log::info!("rpc={method} volume={volume:?} code=OK duration_ms={ms:.3}"),
        Some(e) => log::info!("rpc={method} volume={volume:?} code={name} duration_ms={ms:.3} error={e}"),
    }
}

async fn send<Resp>(
    req: u64,
    sink: UnarySink<Resp>,
    method: &'static str,
    volume: String,
    start: Instant,
    r: Result<Resp, Error>,
) {
    match r {
        Ok(resp) => {
            log_rpc(req, method, &volume, RpcStatusCode::OK, start, None);
            if let Err(e) = sink.success(resp).await {
                log::debug!("rpc={method}: reply not delivered: {e}");
            }
        }
        Err(err) => {
            log_rpc(req, method, &volume, err.code(), start, Some(&err));
            if let Err(e) = sink.fail(status(&err)).await {
                log::debug!("rpc={method}: reply not delivered: {e}");
            }
        }
    }
}

/// Replies at once, without the queue (for answers that need no work).
pub fn reply_now<Resp: Send + 'static>(
    ctx: &RpcContext,
    sink: UnarySink<Resp>,
    method: &'static str,
    volume: &str,
    r: Result<Resp, Error>,
) {
    let start = Instant::now();
    ctx.spawn(send(next_request_id(), sink, method, volume.to_string(), start, r));
}

/// Runs `work` on the serial queue and replies with its result.
pub fn enqueue<Resp, W>(d: &Driver, ctx: &RpcContext, sink: UnarySink<Resp>, call: Call, work: W)
where
    Resp: Clone + Send + 'static,
    W: FnOnce() -> Result<Resp, Error> + Send + 'static,
{
    enqueue_on(&d.queue, ctx, sink, call, work)
}

/// Runs `work` on `queue` and replies with its result.
pub fn enqueue_on<Resp, W>(queue: &Queue, ctx: &RpcContext, sink: UnarySink<Resp>, call: Call, work: W)
where
    Resp: Clone + Send + 'static,
    W: FnOnce() -> Result<Resp, Error> + Send + 'static,
{
    let start = Instant::now();
    let deadline = ctx.deadline();
    let spec = JobSpec {
        keys: call.keys,
        fingerprint: call.fingerprint,
        expired: Some(Box::new(move || deadline.exceeded())),
        label: format!("{} volume={:?}", call.method, call.volume),
    };
    let (tx, rx) = oneshot::channel();
    let (method, volume) = (call.method, call.volume);
    let shown = volume.clone();
    let req = next_request_id();
    let work = move || {
        let _req = InRequest::enter(req);
        // One line per execution (coalesced callers share it): benchmarks count these.
        log::debug!("rpc={method} volume={shown:?} executing");
        work()
    };
    queue.submit(spec, work, move |r| tx.send(r));
    ctx.spawn(async move {
        let r = rx.await.unwrap_or_else(|| Err(Error::internal("operation ended without a result")));
        send(req, sink, method, volume, start, r).await
    });
}
