#!/usr/bin/env bash
# Builds the release binaries into <target dir>/dist and prints that directory (the only
# line on stdout; cargo's output goes to stderr). Used by scripts/install.sh and bench/.
#
# `berth` and `berth-shim` are linked statically (glibc as static-pie, libseccomp.a)
# when those static libraries are installed: each runs once per command or per
# container, and loading and relocating shared libraries was ~0.4 ms of every start
# (docs/adr/0015-static-cli-and-shim.md). `berthd` runs for a long time and stays
# dynamic. Without the static libraries every binary is dynamic, as cargo builds it.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-$PWD/target}"
dist="$target/dist"

cargo build --release --locked --bins >&2
mkdir -p "$dist"
for b in berthd berth berth-shim; do
  install -m 0755 "$target/release/$b" "$dist/$b.new"
  mv -f "$dist/$b.new" "$dist/$b"
done

libc_a=$(cc -print-file-name=libc.a 2>/dev/null || true)
seccomp_dir=$(pkg-config --variable=libdir libseccomp 2>/dev/null || true)
if [ "${BERTH_STATIC:-1}" != 0 ] && [ -f "$libc_a" ] && [ -f "$seccomp_dir/libseccomp.a" ]; then
  triple=$(rustc -vV | sed -n 's/^host: //p')
  # With an explicit --target, RUSTFLAGS reach only the target's crates: build scripts
  # and proc macros stay dynamic, as they must.
  RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" \
    LIBSECCOMP_LINK_TYPE=static LIBSECCOMP_LIB_PATH="$seccomp_dir" \
    cargo build --release --locked --target "$triple" -p berth-cli -p berth-shim --bins >&2
  for b in berth berth-shim; do
    install -m 0755 "$target/$triple/release/$b" "$dist/$b.new"
    mv -f "$dist/$b.new" "$dist/$b"
  done
else
  echo "build-release: static glibc or libseccomp.a not found; berth and berth-shim are dynamic" >&2
fi
echo "$dist"
