# rbd-csi node plugin as a host process (raw_exec) on every Nomad client.
# Prerequisites: the raw_exec plugin enabled in the client config (plugin "raw_exec"
# { config { enabled = true } }), the Nomad client running as root (the plugin mounts
# and maps), the static binary at /usr/local/bin/rbd-csi, mkfs.ext4/mkfs.xfs, and the
# kernel's rbd module (plus ceph-common's `rbd`, or --mapper sysfs).
# Nomad passes the socket path in CSI_ENDPOINT (rbd-csi serve reads it when --endpoint
# is not given). Staging and target paths are built by Nomad from
# stage_publish_base_dir; for a host-run plugin that must be the host path
# <client data_dir>/client/csi/node/<plugin id>, here /opt/nomad/data/client/csi/node/rbd-csi.
# rbd-csi never answers ABORTED (Nomad fails an allocation on it): operations on one
# volume wait their turn in the plugin instead.
job "rbd-csi-node" {
  type = "system"

  group "node" {
    task "plugin" {
      driver = "raw_exec"
      # Longer than the plugin's --shutdown-grace (30 s): running operations finish.
      kill_timeout = "45s"

      config {
        command = "/usr/local/bin/rbd-csi"
        args = [
          "serve",
          "--mode", "node",
          "--backend", "rbd",
          "--nodeid", "${node.unique.name}",
          "--data-dir", "/var/lib/rbd-csi",
          "--config", "/etc/ceph-csi-config/config.json",
          "--allowed-path-prefix", "/opt/nomad/data/client/csi/node/rbd-csi",
        ]
      }

      csi_plugin {
        id                     = "rbd-csi"
        type                   = "node"
        mount_dir              = "/csi"
        stage_publish_base_dir = "/opt/nomad/data/client/csi/node/rbd-csi"
        health_timeout         = "30s"
      }

      resources {
        cpu    = 100
        memory = 64
      }
    }
  }
}
