# rbd-csi controller plugin (one or two instances per cluster). It advertises
# PUBLISH_UNPUBLISH_VOLUME, so Nomad sends it ControllerPublishVolume when an allocation
# claims a volume (with the node id the client's node plugin reports, its --nodeid) and
# ControllerUnpublishVolume when the claim is freed: claims need a running controller.
job "rbd-csi-controller" {
  type = "service"

  group "controller" {
    count = 1

    task "plugin" {
      driver = "raw_exec"
      # Longer than the plugin's --shutdown-grace (30 s): running operations finish.
      kill_timeout = "45s"

      config {
        command = "/usr/local/bin/rbd-csi"
        args = [
          "serve",
          "--mode", "controller",
          "--backend", "rbd",
          "--nodeid", "${node.unique.name}",
          "--config", "/etc/ceph-csi-config/config.json",
        ]
      }

      csi_plugin {
        id        = "rbd-csi"
        type      = "controller"
        mount_dir = "/csi"
      }

      resources {
        cpu    = 100
        # librados and librbd take ~41 MiB of it.
        memory = 128
      }
    }
  }
}
