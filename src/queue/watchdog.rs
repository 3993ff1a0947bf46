//! The queue's watchdog: one thread that looks at the running jobs a few times a
//! second and keeps the pool serving when jobs do not come back.
//!
//! - A job running past `Limits::stuck_after` is counted stuck: it no longer takes
//!   one of the `workers`, and a thread is started in its place (up to `max_workers`
//!   threads in all). The stuck thread is left alone (a thread blocked in the kernel
//!   cannot be stopped); when its job returns, a thread beyond `workers` leaves.
//! - Stuck jobs are logged with their label and duration when counted stuck, at 30 s,
//!   and every minute after; `stuck()` lists them.
//! - A job not started whose callers have all given up is answered `DeadlinePassed`
//!   at once: callers queued behind a stuck job are not kept waiting past their
//!   deadlines, and they stop counting against `max_jobs`.
//!
//! It never runs a job itself and never holds the queue's lock while it answers one.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{ready_new_heads, remove_job, spawn_worker, Job, QueueError, Shared, State};

/// A job running past `stuck_after`, as `Queue::stuck` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stuck {
    /// The job's label (`JobSpec::label`).
    pub label: String,
    /// The keys (lanes) it holds: every other job on them waits for it.
    pub keys: Vec<String>,
    pub running_for: Duration,
}

/// A stuck job is logged again when it has run this long, then every minute.
const FIRST_WARNING: Duration = Duration::from_secs(30);
const WARN_EVERY: Duration = Duration::from_secs(60);

/// Starts the watchdog thread; `None` (logged) when the thread cannot start: the
/// queue still works, without replacements.
pub(super) fn start(shared: Arc<Shared>) -> Option<JoinHandle<()>> {
    let spawned = std::thread::Builder::new().name("rbd-csi-watchdog".into()).spawn(move || watch(&shared));
    match spawned {
        Ok(h) => Some(h),
        Err(e) => {
            log::error!("cannot start the queue's watchdog thread: {e}");
            None
        }
    }
}

/// How often it looks: a quarter of `stuck_after`, between 10 ms and 1 s.
fn tick(stuck_after: Duration) -> Duration {
    (stuck_after / 4).clamp(Duration::from_millis(10), Duration::from_secs(1))
}

fn watch(shared: &Arc<Shared>) {
    let limits = shared.limits;
    let mut at_cap_logged = false;
    loop {
        let given_up = {
            let mut st = shared.state.lock();
            if st.closed {
                return;
            }
            shared.watchdog_wake.wait_for(&mut st, tick(limits.stuck_after));
            if st.closed {
                return;
            }
            count_stuck(&mut st, limits.stuck_after);
            while st.serving() < limits.workers && st.threads < limits.max_workers {
                if !spawn_worker(shared, &mut st) {
                    break;
                }
            }
            let starved = st.serving() < limits.workers;
            if starved && !at_cap_logged {
                log::error!(
                    "{} of {} worker threads are held by stuck jobs (--max-workers): other volumes wait",
                    st.stuck,
                    st.threads
                );
            }
            at_cap_logged = starved;
            let given_up = take_given_up(&mut st);
            let woke: usize = given_up.iter().map(|job| ready_new_heads(&mut st, job)).sum();
            for _ in 0..woke {
                shared.work_ready.notify_one();
            }
            given_up
        };
        for job in given_up {
            let result = (job.fail)(QueueError::DeadlinePassed);
            for w in job.waiters {
                (w.deliver)(result.as_ref());
            }
        }
    }
}

/// Counts the jobs running past `stuck_after` as stuck, and logs them.
fn count_stuck(st: &mut State, stuck_after: Duration) {
    let now = Instant::now();
    let mut newly = 0;
    let State { running, jobs, .. } = st;
    for (id, run) in running.iter_mut() {
        let age = now.duration_since(run.since);
        if age < stuck_after {
            continue;
        }
        let label = jobs.get(id).map_or("a job", |j| j.label.as_str());
        if !run.stuck {
            run.stuck = true;
            newly += 1;
            log::info!("{label} has run for {} ms: another thread takes its place", age.as_millis());
        }
        let due = match run.logged {
            None => age >= FIRST_WARNING,
            Some(at) => now.duration_since(at) >= WARN_EVERY,
        };
        if due {
            run.logged = Some(now);
            log::warn!("{label} is stuck: running for {} s (blocked in the kernel or in an exec?)", age.as_secs());
        }
    }
    st.stuck += newly;
}

/// Takes out the jobs not started whose callers have all given up.
fn take_given_up(st: &mut State) -> Vec<Job> {
    let ids: Vec<u64> = st
        .jobs
        .iter()
        .filter(|(_, j)| {
            j.work.is_some()
                && !j.waiters.is_empty()
                && j.waiters.iter().all(|w| w.expired.as_ref().is_some_and(|e| e()))
        })
        .map(|(id, _)| *id)
        .collect();
    let mut out = Vec::new();
    for id in ids {
        st.ready.retain(|r| *r != id);
        if let Some(job) = remove_job(st, id) {
            out.push(job);
        }
    }
    out
}

/// The stuck jobs, longest running first.
pub(super) fn stuck(st: &State) -> Vec<Stuck> {
    let mut out: Vec<Stuck> = st
        .running
        .iter()
        .filter(|(_, r)| r.stuck)
        .filter_map(|(id, r)| {
            let job = st.jobs.get(id)?;
            Some(Stuck { label: job.label.clone(), keys: job.keys.clone(), running_for: r.since.elapsed() })
        })
        .collect();
    out.sort_by_key(|s| std::cmp::Reverse(s.running_for));
    out
}
