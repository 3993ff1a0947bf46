//! Storage backends behind one trait: `local` (sparse files on loop devices, the
//! embedded default) and `rbd` (Ceph RBD images). Both behave the same at the CSI surface.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::Error;
use crate::options::{BackendKind, ServeOptions};

pub trait Backend: Send + Sync {
    /// "local" or "rbd", for logs.
    fn name(&self) -> &'static str;

    /// Ok when the backend can serve requests now (Probe's readiness).
    fn probe(&self) -> Result<(), Error>;
}

/// The embedded backend: each volume is a sparse file under `data_dir`.
pub struct Local {
    data_dir: PathBuf,
}

impl Local {
    /// Opens (and creates, 0700) the data directory.
    pub fn open(data_dir: &Path) -> Result<Local, String> {
        std::fs::create_dir_all(data_dir)
            .map_err(|e| format!("cannot create --data-dir {}: {e}", data_dir.display()))?;
        Ok(Local { data_dir: data_dir.to_path_buf() })
    }
}

impl Backend for Local {
    fn name(&self) -> &'static str {
        "local"
    }

    fn probe(&self) -> Result<(), Error> {
        use nix::unistd::{access, AccessFlags};
        access(&self.data_dir, AccessFlags::W_OK | AccessFlags::X_OK).map_err(|e| {
            Error::Unavailable(format!("data dir {} is not usable: {}", self.data_dir.display(), e.desc()))
        })
    }
}

/// The Ceph RBD backend. Until its controller and node paths land it only checks that
/// its configuration file is readable.
pub struct Rbd {
    config: PathBuf,
}

impl Backend for Rbd {
    fn name(&self) -> &'static str {
        "rbd"
    }

    fn probe(&self) -> Result<(), Error> {
        std::fs::metadata(&self.config)
            .map(|_| ())
            .map_err(|e| Error::Unavailable(format!("ceph-csi config {} is not readable: {e}", self.config.display())))
    }
}

/// The backend chosen by `--backend`.
pub fn open(opts: &ServeOptions) -> Result<Arc<dyn Backend>, String> {
    match opts.backend {
        BackendKind::Local => Ok(Arc::new(Local::open(&opts.data_dir)?)),
        BackendKind::Rbd => Ok(Arc::new(Rbd { config: opts.config.clone() })),
    }
}
