//! Fault injection for tests. RBD_CSI_FAILPOINT=NAME makes the process abort when it
//! passes the point NAME, as a kill -9 would stop it there; NAME:sleep=MS makes it
//! pause there instead (to hold an operation open while others arrive).

/// Aborts (or pauses) the process if `RBD_CSI_FAILPOINT` names `name`.
pub fn hit(name: &str) {
    let Ok(value) = std::env::var("RBD_CSI_FAILPOINT") else { return };
    let (point, action) = value.split_once(':').unwrap_or((value.as_str(), "abort"));
    if point != name {
        return;
    }
    match action.strip_prefix("sleep=").and_then(|ms| ms.parse::<u64>().ok()) {
        Some(ms) => {
            log::warn!("failpoint {name}: pausing {ms} ms");
            std::thread::sleep(std::time::Duration::from_millis(ms));
        }
        None => {
            log::error!("failpoint {name}: aborting");
            std::process::abort();
        }
    }
}
