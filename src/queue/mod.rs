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
}

impl JobSpec {
    pub fn keys(keys: Vec<String>) -> Self {
        JobSpec { keys, fingerprint: None, expired: None }
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
    running: usize,
    closed: bool,
}

struct Shared {
    state: Mutex<State>,
    work_ready: Condvar,
    idle: Condvar,
    max_jobs: usize,
}

/// The queue. Dropping it does not stop the workers: call `shutdown`.
pub struct Queue {
    shared: Arc<Shared>,
    workers: Mutex<Vec<JoinHandle<()>>>,
}

fn fail_as<T: Send + 'static, E: From<QueueError> + Send + 'static>(err: QueueError) -> AnyResult {
    Box::new(Err::<T, E>(E::from(err)))
}

impl Queue {
    /// Starts `workers` threads; at most `max_jobs` jobs may be queued or running.
    pub fn new(workers: usize, max_jobs: usize) -> Queue {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            work_ready: Condvar::new(),
            idle: Condvar::new(),
            max_jobs: max_jobs.max(1),
        });
        let handles = (0..workers.max(1))
            .filter_map(|i| {
                let shared = Arc::clone(&shared);
                let spawned =
                    std::thread::Builder::new().name(format!("rbd-csi-worker-{i}")).spawn(move || worker_loop(&shared));
                match spawned {
                    Ok(h) => Some(h),
                    Err(e) => {
                        log::error!("cannot start worker thread {i}: {e}");
                        None
                    }
                }
            })
            .collect();
        Queue { shared, workers: Mutex::new(handles) }
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
                        return;
                    }
                }
            }
        }
        if st.jobs.len() >= self.shared.max_jobs {
            drop(st);
            let err = QueueError::Full { limit: self.shared.max_jobs };
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
            Job { keys, fingerprint, work: Some(work), fail: fail_as::<T, E>, waiters: vec![waiter], ready: false },
        );
        if make_ready_if_head(&mut st, id) {
            self.shared.work_ready.notify_one();
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
        for (job, _) in cancelled {
            let result = (job.fail)(QueueError::ShuttingDown);
            for w in job.waiters {
                (w.deliver)(result.as_ref());
            }
        }
        let deadline = Instant::now() + grace;
        let mut st = self.shared.state.lock();
        while st.running > 0 {
            if self.shared.idle.wait_until(&mut st, deadline).timed_out() {
                return false;
            }
        }
        drop(st);
        for h in self.workers.lock().drain(..) {
            let _ = h.join();
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

/// Removes a job from the tables and its lanes; returns the lanes' new heads.
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

fn worker_loop(shared: &Shared) {
    loop {
        let (id, work, fail, all_expired) = {
            let mut st = shared.state.lock();
            let id = loop {
                if let Some(id) = st.ready.pop_front() {
                    break id;
                }
                if st.closed {
                    return;
                }
                shared.work_ready.wait(&mut st);
            };
            let Some(job) = st.jobs.get_mut(&id) else { continue };
            let Some(work) = job.work.take() else { continue };
            let all_expired = job.waiters.iter().all(|w| w.expired.as_ref().is_some_and(|e| e()));
            let fail = job.fail;
            st.running += 1;
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

        let waiters = {
            let mut st = shared.state.lock();
            st.running -= 1;
            let job = remove_job(&mut st, id);
            let mut woke = 0;
            if let Some(job) = &job {
                let heads: Vec<u64> =
                    job.keys.iter().filter_map(|k| st.lanes.get(k).and_then(|l| l.front().copied())).collect();
                for h in heads {
                    if make_ready_if_head(&mut st, h) {
                        woke += 1;
                    }
                }
            }
            for _ in 0..woke {
                shared.work_ready.notify_one();
            }
            if st.running == 0 {
                shared.idle.notify_all();
            }
            job.map(|j| j.waiters).unwrap_or_default()
        };
        for w in waiters {
            let deliver = w.deliver;
            if catch_unwind(AssertUnwindSafe(|| deliver(result.as_ref()))).is_err() {
                log::error!("reply callback panicked");
            }
        }
    }
}

#[cfg(test)]
mod tests;
