# A volume for `nomad volume create volume.hcl`, with ceph-csi's parameter and secret
# names. Replace the cluster id, pool and the cephx key (base64, as `ceph auth get-key`
# prints it).
id        = "data-1"
name      = "data-1"
type      = "csi"
plugin_id = "rbd-csi"

capacity_min = "1GiB"
capacity_max = "1GiB"

capability {
  access_mode     = "single-node-writer"
  attachment_mode = "file-system"
}

capability {
  access_mode     = "single-node-writer"
  attachment_mode = "block-device"
}

mount_options {
  fs_type     = "ext4"
  mount_flags = ["noatime"]
}

parameters {
  clusterID     = "b9127830-b0cc-4e34-aa47-9d1a2e9949a8"
  pool          = "rbd"
  imageFeatures = "layering"
}

# Nomad also passes these secrets to ControllerPublishVolume and ControllerUnpublishVolume:
# the claim for a node is taken and released as this cephx user.
secrets {
  userID  = "csi"
  userKey = "AQBbase64keyREPLACEME=="
}
