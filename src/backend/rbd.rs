//! The Ceph RBD controller, compatible with ceph-csi: its volume id format, image
//! names and omap journal (DESIGN.md §4), so volumes move between the two drivers.
//!
//! Journal, in the journal pool (default: the image pool) and rados namespace:
//! - `csi.volumes.default`: key `csi.volume.<request name>` → `<uuid>`
//! - `csi.volume.<uuid>`: `csi.volname`, `csi.imagename` (`csi-vol-<uuid>`), `csi.imageid`
//!
//! Reserved in this order: uuid object, name key, attributes; then the image is
//! created. A crash between any two steps is finished by the next identical call.

use std::collections::HashMap;
use std::path::PathBuf;

use parking_lot::Mutex;

use super::{ControllerOps, CreateParams, Secrets, SnapshotInfo, Source, VolumeInfo};
use crate::ceph::{find_cluster, last_error_line, rbd_error, Cli, ClusterConfig, Credentials};
use crate::error::Error;
use crate::jsonparse::{self, Json};

const MIB: u64 = 1 << 20;
const DEFAULT_SIZE: u64 = 1 << 30;
const FEATURES: &[&str] = &["layering", "exclusive-lock", "object-map", "fast-diff", "deep-flatten", "journaling"];
const VOLUMES_DIR: &str = "csi.volumes.default";

/// A ceph-csi v1 volume id: `0001-<len(cluster) hex4>-<cluster>-<pool id hex16>-<uuid>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeId {
    pub cluster_id: String,
    pub pool_id: u64,
    pub uuid: String,
}

impl VolumeId {
    pub fn encode(&self) -> String {
        format!("{:04x}-{:04x}-{}-{:016x}-{}", 1, self.cluster_id.len(), self.cluster_id, self.pool_id, self.uuid)
    }

    pub fn decode(id: &str) -> Option<VolumeId> {
        let rest = id.strip_prefix("0001-")?;
        let len = usize::from_str_radix(rest.get(..4)?, 16).ok()?;
        let rest = rest.get(4..)?.strip_prefix('-')?;
        let cluster_id = rest.get(..len)?.to_string();
        let rest = rest.get(len..)?.strip_prefix('-')?;
        let pool_id = u64::from_str_radix(rest.get(..16)?, 16).ok()?;
        let uuid = rest.get(16..)?.strip_prefix('-')?.to_string();
        let uuid_ok = uuid.len() == 36 && uuid.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
        (uuid_ok && !cluster_id.is_empty()).then_some(VolumeId { cluster_id, pool_id, uuid })
    }
}

fn format_uuid(mut b: [u8; 16]) -> String {
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}

fn new_uuid() -> Result<String, Error> {
    let mut b = [0u8; 16];
    crate::sys::random_bytes(&mut b)?;
    Ok(format_uuid(b))
}

/// The uuid a request name gets first: derived from the name, so a create that crashed
/// after reserving its uuid object finds that object again on retry (a random uuid
/// would leave it orphaned). A collision (the object names another volume) falls back
/// to a random uuid.
fn name_uuid(name: &str) -> String {
    fn fnv1a(seed: u64, data: &[u8]) -> u64 {
        data.iter().fold(seed, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3))
    }
    let a = fnv1a(0xcbf2_9ce4_8422_2325, name.as_bytes());
    let b = fnv1a(a ^ 0x9e37_79b9_7f4a_7c15, name.as_bytes()).rotate_left(29) ^ fnv1a(0x84222325, &a.to_le_bytes());
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&a.to_be_bytes());
    out[8..].copy_from_slice(&b.to_be_bytes());
    format_uuid(out)
}

/// Where an image and its journal live.
struct Place {
    cluster: ClusterConfig,
    pool: String,
    journal_pool: String,
    namespace: String,
}

impl Place {
    fn image_spec(&self, image: &str) -> String {
        if self.namespace.is_empty() {
            format!("{}/{image}", self.pool)
        } else {
            format!("{}/{}/{image}", self.pool, self.namespace)
        }
    }
}

pub struct RbdController {
    config: PathBuf,
    cli: Cli,
    /// (cluster, pool name) → pool id, and back.
    pools: Mutex<HashMap<String, Vec<(String, u64)>>>,
}

impl RbdController {
    pub fn new(config: PathBuf, cli: Cli) -> RbdController {
        RbdController { config, cli, pools: Mutex::new(HashMap::new()) }
    }

    pub fn cluster(&self, cluster_id: &str) -> Result<ClusterConfig, Error> {
        find_cluster(&self.config, cluster_id)
    }

    fn rados(
        &self,
        p: &Place,
        creds: &Credentials,
        args: &[&str],
        stdin: Option<Vec<u8>>,
    ) -> Result<crate::exec::Output, Error> {
        let mut all: Vec<&str> = vec!["-p", &p.journal_pool];
        if !p.namespace.is_empty() {
            all.extend(["-N", p.namespace.as_str()]);
        }
        all.extend(args);
        self.cli.run("rados", &p.cluster, creds, &all, stdin)
    }

    fn rbd(&self, p: &Place, creds: &Credentials, args: &[&str]) -> Result<crate::exec::Output, Error> {
        self.cli.run("rbd", &p.cluster, creds, args, None)
    }

    /// Pool name ↔ id for a cluster, cached after one `rados df`.
    fn pool_table(
        &self,
        cluster: &ClusterConfig,
        creds: &Credentials,
        refresh: bool,
    ) -> Result<Vec<(String, u64)>, Error> {
        if !refresh {
            if let Some(t) = self.pools.lock().get(&cluster.cluster_id) {
                return Ok(t.clone());
            }
        }
        let out = self.cli.run("rados", cluster, creds, &["df", "--format", "json"], None)?;
        if out.status != 0 {
            return Err(rados_error("list pools", &out));
        }
        let j = jsonparse::parse(&out.stdout).map_err(|e| Error::Internal(format!("rados df: {e}")))?;
        let table: Vec<(String, u64)> = j
            .get("pools")
            .and_then(Json::as_array)
            .unwrap_or(&[])
            .iter()
            .filter_map(|p| Some((p.str_at("name").to_string(), p.get("id")?.as_u64()?)))
            .collect();
        self.pools.lock().insert(cluster.cluster_id.clone(), table.clone());
        Ok(table)
    }

    fn pool_id(&self, cluster: &ClusterConfig, creds: &Credentials, pool: &str) -> Result<u64, Error> {
        for refresh in [false, true] {
            if let Some((_, id)) = self.pool_table(cluster, creds, refresh)?.iter().find(|(n, _)| n == pool) {
                return Ok(*id);
            }
        }
        Err(Error::NotFound(format!("pool {pool:?} does not exist in cluster {}", cluster.cluster_id)))
    }

    fn pool_name(&self, cluster: &ClusterConfig, creds: &Credentials, id: u64) -> Result<Option<String>, Error> {
        for refresh in [false, true] {
            if let Some((n, _)) = self.pool_table(cluster, creds, refresh)?.iter().find(|(_, i)| *i == id) {
                return Ok(Some(n.clone()));
            }
        }
        Ok(None)
    }

    /// An omap value, or None when the object or key does not exist.
    fn get_omap(&self, p: &Place, creds: &Credentials, object: &str, key: &str) -> Result<Option<String>, Error> {
        let out = self.rados(p, creds, &["getomapval", object, key, "-"], None)?;
        if out.status == 0 {
            return Ok(Some(out.stdout));
        }
        // A missing object: "(2) No such file or directory" on stderr; a missing key in
        // an existing object: "No such key: …" on stdout. Both exit 1.
        if out.stderr.contains("No such file or directory") || out.stdout.starts_with("No such key") {
            return Ok(None);
        }
        Err(rados_error(&format!("read {object}/{key}"), &out))
    }

    fn set_omap(&self, p: &Place, creds: &Credentials, object: &str, key: &str, value: &str) -> Result<(), Error> {
        let out = self.rados(p, creds, &["setomapval", object, key], Some(value.as_bytes().to_vec()))?;
        if out.status != 0 {
            return Err(rados_error(&format!("write {object}/{key}"), &out));
        }
        Ok(())
    }

    /// `rbd info` of an image: (size, id), or None when it does not exist.
    fn image_info(&self, p: &Place, creds: &Credentials, image: &str) -> Result<Option<(u64, String)>, Error> {
        let spec = p.image_spec(image);
        let out = self.rbd(p, creds, &["info", "--format", "json", &spec])?;
        match out.status {
            0 => {
                let j = jsonparse::parse(&out.stdout).map_err(|e| Error::Internal(format!("rbd info {spec}: {e}")))?;
                Ok(Some((j.get("size").and_then(Json::as_u64).unwrap_or(0), j.str_at("id").to_string())))
            }
            2 => Ok(None),
            _ => Err(rbd_error(&format!("rbd info {spec}"), &out)),
        }
    }

    fn place_for_create(&self, params: &HashMap<String, String>) -> Result<(Place, String, Option<String>), Error> {
        let cluster_id = params.get("clusterID").map(String::as_str).unwrap_or("");
        if cluster_id.is_empty() {
            return Err(Error::invalid("parameter clusterID is required"));
        }
        let pool = params.get("pool").cloned().unwrap_or_default();
        if pool.is_empty() {
            return Err(Error::invalid("parameter pool is required"));
        }
        let features = params.get("imageFeatures").cloned().unwrap_or_else(|| "layering".to_string());
        for f in features.split(',').map(str::trim) {
            if !FEATURES.contains(&f) {
                return Err(Error::invalid(format!(
                    "imageFeatures: unknown feature {f:?} (known: {})",
                    FEATURES.join(", ")
                )));
            }
        }
        if features.split(',').any(|f| f.trim() != "layering") && !features.contains("layering") {
            return Err(Error::invalid("imageFeatures must include layering"));
        }
        let cluster = self.cluster(cluster_id)?;
        let journal_pool = params.get("journalPool").filter(|s| !s.is_empty()).cloned().unwrap_or_else(|| pool.clone());
        let namespace = cluster.rados_namespace.clone();
        let data_pool = params.get("dataPool").filter(|s| !s.is_empty()).cloned();
        Ok((Place { cluster, pool, journal_pool, namespace }, features, data_pool))
    }

    fn place_for_id(&self, id: &VolumeId, creds: &Credentials) -> Result<Option<Place>, Error> {
        let cluster = self.cluster(&id.cluster_id)?;
        let Some(pool) = self.pool_name(&cluster, creds, id.pool_id)? else { return Ok(None) };
        let namespace = cluster.rados_namespace.clone();
        Ok(Some(Place { cluster, journal_pool: pool.clone(), pool, namespace }))
    }

    fn context(place: &Place, image: &str, features: &str, data_pool: Option<&str>) -> HashMap<String, String> {
        let mut c = HashMap::new();
        c.insert("clusterID".to_string(), place.cluster.cluster_id.clone());
        c.insert("pool".to_string(), place.pool.clone());
        c.insert("journalPool".to_string(), place.journal_pool.clone());
        c.insert("imageName".to_string(), image.to_string());
        c.insert("imageFeatures".to_string(), features.to_string());
        if !place.namespace.is_empty() {
            c.insert("radosNamespace".to_string(), place.namespace.clone());
        }
        if let Some(dp) = data_pool {
            c.insert("dataPool".to_string(), dp.to_string());
        }
        c
    }
}

/// Runs two independent steps at once (each is an exec of ~50 ms).
fn both<A: Send, B: Send>(a: impl FnOnce() -> A + Send, b: impl FnOnce() -> B + Send) -> (A, B) {
    std::thread::scope(|s| {
        let first = s.spawn(a);
        let second = b();
        match first.join() {
            Ok(first) => (first, second),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

fn rados_error(what: &str, out: &crate::exec::Output) -> Error {
    let line = match last_error_line(&out.stderr) {
        l if l.is_empty() => last_error_line(&out.stdout),
        l => l,
    };
    let msg = format!("{what}: {line} (rados exit {})", out.status);
    if line.contains("Operation not permitted") || line.contains("Permission denied") {
        Error::FailedPrecondition(format!("{msg} (check the user's caps)"))
    } else if out.stderr.contains("couldn't connect") || out.stderr.contains("auth") {
        Error::Unavailable(format!("{what}: cannot authenticate to the cluster (check userID/userKey and monitors)"))
    } else {
        Error::Internal(msg)
    }
}

fn size_mib(required: u64, limit: u64) -> Result<u64, Error> {
    crate::backend::size_for(required, limit, DEFAULT_SIZE).map(|b| b / MIB)
}

impl RbdController {
    /// The ceph-csi create path; the caller serializes calls for one name.
    pub fn create(&self, p: &CreateParams) -> Result<VolumeInfo, Error> {
        let creds = Credentials::from_secrets(&p.secrets)?;
        let (place, features, data_pool) = self.place_for_create(&p.parameters)?;
        let mib = size_mib(p.required_bytes, p.limit_bytes)?;
        let pool_id = self.pool_id(&place.cluster, &creds, &place.pool)?;
        let name_key = format!("csi.volume.{}", p.name);

        // Every exec costs ~50 ms, so independent ones run side by side: here the name
        // key and the uuid object the name would get.
        let derived = name_uuid(&p.name);
        let derived_object = format!("csi.volume.{derived}");
        let (by_name, owner) = both(
            || self.get_omap(&place, &creds, VOLUMES_DIR, &name_key),
            || self.get_omap(&place, &creds, &derived_object, "csi.volname"),
        );
        let (uuid, fresh) = match by_name? {
            Some(uuid) if uuid.len() == 36 => (uuid, false),
            _ => {
                let uuid = match owner? {
                    Some(other) if other != p.name => new_uuid()?,
                    _ => derived,
                };
                let object = format!("csi.volume.{uuid}");
                self.set_omap(&place, &creds, &object, "csi.volname", &p.name)?;
                crate::failpoint::hit("create-after-uuid-object");
                self.set_omap(&place, &creds, VOLUMES_DIR, &name_key, &uuid)?;
                crate::failpoint::hit("create-after-name-key");
                (uuid, true)
            }
        };
        let object = format!("csi.volume.{uuid}");
        let image = format!("csi-vol-{uuid}");
        let spec = place.image_spec(&image);
        // A fresh reservation has no image yet: images are created after the name key.
        let existing = if fresh { None } else { self.image_info(&place, &creds, &image)? };
        let size = match existing {
            Some((size, id)) => {
                if size < p.required_bytes || (p.limit_bytes > 0 && size > p.limit_bytes) {
                    return Err(Error::AlreadyExists(format!(
                        "volume {:?} exists as {image} with {size} bytes; the request asks for something else",
                        p.name
                    )));
                }
                // A crash may have come before the clone was flattened or the attributes
                // were written.
                if p.source != Source::Empty {
                    self.flatten(&place, &creds, &spec)?;
                }
                let (a, b) = both(
                    || self.set_omap(&place, &creds, &object, "csi.imagename", &image),
                    || self.set_omap(&place, &creds, &object, "csi.imageid", &id),
                );
                a?;
                b?;
                size
            }
            None => {
                let size_arg = format!("{mib}M");
                let mut args = vec!["create", "--size", &size_arg, "--image-feature", &features];
                if let Some(dp) = &data_pool {
                    args.extend(["--data-pool", dp.as_str()]);
                }
                args.push(&spec);
                let (attr, created) = both(
                    || self.set_omap(&place, &creds, &object, "csi.imagename", &image),
                    || match &p.source {
                        Source::Empty => {
                            let out = self.rbd(&place, &creds, &args)?;
                            if out.status != 0 && out.status != 17 {
                                return Err(rbd_error(&format!("rbd create {spec}"), &out));
                            }
                            Ok(())
                        }
                        source => self.clone_into(&place, &creds, source, &spec, mib, &features),
                    },
                );
                attr?;
                created?;
                crate::failpoint::hit("create-after-image");
                let (size, id) = self
                    .image_info(&place, &creds, &image)?
                    .ok_or_else(|| Error::Internal(format!("{spec} vanished right after it was created")))?;
                self.set_omap(&place, &creds, &object, "csi.imageid", &id)?;
                log::info!("created image {spec} for {:?} ({size} bytes)", p.name);
                size
            }
        };
        let id = VolumeId { cluster_id: place.cluster.cluster_id.clone(), pool_id, uuid }.encode();
        Ok(VolumeInfo {
            id,
            size,
            context: Self::context(&place, &image, &features, data_pool.as_deref()),
            source: Source::Empty,
        })
    }

    pub fn delete(&self, volume_id: &str, secrets: &HashMap<String, String>) -> Result<(), Error> {
        let Some(id) = VolumeId::decode(volume_id) else {
            return Err(Error::invalid(format!("volume id {volume_id:?} is not a ceph-csi volume id")));
        };
        let creds = Credentials::from_secrets(secrets)?;
        let Some(place) = self.place_for_id(&id, &creds)? else {
            log::info!("volume {volume_id}: its pool no longer exists; nothing to delete");
            return Ok(());
        };
        let object = format!("csi.volume.{}", id.uuid);
        let (image, name) = both(
            || self.get_omap(&place, &creds, &object, "csi.imagename"),
            || self.get_omap(&place, &creds, &object, "csi.volname"),
        );
        let image = image?.unwrap_or_else(|| format!("csi-vol-{}", id.uuid));
        let name = name?;
        let spec = place.image_spec(&image);
        let out = self.rbd(&place, &creds, &["rm", "--no-progress", &spec])?;
        match out.status {
            0 | 2 => {}
            16 => {
                return Err(Error::FailedPrecondition(format!(
                    "image {spec} is still in use (mapped or open somewhere); unstage it first"
                )))
            }
            39 => {
                // Snapshots keep it: move it to the trash so they stay restorable.
                let out = self.rbd(&place, &creds, &["trash", "mv", &spec])?;
                if out.status != 0 && out.status != 2 {
                    return Err(rbd_error(&format!("rbd trash mv {spec}"), &out));
                }
            }
            _ => return Err(rbd_error(&format!("rbd rm {spec}"), &out)),
        }
        crate::failpoint::hit("delete-after-image");
        if let Some(name) = name {
            let out = self.rados(&place, &creds, &["rmomapkey", VOLUMES_DIR, &format!("csi.volume.{name}")], None)?;
            if out.status != 0 && !out.stderr.contains("No such file") {
                return Err(rados_error("remove journal name key", &out));
            }
        }
        let out = self.rados(&place, &creds, &["rm", &object], None)?;
        if out.status != 0 && !out.stderr.contains("No such file") {
            return Err(rados_error(&format!("remove {object}"), &out));
        }
        log::info!("deleted volume {volume_id} ({spec})");
        Ok(())
    }

    pub fn expand(
        &self,
        volume_id: &str,
        required: u64,
        limit: u64,
        secrets: &HashMap<String, String>,
    ) -> Result<u64, Error> {
        let id =
            VolumeId::decode(volume_id).ok_or_else(|| Error::NotFound(format!("volume {volume_id} does not exist")))?;
        let creds = Credentials::from_secrets(secrets)?;
        let place = self
            .place_for_id(&id, &creds)?
            .ok_or_else(|| Error::NotFound(format!("volume {volume_id} does not exist")))?;
        let image = format!("csi-vol-{}", id.uuid);
        let (size, _) = self
            .image_info(&place, &creds, &image)?
            .ok_or_else(|| Error::NotFound(format!("volume {volume_id} does not exist")))?;
        let mib = size_mib(required, limit)?;
        if mib * MIB <= size {
            return Ok(size);
        }
        let spec = place.image_spec(&image);
        let size_arg = format!("{mib}M");
        let out = self.rbd(&place, &creds, &["resize", "--no-progress", "--size", &size_arg, &spec])?;
        if out.status != 0 {
            return Err(rbd_error(&format!("rbd resize {spec}"), &out));
        }
        log::info!("expanded {spec} to {mib} MiB");
        Ok(mib * MIB)
    }

    pub fn exists(&self, volume_id: &str, secrets: &HashMap<String, String>) -> Result<bool, Error> {
        let Some(id) = VolumeId::decode(volume_id) else { return Ok(false) };
        let creds = Credentials::from_secrets(secrets)?;
        let Some(place) = self.place_for_id(&id, &creds)? else { return Ok(false) };
        Ok(self.image_info(&place, &creds, &format!("csi-vol-{}", id.uuid))?.is_some())
    }
}

/// The controller as the RPC layer sees it.
/// The RPC layer's view. The inherent methods of the same names (in rbd_snap.rs) take
/// precedence, so the snapshot calls below are not recursive.
impl ControllerOps for RbdController {
    fn create_volume(&self, p: &CreateParams) -> Result<VolumeInfo, Error> {
        self.create(p)
    }
    fn delete_volume(&self, id: &str, secrets: &Secrets) -> Result<(), Error> {
        self.delete(id, secrets)
    }
    fn get_volume(&self, id: &str, secrets: &Secrets) -> Result<Option<VolumeInfo>, Error> {
        Ok(self.exists(id, secrets)?.then(|| VolumeInfo {
            id: id.to_string(),
            size: 0,
            context: HashMap::new(),
            source: Source::Empty,
        }))
    }
    fn expand_volume(&self, id: &str, required: u64, limit: u64, secrets: &Secrets) -> Result<u64, Error> {
        self.expand(id, required, limit, secrets)
    }
    fn create_snapshot(&self, source: &str, name: &str, secrets: &Secrets) -> Result<SnapshotInfo, Error> {
        RbdController::create_snapshot(self, source, name, secrets)
    }
    fn delete_snapshot(&self, id: &str, secrets: &Secrets) -> Result<(), Error> {
        RbdController::delete_snapshot(self, id, secrets)
    }
    fn list_volumes(&self) -> Result<Vec<VolumeInfo>, Error> {
        Err(Error::Unimplemented("ListVolumes is not offered by the rbd backend".into()))
    }
    fn list_snapshots(&self) -> Result<Vec<SnapshotInfo>, Error> {
        Err(Error::Unimplemented("ListSnapshots is not offered by the rbd backend".into()))
    }
    fn capacity(&self) -> Result<u64, Error> {
        Err(Error::Unimplemented("GetCapacity is not offered by the rbd backend".into()))
    }
}

#[path = "rbd_snap.rs"]
mod snap;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_ids_are_ceph_csi_v1() {
        let id = VolumeId {
            cluster_id: "a088ee67-89b1-4571-94b8-b3418c830f51".into(),
            pool_id: 2,
            uuid: "8f5b3b2e-1c1d-4f3c-9a51-0d6f1b2c3d4e".into(),
        };
        let s = id.encode();
        assert_eq!(
            s,
            "0001-0024-a088ee67-89b1-4571-94b8-b3418c830f51-0000000000000002-8f5b3b2e-1c1d-4f3c-9a51-0d6f1b2c3d4e"
        );
        assert!(s.len() <= 128);
        assert_eq!(VolumeId::decode(&s), Some(id));
        for bad in
            ["", "0002-0001-x-0000000000000002-8f5b3b2e-1c1d-4f3c-9a51-0d6f1b2c3d4e", "0001-0024-short", "lv-0011"]
        {
            assert_eq!(VolumeId::decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn name_uuids_are_stable_and_distinct() {
        assert_eq!(name_uuid("pvc-1"), name_uuid("pvc-1"));
        assert_ne!(name_uuid("pvc-1"), name_uuid("pvc-2"));
        assert_eq!(name_uuid("pvc-1").len(), 36);
    }

    #[test]
    fn uuids_are_v4() {
        let u = new_uuid().unwrap();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert_ne!(u, new_uuid().unwrap());
    }
}
