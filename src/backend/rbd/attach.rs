//! ControllerPublish/Unpublish for the rbd backend: a volume published for single-node
//! access is claimed for that node, so that no second node is ever given it (README,
//! "Never two writers").
//!
//! The claim is an exclusive cls lock named `rbd-csi.attachment` on the image's header
//! object (`rbd_header.<image id>`), its cookie the node id. The OSD takes a lock in one
//! atomic step, so of concurrent publishes to different nodes exactly one wins, and no
//! crash can leave half a claim; the lock never expires and lives exactly as long as the
//! image (a deleted image takes it along). It is not krbd's exclusive lock (`rbd_lock`,
//! on the same object). The lock was taken by some Ceph client of some controller
//! process: the node id in the cookie is what counts, so a publish retried by a
//! restarted controller finds the claim its own, and an unpublish breaks it whoever
//! took it.
//!
//! A static volume (ceph-csi's `staticVolume: "true"`) is published without a claim:
//! ControllerUnpublishVolume carries no volume_context, so its image could not be found
//! to release it.
//!
//! Multi-node access claims nothing: readers are published read-only, and many writers
//! are allowed on block volumes only (validated in the RPC layer, as ceph-csi does).
//! MULTI_NODE_SINGLE_WRITER claims for its one writer. This module must not map or touch
//! an image's data (the node does), nor claim for a reader.

use std::collections::HashMap;

use super::journal::{volume_object, IMAGEID, IMAGENAME};
use super::{Place, RbdController, VolumeId};
use crate::backend::{Sharing, CLAIMED_FOR};
use crate::ceph::rados::Target;
use crate::ceph::Credentials;
use crate::error::{CephCause, Error, Kind, VolumeError};

/// The cls lock a claim is.
pub const CLAIM_LOCK: &str = "rbd-csi.attachment";
/// The lock krbd and librbd take on an image with the exclusive-lock feature while they
/// write (its lockers' addresses are the writers').
const WRITER_LOCK: &str = "rbd_lock";
/// The object, in each pool, whose omap records the addresses fenced there: address →
/// "<node> <volume id> <unix time>" (README, "Fencing").
pub const FENCED_OBJECT: &str = "rbd-csi.fenced";
/// How long a fence lasts: until an operator lifts it (ten years).
const FENCE_SECS: u32 = 315_360_000;
/// The header omap key where a claim notes its kind, once the image's exclusive-lock
/// feature is on: "single-node" (no other node maps the image: every watcher is the
/// claimed node's) or "single-writer" (MULTI_NODE_SINGLE_WRITER: readers may watch
/// from other nodes, so a fence takes the writer lock's holder alone). librbd reads
/// only keys of its own there, and the key goes with the header.
const CLAIM_KIND_KEY: &str = "rbd-csi.claim-kind";

impl RbdController {
    /// The volume's pool and the header object its claim is taken on (by the image id
    /// the journal recorded, else by opening the image); None when the pool or the
    /// image is gone.
    fn claim_object(&self, id: &VolumeId, creds: &Credentials) -> Result<Option<(Place, String)>, Error> {
        let Some(place) = self.place_for_id(id, creds)? else { return Ok(None) };
        let images = place.images(creds);
        let object = volume_object(&id.uuid);
        let mut recorded = self.ceph.omap_get(&images, &object, &[IMAGENAME, IMAGEID])?.into_iter();
        let (image, image_id) = (recorded.next().flatten(), recorded.next().flatten());
        let header = match image_id {
            // One stat instead of opening the image.
            Some(image_id) => {
                let header = format!("rbd_header.{image_id}");
                self.ceph.object_exists(&images, &header)?.then_some(header)
            }
            None => {
                let image = image.unwrap_or_else(|| format!("csi-vol-{}", id.uuid));
                self.ceph.image_info(&images, &image)?.map(|(_, image_id)| format!("rbd_header.{image_id}"))
            }
        };
        Ok(header.map(|h| (place, h)))
    }

    /// ControllerPublishVolume: claims a single-node volume for `node` (idempotent for
    /// the same node; FAILED_PRECONDITION naming the holder for another); checks that
    /// any other volume exists. The publish_context names the node claimed for.
    pub fn publish(
        &self,
        volume_id: &str,
        node: &str,
        sharing: Sharing,
        secrets: &HashMap<String, String>,
        context: &HashMap<String, String>,
    ) -> Result<HashMap<String, String>, Error> {
        if context.get("staticVolume").is_some_and(|v| v == "true") {
            // ControllerUnpublishVolume carries no volume_context, and a static
            // volume's id says nothing of where its image is: a claim could not be
            // found again to be released.
            log::warn!("volume {volume_id} is static (staticVolume=true): published to {node} without a claim");
            return Ok(HashMap::new());
        }
        if secrets.is_empty() {
            return Err(Error::invalid(format!(
                "ControllerPublishVolume of {volume_id} needs the cephx user's secrets to claim the volume for a node: \
                 Kubernetes passes them when the StorageClass sets csi.storage.k8s.io/controller-publish-secret-name \
                 and -namespace (a PV made before needs spec.csi.controllerPublishSecretRef)"
            )));
        }
        let creds = Credentials::from_secrets(secrets)?;
        let gone = || Error::no_such(Kind::Volume, volume_id);
        let id = VolumeId::decode(volume_id).ok_or_else(gone)?;
        let (place, object) = self.claim_object(&id, &creds)?.ok_or_else(gone)?;
        let images = place.images(&creds);
        if sharing == Sharing::Shared {
            return Ok(HashMap::new());
        }
        // A claim released between a busy lock and the look at its holder: try again.
        for _ in 0..3 {
            if self.ceph.lock_exclusive(&images, &object, CLAIM_LOCK, node)? {
                crate::failpoint::hit("publish-after-claim");
                self.note_claim(&images, &object, volume_id, sharing)?;
                log::info!("volume {volume_id} claimed for node {node} ({})", images.spec(&object));
                return Ok(HashMap::from([(CLAIMED_FOR.to_string(), node.to_string())]));
            }
            let holders = self.ceph.lockers(&images, &object, CLAIM_LOCK)?;
            if holders.iter().any(|h| h.cookie == node) {
                // A retry after a crash between the claim and its notes.
                self.note_claim(&images, &object, volume_id, sharing)?;
                return Ok(HashMap::from([(CLAIMED_FOR.to_string(), node.to_string())]));
            }
            if let Some(holder) = holders.first() {
                return Err(VolumeError::ClaimedBy { volume: volume_id.into(), node: holder.cookie.clone() }.into());
            }
        }
        Err(VolumeError::ClaimContended { volume: volume_id.into() }.into())
    }

    /// Turns on the image's exclusive-lock feature, so that a kernel mapping it
    /// read-write holds `rbd_lock` and the cluster keeps the writer's address there
    /// after its watch has timed out (a partitioned node): the fence finds it. Then
    /// notes the claim's kind (CLAIM_KIND_KEY); a publish that finds its kind noted
    /// does one read.
    fn note_claim(&self, images: &Target, header: &str, volume_id: &str, sharing: Sharing) -> Result<(), Error> {
        let kind = if sharing == Sharing::OneWriter { "single-writer" } else { "single-node" };
        if self.ceph.omap_get(images, header, &[CLAIM_KIND_KEY])?.pop().flatten().as_deref() == Some(kind) {
            return Ok(());
        }
        if self.ceph.enable_exclusive_lock(images, image_id_of(header))? {
            log::info!("volume {volume_id}: exclusive-lock feature turned on");
        }
        self.ceph.omap_set(images, header, &[(CLAIM_KIND_KEY, kind)])
    }

    /// ControllerUnpublishVolume: releases the volume's claim for `node` (every claim
    /// when `node` is empty), fencing first the clients that still map the image (a
    /// forced detach). A missing volume, or a claim held for another node, is left as
    /// it is: the volume is not published to `node`. Returns the addresses fenced.
    pub fn unpublish(
        &self,
        volume_id: &str,
        node: &str,
        secrets: &HashMap<String, String>,
    ) -> Result<Vec<String>, Error> {
        // Not an rbd-csi/ceph-csi id: a static volume, published without a claim.
        let Some(id) = VolumeId::decode(volume_id) else { return Ok(Vec::new()) };
        let creds = Credentials::from_secrets(secrets)?;
        let Some((place, object)) = self.claim_object(&id, &creds)? else { return Ok(Vec::new()) };
        self.release(&place.images(&creds), &object, volume_id, node)
    }

    /// Releases the claims of image header `header` for `node` (every claim when
    /// empty), each after fencing its node's mappings; returns the addresses fenced.
    fn release(&self, images: &Target, header: &str, volume: &str, node: &str) -> Result<Vec<String>, Error> {
        let mut fenced = Vec::new();
        for holder in self.ceph.lockers(images, header, CLAIM_LOCK)? {
            if node.is_empty() || holder.cookie == node {
                fenced.extend(self.fence(images, header, volume, &holder.cookie)?);
                crate::failpoint::hit("unpublish-after-fence");
                self.ceph.break_lock(images, header, CLAIM_LOCK, &holder)?;
                log::info!("volume {volume}: claim for node {} released", holder.cookie);
            }
        }
        Ok(fenced)
    }

    /// `rbd-csi fence --node-id`: fences and releases every claim for `node` on the
    /// images of `pool` (in the cluster's rados namespace), as a forced unpublish of
    /// each would; a node that is lost holds them all. One read per image of the pool
    /// (its claim), and a fence for each of the node's. Returns the addresses fenced.
    pub fn fence_node(
        &self,
        cluster_id: &str,
        pool: &str,
        node: &str,
        secrets: &HashMap<String, String>,
    ) -> Result<Vec<String>, Error> {
        let creds = Credentials::from_secrets(secrets)?;
        let place = Place::in_pool(self.cluster(cluster_id)?, pool.to_string());
        let images = place.images(&creds);
        let mut fenced = Vec::new();
        // rbd_directory's keys "id_<image id>" list the pool's images.
        for (key, _) in self.ceph.omap_list(&images, "rbd_directory")? {
            let Some(image_id) = key.strip_prefix("id_") else { continue };
            let header = format!("rbd_header.{image_id}");
            fenced.extend(self.release(&images, &header, &images.spec(image_id), node)?);
        }
        Ok(fenced)
    }

    /// Fences the clients that hold the image's writer lock or, when only the claimed
    /// node may map it, watch its header (its mappings): each address is recorded in
    /// the pool's FENCED_OBJECT, then blocklisted, so its late writes fail. After a
    /// crash the writer lock still names a fenced writer (a blocklisted client cannot
    /// let go of it), so a retry fences it again.
    fn fence(&self, images: &Target, header: &str, volume_id: &str, node: &str) -> Result<Vec<String>, Error> {
        let mut addrs: Vec<String> =
            self.ceph.lockers(images, header, WRITER_LOCK)?.into_iter().map(|l| l.addr).collect();
        if self.ceph.omap_get(images, header, &[CLAIM_KIND_KEY])?.pop().flatten().as_deref() != Some("single-writer") {
            addrs.extend(self.ceph.watchers(images, image_id_of(header))?);
        }
        addrs.sort();
        addrs.dedup();
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        for addr in &addrs {
            // A client fenced before keeps its record (and the node it was fenced
            // for): a blocklisted writer holds rbd_lock until the next one breaks it.
            let recorded = self.ceph.omap_get(images, FENCED_OBJECT, &[addr])?.pop().flatten();
            if recorded.is_none() {
                self.ceph.omap_set(images, FENCED_OBJECT, &[(addr, &format!("{node} {volume_id} {now}"))])?;
                crate::failpoint::hit("fence-after-record");
            }
            self.ceph.blocklist_add(images.cluster, images.creds, addr, FENCE_SECS)?;
            let owner = recorded.as_deref().and_then(|r| r.split(' ').next()).unwrap_or(node);
            log::warn!(
                "volume {volume_id}: fenced node {owner}'s client {addr} (blocklisted; lift with rbd-csi unfence)"
            );
        }
        Ok(addrs)
    }

    /// Lifts the fences recorded for `node` in the volume's pool (every node's when
    /// empty): takes each address off the blocklist, then the record. Returns them.
    pub fn unfence(
        &self,
        volume_id: &str,
        node: &str,
        secrets: &HashMap<String, String>,
    ) -> Result<Vec<String>, Error> {
        let creds = Credentials::from_secrets(secrets)?;
        let gone = || Error::no_such(Kind::Volume, volume_id);
        let id = VolumeId::decode(volume_id).ok_or_else(gone)?;
        let place = self.place_for_id(&id, &creds)?.ok_or_else(gone)?;
        let images = place.images(&creds);
        let mut lifted = Vec::new();
        for (addr, record) in self.ceph.omap_list(&images, FENCED_OBJECT)? {
            if node.is_empty() || record.split(' ').next() == Some(node) {
                self.ceph.blocklist_remove(images.cluster, images.creds, &addr).map_err(|e| match e {
                    // mon `profile rbd` allows `osd blocklist add` and nothing more.
                    Error::Ceph(f) if f.cause == CephCause::Denied => Error::FailedPrecondition(format!(
                        "{f}: unfencing needs a user whose mon caps allow `osd blocklist rm` (client.admin does; \
                         ceph-csi's `profile rbd` allows only add)"
                    )),
                    e => e,
                })?;
                self.ceph.omap_remove(&images, FENCED_OBJECT, &[&addr])?;
                log::warn!("unfenced client {addr} ({record})");
                lifted.push(addr);
            }
        }
        Ok(lifted)
    }
}

/// "rbd_header.<id>" → "<id>".
fn image_id_of(header: &str) -> &str {
    header.strip_prefix("rbd_header.").unwrap_or(header)
}
