//! Properties of the serial queue, proven with real threads.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::error::Error;

use super::*;

/// Counters the tests check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    pub jobs: usize,
    pub running: usize,
}

impl JobSpec {
    /// A job on one key, with no coalescing and no deadline.
    pub fn key(key: impl Into<String>) -> Self {
        JobSpec::keys(vec![key.into()])
    }
}

impl Queue {
    /// Runs `work` through the queue and waits for its result on this thread.
    pub fn run<T, W>(&self, spec: JobSpec, work: W) -> Result<T, Error>
    where
        T: Clone + Send + 'static,
        W: FnOnce() -> Result<T, Error> + Send + 'static,
    {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.submit(spec, work, move |r| {
            let _ = tx.send(r);
        });
        rx.recv().unwrap_or_else(|_| Err(Error::internal("queue dropped the job")))
    }

    /// Worker threads alive now (stuck ones included).
    pub fn threads(&self) -> usize {
        self.shared.state.lock().threads
    }

    pub fn stats(&self) -> Stats {
        let st = self.shared.state.lock();
        Stats { jobs: st.jobs.len(), running: st.running.len() }
    }
}

/// Waits until `cond` holds, failing the test after 10 s.
fn wait_for(what: &str, cond: impl Fn() -> bool) {
    let end = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(1));
    }
}

/// A gate that blocks jobs until opened.
#[derive(Clone)]
struct Gate(Arc<(std::sync::Mutex<bool>, std::sync::Condvar)>);

impl Gate {
    fn new() -> Self {
        Gate(Arc::new((std::sync::Mutex::new(false), std::sync::Condvar::new())))
    }
    fn wait(&self) {
        let (m, cv) = &*self.0;
        let mut open = m.lock().unwrap();
        while !*open {
            open = cv.wait(open).unwrap();
        }
    }
    fn open(&self) {
        let (m, cv) = &*self.0;
        *m.lock().unwrap() = true;
        cv.notify_all();
    }
}

#[test]
fn same_key_never_overlaps_and_keeps_arrival_order_under_16_submitters() {
    const KEYS: usize = 4;
    const PER_THREAD: usize = 50;
    let q = Arc::new(Queue::new(8, 100_000));
    let busy: Arc<Vec<AtomicBool>> = Arc::new((0..KEYS).map(|_| AtomicBool::new(false)).collect());
    // Arrival order: a sequence number taken under the same lock as submit().
    let submit_lock = Arc::new(Mutex::new(0usize));
    let ran: Arc<Mutex<HashMap<usize, Vec<usize>>>> = Arc::new(Mutex::new(HashMap::new()));
    let overlaps = Arc::new(AtomicUsize::new(0));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let max_parallel = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));

    let submitters: Vec<_> = (0..16)
        .map(|t| {
            let (q, busy, submit_lock, ran, overlaps, done) = (
                Arc::clone(&q),
                Arc::clone(&busy),
                Arc::clone(&submit_lock),
                Arc::clone(&ran),
                Arc::clone(&overlaps),
                Arc::clone(&done),
            );
            let (in_flight, max_parallel) = (Arc::clone(&in_flight), Arc::clone(&max_parallel));
            thread::spawn(move || {
                for i in 0..PER_THREAD {
                    let key = (t + i) % KEYS;
                    let mut seq = submit_lock.lock();
                    let my_seq = *seq;
                    *seq += 1;
                    let (busy, ran, overlaps, done) =
                        (Arc::clone(&busy), Arc::clone(&ran), Arc::clone(&overlaps), Arc::clone(&done));
                    let (in_flight, max_parallel) = (Arc::clone(&in_flight), Arc::clone(&max_parallel));
                    q.submit(
                        JobSpec::key(format!("vol-{key}")),
                        move || {
                            if busy[key].swap(true, Ordering::SeqCst) {
                                overlaps.fetch_add(1, Ordering::SeqCst);
                            }
                            let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                            max_parallel.fetch_max(now, Ordering::SeqCst);
                            ran.lock().entry(key).or_default().push(my_seq);
                            thread::sleep(Duration::from_micros(200));
                            in_flight.fetch_sub(1, Ordering::SeqCst);
                            busy[key].store(false, Ordering::SeqCst);
                            Ok(())
                        },
                        move |r: Result<(), Error>| {
                            assert!(r.is_ok());
                            done.fetch_add(1, Ordering::SeqCst);
                        },
                    );
                    drop(seq);
                }
            })
        })
        .collect();
    for s in submitters {
        s.join().unwrap();
    }
    wait_for("all jobs", || done.load(Ordering::SeqCst) == 16 * PER_THREAD);
    assert_eq!(overlaps.load(Ordering::SeqCst), 0, "two jobs of one key ran at once");
    let ran = ran.lock();
    for (key, seqs) in ran.iter() {
        let mut sorted = seqs.clone();
        sorted.sort();
        assert_eq!(seqs, &sorted, "key {key} ran out of arrival order");
    }
    assert_eq!(ran.values().map(Vec::len).sum::<usize>(), 16 * PER_THREAD);
    assert!(max_parallel.load(Ordering::SeqCst) > 1, "different keys never ran in parallel");
    assert!(q.shutdown(Duration::from_secs(5)));
}

#[test]
fn hundred_identical_requests_run_once_and_all_get_the_result() {
    let q = Arc::new(Queue::new(4, 1000));
    let gate = Gate::new();
    let executions = Arc::new(AtomicUsize::new(0));
    let results = Arc::new(Mutex::new(Vec::new()));
    let barrier = Arc::new(Barrier::new(100));
    let threads: Vec<_> = (0..100)
        .map(|_| {
            let (q, gate, executions, results, barrier) =
                (Arc::clone(&q), gate.clone(), Arc::clone(&executions), Arc::clone(&results), Arc::clone(&barrier));
            thread::spawn(move || {
                barrier.wait();
                q.submit(
                    JobSpec::key("vol-a").fingerprint("NodeStageVolume{vol-a,/stage}"),
                    move || {
                        gate.wait();
                        let n = executions.fetch_add(1, Ordering::SeqCst) + 1;
                        Ok(format!("staged-{n}"))
                    },
                    move |r: Result<String, Error>| results.lock().push(r),
                );
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    gate.open();
    wait_for("100 results", || results.lock().len() == 100);
    assert_eq!(executions.load(Ordering::SeqCst), 1);
    assert!(results.lock().iter().all(|r| r.as_deref() == Ok("staged-1")));
    // After completion the fingerprint is free: a new identical request runs again.
    let again = q.run(JobSpec::key("vol-a").fingerprint("NodeStageVolume{vol-a,/stage}"), {
        let executions = Arc::clone(&executions);
        move || Ok(executions.fetch_add(1, Ordering::SeqCst) + 1)
    });
    assert_eq!(again, Ok(2));
    assert!(q.shutdown(Duration::from_secs(5)));
}

#[test]
fn different_fingerprints_on_one_key_do_not_coalesce() {
    let q = Queue::new(2, 100);
    let count = Arc::new(AtomicUsize::new(0));
    for fp in ["a", "b"] {
        let c = Arc::clone(&count);
        let r = q.run(JobSpec::key("k").fingerprint(fp), move || Ok(c.fetch_add(1, Ordering::SeqCst)));
        assert!(r.is_ok());
    }
    assert_eq!(count.load(Ordering::SeqCst), 2);
    assert!(q.shutdown(Duration::from_secs(5)));
}

#[test]
fn multi_key_jobs_in_opposite_orders_do_not_deadlock_or_overlap() {
    let q = Arc::new(Queue::new(4, 100_000));
    let names = ["a", "b", "c"];
    let busy: Arc<HashMap<&'static str, AtomicBool>> =
        Arc::new(names.iter().map(|n| (*n, AtomicBool::new(false))).collect());
    let overlaps = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let (q, busy, overlaps, done) =
                (Arc::clone(&q), Arc::clone(&busy), Arc::clone(&overlaps), Arc::clone(&done));
            thread::spawn(move || {
                for i in 0..100 {
                    // Alternate (x, y) and (y, x) so a lock-in-given-order scheme would deadlock.
                    let x = names[(t + i) % 3];
                    let y = names[(t + i + 1 + (i % 2)) % 3];
                    let keys: Vec<&'static str> = if i % 2 == 0 { vec![x, y] } else { vec![y, x] };
                    let (busy, overlaps, done) = (Arc::clone(&busy), Arc::clone(&overlaps), Arc::clone(&done));
                    q.submit(
                        JobSpec::keys(keys.iter().map(|k| k.to_string()).collect()),
                        move || {
                            let mut held = Vec::new();
                            for k in &keys {
                                if busy[k].swap(true, Ordering::SeqCst) {
                                    overlaps.fetch_add(1, Ordering::SeqCst);
                                } else {
                                    held.push(*k);
                                }
                            }
                            thread::sleep(Duration::from_micros(100));
                            for k in held {
                                busy[k].store(false, Ordering::SeqCst);
                            }
                            Ok(())
                        },
                        move |_r: Result<(), Error>| {
                            done.fetch_add(1, Ordering::SeqCst);
                        },
                    );
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    wait_for("all multi-key jobs (a deadlock never finishes)", || done.load(Ordering::SeqCst) == 800);
    assert_eq!(overlaps.load(Ordering::SeqCst), 0);
    assert!(q.shutdown(Duration::from_secs(5)));
}

#[test]
fn past_the_bound_callers_get_full_and_nothing_runs() {
    let q = Queue::new(1, 3);
    let gate = Gate::new();
    let ran = Arc::new(AtomicUsize::new(0));
    let results = Arc::new(Mutex::new(Vec::new()));
    for i in 0..5 {
        let (gate, ran, results) = (gate.clone(), Arc::clone(&ran), Arc::clone(&results));
        q.submit(
            JobSpec::key(format!("k{i}")),
            move || {
                gate.wait();
                ran.fetch_add(1, Ordering::SeqCst);
                Ok(i)
            },
            move |r: Result<usize, Error>| results.lock().push(r),
        );
    }
    // Two were refused at once, on the submitting thread.
    assert_eq!(results.lock().len(), 2);
    assert!(results.lock().iter().all(|r| *r == Err(Error::Queue(QueueError::Full { limit: 3 }))));
    gate.open();
    wait_for("3 results more", || results.lock().len() == 5);
    assert_eq!(ran.load(Ordering::SeqCst), 3);
    // Once drained, there is room again.
    assert_eq!(q.run(JobSpec::key("k9"), || Ok(9)), Ok(9));
    assert!(q.shutdown(Duration::from_secs(5)));
}

#[test]
fn a_job_whose_caller_gave_up_is_not_started() {
    let q = Queue::new(2, 100);
    let gate = Gate::new();
    let (g, started) = (gate.clone(), Arc::new(AtomicUsize::new(0)));
    q.submit(
        JobSpec::key("k"),
        move || {
            g.wait();
            Ok(())
        },
        |_r: Result<(), Error>| {},
    );
    let deadline = Instant::now() + Duration::from_millis(20);
    let result = Arc::new(Mutex::new(None));
    let (s, r) = (Arc::clone(&started), Arc::clone(&result));
    q.submit(
        JobSpec::key("k").expired(Box::new(move || Instant::now() >= deadline)),
        move || {
            s.fetch_add(1, Ordering::SeqCst);
            Ok(())
        },
        move |res: Result<(), Error>| *r.lock() = Some(res),
    );
    thread::sleep(Duration::from_millis(40));
    gate.open();
    wait_for("expired job answered", || result.lock().is_some());
    assert_eq!(*result.lock(), Some(Err(Error::Queue(QueueError::DeadlinePassed))));
    assert_eq!(started.load(Ordering::SeqCst), 0);
    // A caller whose deadline has not passed runs normally.
    let later = Instant::now() + Duration::from_secs(60);
    let ok = q.run(JobSpec::key("k").expired(Box::new(move || Instant::now() >= later)), || Ok(1));
    assert_eq!(ok, Ok(1));
    assert!(q.shutdown(Duration::from_secs(5)));
}

#[test]
fn a_panicking_job_answers_internal_and_does_not_wedge_its_key_or_worker() {
    let q = Queue::new(1, 100);
    let r: Result<(), Error> = q.run(JobSpec::key("k"), || panic!("boom in job"));
    assert_eq!(r, Err(Error::Queue(QueueError::Panicked("boom in job".into()))));
    assert_eq!(r.unwrap_err().code(), grpcio::RpcStatusCode::INTERNAL);
    // The single worker survived and the key is free.
    for i in 0..3 {
        assert_eq!(q.run(JobSpec::key("k"), move || Ok(i)), Ok(i));
    }
    assert_eq!(q.stats(), Stats { jobs: 0, running: 0 });
    assert!(q.shutdown(Duration::from_secs(5)));
}

#[test]
fn shutdown_answers_queued_jobs_and_waits_for_running_ones() {
    let q = Arc::new(Queue::new(1, 100));
    let gate = Gate::new();
    let results = Arc::new(Mutex::new(Vec::new()));
    for i in 0..3 {
        let (gate, results) = (gate.clone(), Arc::clone(&results));
        q.submit(
            JobSpec::key("k"),
            move || {
                gate.wait();
                Ok(i)
            },
            move |r: Result<i32, Error>| results.lock().push(r),
        );
    }
    wait_for("first job running", || q.stats().running == 1);
    let q2 = Arc::clone(&q);
    let stopper = thread::spawn(move || q2.shutdown(Duration::from_secs(10)));
    wait_for("queued jobs cancelled", || results.lock().len() == 2);
    assert!(results.lock().iter().all(|r| *r == Err(Error::Queue(QueueError::ShuttingDown))));
    gate.open();
    assert!(stopper.join().unwrap());
    assert_eq!(results.lock().last(), Some(&Ok(0)));
    // After shutdown new work is refused.
    assert_eq!(q.run(JobSpec::key("x"), || Ok(1)), Err(Error::Queue(QueueError::ShuttingDown)));
}

#[test]
fn shutdown_grace_is_bounded() {
    let q = Queue::new(1, 10);
    let gate = Gate::new();
    let g = gate.clone();
    q.submit(
        JobSpec::key("k"),
        move || {
            g.wait();
            Ok(())
        },
        |_r: Result<(), Error>| {},
    );
    wait_for("job running", || q.stats().running == 1);
    let t = Instant::now();
    assert!(!q.shutdown(Duration::from_millis(50)));
    assert!(t.elapsed() < Duration::from_secs(5));
    gate.open();
}

#[test]
fn an_identical_request_does_not_join_a_job_that_others_queued_behind() {
    // Stage A runs; Unstage B is queued behind it; Stage C, identical to A, must not
    // join A (it would answer "staged" while B then unstages): C runs after B.
    let q = Arc::new(Queue::new(4, 100));
    let gate = Gate::new();
    let order = Arc::new(Mutex::new(Vec::new()));
    let results = Arc::new(Mutex::new(Vec::new()));
    let submit = |fp: &'static str, name: &'static str, gate: Option<Gate>| {
        let (order, results) = (Arc::clone(&order), Arc::clone(&results));
        q.submit(
            JobSpec::key("vol-a").fingerprint(fp),
            move || {
                if let Some(g) = gate {
                    g.wait();
                }
                order.lock().push(name);
                Ok(name)
            },
            move |r: Result<&'static str, Error>| results.lock().push(r),
        );
    };
    submit("stage", "A", Some(gate.clone()));
    wait_for("A running", || q.stats().running == 1);
    submit("unstage", "B", None);
    submit("stage", "C", None);
    // A fourth identical stage may join C: nothing was queued after C.
    submit("stage", "D", None);
    gate.open();
    wait_for("4 results", || results.lock().len() == 4);
    assert_eq!(*order.lock(), vec!["A", "B", "C"], "C ran on its own, after B; D joined C");
    let mut r: Vec<&str> = results.lock().iter().map(|r| r.clone().unwrap()).collect();
    r.sort();
    assert_eq!(r, vec!["A", "B", "C", "C"], "D got C's result");
    assert!(q.shutdown(Duration::from_secs(5)));
}

/// A pool of `workers` threads whose jobs count stuck after 20 ms.
fn quick_watchdog(workers: usize, max_workers: usize) -> Queue {
    Queue::with_limits(Limits { workers, max_workers, max_jobs: 1000, stuck_after: Duration::from_millis(20) })
}

/// Submits a job on `key` that blocks until `gate` opens (a call hung in the kernel);
/// `done` counts it when it answers.
fn hang(q: &Queue, key: &str, gate: &Gate, done: &Arc<AtomicUsize>) {
    let (gate, done) = (gate.clone(), Arc::clone(done));
    q.submit(
        JobSpec::key(key).label(format!("NodeStageVolume volume={key:?}")),
        move || {
            gate.wait();
            Ok(())
        },
        move |_: Result<(), Error>| {
            done.fetch_add(1, Ordering::SeqCst);
        },
    );
}

#[test]
fn jobs_that_never_return_do_not_stall_other_volumes() {
    // Twice as many hung jobs as workers: every first-generation worker is blocked.
    let q = quick_watchdog(2, 8);
    let gate = Gate::new();
    let hung_done = Arc::new(AtomicUsize::new(0));
    for i in 0..4 {
        hang(&q, &format!("hung-{i}"), &gate, &hung_done);
    }
    let healthy = Arc::new(AtomicUsize::new(0));
    for i in 0..20 {
        let healthy = Arc::clone(&healthy);
        q.submit(
            JobSpec::key(format!("ok-{i}")),
            || Ok(()),
            move |r: Result<(), Error>| {
                assert!(r.is_ok());
                healthy.fetch_add(1, Ordering::SeqCst);
            },
        );
    }
    wait_for("20 healthy jobs beside 4 hung ones", || healthy.load(Ordering::SeqCst) == 20);
    let stuck = q.stuck();
    assert_eq!(stuck.len(), 4, "{stuck:?}");
    assert!(stuck.iter().all(|s| s.label.starts_with("NodeStageVolume volume=\"hung-")), "{stuck:?}");
    assert_eq!(q.threads(), 6, "4 stuck threads and 2 that serve");
    assert_eq!(hung_done.load(Ordering::SeqCst), 0);
    gate.open();
    wait_for("the hung jobs to return", || hung_done.load(Ordering::SeqCst) == 4);
    wait_for("the pool to shrink back", || q.threads() == 2);
    assert!(q.stuck().is_empty());
    assert!(q.shutdown(Duration::from_secs(5)));
}

#[test]
fn the_pool_grows_no_further_than_max_workers() {
    let q = quick_watchdog(1, 2);
    let gate = Gate::new();
    let hung_done = Arc::new(AtomicUsize::new(0));
    for i in 0..3 {
        hang(&q, &format!("hung-{i}"), &gate, &hung_done);
    }
    let healthy = Arc::new(AtomicUsize::new(0));
    let h = Arc::clone(&healthy);
    q.submit(
        JobSpec::key("ok"),
        || Ok(()),
        move |_: Result<(), Error>| {
            h.fetch_add(1, Ordering::SeqCst);
        },
    );
    wait_for("two stuck jobs", || q.stuck().len() == 2);
    // Both threads are held: nothing else can run, however long it waits.
    thread::sleep(Duration::from_millis(200));
    assert_eq!(q.threads(), 2);
    assert_eq!(healthy.load(Ordering::SeqCst), 0);
    gate.open();
    wait_for("everything", || healthy.load(Ordering::SeqCst) == 1 && hung_done.load(Ordering::SeqCst) == 3);
    wait_for("the pool to shrink back", || q.threads() == 1);
    assert!(q.shutdown(Duration::from_secs(5)));
}

#[test]
fn callers_queued_behind_a_stuck_job_are_answered_when_their_deadline_passes() {
    let q = quick_watchdog(2, 8);
    let gate = Gate::new();
    let hung_done = Arc::new(AtomicUsize::new(0));
    hang(&q, "vol-a", &gate, &hung_done);
    let gave_up = Arc::new(AtomicBool::new(false));
    let answer = Arc::new(Mutex::new(None));
    let (g, a) = (Arc::clone(&gave_up), Arc::clone(&answer));
    q.submit(
        JobSpec::key("vol-a").expired(Box::new(move || g.load(Ordering::SeqCst))),
        || Ok(()),
        move |r: Result<(), Error>| *a.lock() = Some(r),
    );
    wait_for("vol-a's first job to count stuck", || q.stuck().len() == 1);
    assert!(answer.lock().is_none(), "same-volume work waits its turn");
    gave_up.store(true, Ordering::SeqCst);
    wait_for("the queued caller's answer", || answer.lock().is_some());
    assert_eq!(*answer.lock(), Some(Err(Error::from(QueueError::DeadlinePassed))));
    assert_eq!(q.stats(), Stats { jobs: 1, running: 1 }, "only the stuck job is left");
    gate.open();
    wait_for("the hung job", || hung_done.load(Ordering::SeqCst) == 1);
    assert!(q.shutdown(Duration::from_secs(5)));
}
