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

use super::{Place, RbdController, VolumeId};
use crate::backend::Sharing;
use crate::ceph::rados::Target;
use crate::ceph::Credentials;
use crate::error::Error;

/// The cls lock a claim is.
pub const CLAIM_LOCK: &str = "rbd-csi.attachment";
/// The publish_context key naming the node a volume is claimed for; NodeStage checks it.
pub const CLAIMED_FOR: &str = "rbd-csi.claimed-for";

impl RbdController {
    /// The volume's pool and image, by its ceph-csi id and journal; None when its pool
    /// is gone.
    fn locate(&self, id: &VolumeId, creds: &Credentials) -> Result<Option<(Place, String)>, Error> {
        let Some(place) = self.place_for_id(id, creds)? else { return Ok(None) };
        let image = self.volume_image(&place.images(creds), &id.uuid)?;
        Ok(Some((place, image)))
    }

    /// The header object a claim is taken on; None when the image does not exist.
    fn claim_object(&self, images: &Target, image: &str) -> Result<Option<String>, Error> {
        Ok(self.ceph.image_info(images, image)?.map(|(_, id)| format!("rbd_header.{id}")))
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
        let creds = Credentials::from_secrets(secrets)?;
        let gone = || Error::NotFound(format!("volume {volume_id} does not exist"));
        let id = VolumeId::decode(volume_id).ok_or_else(gone)?;
        let (place, image) = self.locate(&id, &creds)?.ok_or_else(gone)?;
        let images = place.images(&creds);
        let object = self.claim_object(&images, &image)?.ok_or_else(gone)?;
        if sharing != Sharing::OneNode {
            return Ok(HashMap::new());
        }
        // A claim released between a busy lock and the look at its holder: try again.
        for _ in 0..3 {
            if self.ceph.lock_exclusive(&images, &object, CLAIM_LOCK, node)? {
                crate::failpoint::hit("publish-after-claim");
                log::info!("volume {volume_id} ({}) claimed for node {node}", images.spec(&image));
                return Ok(HashMap::from([(CLAIMED_FOR.to_string(), node.to_string())]));
            }
            let holders = self.ceph.lockers(&images, &object, CLAIM_LOCK)?;
            if holders.iter().any(|h| h.cookie == node) {
                return Ok(HashMap::from([(CLAIMED_FOR.to_string(), node.to_string())]));
            }
            if let Some(holder) = holders.first() {
                return Err(Error::FailedPrecondition(format!(
                    "volume {volume_id} is published to node {:?}, and its access mode allows one node: \
                     unpublish it there first (ControllerUnpublishVolume), or, if that node is gone, fence it \
                     (rbd-csi client Fence)",
                    holder.cookie
                )));
            }
        }
        Err(Error::Unavailable(format!("volume {volume_id}: its claim changed hands three times meanwhile; retry")))
    }

    /// ControllerUnpublishVolume: releases the volume's claim for `node` (every claim
    /// when `node` is empty). A missing volume, or a claim held for another node, is
    /// left as it is: the volume is not published to `node`.
    pub fn unpublish(&self, volume_id: &str, node: &str, secrets: &HashMap<String, String>) -> Result<(), Error> {
        // Not an rbd-csi/ceph-csi id: a static volume, published without a claim.
        let Some(id) = VolumeId::decode(volume_id) else { return Ok(()) };
        let creds = Credentials::from_secrets(secrets)?;
        let Some((place, image)) = self.locate(&id, &creds)? else { return Ok(()) };
        let images = place.images(&creds);
        let Some(object) = self.claim_object(&images, &image)? else { return Ok(()) };
        for holder in self.ceph.lockers(&images, &object, CLAIM_LOCK)? {
            if node.is_empty() || holder.cookie == node {
                self.ceph.break_lock(&images, &object, CLAIM_LOCK, &holder)?;
                log::info!("volume {volume_id}: claim for node {} released", holder.cookie);
            }
        }
        Ok(())
    }
}
