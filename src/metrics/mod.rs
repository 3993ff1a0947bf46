//! What the driver counts for operators, in Prometheus' text format: RPCs by method and
//! code with their latency, execs by tool with their latency and outcome, and (read
//! from the queue when scraped) queued, running and stuck operations, worker threads,
//! joined retries and waits behind another operation on the same volume.
//!
//! Counting is a short lock on one table per kind, on the path that already logs the
//! call; nothing is counted when nobody scrapes but the tables' few entries. The HTTP
//! side (`http.rs`) renders them; it never runs on gRPC's threads.

pub mod http;

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::OnceLock;
use std::time::Duration;

use parking_lot::Mutex;

use crate::queue::{Gauges, Stuck};

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 13] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0, 120.0];

#[derive(Default, Clone)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, d: Duration) {
        let s = d.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|b| s <= *b) {
            self.counts[i] += 1;
        }
        self.count += 1;
        self.sum += s;
    }

    /// `name_bucket`, `name_sum` and `name_count` lines for `labels` (`k="v"` pairs).
    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        for (b, n) in BUCKETS.iter().zip(self.counts) {
            cumulative += n;
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{b}\"}} {cumulative}");
        }
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {}", self.count);
        let _ = writeln!(out, "{name}_sum{{{labels}}} {}", self.sum);
        let _ = writeln!(out, "{name}_count{{{labels}}} {}", self.count);
    }
}

/// How an exec ended, for `rbd_csi_exec_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ExecOutcome {
    /// It ran and exited 0.
    Ok,
    /// It ran and exited non-zero (or was killed by a signal).
    Failed,
    /// Killed at its timeout.
    TimedOut,
    /// It could not be started.
    NotStarted,
}

impl ExecOutcome {
    fn as_str(self) -> &'static str {
        match self {
            ExecOutcome::Ok => "ok",
            ExecOutcome::Failed => "failed",
            ExecOutcome::TimedOut => "timeout",
            ExecOutcome::NotStarted => "not_started",
        }
    }
}

/// The driver's counters.
#[derive(Default)]
pub struct Registry {
    rpcs: Mutex<BTreeMap<(&'static str, String), u64>>,
    rpc_latency: Mutex<BTreeMap<&'static str, Histogram>>,
    execs: Mutex<BTreeMap<(String, ExecOutcome), u64>>,
    exec_latency: Mutex<BTreeMap<String, Histogram>>,
}

/// The process's registry (counting needs no handle passed down to every exec).
pub fn global() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(Registry::default)
}

/// The program's name for the exec metrics: `mkfs.ext4`, `rbd`, …
fn tool(program: &str) -> &str {
    program.rsplit('/').next().unwrap_or(program)
}

impl Registry {
    /// One RPC answered with `code` (its spec name, "OK", "NOT_FOUND") after `took`.
    pub fn rpc(&self, method: &'static str, code: &str, took: Duration) {
        *self.rpcs.lock().entry((method, code.to_string())).or_default() += 1;
        self.rpc_latency.lock().entry(method).or_default().observe(took);
    }

    /// One exec of `program` that ended as `outcome` after `took`.
    pub fn exec(&self, program: &str, outcome: ExecOutcome, took: Duration) {
        let tool = tool(program).to_string();
        *self.execs.lock().entry((tool.clone(), outcome)).or_default() += 1;
        if outcome != ExecOutcome::NotStarted {
            self.exec_latency.lock().entry(tool).or_default().observe(took);
        }
    }

    /// The text format: these counters, then what `info` says of the process and its
    /// queue now.
    pub fn render(&self, info: &Info) -> String {
        let mut out = String::new();
        header(&mut out, "rbd_csi_build_info", "gauge", "the driver's version and what this process serves");
        let _ = writeln!(
            out,
            "rbd_csi_build_info{{version={},driver={},mode={},backend={},ceph_client={}}} 1",
            quoted(crate::VERSION),
            quoted(&info.driver),
            quoted(&info.mode),
            quoted(info.backend),
            quoted(info.ceph_client)
        );
        header(&mut out, "rbd_csi_rpc_total", "counter", "RPCs answered, by method and gRPC code");
        for ((method, code), n) in self.rpcs.lock().iter() {
            let _ = writeln!(out, "rbd_csi_rpc_total{{method={},code={}}} {n}", quoted(method), quoted(code));
        }
        header(&mut out, "rbd_csi_rpc_duration_seconds", "histogram", "time from a call's arrival to its answer");
        for (method, h) in self.rpc_latency.lock().iter() {
            h.render(&mut out, "rbd_csi_rpc_duration_seconds", &format!("method={}", quoted(method)));
        }
        header(&mut out, "rbd_csi_exec_total", "counter", "programs run (mkfs, rbd, rados, ceph), by outcome");
        for ((tool, outcome), n) in self.execs.lock().iter() {
            let _ =
                writeln!(out, "rbd_csi_exec_total{{tool={},outcome={}}} {n}", quoted(tool), quoted(outcome.as_str()));
        }
        header(&mut out, "rbd_csi_exec_duration_seconds", "histogram", "how long a program ran");
        for (tool, h) in self.exec_latency.lock().iter() {
            h.render(&mut out, "rbd_csi_exec_duration_seconds", &format!("tool={}", quoted(tool)));
        }
        render_queue(&mut out, &info.queue, &info.stuck);
        out
    }
}

/// What the process says of itself when scraped.
pub struct Info {
    pub driver: String,
    pub mode: String,
    pub backend: &'static str,
    pub ceph_client: &'static str,
    pub queue: Gauges,
    pub stuck: Vec<Stuck>,
}

fn render_queue(out: &mut String, q: &Gauges, stuck: &[Stuck]) {
    header(out, "rbd_csi_operations", "gauge", "operations in the queue, by state (stuck: running past --stuck-after)");
    for (state, n) in [("queued", q.queued), ("running", q.running), ("stuck", q.stuck)] {
        let _ = writeln!(out, "rbd_csi_operations{{state=\"{state}\"}} {n}");
    }
    header(out, "rbd_csi_worker_threads", "gauge", "worker threads alive, stuck ones included");
    let _ = writeln!(out, "rbd_csi_worker_threads {}", q.threads);
    header(out, "rbd_csi_joined_total", "counter", "calls that joined an identical operation already in the queue");
    let _ = writeln!(out, "rbd_csi_joined_total {}", q.joined);
    header(out, "rbd_csi_waited_total", "counter", "operations queued behind another one on the same volume");
    let _ = writeln!(out, "rbd_csi_waited_total {}", q.waited);
    header(out, "rbd_csi_stuck_seconds", "gauge", "how long each stuck operation has run");
    for s in stuck {
        let _ =
            writeln!(out, "rbd_csi_stuck_seconds{{operation={}}} {:.1}", quoted(&s.label), s.running_for.as_secs_f64());
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// A label value in double quotes, escaped as the text format wants.
fn quoted(v: &str) -> String {
    let mut s = String::with_capacity(v.len() + 2);
    s.push('"');
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s.push('"');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> Info {
        Info {
            driver: "rbd.csi.rs".into(),
            mode: "all".into(),
            backend: "local",
            ceph_client: "",
            queue: Gauges { queued: 2, running: 1, stuck: 1, threads: 9, joined: 4, waited: 3 },
            stuck: vec![Stuck {
                label: "NodeStageVolume volume=\"v\\1\"".into(),
                keys: vec!["vol:v".into()],
                running_for: Duration::from_secs(12),
            }],
        }
    }

    #[test]
    fn counts_and_histograms_are_cumulative() {
        let r = Registry::default();
        r.rpc("NodeStageVolume", "OK", Duration::from_millis(3));
        r.rpc("NodeStageVolume", "OK", Duration::from_millis(700));
        r.rpc("NodeStageVolume", "NOT_FOUND", Duration::from_secs(200));
        r.exec("/sbin/mkfs.ext4", ExecOutcome::Ok, Duration::from_millis(40));
        r.exec("rbd", ExecOutcome::TimedOut, Duration::from_secs(120));
        let text = r.render(&info());
        for line in [
            "rbd_csi_rpc_total{method=\"NodeStageVolume\",code=\"OK\"} 2",
            "rbd_csi_rpc_total{method=\"NodeStageVolume\",code=\"NOT_FOUND\"} 1",
            "rbd_csi_rpc_duration_seconds_bucket{method=\"NodeStageVolume\",le=\"0.005\"} 1",
            "rbd_csi_rpc_duration_seconds_bucket{method=\"NodeStageVolume\",le=\"1\"} 2",
            "rbd_csi_rpc_duration_seconds_bucket{method=\"NodeStageVolume\",le=\"120\"} 2",
            "rbd_csi_rpc_duration_seconds_bucket{method=\"NodeStageVolume\",le=\"+Inf\"} 3",
            "rbd_csi_rpc_duration_seconds_count{method=\"NodeStageVolume\"} 3",
            "rbd_csi_exec_total{tool=\"mkfs.ext4\",outcome=\"ok\"} 1",
            "rbd_csi_exec_total{tool=\"rbd\",outcome=\"timeout\"} 1",
            "rbd_csi_operations{state=\"stuck\"} 1",
            "rbd_csi_worker_threads 9",
            "rbd_csi_joined_total 4",
            "rbd_csi_stuck_seconds{operation=\"NodeStageVolume volume=\\\"v\\\\1\\\"\"} 12.0",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
        }
    }
}
