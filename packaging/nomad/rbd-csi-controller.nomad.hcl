# rbd-csi controller plugin (one or two instances per cluster).
job "rbd-csi-controller" {
  type = "service"

  group "controller" {
    count = 1

    task "plugin" {
      driver = "raw_exec"

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
        memory = 64
      }
    }
  }
}
