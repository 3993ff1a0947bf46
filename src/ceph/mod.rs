//! Talking to Ceph the way ceph-csi's users have it configured: config.json
//! (config.rs: clusterID → monitors, rados namespace) and the secrets `userID` /
//! `userKey` (credentials.rs).
//!
//! Operations go through the `Rados` trait (rados.rs): in process through librados
//! when it can be loaded (via_lib.rs over lib_*.rs), else through the `rbd` and `rados`
//! CLIs (via_cli.rs, run by cli.rs, their output read in cli_output.rs); `client`
//! below picks one. The key reaches the CLIs only through a memfd the child alone
//! inherits: never a file on disk, never argv, never the environment, never a log
//! line (and it is scrubbed from the CLIs' stderr, which librados fills with an
//! undecodable key).

mod cli;
mod cli_output;
mod config;
mod credentials;
mod lib_conn;
mod lib_ffi;
mod lib_handles;
mod lib_locks;
pub mod rados;
pub mod via_cli;
pub mod via_lib;

use std::sync::Arc;

pub use cli::{remove_old_keyfiles, Cli};
pub use cli_output::{last_error_line, rbd_error};
pub use config::{find_cluster, parse_config, ClusterConfig};
pub use credentials::{base64_decode, Credentials};

/// The `Rados` that `--ceph-client` names: "librados", "cli", or "auto" (librados
/// when it loads, else the CLIs).
pub fn client(kind: &str) -> Result<Arc<dyn rados::Rados>, String> {
    let cli = || -> Result<Arc<dyn rados::Rados>, String> {
        Ok(Arc::new(via_cli::CliRados::new(Cli::new(Arc::new(crate::exec::RealRunner)))))
    };
    let lib = || -> Result<Arc<dyn rados::Rados>, String> { Ok(Arc::new(via_lib::LibRados::load()?)) };
    let chosen = match kind {
        "cli" => cli()?,
        "librados" => lib()?,
        _ => lib().or_else(|why| {
            log::info!("{why}; Ceph is reached through the rbd and rados commands");
            cli()
        })?,
    };
    log::info!("controller: Ceph through {}", chosen.kind());
    Ok(chosen)
}
