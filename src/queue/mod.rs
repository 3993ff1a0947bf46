//! The serial queue (DESIGN.md §2): per-key FIFO lanes served by a fixed pool of
//! worker threads.
//!
//! - Jobs on different keys run in parallel; jobs sharing a key run one at a time, in
//!   arrival order. Nobody is ever told "operation already in progress".
//! - A job may hold several keys. It is appended to every one of its lanes at once,
//!   under one lock, so the lanes agree on arrival order: the oldest waiting job is
//!   always at the head of all its lanes, hence no deadlock.
//! - A job identical to one already queued or running (same fingerprint) joins it:
//!   one execution, every caller gets the result, unless another job was queued
//!   behind it on one of its keys (then the result could be stale: it runs again).
//! - Queued + running jobs are bounded (`QueueError::Full` past the bound).
//! - A job whose callers have all given up (deadline passed) is not started.
//! - A job that panics answers `QueueError::Panicked`; its worker and its keys live on.
//! - A job that does not come back (blocked in the kernel on a hung device or mount, a
//!   hung exec) cannot stall the other keys: after `Limits::stuck_after` it no longer
//!   counts as one of the `workers`, and the watchdog (watchdog.rs) starts a thread in
//!   its place, up to `max_workers` threads in all. Its own lanes stay blocked behind
//!   it (same-key work waits its turn), identical retries join it, and callers queued
//!   behind it are answered `DeadlinePassed` as soon as their deadlines pass.
//!
//! It knows nothing of what the jobs do, nor of the crate's error type: a job's error
//! type only has to take a `QueueError` (error.rs maps those to gRPC codes).

use std::any::{Any, TypeId};
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

mod watchdog;

pub use watchdog::Stuck;

use parking_lot::{Condvar, Mutex};

/// Why the queue answered instead of the job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueError {
    /// Too many jobs queued or running; the caller should retry later.
    Full { limit: usize },
    /// Every caller's deadline passed before the job could start.
    DeadlinePassed,
    /// The driver is stopping; queued jobs are not started.
    ShuttingDown,
    /// The job panicked; the message is the panic payload.
    Panicked(String),
}

impl fmt::Display for QueueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueueError::Full { limit } => {
                write!(f, "too many operations in progress ({limit} queued or running), retry later")
            }
            QueueError::DeadlinePassed => f.write_str("deadline passed before the operation could start"),
            QueueError::ShuttingDown => f.write_str("driver is shutting down"),
            QueueError::Panicked(m) => write!(f, "operation failed unexpectedly: {m}"),
        }
    }
}

/// Tells whether a caller has given up (its gRPC deadline passed).
pub type Expired = Box<dyn Fn() -> bool + Send>;

/// What a submitted job is: the keys it serializes on, and an optional fingerprint
/// under which identical requests are coalesced.
pub struct JobSpec {
    pub keys: Vec<String>,
    pub fingerprint: Option<String>,
    pub expired: Option<Expired>,
    /// What the job is, for the logs when it gets stuck (e.g. `NodeStageVolume
    /// volume="v1"`); the keys when empty.
    pub label: String,
}

impl JobSpec {
    pub fn keys(keys: Vec<String>) -> Self {
        JobSpec { keys, fingerprint: None, expired: None, label: String::new() }
    }

    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }

    pub fn fingerprint(mut self, fp: impl Into<String>) -> Self {
        self.fingerprint = Some(fp.into());
        self
    }

    pub fn expired(mut self, expired: Expired) -> Self {
        self.expired = Some(expired);
        self
    }
}

type AnyResult = Box<dyn Any + Send>;
type Work = Box<dyn FnOnce() -> AnyResult + Send>;
type Deliver = Box<dyn FnOnce(&(dyn Any + Send)) + Send>;

struct Waiter {
    expired: Option<Expired>,
    deliver: Deliver,
}

struct Job {
    keys: Vec<String>,
    label: String,
    fingerprint: Option<(String, TypeId)>,
    /// `None` once a worker has taken it.
    work: Option<Work>,
    /// Builds an `Err` of the job's result type (for answers the queue gives itself).
    fail: fn(QueueError) -> AnyResult,
    waiters: Vec<Waiter>,
    ready: bool,
}

#[derive(Default)]
struct State {
    next_id: u64,
    jobs: HashMap<u64, Job>,
    lanes: HashMap<String, VecDeque<u64>>,
    ready: VecDeque<u64>,
    by_fingerprint: HashMap<(String, TypeId), u64>,
    /// The jobs a worker has taken, by id: since when, and whether the watchdog has
    /// counted it stuck.
    running: HashMap<u64, Running>,
    /// Worker threads alive, and how many of them are held by stuck jobs.
    threads: usize,
    stuck: usize,
    /// Names the next worker thread.
    next_thread: usize,
    /// Submissions that joined an identical job, and jobs queued behind another one
    /// on one of their keys (what the metrics count).
    joined: u64,
    waited: u64,
    closed: bool,
}

/// The queue's numbers now, for the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Gauges {
    /// Jobs waiting for a worker (behind another job on a key, or for a thread).
    pub queued: usize,
    pub running: usize,
    /// Running past `stuck_after`.
    pub stuck: usize,
    pub threads: usize,
    pub joined: u64,
    pub waited: u64,
}

impl State {
    /// Worker threads not held by a stuck job.
    fn serving(&self) -> usize {
        self.threads - self.stuck
    }
}

struct Running {
    since: Instant,
    stuck: bool,
    /// When the watchdog last logged it.
    logged: Option<Instant>,
}

/// The pool's size and bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Threads that run jobs while none is stuck.
    pub workers: usize,
    /// Threads in all, stuck ones included: the pool grows no further.
    pub max_workers: usize,
    /// Jobs queued or running before `QueueError::Full`.
    pub max_jobs: usize,
    /// How long a job may run before it counts as stuck and a thread is started in its
    /// place.
    pub stuck_after: Duration,
}

impl Limits {
    /// `workers` threads, up to four times as many while jobs are stuck, jobs stuck
    /// after 2 s.
    pub fn new(workers: usize, max_jobs: usize) -> Limits {
        let workers = workers.max(1);
        Limits { workers, max_workers: workers * 4, max_jobs, stuck_after: Duration::from_secs(2) }
    }
}

struct Shared {
    state: Mutex<State>,
    work_ready: Condvar,
    idle: Condvar,
    /// Wakes the watchdog at shutdown.
    watchdog_wake: Condvar,
    limits: Limits,
}

/// The queue. Dropping it does not stop the workers: call `shutdown`.
pub struct Queue {
    shared: Arc<Shared>,
    /// The watchdog's thread; workers are not joined (a stuck one may never return).
    watchdog: Mutex<Option<JoinHandle<()>>>,
}

fn fail_as<T: Send + 'static, E: From<QueueError> + Send + 'static>(err: QueueError) -> AnyResult {
    Box::new(Err::<T, E>(E::from(err)))
}

impl Queue {
    /// Starts `workers` threads (`Limits::new`); at most `max_jobs` jobs may be queued
    /// or running.
    pub fn new(workers: usize, max_jobs: usize) -> Queue {
        Queue::with_limits(Limits::new(workers, max_jobs))
    }

    /// Starts `limits.workers` threads and the watchdog.
    pub fn with_limits(limits: Limits) -> Queue {
        let limits = Limits {
            workers: limits.workers.max(1),
            max_workers: limits.max_workers.max(limits.workers.max(1)),
            max_jobs: limits.max_jobs.max(1),
            stuck_after: limits.stuck_after,
        };
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            work_ready: Condvar::new(),
            idle: Condvar::new(),
            watchdog_wake: Condvar::new(),
            limits,
        });
        {
            let mut st = shared.state.lock();
            for _ in 0..limits.workers {
                spawn_worker(&shared, &mut st);
            }
        }
        let watchdog = watchdog::start(Arc::clone(&shared));
        Queue { shared, watchdog: Mutex::new(watchdog) }
    }

    /// The jobs running past `stuck_after`, longest first: what an operator looks at
    /// when a volume does not answer.
    pub fn stuck(&self) -> Vec<Stuck> {
        watchdog::stuck(&self.shared.state.lock())
    }

    /// Whether fewer than `workers` threads are free of stuck jobs: the pool is at
    /// `max_workers` and other work waits (what /healthz reports as wedged).
    pub fn starved(&self) -> bool {
        let st = self.shared.state.lock();
        st.serving() < self.shared.limits.workers
    }

    pub fn gauges(&self) -> Gauges {
        let st = self.shared.state.lock();
        Gauges {
            queued: st.jobs.values().filter(|j| j.work.is_some()).count(),
            running: st.running.len(),
            stuck: st.stuck,
            threads: st.threads,
            joined: st.joined,
            waited: st.waited,
        }
    }

    /// Queues `work` under `spec`; `done` receives its result (or the queue's refusal),
    /// on a worker thread or, for an immediate refusal, on the caller's thread.
    /// `done` never runs while the queue's lock is held.
    /// The job's error type `E` says what a refusal by the queue becomes.
    pub fn submit<T, E, W, D>(&self, spec: JobSpec, work: W, done: D)
    where
        T: Clone + Send + 'static,
        E: From<QueueError> + Clone + Send + 'static,
        W: FnOnce() -> Result<T, E> + Send + 'static,
        D: FnOnce(Result<T, E>) + Send + 'static,
    {
        let deliver: Deliver = Box::new(move |any: &(dyn Any + Send)| match any.downcast_ref::<Result<T, E>>() {
            Some(r) => done(r.clone()),
            None => done(Err(QueueError::Panicked("queue delivered a result of the wrong type".into()).into())),
        });
        let waiter = Waiter { expired: spec.expired, deliver };
        let mut keys = spec.keys;
        keys.sort();
        keys.dedup();
        let label = if spec.label.is_empty() { keys.join(",") } else { spec.label };
        let fingerprint = spec.fingerprint.map(|fp| (fp, TypeId::of::<Result<T, E>>()));

        let mut st = self.shared.state.lock();
        if st.closed {
            drop(st);
            (waiter.deliver)(&Err::<T, E>(QueueError::ShuttingDown.into()));
            return;
        }
        if let Some(fp) = &fingerprint {
            if let Some(id) = st.by_fingerprint.get(fp).copied() {
                // Join only a job nothing was queued behind: a retry of a stage must not
                // share the result of a stage that an unstage queued after it undoes.
                let last_everywhere =
                    |job: &Job| job.keys.iter().all(|k| st.lanes.get(k).and_then(|l| l.back()) == Some(&id));
                if st.jobs.get(&id).is_some_and(last_everywhere) {
                    if let Some(job) = st.jobs.get_mut(&id) {
                        job.waiters.push(waiter);
                        st.joined += 1;
                        return;
                    }
                }
            }
        }
        if st.jobs.len() >= self.shared.limits.max_jobs {
            drop(st);
            let err = QueueError::Full { limit: self.shared.limits.max_jobs };
            (waiter.deliver)(&Err::<T, E>(err.into()));
            return;
        }
        let id = st.next_id;
        st.next_id += 1;
        let work: Work = Box::new(move || Box::new(work()) as AnyResult);
        for k in &keys {
            st.lanes.entry(k.clone()).or_default().push_back(id);
        }
        if let Some(fp) = &fingerprint {
            st.by_fingerprint.insert(fp.clone(), id);
        }
        st.jobs.insert(
            id,
            Job {
                keys,
                label,
                fingerprint,
                work: Some(work),
                fail: fail_as::<T, E>,
                waiters: vec![waiter],
                ready: false,
            },
        );
        if make_ready_if_head(&mut st, id) {
            self.shared.work_ready.notify_one();
        } else {
            st.waited += 1;
        }
    }

    /// Stops taking jobs, answers every job not yet started with `ShuttingDown`, and
    /// waits up to `grace` for running jobs. Returns true when everything finished.
    pub fn shutdown(&self, grace: Duration) -> bool {
        let cancelled: Vec<(Job, u64)> = {
            let mut st = self.shared.state.lock();
            st.closed = true;
            let waiting: Vec<u64> = st.jobs.iter().filter(|(_, j)| j.work.is_some()).map(|(id, _)| *id).collect();
            let mut out = Vec::new();
            for id in waiting {
                if let Some(job) = remove_job(&mut st, id) {
                    out.push((job, id));
                }
            }
            st.ready.clear();
            out
        };
        self.shared.work_ready.notify_all();
        self.shared.watchdog_wake.notify_all();
        if let Some(h) = self.watchdog.lock().take() {
            let _ = h.join();
        }
        for (job, _) in cancelled {
            let result = (job.fail)(QueueError::ShuttingDown);
            for w in job.waiters {
                (w.deliver)(result.as_ref());
            }
        }
        let deadline = Instant::now() + grace;
        let mut st = self.shared.state.lock();
        while !st.running.is_empty() {
            if self.shared.idle.wait_until(&mut st, deadline).timed_out() {
                return false;
            }
        }
        true
    }
}

/// Marks `id` ready when it heads every one of its lanes. Returns whether it did.
fn make_ready_if_head(st: &mut State, id: u64) -> bool {
    let Some(job) = st.jobs.get(&id) else { return false };
    if job.ready {
        return false;
    }
    let heads_all = job.keys.iter().all(|k| st.lanes.get(k).and_then(|l| l.front()) == Some(&id));
    if !heads_all {
        return false;
    }
    if let Some(job) = st.jobs.get_mut(&id) {
        job.ready = true;
    }
    st.ready.push_back(id);
    true
}

/// Marks ready the jobs that head all their lanes now that `job` left them; returns how
/// many it marked.
fn ready_new_heads(st: &mut State, job: &Job) -> usize {
    let heads: Vec<u64> = job.keys.iter().filter_map(|k| st.lanes.get(k).and_then(|l| l.front().copied())).collect();
    heads.into_iter().filter(|h| make_ready_if_head(st, *h)).count()
}

/// Starts one more worker thread (counted in `st.threads`).
fn spawn_worker(shared: &Arc<Shared>, st: &mut State) -> bool {
    let n = st.next_thread;
    st.next_thread += 1;
    let pool = Arc::clone(shared);
    match std::thread::Builder::new().name(format!("rbd-csi-worker-{n}")).spawn(move || worker_loop(&pool)) {
        Ok(_) => {
            st.threads += 1;
            true
        }
        Err(e) => {
            log::error!("cannot start worker thread {n}: {e}");
            false
        }
    }
}

/// Removes a job from the tables and its lanes.
fn remove_job(st: &mut State, id: u64) -> Option<Job> {
    let job = st.jobs.remove(&id)?;
    if let Some(fp) = &job.fingerprint {
        if st.by_fingerprint.get(fp) == Some(&id) {
            st.by_fingerprint.remove(fp);
        }
    }
    for k in &job.keys {
        if let Some(lane) = st.lanes.get_mut(k) {
            lane.retain(|x| *x != id);
            if lane.is_empty() {
                st.lanes.remove(k);
            }
        }
    }
    Some(job)
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic".to_string()
    }
}

fn worker_loop(shared: &Arc<Shared>) {
    loop {
        let (id, work, fail, all_expired) = {
            let mut st = shared.state.lock();
            let id = loop {
                if let Some(id) = st.ready.pop_front() {
                    break id;
                }
                if st.closed {
                    st.threads -= 1;
                    return;
                }
                shared.work_ready.wait(&mut st);
            };
            let Some(job) = st.jobs.get_mut(&id) else { continue };
            let Some(work) = job.work.take() else { continue };
            let all_expired = job.waiters.iter().all(|w| w.expired.as_ref().is_some_and(|e| e()));
            let fail = job.fail;
            st.running.insert(id, Running { since: Instant::now(), stuck: false, logged: None });
            (id, work, fail, all_expired)
        };

        let result = if all_expired {
            drop(work);
            fail(QueueError::DeadlinePassed)
        } else {
            match catch_unwind(AssertUnwindSafe(work)) {
                Ok(r) => r,
                Err(payload) => {
                    let msg = panic_message(payload.as_ref());
                    log::error!("job panicked: {msg}");
                    fail(QueueError::Panicked(msg))
                }
            }
        };

        let (waiters, leave) = {
            let mut st = shared.state.lock();
            let job = remove_job(&mut st, id);
            if let Some(run) = st.running.remove(&id) {
                if run.stuck {
                    st.stuck -= 1;
                    let label = job.as_ref().map_or("a job", |j| j.label.as_str());
                    log::warn!("{label} came back after {} s", run.since.elapsed().as_secs());
                }
            }
            let woke = job.as_ref().map_or(0, |job| ready_new_heads(&mut st, job));
            for _ in 0..woke {
                shared.work_ready.notify_one();
            }
            if st.running.is_empty() {
                shared.idle.notify_all();
            }
            // A thread started in a stuck job's place: once that job is back, the pool
            // shrinks to its size again.
            let leave = st.serving() > shared.limits.workers;
            if leave {
                st.threads -= 1;
            }
            (job.map(|j| j.waiters).unwrap_or_default(), leave)
        };
        for w in waiters {
            let deliver = w.deliver;
            if catch_unwind(AssertUnwindSafe(|| deliver(result.as_ref()))).is_err() {
                log::error!("reply callback panicked");
            }
        }
        if leave {
            return;
        }
    }
}

#[cfg(test)]
mod tests;
