//! `rbd-csi fence` and `rbd-csi unfence`: the operator's commands for moving a
//! single-node volume off a node that still holds it, outside any CO (README, "Never
//! two writers"). They reach Ceph directly, as the controller does, with the same
//! config and the cephx user's secrets; no plugin need be running.
//!
//! `fence` is a forced ControllerUnpublishVolume: the node's mappings of the volume are
//! blocklisted, then its claim is released. `unfence` lifts the fences recorded for the
//! node in the volume's pool, once the node has come back clean (rebooted, or its
//! stale mappings unstaged).

use std::path::PathBuf;

use getopts::Options;

use crate::backend::rbd::RbdController;
use crate::error::code_name;

fn options() -> Options {
    let mut o = Options::new();
    o.optopt("", "config", "ceph-csi's config.json (default /etc/ceph-csi-config/config.json)", "FILE");
    o.optopt("", "ceph-client", "librados, cli or auto (default auto)", "KIND");
    o.optmulti("", "volume-id", "the volume (repeatable); unfence: any volume of the pool", "ID");
    o.optopt("", "cluster-id", "fence: with --pool instead of --volume-id, every volume of the pool", "ID");
    o.optopt("", "pool", "fence: the pool whose volumes claimed for the node are fenced", "POOL");
    o.optopt("", "node-id", "the node whose claim and mappings are fenced (unfence: lifted)", "ID");
    o.optopt("", "secrets-file", "the cephx user's secrets: userID=…, userKey=… lines", "FILE");
    o.optopt("", "log-level", "error, warn, info (default), debug", "LEVEL");
    o.optflag("h", "help", "this help");
    o
}

pub fn usage(command: &str) -> String {
    let brief = match command {
        "fence" => {
            "Usage: rbd-csi fence (--volume-id V | --cluster-id C --pool P) --node-id N --secrets-file F \
             [--config FILE]\n\n\
             Blocklists node N's clients that still map volume V (forever, until unfenced), then \
             releases N's claim on V, so that V can be published to another node; with --pool, does \
             so for every volume of pool P claimed for N. Prints the addresses fenced."
        }
        _ => {
            "Usage: rbd-csi unfence --volume-id V --node-id N --secrets-file F [--config FILE]\n\n\
              Takes the addresses fenced for node N in volume V's pool off the blocklist. Prints them."
        }
    };
    options().usage(brief)
}

/// Runs `rbd-csi fence|unfence`; the exit status: 0, 64 for bad usage, else the gRPC
/// code's number of the failure.
pub fn run(command: &str, args: &[String], init_logging: impl FnOnce(&str)) -> i32 {
    let m = match options().parse(args) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("rbd-csi {command}: {e}\n\n{}", usage(command));
            return crate::client::USAGE_EXIT;
        }
    };
    if m.opt_present("help") {
        print!("{}", usage(command));
        return 0;
    }
    let (volumes, node) = (m.opt_strs("volume-id"), m.opt_str("node-id").unwrap_or_default());
    let Some(secrets_path) = m.opt_str("secrets-file") else {
        eprintln!("rbd-csi {command}: --secrets-file is required\n\n{}", usage(command));
        return crate::client::USAGE_EXIT;
    };
    let pool = match (command, m.opt_str("cluster-id"), m.opt_str("pool")) {
        ("fence", Some(cluster), Some(pool)) if volumes.is_empty() => Some((cluster, pool)),
        _ => None,
    };
    if (volumes.is_empty() && pool.is_none()) || node.is_empty() {
        eprintln!(
            "rbd-csi {command}: --node-id and --volume-id (fence: or --cluster-id and --pool) are required\n\n{}",
            usage(command)
        );
        return crate::client::USAGE_EXIT;
    }
    init_logging(&m.opt_str("log-level").unwrap_or_else(|| "info".into()));
    let secrets = match crate::client::secrets_file(&secrets_path) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("rbd-csi {command}: {e}");
            return crate::client::USAGE_EXIT;
        }
    };
    let config = PathBuf::from(m.opt_str("config").unwrap_or_else(|| crate::options::DEFAULT_CONFIG.into()));
    let ceph = match crate::ceph::client(&m.opt_str("ceph-client").unwrap_or_else(|| "auto".into())) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("rbd-csi {command}: {e}");
            return 14;
        }
    };
    let controller = RbdController::new(config, ceph);
    let mut done = Vec::new();
    if let Some((cluster, pool)) = pool {
        match controller.fence_node(&cluster, &pool, &node, &secrets) {
            Ok(addrs) => done.extend(addrs),
            Err(e) => {
                eprintln!("rbd-csi {command}: pool {pool}: {}: {e}", code_name(e.code()));
                return e.code().into();
            }
        }
    }
    for volume in &volumes {
        let result = match command {
            "fence" => controller.unpublish(volume, &node, &secrets),
            _ => controller.unfence(volume, &node, &secrets),
        };
        match result {
            Ok(addrs) => done.extend(addrs),
            Err(e) => {
                eprintln!("rbd-csi {command}: volume {volume}: {}: {e}", code_name(e.code()));
                return e.code().into();
            }
        }
    }
    done.sort();
    done.dedup();
    let mut out = String::from(if command == "fence" { "{\"fenced\": [" } else { "{\"unfenced\": [" });
    for (i, addr) in done.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        crate::json::write_str(&mut out, addr);
    }
    out.push_str("]}");
    println!("{out}");
    0
}
