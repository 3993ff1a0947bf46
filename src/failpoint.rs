//! Crash injection for tests: when the environment variable RBD_CSI_FAILPOINT names a
//! point the code passes, the process aborts there, as a kill -9 would stop it.

/// Aborts the process if `RBD_CSI_FAILPOINT` equals `name`.
pub fn hit(name: &str) {
    if std::env::var("RBD_CSI_FAILPOINT").is_ok_and(|v| v == name) {
        log::error!("failpoint {name}: aborting");
        std::process::abort();
    }
}
