#!/usr/bin/env bash
# Side-by-side benchmarks: Berth and Docker on the same machine, in the same run,
# alternating (hyperfine), medians and ratios printed at the end.
#
#   bench/run.sh            # all benchmarks
#   RUNS=30 bench/run.sh    # more runs per command
#
# Starts its own berthd and dockerd on private sockets and data roots and removes
# everything on exit. No container traffic leaves the machine: the benchmarks run `true`.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${RUNS:-20}"
scripts/deps.sh bench
cargo build --release --locked --bins >/dev/null

work=$(mktemp -d /tmp/berth-bench-XXXX)
bsock="$work/berth.sock"
dsock="$work/docker.sock"
cleanup() {
  set +e
  [ -f "$work/berthd.pid" ] && kill -9 "$(cat "$work/berthd.pid")" 2>/dev/null
  if [ -f "$work/dockerd.pid" ]; then
    DOCKER_HOST="unix://$dsock" docker rm -f bench-exec >/dev/null 2>&1
    kill "$(cat "$work/dockerd.pid")" 2>/dev/null
    sleep 2
  fi
  for f in "$work"/data/containers/*/shim.pid "$work"/data/containers/*/init.pid; do
    [ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null
  done
  grep -o " $work[^ ]*" /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null
  for c in /sys/fs/cgroup/*/berth-bench; do [ -d "$c" ] && find "$c" -depth -type d -exec rmdir {} + 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT

scripts/busybox-rootfs.sh "$work/busybox.tar" >/dev/null

# Berth.
target/release/berthd -H "unix://$bsock" --data-root "$work/data" --exec-root "$work/run" \
  --cgroup-parent berth-bench --config-file "$work/none.json" >"$work/berthd.log" 2>&1 &
echo $! >"$work/berthd.pid"
berth() { target/release/berth -H "unix://$bsock" "$@"; }
for _ in $(seq 100); do berth version >/dev/null 2>&1 && break; sleep 0.05; done
berth import "$work/busybox.tar" busybox >/dev/null

# Docker (dockerd from Debian's docker.io), when it can run here.
have_docker=0
if command -v dockerd >/dev/null; then
  dockerd --data-root "$work/docker" --exec-root "$work/dexec" -H "unix://$dsock" \
    --pidfile "$work/dockerd.pid" >"$work/dockerd.log" 2>&1 &
  for _ in $(seq 200); do DOCKER_HOST="unix://$dsock" docker version >/dev/null 2>&1 && { have_docker=1; break; }; sleep 0.1; done
fi
dk() { DOCKER_HOST="unix://$dsock" docker "$@"; }
if [ "$have_docker" = 1 ]; then
  dk import "$work/busybox.tar" busybox >/dev/null
else
  echo "dockerd did not start: Berth numbers only (see $work/dockerd.log)" >&2
fi

results="$work/results.txt"
: >"$results"
compare() { # name, berth command, docker command
  local name=$1 bcmd=$2 dcmd=$3
  local args=(-N --warmup 3 --runs "$RUNS" --export-json "$work/$name.json" -n berth "$bcmd")
  [ "$have_docker" = 1 ] && args+=(-n docker "$dcmd")
  hyperfine "${args[@]}" >"$work/$name.txt" 2>&1 || { cat "$work/$name.txt"; return 1; }
  python3 - "$work/$name.json" "$name" >>"$results" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
b = r["berth"]["median"] * 1000
line = f"{sys.argv[2]:<28} berth {b:9.1f} ms"
if "docker" in r:
    d = r["docker"]["median"] * 1000
    line += f"   docker {d:9.1f} ms   docker/berth = {d / b:6.1f}x"
print(line)
PY
}

B="target/release/berth -H unix://$bsock"
D="docker -H unix://$dsock"
compare run-rm-true "$B run --rm busybox true" "$D run --rm busybox true"
compare run-rm-true-net-none "$B run --rm --network none busybox true" "$D run --rm --network none busybox true"
berth run -d --name bench-exec busybox sleep 100000 >/dev/null
[ "$have_docker" = 1 ] && dk run -d --name bench-exec busybox sleep 100000 >/dev/null
compare exec-true "$B exec bench-exec true" "$D exec bench-exec true"

# Memory: private memory of one shim (Berth) vs one containerd shim (Docker).
pss() { awk '/^Private_(Clean|Dirty)/ {s += $2} END {print s}' "/proc/$1/smaps_rollup"; }
bshim=$(cat "$work"/data/containers/*/shim.pid 2>/dev/null | head -n1)
mem="memory per container       berth-shim $(pss "$bshim") kB private"
if [ "$have_docker" = 1 ]; then
  dshim=$(pgrep -f containerd-shim | head -n1 || true)
  [ -n "$dshim" ] && mem+="   containerd-shim $(pss "$dshim") kB private"
fi
echo "$mem" >>"$results"
echo "daemon idle RSS            berthd $(awk '/VmRSS/ {print $2}' /proc/"$(cat "$work/berthd.pid")"/status) kB" \
  "$( [ "$have_docker" = 1 ] && echo "  dockerd $(awk '/VmRSS/ {print $2}' /proc/"$(cat "$work/dockerd.pid")"/status) kB")" >>"$results"

echo
echo "== Berth vs Docker (medians of $RUNS runs, same machine, same run) =="
cat "$results"
