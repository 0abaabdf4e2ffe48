# Shared by bench/pull.sh and bench/build.sh (sourced, not run): a private work dir, a
# private berthd and dockerd (own sockets, data and exec roots, cgroup parents, no
# firewall or forwarding changes), a private docker-registry on 127.0.0.1, and one
# cleanup that removes all of it on exit, even on failure or Ctrl-C.
#
# The caller sets BENCH_NAME (used in cgroup and bridge names), sources this file, calls
# bench_init, then start_berthd / start_dockerd / start_registry as needed.

# Repo root, dependencies, release binaries, work dir and the exit trap.
bench_init() {
  cd "$(dirname "${BASH_SOURCE[0]}")/.."
  scripts/deps.sh bench
  bin=$(scripts/build-release.sh)
  work=$(mktemp -d /tmp/berth-bench-XXXX)
  # Unique per run, so two benchmarks (or another helper's) never share cgroups.
  tag="${BENCH_NAME}-${work##*-}"
  bsock="$work/berth.sock"
  dsock="$work/docker.sock"
  bridges=()
  trap bench_cleanup EXIT
  # BENCH_FS=ext4: the work dir (data roots, registry storage) is a fresh ext4 made
  # with mkfs's defaults (journaled, like a stock install's /var/lib). A root file
  # system without a journal makes ext4 skip every inode freed in the last minutes
  # when it allocates one, so a pull right after an `rmi` pays for the deletion:
  # 0.35 s to unpack the Debian base layer on a fresh journaled ext4, 2-6 s on such a
  # root after a few rounds. Both engines share the one file system.
  # The loop device does direct I/O to its image file, as a disk would: a buffered
  # loop device copies every block once more into the page cache of the file below.
  if [ "${BENCH_FS:-}" = ext4 ]; then
    truncate -s 16G "$work.img"
    mkfs.ext4 -q -F "$work.img"
    loopdev=$(losetup --find --show --direct-io=on "$work.img")
    mount "$loopdev" "$work"
  fi
  trap 'exit 130' INT TERM
}

# Pids of processes whose command line mentions our work dir (berthd, dockerd,
# containerd and its shims, the registry: all started with paths under it).
ours() {
  local p
  for p in /proc/[0-9]*; do
    [ "${p#/proc/}" = "$$" ] && continue
    tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -qF -- "$work/" && echo "${p#/proc/}"
  done
  return 0
}

# Stop a daemon by its pid file: TERM, wait up to 15 s, then KILL.
stop_pidfile() {
  local f=$1 pid
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null
  return 0
}

bench_cleanup() {
  set +e
  [ -n "${work:-}" ] && [ -d "$work" ] || return 0
  stop_pidfile "$work/berthd.pid"
  stop_pidfile "$work/dockerd.pid"
  stop_pidfile "$work/registry.pid"
  sleep 0.2
  for p in $(ours); do kill -KILL "$p" 2>/dev/null; done
  for f in "$work"/run/c/*/shim.pid "$work"/run/c/*/init.pid; do
    [ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null
  done
  grep -o " $work[^ ]*" /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null
  for c in /sys/fs/cgroup/*/"berth-$tag" /sys/fs/cgroup/*/"docker-$tag"; do
    [ -d "$c" ] && find "$c" -depth -type d -exec rmdir {} + 2>/dev/null
  done
  for b in "${bridges[@]}"; do ip link del "$b" 2>/dev/null; done
  rm -rf "$work"
  # Detached now, or (still mounted lazily) as soon as the last user lets go.
  [ -n "${loopdev:-}" ] && losetup -d "$loopdev" 2>/dev/null
  rm -f "$work.img"
}

# A bridge of our own (name, address/prefix), deleted on exit. Used instead of docker0
# so a concurrent dockerd (another benchmark) never shares or deletes it.
make_bridge() {
  ip link add name "$1" type bridge
  bridges+=("$1")
  ip addr add "$2" dev "$1"
  ip link set "$1" up
}

berth() { "$bin/berth" -H "unix://$bsock" "$@"; }
dk() { DOCKER_HOST="unix://$dsock" docker "$@"; }

# An exec root on a tmpfs of its own, as /run is on a host (both engines keep sockets,
# pid files and exit records there).
exec_root_tmpfs() {
  mkdir -p "$1"
  mountpoint -q "$1" || mount -t tmpfs -o mode=0711 tmpfs "$1"
}

# start_berthd [extra berthd flags...]: debug log in $work/berthd.log.
start_berthd() {
  exec_root_tmpfs "$work/run"
  echo '{}' >"$work/berthd.json"
  "$bin/berthd" -H "unix://$bsock" --data-root "$work/data" --exec-root "$work/run" \
    --cgroup-parent "berth-$tag" --config-file "$work/berthd.json" \
    --iptables=false --ip-forward=false "$@" >"$work/berthd.log" 2>&1 &
  echo $! >"$work/berthd.pid"
  for _ in $(seq 200); do berth version >/dev/null 2>&1 && return 0; sleep 0.05; done
  echo "berthd did not start:" >&2
  tail -n 20 "$work/berthd.log" >&2
  return 1
}

# start_dockerd [extra dockerd flags...]: sets have_docker=1 when it answers.
start_dockerd() {
  have_docker=0
  command -v dockerd >/dev/null || { echo "no dockerd: Berth numbers only" >&2; return 0; }
  exec_root_tmpfs "$work/dexec"
  dockerd --data-root "$work/docker" --exec-root "$work/dexec" -H "unix://$dsock" \
    --pidfile "$work/dockerd.pid" --cgroup-parent "docker-$tag" \
    --iptables=false --ip-forward=false "$@" >"$work/dockerd.log" 2>&1 &
  for _ in $(seq 300); do dk version >/dev/null 2>&1 && { have_docker=1; return 0; }; sleep 0.1; done
  echo "dockerd did not start: Berth numbers only" >&2
  tail -n 20 "$work/dockerd.log" >&2
  return 0
}

# A free TCP port on 127.0.0.1 (the kernel picks it).
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Debian's docker-registry on 127.0.0.1:$reg_port, storage under $work/registry.
start_registry() {
  reg_port=$(free_port)
  reg="127.0.0.1:$reg_port"
  mkdir -p "$work/registry"
  cat >"$work/registry.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $work/registry
  delete:
    enabled: true
http:
  addr: $reg
EOF
  docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
  echo $! >"$work/registry.pid"
  for _ in $(seq 100); do
    curl -fsS "http://$reg/v2/" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "docker-registry did not start:" >&2
  tail -n 20 "$work/registry.log" >&2
  return 1
}

# Seconds (float) a command takes; its output goes to $work/last.out.
timed() {
  local t0 t1
  t0=$(date +%s.%N)
  "$@" >"$work/last.out" 2>&1 || { cat "$work/last.out" >&2; return 1; }
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f\n", b - a }'
}
