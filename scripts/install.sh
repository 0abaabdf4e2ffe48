#!/usr/bin/env bash
# One command from a fresh Debian machine to a working Berth: installs the packages it
# needs, builds release binaries and installs berth, berthd and berth-shim into
# $PREFIX/bin (default /usr/local), plus the systemd unit when systemd is there.
set -euo pipefail
cd "$(dirname "$0")/.."
PREFIX="${PREFIX:-/usr/local}"
scripts/deps.sh build
if ! command -v cargo >/dev/null; then
  echo "cargo not found: install Rust (rustup or Debian's cargo) first" >&2
  exit 1
fi
out=$(scripts/build-release.sh)
sudo_cmd=""
[ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
$sudo_cmd install -d "$PREFIX/bin"
for b in berth berthd berth-shim; do
  $sudo_cmd install -m 0755 "$out/$b" "$PREFIX/bin/$b"
done
getent group berth >/dev/null || $sudo_cmd groupadd --system berth || true
if [ -d /run/systemd/system ] && [ -f contrib/berthd.service ]; then
  $sudo_cmd install -m 0644 contrib/berthd.service /etc/systemd/system/berthd.service
  $sudo_cmd systemctl daemon-reload
  echo "installed; start the daemon with: systemctl enable --now berthd"
else
  echo "installed; start the daemon with: berthd &   (no systemd here)"
fi
