#!/usr/bin/env bash
# Makes a ~2 MB busybox root filesystem tar from Debian's busybox-static, for
# `berth import busybox.tar busybox`. Usage: scripts/busybox-rootfs.sh [OUT.tar]
set -euo pipefail
out="${1:-busybox.tar}"
bb=/bin/busybox
[ -x "$bb" ] || { echo "$bb missing: apt-get install busybox-static" >&2; exit 1; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,root,home,var/www}
chmod 1777 "$dir/tmp"; chmod 700 "$dir/root"
cp "$bb" "$dir/bin/busybox"
for applet in $("$bb" --list-full); do
  [ "$applet" = bin/busybox ] && continue
  ln -sf /bin/busybox "$dir/$applet"
done
cat > "$dir/etc/passwd" <<'P'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
www-data:x:33:33:www-data:/var/www:/bin/false
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
P
cat > "$dir/etc/group" <<'G'
root:x:0:
daemon:x:1:
tty:x:5:
www-data:x:33:
users:x:100:
nogroup:x:65534:
G
tar -C "$dir" --numeric-owner -cf "$out" .
echo "$out"
