//! Checks that may block in the kernel without bound (a stat or statfs under a mount
//! whose server or device is gone), run on a thread of their own so that the caller
//! stops waiting after a bound and answers "not responding".
//!
//! A thread blocked in the kernel cannot be stopped, so at most one check per key (a
//! path) is ever in flight: while one is blocked, later checks of that key answer
//! `TimedOut` at once instead of starting another thread. Threads are thus bounded
//! by the number of keys that hang, and in all by `MAX_IN_FLIGHT`.
//!
//! It knows nothing of what it runs.

use std::collections::HashMap;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// Checks in flight at once, over all keys; past it, new checks answer `TimedOut`.
const MAX_IN_FLIGHT: usize = 256;

/// How a bounded check ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome<T> {
    Done(T),
    /// Not back within the bound; `blocked_for` is how long this key's check has been
    /// blocked (longer than the bound when an earlier one is still in the kernel).
    TimedOut {
        blocked_for: Duration,
    },
}

/// The checks in flight, by key.
#[derive(Default)]
pub struct Bounded {
    in_flight: Arc<Mutex<HashMap<String, Instant>>>,
}

impl Bounded {
    pub fn new() -> Bounded {
        Bounded::default()
    }

    /// Runs `check` on a thread of its own and waits up to `within` for it. When a
    /// check of `key` is still blocked, answers `TimedOut` without running `check`.
    pub fn run<T, F>(&self, key: &str, within: Duration, check: F) -> Outcome<T>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        {
            let mut in_flight = self.in_flight.lock();
            if let Some(since) = in_flight.get(key) {
                return Outcome::TimedOut { blocked_for: since.elapsed() };
            }
            if in_flight.len() >= MAX_IN_FLIGHT {
                log::warn!("{} checks are blocked already; {key} is not checked", in_flight.len());
                return Outcome::TimedOut { blocked_for: Duration::ZERO };
            }
            in_flight.insert(key.to_string(), Instant::now());
        }
        let (tx, rx) = mpsc::sync_channel(1);
        let (table, owned_key) = (Arc::clone(&self.in_flight), key.to_string());
        let spawned = std::thread::Builder::new().name("rbd-csi-check".into()).spawn(move || {
            let out = check();
            table.lock().remove(&owned_key);
            let _ = tx.send(out);
        });
        if let Err(e) = spawned {
            self.in_flight.lock().remove(key);
            log::error!("cannot start a check thread for {key}: {e}");
            return Outcome::TimedOut { blocked_for: Duration::ZERO };
        }
        match rx.recv_timeout(within) {
            Ok(out) => Outcome::Done(out),
            Err(_) => {
                let blocked_for = self.in_flight.lock().get(key).map_or(within, Instant::elapsed);
                log::warn!("{key}: no answer from the kernel within {within:?}; the check is left blocked");
                Outcome::TimedOut { blocked_for }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Bounded {
        /// Keys whose checks are blocked now.
        fn blocked(&self) -> usize {
            self.in_flight.lock().len()
        }
    }

    #[test]
    fn a_blocked_check_times_out_and_holds_its_key_until_it_returns() {
        let b = Bounded::new();
        let (release, wait) = mpsc::channel::<()>();
        let first = b.run("/mnt/a", Duration::from_millis(50), move || wait.recv().is_ok());
        assert!(matches!(first, Outcome::TimedOut { .. }), "{first:?}");
        // A second check of the key starts no thread: it answers at once.
        let ran = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let r = Arc::clone(&ran);
        let second =
            b.run("/mnt/a", Duration::from_secs(5), move || r.store(true, std::sync::atomic::Ordering::SeqCst));
        assert!(matches!(second, Outcome::TimedOut { blocked_for } if blocked_for >= Duration::from_millis(50)));
        assert!(!ran.load(std::sync::atomic::Ordering::SeqCst));
        // Other keys are checked meanwhile.
        assert_eq!(b.run("/mnt/b", Duration::from_secs(5), || 7), Outcome::Done(7));
        assert_eq!(b.blocked(), 1);
        release.send(()).unwrap();
        let end = Instant::now() + Duration::from_secs(10);
        while b.blocked() > 0 {
            assert!(Instant::now() < end, "the blocked check never returned");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(b.run("/mnt/a", Duration::from_secs(5), || 8), Outcome::Done(8));
    }
}
