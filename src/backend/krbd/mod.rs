//! The rbd backend's node side: map images with the kernel RBD client, through one of
//! two mappers behind one interface:
//! - `rbd`: exec `rbd map -o noudev` / `rbd unmap -o noudev` (the key in a 0600
//!   keyfile, as everywhere);
//! - `sysfs`: write /sys/bus/rbd/add_single_major with the key in the kernel keyring
//!   (add_key), and remove_single_major to unmap: no ceph-common on the host.
//!
//! Devices are always found through /sys/bus/rbd/devices/<id>/{pool,pool_ns,name,
//! current_snap} (never udev symlinks); the volume's own mapping, as its map record
//! names it (record.rs), is reused, and so is a shared mapping of the image this
//! kernel has already (ceph-csi's), but not another plugin's claimed one; a claimed
//! read-write mapping gets a kernel client of its own (`noshare`), so that it can be
//! fenced alone; "not mapped" on unmap is success.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::backend::CLAIMED_FOR;
use crate::ceph::{find_cluster, Cli, ClusterConfig, Credentials};
use crate::error::Error;
use crate::kvfile;
use crate::node::{is_static, stash_name, Attached, Attacher, StageLayout};

use crate::backend::image_meta::{self, ImageMeta};
use crate::backend::volume_id::VolumeId;
use record::{device_id, MapRecord, Mapping};
use sysfs::{find_head, find_mapping, find_volume, own_client, ImageSpec};

pub mod options;
mod record;
mod sysfs;

const SYSFS: &str = "/sys/bus/rbd";

/// Which mapper `--mapper` chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mapper {
    Rbd,
    Sysfs,
}

impl Mapper {
    /// `auto`: `rbd` when the binary is on PATH, else sysfs.
    pub fn parse(s: &str) -> Result<Mapper, String> {
        match s {
            "rbd" => Ok(Mapper::Rbd),
            "sysfs" => Ok(Mapper::Sysfs),
            "auto" => Ok(if crate::exec::on_path("rbd") { Mapper::Rbd } else { Mapper::Sysfs }),
            _ => Err(format!("--mapper must be rbd, sysfs or auto, not {s:?}")),
        }
    }

    /// Whether this node can map images now, and what to do if not.
    pub fn ready(self) -> Result<(), Error> {
        match self {
            Mapper::Rbd if !crate::exec::on_path("rbd") => {
                Err(crate::exec::missing("rbd", "--mapper rbd maps images with it; or use --mapper sysfs"))
            }
            Mapper::Sysfs if !Path::new(SYSFS).join("add_single_major").exists() => Err(Error::Unavailable(format!(
                "the kernel RBD client is not loaded ({SYSFS}/add_single_major is missing): modprobe rbd"
            ))),
            _ => Ok(()),
        }
    }
}

pub struct KrbdAttacher {
    pub mapper: Mapper,
    pub config: PathBuf,
    pub cli: Cli,
    pub sysfs: PathBuf,
    /// How long a map may take before it is undone.
    pub map_timeout: Duration,
    /// One small record per volume being mapped or mapped (its pool, namespace and
    /// image), written before the map and removed after the unmap, so a mapping left
    /// by a crash is found again even when the volume id does not name the image (a
    /// static volume's).
    pub records: PathBuf,
    /// Held while a sysfs map has its key in the process keyring.
    pub keyring: Mutex<()>,
}

impl KrbdAttacher {
    fn cluster(&self, cluster_id: &str) -> Result<ClusterConfig, Error> {
        find_cluster(&self.config, cluster_id)
    }

    /// The volume's cluster and image, from its id and context.
    fn spec(&self, volume_id: &str, ctx: &HashMap<String, String>) -> Result<(ClusterConfig, ImageSpec), Error> {
        let (cluster_id, pool, image) = Self::locate(volume_id, ctx)?;
        let cluster = self.cluster(&cluster_id)?;
        let namespace = ctx.get("radosNamespace").cloned().unwrap_or_else(|| cluster.rados_namespace.clone());
        Ok((cluster, ImageSpec { pool, namespace, image }))
    }

    /// The cluster, pool and image of a volume, from its context (ceph-csi's keys). A
    /// volume CreateVolume made has a ceph-csi id (its cluster, and the image name
    /// ceph-csi gives when the context has none); a static volume (ceph-csi's
    /// `staticVolume: "true"`, a pre-existing image) has the image name as its id, or
    /// `imageName`, and must name its cluster.
    fn locate(volume_id: &str, ctx: &HashMap<String, String>) -> Result<(String, String, String), Error> {
        let given = |key: &str| ctx.get(key).filter(|v| !v.is_empty()).cloned();
        let pool = given("pool").ok_or_else(|| Error::invalid("volume_context needs pool (from CreateVolume)"))?;
        let (cluster_id, default_image) = if is_static(ctx) {
            let cluster_id = given("clusterID").ok_or_else(|| {
                Error::invalid("a static volume (staticVolume=true) needs clusterID in its volume_context")
            })?;
            (cluster_id, volume_id.to_string())
        } else {
            let id = VolumeId::decode(volume_id).ok_or_else(|| {
                Error::NotFound(format!("volume {volume_id} is not an rbd volume id (nor staticVolume=true)"))
            })?;
            (given("clusterID").unwrap_or(id.cluster_id), format!("csi-vol-{}", id.uuid))
        };
        Ok((cluster_id, pool, given("imageName").unwrap_or(default_image)))
    }

    fn record_path(&self, volume_id: &str) -> PathBuf {
        self.records.join(format!("{}.map", stash_name(volume_id)))
    }

    fn record(&self, volume_id: &str) -> Result<Option<MapRecord>, Error> {
        MapRecord::read(&self.record_path(volume_id))
    }

    fn forget(&self, volume_id: &str) -> Result<(), Error> {
        kvfile::remove(&self.record_path(volume_id))
    }

    /// Unmaps /dev/rbdN (`force`: krbd's "force", even while open); "not mapped" is
    /// success.
    fn unmap(&self, volume_id: &str, device: &Path, force: bool) -> Result<(), Error> {
        let Some(n) = device_id(device) else {
            return Err(Error::Internal(format!("{} is not an rbd device", device.display())));
        };
        if !self.sysfs.join("devices").join(n.to_string()).exists() {
            return Ok(());
        }
        // The device may still be closing after umount: retry EBUSY a few times.
        let mut last = String::new();
        for attempt in 0..10 {
            let line = if force { format!("{n} force") } else { n.to_string() };
            match std::fs::write(self.sysfs.join("remove_single_major"), line.as_bytes()) {
                Ok(()) => {
                    log::info!("volume {volume_id}: unmapped {}", device.display());
                    return Ok(());
                }
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(()),
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                    last = e.to_string();
                    std::thread::sleep(Duration::from_millis(100 * (attempt + 1)));
                }
                Err(e) => return Err(Error::Internal(format!("unmap {}: {e}", device.display()))),
            }
        }
        Err(Error::FailedPrecondition(format!("unmap {}: {last}", device.display())))
    }

    /// `options`: krbd map options beyond noudev (ro, and the volume's mapOptions).
    fn map_rbd(
        &self,
        cluster: &ClusterConfig,
        creds: &Credentials,
        spec: &ImageSpec,
        options: &[String],
    ) -> Result<(), Error> {
        let target = if spec.namespace.is_empty() {
            format!("{}/{}", spec.pool, spec.image)
        } else {
            format!("{}/{}/{}", spec.pool, spec.namespace, spec.image)
        };
        let out = self.cli.run(
            "rbd",
            cluster,
            creds,
            &[
                "map",
                "-o",
                &std::iter::once("noudev").chain(options.iter().map(String::as_str)).collect::<Vec<_>>().join(","),
                &target,
            ],
            None,
        )?;
        if out.status != 0 {
            return Err(crate::ceph::rbd_error(&format!("rbd map {target}"), &out));
        }
        Ok(())
    }

    fn map_sysfs(
        &self,
        cluster: &ClusterConfig,
        creds: &Credentials,
        spec: &ImageSpec,
        options: &[String],
    ) -> Result<(), Error> {
        let desc = format!("client.{}", creds.id);
        // The kernel copies the key while it maps; the keyring holds it only for that
        // long (one map at a time: maps of one user share the key's name).
        let _one_at_a_time = self.keyring.lock();
        let serial = add_key(&desc, &creds.raw_key()?)?;
        let mapped = self.write_add(cluster, creds, spec, options, &desc);
        unlink_key(serial);
        mapped
    }

    fn write_add(
        &self,
        cluster: &ClusterConfig,
        creds: &Credentials,
        spec: &ImageSpec,
        options: &[String],
        desc: &str,
    ) -> Result<(), Error> {
        let mut opts = format!("name={},key={desc}", creds.id);
        if !spec.namespace.is_empty() {
            opts.push_str(&format!(",_pool_ns={}", spec.namespace));
        }
        for o in options {
            opts.push(',');
            opts.push_str(o);
        }
        // The kernel client speaks msgr1 unless ms_mode is set: give it v1 addresses.
        let mons: Vec<String> = cluster.monitors.iter().map(|m| kernel_mon_addr(m)).collect();
        let line = format!("{} {opts} {} {} -", mons.join(","), spec.pool, spec.image);
        std::fs::write(self.sysfs.join("add_single_major"), line.as_bytes())
            .map_err(|e| Error::Internal(format!("map {}/{} through sysfs: {e}", spec.pool, spec.image)))
    }
}

/// A monitor address the kernel client accepts: "v1:ip:port" → "ip:port"; a
/// "v2:ip:port" cannot be used without ms_mode and is passed as is.
fn kernel_mon_addr(m: &str) -> String {
    m.strip_prefix("v1:").unwrap_or(m).to_string()
}

/// Puts a `ceph` key in this process's keyring (what `key=client.<id>` refers to);
/// returns its serial number.
fn add_key(description: &str, secret: &[u8]) -> Result<i64, Error> {
    let ty = c"ceph";
    let desc = std::ffi::CString::new(description).map_err(|_| Error::invalid("userID has a NUL byte"))?;
    // SAFETY: all pointers are valid for the lengths given; add_key copies them.
    let r = unsafe {
        libc::syscall(
            libc::SYS_add_key,
            ty.as_ptr(),
            desc.as_ptr(),
            secret.as_ptr(),
            secret.len(),
            libc::c_long::from(-2i32), // KEY_SPEC_PROCESS_KEYRING
        )
    };
    if r < 0 {
        return Err(Error::sys("add_key", description, nix::errno::Errno::last()));
    }
    Ok(r)
}

/// Takes a key out of this process's keyring (it is destroyed with its last link).
fn unlink_key(serial: i64) {
    const KEYCTL_UNLINK: libc::c_long = 9;
    // SAFETY: keyctl(KEYCTL_UNLINK, key, keyring) takes two integers.
    let r = unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_UNLINK, serial, libc::c_long::from(-2i32)) };
    if r < 0 {
        log::warn!("cannot unlink key {serial} from the process keyring: {}", nix::errno::Errno::last());
    }
}

/// Whether a note's image can be `volume_id`'s: a static volume's id is its image
/// name; a ceph-csi id's uuid ends every image name the volume can have
/// (`<volumeNamePrefix><uuid>`).
fn names_volume(meta: &ImageMeta, volume_id: &str) -> bool {
    meta.image == volume_id || VolumeId::decode(volume_id).is_some_and(|id| meta.image.ends_with(&id.uuid))
}

impl Attacher for KrbdAttacher {
    fn layout(&self) -> StageLayout {
        StageLayout::Nested
    }

    fn write_note(&self, volume_id: &str, ctx: &HashMap<String, String>, staging: &Path) -> Result<(), Error> {
        let (_, spec) = self.spec(volume_id, ctx)?;
        let force = options::unmap_force(ctx.get("unmapOptions").map(String::as_str).unwrap_or(""))?;
        let meta = ImageMeta {
            pool: spec.pool,
            namespace: spec.namespace,
            image: spec.image,
            unmap_options: if force { "force".into() } else { String::new() },
            nbd: false,
            encrypted: false,
        };
        image_meta::write(staging, &meta)
    }

    /// ceph-csi's note names the image it mapped; the mapping is this volume's only
    /// when the note's image can be the volume's, and only a kernel mapping of an
    /// unencrypted image is something this node can take down.
    fn adopt(&self, volume_id: &str, staging: &Path) -> Result<Option<PathBuf>, Error> {
        let Some(meta) = image_meta::read(staging)? else { return Ok(None) };
        if !names_volume(&meta, volume_id) {
            return Err(Error::FailedPrecondition(format!(
                "{} names image {}, which is not volume {volume_id}'s",
                image_meta::path(staging).display(),
                meta.image
            )));
        }
        if meta.nbd || meta.encrypted {
            return Err(Error::FailedPrecondition(format!(
                "volume {volume_id} was staged by ceph-csi {}; this node cannot take that stage over: \
                 unstage it with ceph-csi's node plugin",
                if meta.nbd { "through rbd-nbd" } else { "encrypted" }
            )));
        }
        let spec = ImageSpec { pool: meta.pool, namespace: meta.namespace, image: meta.image };
        let Some(device) = find_mapping(&self.sysfs, &spec) else { return Ok(None) };
        let force_unmap = options::unmap_force(&meta.unmap_options).unwrap_or_else(|e| {
            log::warn!("volume {volume_id}: unmapOptions of ceph-csi's note not used: {e}");
            false
        });
        let mapping = device_id(&device).map(|n| Mapping::of(&self.sysfs, n));
        MapRecord { spec, force_unmap, others: None, mapping }.write(&self.record_path(volume_id))?;
        Ok(Some(device))
    }

    fn remove_note(&self, staging: &Path) -> Result<(), Error> {
        image_meta::remove(staging)
    }

    fn attach(
        &self,
        volume_id: &str,
        ctx: &HashMap<String, String>,
        secrets: &HashMap<String, String>,
        read_only: bool,
    ) -> Result<Attached, Error> {
        let (cluster, spec) = self.spec(volume_id, ctx)?;
        let given = |key: &str| ctx.get(key).map(String::as_str).unwrap_or("");
        let mut options = options::map_options(given("mapOptions"))?;
        if read_only {
            options.insert(0, "ro".to_string());
        }
        let claimed = ctx.contains_key(CLAIMED_FOR);
        if claimed && !read_only && !options.iter().any(|o| o == "noshare") {
            // A kernel client of its own, so that fencing this mapping (its address
            // blocklisted) stops no other volume's I/O.
            options.push("noshare".to_string());
        }
        let force = options::unmap_force(given("unmapOptions"))?;
        if let Some(mut rec) = self.record(volume_id)? {
            if let Some(mapping) = rec.find(&self.sysfs) {
                if rec.force_unmap != force {
                    rec.force_unmap = force;
                    rec.write(&self.record_path(volume_id))?;
                }
                return Ok(Attached { device: mapping.path(), fresh: false });
            }
        }
        // A mapping of the image that this kernel has already is this node's (ceph-csi's,
        // or made before records were kept): taken over, so that the image is never
        // mapped twice on one kernel (the node then refuses a second mount). But not a
        // mapping with a kernel client of its own (noshare: claimed mappings have one,
        // and mapOptions may ask for it): one no record of ours names is taken to be
        // another node plugin's on this kernel (the guest tests run two).
        if let Some(device) = find_head(&self.sysfs, |n, s| *s == spec && !own_client(&self.sysfs, n)) {
            let mapping = device_id(&device).map(|n| Mapping::of(&self.sysfs, n));
            MapRecord { spec, force_unmap: force, others: None, mapping }.write(&self.record_path(volume_id))?;
            return Ok(Attached { device, fresh: false });
        }
        let mut rec = MapRecord::before_map(&self.sysfs, spec.clone(), force);
        rec.write(&self.record_path(volume_id))?;
        let creds = Credentials::from_secrets(secrets)?;
        let start = Instant::now();
        let result = match self.mapper {
            Mapper::Rbd => self.map_rbd(&cluster, &creds, &spec, &options),
            Mapper::Sysfs => self.map_sysfs(&cluster, &creds, &spec, &options),
        };
        match (result, rec.find(&self.sysfs)) {
            (_, Some(mapping)) if start.elapsed() > self.map_timeout => {
                // Too slow to trust: undo rather than leave a half-made mapping.
                let _ = self.detach(volume_id, &mapping.path());
                Err(Error::Unavailable(format!(
                    "mapping {} took longer than {:?}; undone",
                    spec.image, self.map_timeout
                )))
            }
            (_, Some(mapping)) => {
                log::info!(
                    "volume {volume_id}: mapped {}/{} as {} ({:?} mapper; kernel client {} at {})",
                    spec.pool,
                    spec.image,
                    mapping.path().display(),
                    self.mapper,
                    mapping.client,
                    mapping.addr
                );
                rec.mapping = Some(mapping.clone());
                rec.write(&self.record_path(volume_id))?;
                Ok(Attached { device: mapping.path(), fresh: true })
            }
            (Err(e), None) => {
                self.forget(volume_id)?;
                Err(e)
            }
            (Ok(()), None) => {
                Err(Error::Internal(format!("{} was mapped but no /sys/bus/rbd device shows it", spec.image)))
            }
        }
    }

    /// Only asked when the node has no stash for the volume (a crash between the map
    /// and the stash): the map record names the image. Without one (a mapping made
    /// before records were kept), a ceph-csi id names the pool by id and ends every
    /// image name the volume can have (`<volumeNamePrefix><uuid>`); a static volume's
    /// id alone says too little to pick a mapping safely, so none is claimed.
    fn find(&self, volume_id: &str) -> Result<Option<PathBuf>, Error> {
        if let Some(rec) = self.record(volume_id)? {
            return Ok(rec.find(&self.sysfs).map(|m| m.path()));
        }
        let Some(id) = VolumeId::decode(volume_id) else { return Ok(None) };
        Ok(find_volume(&self.sysfs, id.pool_id, &id.uuid))
    }

    fn detach(&self, volume_id: &str, device: &Path) -> Result<(), Error> {
        let force = self.record(volume_id)?.is_some_and(|r| r.force_unmap);
        self.unmap(volume_id, device, force)?;
        self.forget(volume_id)
    }

    fn forget_attachment(&self, volume_id: &str) -> Result<(), Error> {
        self.forget(volume_id)
    }

    fn refresh(&self, _volume_id: &str, _device: &Path) -> Result<(), Error> {
        // The kernel client follows image resizes on its own (header watch).
        Ok(())
    }
}

/// Opens the attacher for `serve --backend rbd`.
pub fn open(config: PathBuf, mapper: Mapper, data_dir: &Path) -> Result<Arc<KrbdAttacher>, String> {
    let cli = Cli::new(Arc::new(crate::exec::RealRunner));
    let records = data_dir.join("maps");
    std::fs::create_dir_all(&records).map_err(|e| format!("cannot create {}: {e}", records.display()))?;
    kvfile::remove_leftovers(&records);
    Ok(Arc::new(KrbdAttacher {
        mapper,
        config,
        cli,
        sysfs: PathBuf::from(SYSFS),
        map_timeout: Duration::from_secs(60),
        records,
        keyring: Mutex::new(()),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locates_created_and_static_volumes_from_their_context() {
        let ctx = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let u = "5e97a3c4-abcd-446a-9401-87ed4abb59bd";
        let id = VolumeId { cluster_id: "c1".into(), pool_id: 2, uuid: u.into() }.encode();
        let place = |v: &str, c: &HashMap<String, String>| KrbdAttacher::locate(v, c);
        assert_eq!(place(&id, &ctx(&[("pool", "rbd")])).unwrap(), ("c1".into(), "rbd".into(), format!("csi-vol-{u}")));
        assert_eq!(
            place(&id, &ctx(&[("pool", "rbd"), ("imageName", "legacy-x")])).unwrap().2,
            "legacy-x",
            "imageName wins"
        );
        let stat = ctx(&[("pool", "rbd"), ("clusterID", "c2"), ("staticVolume", "true")]);
        assert_eq!(place("static-image", &stat).unwrap(), ("c2".into(), "rbd".into(), "static-image".into()));
        let no_cluster = ctx(&[("pool", "rbd"), ("staticVolume", "true")]);
        assert!(matches!(place("static-image", &no_cluster), Err(Error::InvalidArgument(_))));
        assert!(matches!(place("static-image", &ctx(&[("pool", "rbd")])), Err(Error::NotFound(_))));
        assert!(matches!(place(&id, &ctx(&[])), Err(Error::InvalidArgument(_))), "pool is required");
    }

    #[test]
    fn kernel_gets_v1_addresses() {
        assert_eq!(kernel_mon_addr("v1:127.0.0.1:6789"), "127.0.0.1:6789");
        assert_eq!(kernel_mon_addr("10.0.0.1:6789"), "10.0.0.1:6789");
    }
}
