//! DeleteVolume for the rbd backend: the image (or, while snapshots or clones keep
//! it, the trash with a mgr task that removes it once they are gone), ceph-csi's
//! intermediate clone, then the journal entries.

use std::collections::HashMap;

use super::journal::{volume_name_key, volume_object, IMAGEID, IMAGENAME, JOURNAL_POOL_KEY, VOLNAME, VOLUMES_DIR};
use super::{RbdController, VolumeId};
use crate::ceph::rados::{Removal, Target};
use crate::ceph::Credentials;
use crate::error::{Error, VolumeError};

impl RbdController {
    /// Moves an image that snapshots or clones still keep to the trash and asks the
    /// mgr to remove it once they are gone, as ceph-csi does. Without a mgr it waits
    /// there until this driver deletes its last dependent.
    pub(super) fn trash_for_later(&self, images: &Target, image: &str) -> Result<(), Error> {
        let id = self.ceph.image_info(images, image)?.map(|(_, id)| id);
        self.ceph.trash_move(images, image)?;
        crate::failpoint::hit("delete-after-trash-move");
        if let Some(id) = id {
            self.remove_later(images, &id);
        }
        Ok(())
    }

    /// Queues the mgr's removal of trashed image `id`; a mgr that does not take it is
    /// logged (the last dependent's delete still removes the image).
    fn remove_later(&self, images: &Target, id: &str) {
        if let Err(e) = self.ceph.trash_remove_later(images, id) {
            log::warn!("trashed image {} waits for its last dependent's delete: {e}", images.spec(id));
        }
    }

    pub fn delete(&self, volume_id: &str, secrets: &HashMap<String, String>) -> Result<(), Error> {
        let Some(id) = VolumeId::decode(volume_id) else {
            // No volume of ours has such an id, so there is nothing to delete (CSI: an
            // unknown volume is deleted; a static volume's image is never ours).
            log::info!("volume {volume_id:?} is not a ceph-csi volume id; nothing to delete");
            return Ok(());
        };
        let creds = Credentials::from_secrets(secrets)?;
        let Some(mut place) = self.place_for_id(&id, &creds)? else {
            log::info!("volume {volume_id}: its pool no longer exists; nothing to delete");
            return Ok(());
        };
        let object = volume_object(&id.uuid);
        let keys = [IMAGENAME, VOLNAME, IMAGEID, JOURNAL_POOL_KEY];
        let mut attrs = self.ceph.omap_get(&place.images(&creds), &object, &keys)?.into_iter();
        let image = attrs.next().flatten().filter(|n| !n.is_empty()).unwrap_or_else(|| format!("csi-vol-{}", id.uuid));
        let (name, image_id) = (attrs.next().flatten(), attrs.next().flatten());
        self.use_recorded_journal(&mut place, &creds, attrs.next().flatten().as_deref())?;
        let (journal, images) = (place.journal(&creds), place.images(&creds));
        let spec = images.spec(&image);
        match self.ceph.image_remove(&images, &image)? {
            Removal::Removed => {}
            // Gone by name; a crash after a trash move may have left it in the trash.
            Removal::Missing => {
                if let Some(image_id) = image_id {
                    // (Dependents may keep it: then it is left to the mgr.)
                    self.ceph.trash_remove(&images, &image_id)?;
                }
            }
            Removal::InUse => {
                let by = "still in use (mapped or open somewhere)".to_string();
                return Err(VolumeError::InUse { what: format!("image {spec}"), by }.into());
            }
            // Snapshots or clones keep it: old-layout snapshots become images of their
            // own (restorable without the volume), and the image waits in the trash
            // until nothing depends on it.
            Removal::HasSnapshots => {
                self.detach_snapshots(&images, &image)?;
                self.trash_for_later(&images, &image)?;
            }
        }
        // ceph-csi clones a volume through an intermediate image `<image>-temp`, the
        // new image's parent, which its DeleteVolume removes with it.
        let temp = format!("{image}-temp");
        if self.ceph.image_info(&images, &temp)?.is_some() {
            self.trash_for_later(&images, &temp)?;
            log::info!("volume {volume_id}: removed ceph-csi's intermediate clone {}", images.spec(&temp));
        }
        crate::failpoint::hit("delete-after-image");
        let name_key = name.map(|name| volume_name_key(&name));
        self.remove_journal_entry(&journal, VOLUMES_DIR, name_key.as_deref(), &images, &object)?;
        log::info!("deleted volume {volume_id} ({spec})");
        Ok(())
    }
}
