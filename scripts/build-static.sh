#!/usr/bin/env bash
# Builds a fully static x86_64-unknown-linux-musl rbd-csi with zig as the C/C++
# toolchain (gRPC's C++ core needs a libc++ for musl; Debian's musl-gcc has none).
# Installs what it needs: the rust target, and ziglang + cargo-zigbuild from PyPI.
# Output: $CARGO_TARGET_DIR/x86_64-unknown-linux-musl/release/rbd-csi
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/rbd-csi-target}
TARGET=x86_64-unknown-linux-musl
rustup target list --installed | grep -qx "$TARGET" || rustup target add "$TARGET"
command -v cargo-zigbuild >/dev/null && python3 -m ziglang version >/dev/null 2>&1 ||
  python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore ziglang cargo-zigbuild
# gRPC's cmake links libsystemd when its headers exist: that cannot be static.
if dpkg -s libsystemd-dev >/dev/null 2>&1; then
  echo "libsystemd-dev is installed: gRPC would link libsystemd; remove it for a static build" >&2
  exit 1
fi
# zig's caches (its libc++/musl builds take ~10 min once) live beside the target dir.
cache=${ZIG_CACHE:-$(dirname "$CARGO_TARGET_DIR")/rbd-csi-zig-cache}
mkdir -p "$cache"
export XDG_CACHE_HOME=$cache ZIG_GLOBAL_CACHE_DIR=$cache ZIG_LOCAL_CACHE_DIR=$cache
export CFLAGS_x86_64_unknown_linux_musl=-D_LARGEFILE64_SOURCE
# ABSL_RANDOM_USE_GET_ENTROPY: abseil seeds its random pool with getentropy(2) (musl
# has it) instead of reading /dev/urandom, so the server also runs where there is no
# /dev (abseil turns it on for glibc only).
export CXXFLAGS_x86_64_unknown_linux_musl="-D_LARGEFILE64_SOURCE -DABSL_RANDOM_USE_GET_ENTROPY=1 -Wno-missing-template-arg-list-after-template-kw"
unset CC CXX
cargo zigbuild --release --locked --target "$TARGET" --bin rbd-csi
out=$CARGO_TARGET_DIR/$TARGET/release/rbd-csi
echo "built $out ($(stat -c %s "$out") bytes)"
