#!/usr/bin/env bash
# Installs what building rbd-csi and running its tests need on a fresh Debian machine
# (root). Safe to run again: it only installs what is missing.
set -euo pipefail

need=()
for pair in cmake:cmake g++:g++ make:make mkfs.ext4:e2fsprogs mkfs.xfs:xfsprogs \
            losetup:util-linux unshare:util-linux python3:python3 blkid:util-linux \
            readelf:binutils file:file bc:bc systemd-analyze:systemd bindfs:bindfs; do
  cmd=${pair%%:*} pkg=${pair#*:}
  command -v "$cmd" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
command -v cargo >/dev/null || { echo "cargo (rustup) is required" >&2; exit 1; }
