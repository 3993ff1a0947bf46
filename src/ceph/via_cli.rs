//! `Rados` through the `rados` and `rbd` commands (keys through `Cli`'s 0600 keyfiles).
//! Each call is an exec of ~50 ms (process start + cluster connect); independent
//! lookups run side by side.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::cli_output::{hexdump_bytes, missing, parse_ctime, rados_error};
use super::rados::{
    finish_trash_move, CloneLayout, ImageRef, Locker, Rados, Removal, SnapInfo, Striping, Target, TrashEntry,
};
use super::{rbd_error, Cli, ClusterConfig, Credentials};
use crate::error::Error;
use crate::exec::Output;
use crate::jsonparse::{self, Json};

const MIB: u64 = 1 << 20;

/// How long a pool that exists but is not in `rados df` yet is waited for.
const NEW_POOL_WAIT: Duration = Duration::from_secs(15);

pub struct CliRados {
    cli: Cli,
    /// cluster id → (pool name, pool id), from one `rados df`.
    pools: Mutex<HashMap<String, Vec<(String, u64)>>>,
}

impl CliRados {
    pub fn new(cli: Cli) -> CliRados {
        CliRados { cli, pools: Mutex::new(HashMap::new()) }
    }

    fn rados(&self, t: &Target, args: &[&str], stdin: Option<Vec<u8>>) -> Result<Output, Error> {
        let mut all: Vec<&str> = vec!["-p", t.pool];
        if !t.namespace.is_empty() {
            all.extend(["-N", t.namespace]);
        }
        all.extend(args);
        let out = self.cli.run("rados", t.cluster, t.creds, &all, stdin)?;
        self.pool_gone(t.cluster, out)
    }

    /// A `ceph` command that prints nothing worth keeping.
    fn ceph(&self, cluster: &ClusterConfig, creds: &Credentials, args: &[&str], what: &str) -> Result<(), Error> {
        if !crate::exec::on_path("ceph") {
            return Err(Error::Unavailable(format!("no `ceph` command to {what}")));
        }
        let out = self.cli.run("ceph", cluster, creds, args, None)?;
        match out.status {
            0 => Ok(()),
            _ => Err(rados_error(what, &out)),
        }
    }

    fn rbd(&self, t: &Target, args: &[&str]) -> Result<Output, Error> {
        let out = self.cli.run("rbd", t.cluster, t.creds, args, None)?;
        self.pool_gone(t.cluster, out)
    }

    /// A pool that does not exist is an error of its own: both commands report it as
    /// ENOENT, which would otherwise read as "no such object/image" and let a delete
    /// succeed while the image lives on under the pool's new name. Pools named by the
    /// request are looked up fresh first, so this is a cached name gone stale (the pool
    /// was deleted or renamed): the table is dropped and the caller told to retry
    /// (UNAVAILABLE), which then sees the pools as they are.
    fn pool_gone(&self, cluster: &ClusterConfig, out: Output) -> Result<Output, Error> {
        let gone = if out.status == 0 { None } else { out.stderr.lines().find(|l| l.contains("error opening pool")) };
        let Some(line) = gone else { return Ok(out) };
        self.pools.lock().remove(&cluster.cluster_id);
        Err(Error::Unavailable(format!("cluster {}: {} (pool list refreshed; retry)", cluster.cluster_id, line.trim())))
    }

    /// `--pool P [--namespace N]`, for the rbd subcommands that take an image id.
    fn pool_args<'a>(t: &Target<'a>) -> Vec<&'a str> {
        let mut v = vec!["--pool", t.pool];
        if !t.namespace.is_empty() {
            v.extend(["--namespace", t.namespace]);
        }
        v
    }

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

    /// Whether `rados lspools` (the osdmap's pools, no ids) names `pool`.
    fn pool_listed(&self, cluster: &ClusterConfig, creds: &Credentials, pool: &str) -> Result<bool, Error> {
        let out = self.cli.run("rados", cluster, creds, &["lspools"], None)?;
        if out.status != 0 {
            return Err(rados_error("list pools", &out));
        }
        Ok(out.stdout.lines().any(|l| l == pool))
    }

    /// The first pool-table entry `pick` accepts, refreshing the cached table once.
    fn find_pool<T>(
        &self,
        cluster: &ClusterConfig,
        creds: &Credentials,
        pick: impl Fn(&(String, u64)) -> Option<T>,
    ) -> Result<Option<T>, Error> {
        for refresh in [false, true] {
            if let Some(found) = self.pool_table(cluster, creds, refresh)?.iter().find_map(&pick) {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    fn get_one(&self, t: &Target, object: &str, key: &str) -> Result<Option<String>, Error> {
        let out = self.rados(t, &["getomapval", object, key, "-"], None)?;
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

    fn set_one(&self, t: &Target, object: &str, key: &str, value: &str) -> Result<(), Error> {
        let out = self.rados(t, &["setomapval", object, key], Some(value.as_bytes().to_vec()))?;
        if out.status != 0 {
            return Err(rados_error(&format!("write {object}/{key}"), &out));
        }
        Ok(())
    }
}

/// Runs `f` on every item at once (each is an exec), results in order.
fn all_at_once<I: Sync, T: Send>(items: &[I], f: impl Fn(&I) -> T + Sync) -> Vec<T> {
    std::thread::scope(|s| {
        let handles: Vec<_> = items.iter().map(|i| s.spawn(|| f(i))).collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))).collect()
    })
}

impl Rados for CliRados {
    fn kind(&self) -> &'static str {
        "cli"
    }

    /// Always from a fresh table: a pool deleted and made again under its name has a
    /// new id, and a volume id must never carry the old one. `rados df` leaves out a
    /// pool the mgr has no statistics for yet (a second or so after it was made): a
    /// pool `rados lspools` knows is waited for.
    fn pool_id(&self, cluster: &ClusterConfig, creds: &Credentials, pool: &str) -> Result<Option<u64>, Error> {
        let deadline = Instant::now() + NEW_POOL_WAIT;
        loop {
            if let Some(id) = self.pool_table(cluster, creds, true)?.iter().find(|(n, _)| n == pool).map(|(_, id)| *id)
            {
                return Ok(Some(id));
            }
            if Instant::now() > deadline || !self.pool_listed(cluster, creds, pool)? {
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    fn pool_name(&self, cluster: &ClusterConfig, creds: &Credentials, id: u64) -> Result<Option<String>, Error> {
        self.find_pool(cluster, creds, |(n, i)| (*i == id).then(|| n.clone()))
    }

    fn pools(&self, cluster: &ClusterConfig, creds: &Credentials) -> Result<Vec<String>, Error> {
        Ok(self.pool_table(cluster, creds, true)?.into_iter().map(|(n, _)| n).collect())
    }

    fn omap_get(&self, t: &Target, object: &str, keys: &[&str]) -> Result<Vec<Option<String>>, Error> {
        all_at_once(keys, |k| self.get_one(t, object, k)).into_iter().collect()
    }

    fn omap_list(&self, t: &Target, object: &str) -> Result<Vec<(String, String)>, Error> {
        let out = self.rados(t, &["listomapkeys", object], None)?;
        if missing(&out) {
            return Ok(Vec::new());
        }
        if out.status != 0 {
            return Err(rados_error(&format!("list {object}"), &out));
        }
        let keys: Vec<&str> = out.stdout.lines().filter(|l| !l.is_empty()).collect();
        let values = self.omap_get(t, object, &keys)?;
        Ok(keys.iter().zip(values).filter_map(|(k, v)| Some((k.to_string(), v?))).collect())
    }

    fn omap_set(&self, t: &Target, object: &str, pairs: &[(&str, &str)]) -> Result<(), Error> {
        // The first pair creates the object, so later ones never race its creation.
        let Some(((k, v), rest)) = pairs.split_first() else { return Ok(()) };
        self.set_one(t, object, k, v)?;
        all_at_once(rest, |(k, v)| self.set_one(t, object, k, v)).into_iter().collect()
    }

    fn omap_remove(&self, t: &Target, object: &str, keys: &[&str]) -> Result<(), Error> {
        for key in keys {
            let out = self.rados(t, &["rmomapkey", object, key], None)?;
            if out.status != 0 && !missing(&out) {
                return Err(rados_error(&format!("remove {object}/{key}"), &out));
            }
        }
        Ok(())
    }

    fn remove_object(&self, t: &Target, object: &str) -> Result<(), Error> {
        let out = self.rados(t, &["rm", object], None)?;
        if out.status != 0 && !missing(&out) {
            return Err(rados_error(&format!("remove {object}"), &out));
        }
        Ok(())
    }

    fn object_exists(&self, t: &Target, object: &str) -> Result<bool, Error> {
        let out = self.rados(t, &["stat", object], None)?;
        match out.status {
            0 => Ok(true),
            _ if missing(&out) => Ok(false),
            _ => Err(rados_error(&format!("stat {object}"), &out)),
        }
    }

    fn lock_exclusive(&self, t: &Target, object: &str, lock: &str, cookie: &str) -> Result<bool, Error> {
        let args = ["lock", "get", object, lock, "--lock-type", "exclusive", "--lock-cookie", cookie];
        let out = self.rados(t, &args, None)?;
        match out.status {
            0 => Ok(true),
            // "failed locking: (16) Device or resource busy"; (17): this client already
            // holds it (never: each exec is a new client).
            _ if out.stderr.contains("(16)") => Ok(false),
            _ => Err(rados_error(&format!("lock {object} ({lock})"), &out)),
        }
    }

    fn lockers(&self, t: &Target, object: &str, lock: &str) -> Result<Vec<Locker>, Error> {
        let out = self.rados(t, &["lock", "info", object, lock, "--format", "json"], None)?;
        if out.status != 0 {
            return if missing(&out) { Ok(Vec::new()) } else { Err(rados_error(&format!("lock info {object}"), &out)) };
        }
        let j = jsonparse::parse(&out.stdout).map_err(|e| Error::Internal(format!("rados lock info: {e}")))?;
        Ok(j.get("lockers")
            .and_then(Json::as_array)
            .unwrap_or(&[])
            .iter()
            .map(|l| Locker {
                client: l.str_at("name").to_string(),
                cookie: l.str_at("cookie").to_string(),
                addr: l.str_at("addr").to_string(),
            })
            .collect())
    }

    fn break_lock(&self, t: &Target, object: &str, lock: &str, locker: &Locker) -> Result<(), Error> {
        let args = ["lock", "break", object, lock, &locker.client, "--lock-cookie", &locker.cookie];
        let out = self.rados(t, &args, None)?;
        if out.status != 0 && !missing(&out) {
            return Err(rados_error(&format!("release {object} ({lock}) held by {}", locker.cookie), &out));
        }
        Ok(())
    }

    fn image_create(
        &self,
        t: &Target,
        image: &str,
        bytes: u64,
        features: &str,
        data_pool: Option<&str>,
        striping: Striping,
    ) -> Result<(), Error> {
        let spec = t.spec(image);
        let size = format!("{}M", bytes.div_ceil(MIB));
        let layout = striping.cli_args();
        let mut args = vec!["create", "--size", &size, "--image-feature", features];
        if let Some(dp) = data_pool {
            args.extend(["--data-pool", dp]);
        }
        args.extend(layout.iter().map(String::as_str));
        args.push(&spec);
        let out = self.rbd(t, &args)?;
        match out.status {
            0 | 17 => Ok(()),
            _ => Err(rbd_error(&format!("rbd create {spec}"), &out)),
        }
    }

    fn image_info(&self, t: &Target, image: &str) -> Result<Option<(u64, String)>, Error> {
        let spec = t.spec(image);
        let out = self.rbd(t, &["info", "--format", "json", &spec])?;
        match out.status {
            0 => {
                let j = jsonparse::parse(&out.stdout).map_err(|e| Error::Internal(format!("rbd info {spec}: {e}")))?;
                Ok(Some((j.get("size").and_then(Json::as_u64).unwrap_or(0), j.str_at("id").to_string())))
            }
            2 => Ok(None),
            _ => Err(rbd_error(&format!("rbd info {spec}"), &out)),
        }
    }

    fn image_remove(&self, t: &Target, image: &str) -> Result<Removal, Error> {
        let spec = t.spec(image);
        let out = self.rbd(t, &["rm", "--no-progress", &spec])?;
        match out.status {
            0 => Ok(Removal::Removed),
            2 => Ok(Removal::Missing),
            16 => Ok(Removal::InUse),
            39 => Ok(Removal::HasSnapshots),
            _ => Err(rbd_error(&format!("rbd rm {spec}"), &out)),
        }
    }

    fn trash_move(&self, t: &Target, image: &str) -> Result<(), Error> {
        let spec = t.spec(image);
        let out = self.rbd(t, &["trash", "mv", &spec])?;
        match out.status {
            0 | 2 => Ok(()),
            _ => Err(rbd_error(&format!("rbd trash mv {spec}"), &out)),
        }
    }

    /// Through the `ceph` command (~0.4 s: only on deletes that leave an image in the
    /// trash).
    fn trash_remove_later(&self, t: &Target, image_id: &str) -> Result<(), Error> {
        let spec = t.spec(image_id);
        if !crate::exec::on_path("ceph") {
            return Err(Error::Unavailable(format!("no `ceph` command to ask the mgr to remove trashed image {spec}")));
        }
        let out = self.cli.run("ceph", t.cluster, t.creds, &["rbd", "task", "add", "trash", "remove", &spec], None)?;
        match out.status {
            0 => Ok(()),
            _ => Err(Error::Unavailable(format!(
                "the mgr did not take the removal of trashed image {spec}: {}",
                out.stderr.trim()
            ))),
        }
    }

    fn watchers(&self, t: &Target, image_id: &str) -> Result<Vec<String>, Error> {
        let header = format!("rbd_header.{image_id}");
        let out = self.rados(t, &["listwatchers", &header], None)?;
        if out.status != 0 {
            return if missing(&out) {
                Ok(Vec::new())
            } else {
                Err(rados_error(&format!("watchers of {header}"), &out))
            };
        }
        // "watcher=127.0.0.1:0/3162996 client.4120 cookie=18446462598732840961"
        Ok(out
            .stdout
            .lines()
            .filter_map(|l| l.strip_prefix("watcher=")?.split_whitespace().next().map(str::to_string))
            .collect())
    }

    fn enable_exclusive_lock(&self, t: &Target, image_id: &str) -> Result<bool, Error> {
        let mut args = vec!["info", "--format", "json", "--image-id", image_id];
        args.extend(Self::pool_args(t));
        let out = self.rbd(t, &args)?;
        if out.status != 0 {
            return Err(rbd_error(&format!("rbd info of image id {}", t.spec(image_id)), &out));
        }
        let j = jsonparse::parse(&out.stdout).map_err(|e| Error::Internal(format!("rbd info: {e}")))?;
        let on = j
            .get("features")
            .and_then(Json::as_array)
            .unwrap_or(&[])
            .iter()
            .any(|f| f.as_str() == Some("exclusive-lock"));
        if on {
            return Ok(false);
        }
        // `feature enable` takes no image id: by the name info gave.
        let spec = t.spec(j.str_at("name"));
        let out = self.rbd(t, &["feature", "enable", &spec, "exclusive-lock"])?;
        if out.status != 0 {
            return Err(rbd_error(&format!("enable exclusive-lock on {spec}"), &out));
        }
        Ok(true)
    }

    fn blocklist_add(&self, cluster: &ClusterConfig, creds: &Credentials, addr: &str, secs: u32) -> Result<(), Error> {
        self.ceph(cluster, creds, &["osd", "blocklist", "add", addr, &secs.to_string()], &format!("blocklist {addr}"))
    }

    fn blocklist_remove(&self, cluster: &ClusterConfig, creds: &Credentials, addr: &str) -> Result<(), Error> {
        self.ceph(cluster, creds, &["osd", "blocklist", "rm", addr], &format!("unblocklist {addr}"))
    }

    fn trash_remove(&self, t: &Target, image_id: &str) -> Result<(), Error> {
        let mut args = vec!["trash", "rm", "--no-progress"];
        args.extend(Self::pool_args(t));
        args.push(image_id);
        let mut out = self.rbd(t, &args)?;
        if out.status == libc::EUCLEAN {
            log::warn!("trashed image {image_id}: finishing its move to the trash, cut short by a crash");
            finish_trash_move(self, t, image_id)?;
            out = self.rbd(t, &args)?;
        }
        match out.status {
            0 | 2 => Ok(()),
            // Snapshots (or clones hanging on them) keep it: the mgr removes it once
            // they are gone; without a mgr, the delete of its last dependent does.
            39 => {
                if let Err(e) = self.trash_remove_later(t, image_id) {
                    log::warn!("trashed image {image_id} waits for its last dependent's delete: {e}");
                }
                Ok(())
            }
            16 if self.trash_remove_later(t, image_id).is_ok() => {
                log::info!("trashed image {image_id} is still open somewhere; the mgr removes it once it is not");
                Ok(())
            }
            _ => Err(rbd_error(&format!("rbd trash rm {image_id}"), &out)),
        }
    }

    /// Read from the pool's `rbd_trash` object: `rbd trash ls` hides the entries a
    /// removal made.
    fn trash_entry(&self, t: &Target, image_id: &str) -> Result<Option<TrashEntry>, Error> {
        let key = format!("id_{image_id}");
        let out = self.rados(t, &["getomapval", "rbd_trash", &key], None)?;
        if out.stderr.contains("No such file or directory") || out.stdout.starts_with("No such key") {
            return Ok(None);
        }
        if out.status != 0 {
            return Err(rados_error(&format!("look up trashed image {image_id}"), &out));
        }
        TrashEntry::decode(&hexdump_bytes(&out.stdout))
            .map(Some)
            .ok_or_else(|| Error::Internal(format!("trash entry of {image_id} unreadable: {:?}", out.stdout)))
    }

    fn resize(&self, t: &Target, image: &str, bytes: u64) -> Result<(), Error> {
        let spec = t.spec(image);
        let size = format!("{}M", bytes.div_ceil(MIB));
        let out = self.rbd(t, &["resize", "--no-progress", "--size", &size, &spec])?;
        match out.status {
            0 => Ok(()),
            22 if out.stderr.contains("new size is equal") => Ok(()),
            22 if out.stderr.contains("shrink") => {
                Err(Error::OutOfRange(format!("{spec} is larger than {bytes} bytes; images never shrink")))
            }
            _ => Err(rbd_error(&format!("rbd resize {spec}"), &out)),
        }
    }

    fn metadata_set(&self, t: &Target, image: &str, pairs: &[(&str, &str)]) -> Result<(), Error> {
        let spec = t.spec(image);
        for (key, value) in pairs {
            let out = self.rbd(t, &["image-meta", "set", &spec, key, value])?;
            if out.status != 0 {
                return Err(rbd_error(&format!("rbd image-meta set {spec} {key}"), &out));
            }
        }
        Ok(())
    }

    fn flatten(&self, t: &Target, image: &str) -> Result<(), Error> {
        let spec = t.spec(image);
        let out = self.rbd(t, &["flatten", "--no-progress", &spec])?;
        if out.status == 0 || (out.status == 22 && out.stderr.contains("has no parent")) {
            return Ok(());
        }
        Err(rbd_error(&format!("rbd flatten {spec}"), &out))
    }

    fn snap_create(&self, t: &Target, image: &str, snap: &str) -> Result<(), Error> {
        let spec = format!("{}@{snap}", t.spec(image));
        let out = self.rbd(t, &["snap", "create", "--no-progress", &spec])?;
        match out.status {
            0 | 17 => Ok(()),
            2 => Err(Error::ceph_missing(format!("image {}", t.spec(image)))),
            _ => Err(rbd_error(&format!("rbd snap create {spec}"), &out)),
        }
    }

    fn snap_list(&self, t: &Target, image: ImageRef) -> Result<Option<Vec<SnapInfo>>, Error> {
        let spec;
        let mut args = vec!["snap", "ls", "--all", "--format", "json"];
        match image {
            ImageRef::Name(name) => {
                spec = t.spec(name);
                args.push(&spec);
            }
            ImageRef::Id(id) => {
                args.extend(Self::pool_args(t));
                args.extend(["--image-id", id]);
            }
        }
        let out = self.rbd(t, &args)?;
        match out.status {
            0 => {}
            2 => return Ok(None),
            _ => return Err(rbd_error(&format!("rbd snap ls {image:?}"), &out)),
        }
        let j = jsonparse::parse(&out.stdout).map_err(|e| Error::Internal(format!("rbd snap ls: {e}")))?;
        Ok(Some(
            j.as_array()
                .unwrap_or(&[])
                .iter()
                .map(|s| SnapInfo {
                    name: s.str_at("name").to_string(),
                    size: s.get("size").and_then(Json::as_u64).unwrap_or(0),
                    created_secs: parse_ctime(s.str_at("timestamp")).unwrap_or(0),
                })
                .collect(),
        ))
    }

    fn snap_remove(&self, t: &Target, image: ImageRef, snap: &str) -> Result<bool, Error> {
        let spec;
        let mut args = vec!["snap", "rm", "--no-progress"];
        match image {
            ImageRef::Name(name) => {
                spec = format!("{}@{snap}", t.spec(name));
                args.push(&spec);
            }
            ImageRef::Id(id) => {
                args.extend(Self::pool_args(t));
                args.extend(["--image-id", id, "--snap", snap]);
            }
        }
        let out = self.rbd(t, &args)?;
        match out.status {
            0 => Ok(true),
            // rbd says ENOENT for a missing image and a missing snapshot alike: tell them
            // apart by listing.
            2 => Ok(self.snap_list(t, image)?.is_some()),
            _ => Err(rbd_error(&format!("rbd snap rm {image:?}@{snap}"), &out)),
        }
    }

    fn clone_image(
        &self,
        parent: &Target,
        image: &str,
        snap: &str,
        child: &Target,
        child_image: &str,
        layout: CloneLayout,
    ) -> Result<(), Error> {
        let from = format!("{}@{snap}", parent.spec(image));
        let to = child.spec(child_image);
        let striping = layout.striping.cli_args();
        let mut args = vec!["clone", "--rbd-default-clone-format", "2", "--image-feature", layout.features];
        if let Some(dp) = layout.data_pool {
            args.extend(["--data-pool", dp]);
        }
        args.extend(striping.iter().map(String::as_str));
        args.extend([from.as_str(), to.as_str()]);
        let out = self.rbd(child, &args)?;
        match out.status {
            0 | 17 => Ok(()),
            2 => Err(Error::ceph_missing(format!("clone source {from}"))),
            _ => Err(rbd_error(&format!("rbd clone {from}"), &out)),
        }
    }
}
