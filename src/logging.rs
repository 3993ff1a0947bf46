//! Log lines an operator can follow: every RPC gets a request id (`req=<n>`), and every
//! line its work writes on the worker thread (execs, retries, Ceph calls, fences)
//! carries it, so `grep 'req=42 '` shows one operation. Calls that join an identical
//! operation already queued keep their own id on their RPC line; the work's lines
//! carry the id of the call that started it.
//!
//! Two formats: text (`[time LEVEL] req=<n> message`) and JSON, one object a line
//! (`{"time":…,"level":…,"req":…,"msg":…}`), for log pipelines.

use std::cell::Cell;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};

thread_local! {
    static REQUEST: Cell<u64> = const { Cell::new(0) };
}

static NEXT: AtomicU64 = AtomicU64::new(1);

/// A new request id (never 0: 0 is "no request").
pub fn next_request_id() -> u64 {
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// The request id this thread's lines carry now; 0 outside a request.
pub fn current() -> u64 {
    REQUEST.with(Cell::get)
}

/// While alive, this thread's log lines carry request id `id`; the id before comes
/// back when it drops.
pub struct InRequest {
    before: u64,
}

impl InRequest {
    pub fn enter(id: u64) -> InRequest {
        InRequest { before: REQUEST.with(|r| r.replace(id)) }
    }
}

impl Drop for InRequest {
    fn drop(&mut self) {
        REQUEST.with(|r| r.set(self.before));
    }
}

/// How lines are written (`--log-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Format, String> {
        match s {
            "text" => Ok(Format::Text),
            "json" => Ok(Format::Json),
            other => Err(format!("--log-format must be text or json, not {other:?}")),
        }
    }
}

/// A JSON log line (without its newline).
fn json_line(time: &str, level: log::Level, req: u64, msg: &str) -> String {
    let mut out = String::from("{\"time\":");
    crate::json::write_str(&mut out, time);
    out.push_str(",\"level\":");
    crate::json::write_str(&mut out, level.as_str());
    if req != 0 {
        out.push_str(&format!(",\"req\":{req}"));
    }
    out.push_str(",\"msg\":");
    crate::json::write_str(&mut out, msg);
    out.push('}');
    out
}

/// Logging to stderr at `level` (env_logger filter syntax) in `format`.
pub fn init(level: &str, format: Format) {
    let mut b = env_logger::Builder::new();
    b.parse_filters(level);
    b.format(move |buf, record| {
        let time = buf.timestamp_millis().to_string();
        let req = current();
        let msg = record.args().to_string();
        match format {
            Format::Json => writeln!(buf, "{}", json_line(&time, record.level(), req, &msg)),
            Format::Text if req != 0 => writeln!(buf, "[{time} {:<5}] req={req} {msg}", record.level()),
            Format::Text => writeln!(buf, "[{time} {:<5}] {msg}", record.level()),
        }
    });
    b.init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_id_is_this_threads_until_it_is_left() {
        assert_eq!(current(), 0);
        let outer = InRequest::enter(7);
        {
            let _inner = InRequest::enter(9);
            assert_eq!(current(), 9);
            assert_eq!(std::thread::spawn(current).join().unwrap(), 0, "other threads do not see it");
        }
        assert_eq!(current(), 7);
        drop(outer);
        assert_eq!(current(), 0);
        assert_ne!(next_request_id(), next_request_id());
    }

    #[test]
    fn json_lines_escape_what_they_carry() {
        let line = json_line("2026-12-08T01:02:03.004Z", log::Level::Info, 42, "mount \"/a\"\nfailed");
        assert_eq!(line, r#"{"time":"2026-12-08T01:02:03.004Z","level":"INFO","req":42,"msg":"mount \"/a\"\nfailed"}"#);
        assert!(!json_line("t", log::Level::Warn, 0, "x").contains("req"));
    }
}
