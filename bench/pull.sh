#!/usr/bin/env bash
# Side-by-side pull benchmark (image issue): Berth and Docker pull the same 6-layer
# Debian-based image (~311 MB unpacked like the issue's ~314 MB reference; ~209 MB as
# `berth push` gzips it at the fast level, the reference is ~172 MB) from a private
# docker-registry on 127.0.0.1, alternating, RUNS rounds; before each pull the image is
# removed so every layer is downloaded and unpacked again. Prints medians, berth/docker,
# the goal (<= 1.5 s and >= 4x Docker) and the layer unpack throughput of both engines
# (unpacked bytes / time from the first layer byte to the last layer unpacked, from
# timed progress messages: see bench/pullstream.py; Docker's also over its unpack
# phases alone).
#
#   bench/pull.sh                 # 5 rounds
#   RUNS=9 bench/pull.sh
#   PROFILE=1 bench/pull.sh       # and one more Berth pull under `perf record`
#   BENCH_FS=root bench/pull.sh   # data roots on /tmp's own file system
#
# By default both engines keep their data on a fresh journaled ext4 (a loop image, see
# bench_init): on a root file system without a journal, ext4 skips the inodes freed in
# the last minutes when it allocates new ones, and each round's `rmi` would slow the
# next round's unpack several-fold, more with every round. The loop device does direct
# I/O to its image, as a disk does: a buffered one copies every block a second time
# into the image file's page cache, CPU time that a pull which syncs (Berth) pays
# within its time and one that does not (Docker's overlay2) pays after it.
#
# The base layer is `debootstrap --variant=minbase bookworm` (from the Debian mirror apt
# uses, package lists and .debs removed), cached with the data layers under BENCH_CACHE
# (default /var/cache/berth-bench) so re-runs skip it. The image is built and pushed
# with our own tools (berth import, berth build with 5 COPY layers, berth push). Starts
# its own berthd, dockerd and registry on private sockets, ports and dirs, and removes
# everything on exit.
set -euo pipefail
RUNS="${RUNS:-5}"
BENCH_NAME=pull
BENCH_FS="${BENCH_FS:-ext4}"
source "$(dirname "$0")/lib.sh"
bench_init
cache="${BENCH_CACHE:-/var/cache/berth-bench}"
mkdir -p "$cache"

# Base layer: Debian bookworm minbase, cached as a tar.
base="$cache/bookworm-minbase.tar"
if [ ! -s "$base" ]; then
  echo "debootstrap bookworm (once, cached in $base)..." >&2
  mkdir -p "$work/rootfs"
  debootstrap --variant=minbase bookworm "$work/rootfs" http://deb.debian.org/debian >"$work/debootstrap.log" 2>&1 ||
    { tail -n 20 "$work/debootstrap.log" >&2; exit 1; }
  # What Debian's own images leave out: package lists and downloaded .debs.
  rm -rf "$work/rootfs"/var/lib/apt/lists/* "$work/rootfs"/var/cache/apt/archives/*.deb
  tar -C "$work/rootfs" --numeric-owner -cf "$base.tmp" .
  mv "$base.tmp" "$base"
  rm -rf "$work/rootfs"
fi

# Five data layers, each 4 x 5 MB of random (incompressible) bytes and 190 x 100 kB of
# word text (gzip ~4:1), from a fixed seed: ~39 MB unpacked, ~25 MB gzip per layer.
data="$cache/pull-data-v1"
if [ ! -f "$data/.done" ]; then
  rm -rf "$data"
  python3 - "$data" <<'PY'
import os, random, sys
root = sys.argv[1]
rng = random.Random(20261122)
words = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 9)))
         for _ in range(512)]
for layer in range(1, 6):
    d = os.path.join(root, f"layer{layer}")
    os.makedirs(os.path.join(d, "text"))
    for i in range(4):
        with open(os.path.join(d, f"blob{i}.bin"), "wb") as f:
            f.write(rng.randbytes(5 * 1000 * 1000))
    for i in range(190):
        out, n = [], 0
        while n < 100_000:
            w = " ".join(rng.choices(words, k=12)) + "\n"
            out.append(w)
            n += len(w)
        with open(os.path.join(d, "text", f"{i:03}.txt"), "w") as f:
            f.write("".join(out)[:100_000])
PY
  touch "$data/.done"
fi

start_registry
start_berthd --bridge none
# No bridge at all for dockerd: a pull needs none, and no docker0 is created.
start_dockerd --bridge none --insecure-registry "$reg"
ref="$reg/bench/pull:latest"

# Build and push with our own tools: import the rootfs, then one COPY per data layer.
berth import "$base" bench-base:latest >/dev/null
mkdir -p "$work/ctx"
cp -a "$data"/layer{1..5} "$work/ctx/"
{
  echo "FROM bench-base:latest"
  for l in 1 2 3 4 5; do echo "COPY layer$l /data/layer$l"; done
} >"$work/ctx/Dockerfile"
berth build -q -t "$ref" "$work/ctx" >/dev/null
berth push -q "$ref" >/dev/null
rm -rf "$work/ctx"
# Nothing of it may stay in Berth's store: the pulls must fetch every layer.
berth rmi -f "$ref" bench-base:latest >/dev/null
berth builder prune -af >/dev/null 2>&1 || true
berth image prune -af >/dev/null 2>&1 || true

# Registry-side sizes, from the pushed manifest.
sizes=$(python3 - "$reg" <<'PY'
import json, sys, urllib.request
reg = sys.argv[1]
req = urllib.request.Request(f"http://{reg}/v2/bench/pull/manifests/latest",
    headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"})
m = json.load(urllib.request.urlopen(req))
print(len(m["layers"]), sum(l["size"] for l in m["layers"]))
PY
)
read -r nlayers gz_bytes <<<"$sizes"

# Make sure an engine holds nothing of the image (layers really gone).
berth_clear() {
  berth rmi -f "$ref" >/dev/null 2>&1 || true
  berth image prune -af >/dev/null 2>&1 || true
  [ -z "$(berth images -q)" ] || { echo "berth still has images" >&2; return 1; }
}
docker_clear() {
  dk rmi -f "$ref" >/dev/null 2>&1 || true
  dk image prune -af >/dev/null 2>&1 || true
  [ -z "$(dk images -q)" ] || { echo "docker still has images" >&2; return 1; }
}
# The pull must have fetched and unpacked every layer ("Already exists" = not cold).
check_cold() {
  if grep -q "Already exists" "$work/last.out"; then
    echo "$1: a layer was already there; not a cold pull" >&2
    return 1
  fi
}

: >"$work/pull-berth.txt"
: >"$work/pull-docker.txt"
: >"$work/unpack-berth.txt"
: >"$work/unpack-docker.txt"
: >"$work/cpu-berth.txt"
# Each round: the CLIs' `pull`, timed (the headline numbers); then the same pull through
# the API with each progress message timed on arrival, for the unpack time
# (bench/pullstream.py explains the arithmetic). Interleaved, so both see the same load.
# CPU seconds a process has used so far (user + system, all threads).
cpu_s() { awk '{ printf "%.2f", ($14 + $15) / 100 }' "/proc/$1/stat"; }
for r in $(seq "$RUNS"); do
  berth_clear
  b0=$(cpu_s "$(cat "$work/berthd.pid")") r0=$(cpu_s "$(cat "$work/registry.pid")")
  timed berth pull "$ref" >>"$work/pull-berth.txt"
  echo "$(cpu_s "$(cat "$work/berthd.pid")") $b0 $(cpu_s "$(cat "$work/registry.pid")") $r0" |
    awk '{ print $1 - $2, $3 - $4 }' >>"$work/cpu-berth.txt"
  check_cold berth
  if [ "$have_docker" = 1 ]; then
    docker_clear
    timed dk pull "$ref" >>"$work/pull-docker.txt"
    check_cold docker
  fi
  berth_clear
  python3 bench/pullstream.py "$bsock" "$reg/bench/pull" latest >>"$work/unpack-berth.txt"
  if [ "$have_docker" = 1 ]; then
    docker_clear
    python3 bench/pullstream.py "$dsock" "$reg/bench/pull" latest >>"$work/unpack-docker.txt"
  fi
done
unpacked=$(berth image inspect -f '{{.Size}}' "$ref")
[ "$have_docker" = 1 ] && dunpacked=$(dk image inspect -f '{{.Size}}' "$ref")

# PROFILE=1: one more cold Berth pull under `perf record` (berthd's threads, call
# graphs), and the top functions by self time.
if [ "${PROFILE:-0}" = 1 ] && command -v perf >/dev/null; then
  berth_clear
  perf record -q -F 999 -g -p "$(cat "$work/berthd.pid")" -o "$work/perf.data" >"$work/perf.log" 2>&1 &
  perf_pid=$!
  sleep 0.5
  timed berth pull "$ref" >"$work/pull-profiled.txt"
  kill -INT "$perf_pid"
  wait "$perf_pid" || true
  echo "== profiled berth pull: $(cat "$work/pull-profiled.txt") s; berthd's top functions (self time) =="
  perf report -i "$work/perf.data" --no-children --sort dso,symbol --stdio 2>/dev/null |
    grep -E '^ +[0-9]+\.[0-9]+%' | head -n 30 || true
  # PROFILE_OUT=FILE keeps the recording (for `perf report -i FILE -g`).
  if [ -n "${PROFILE_OUT:-}" ]; then cp "$work/perf.data" "$PROFILE_OUT"; fi
fi

echo
echo "== pull: Berth vs Docker ($nlayers layers, $((gz_bytes / 1000000)) MB gzip, $((unpacked / 1000000)) MB unpacked;" \
  "medians of $RUNS rounds from a registry on 127.0.0.1; load average $(cut -d' ' -f1-3 /proc/loadavg)) =="
python3 - "$work" "$have_docker" "$unpacked" "${dunpacked:-0}" <<'PY'
import statistics, sys
work, have_docker, ub, ud = sys.argv[1], sys.argv[2] == "1", int(sys.argv[3]), int(sys.argv[4])
def col(name, i=0):
    return [float(l.split()[i]) for l in open(f"{work}/{name}.txt") if l.strip()]
b = statistics.median(col("pull-berth"))
line = f"pull (cold, all layers)      berth {b:6.2f} s (min {min(col('pull-berth')):.2f})"
if have_docker:
    d = statistics.median(col("pull-docker"))
    line += f"   docker {d:6.2f} s (min {min(col('pull-docker')):.2f})   berth/docker = {b / d:.2f} (docker/berth = {d / b:.1f}x)"
print(line)
at = statistics.median(col("unpack-berth"))
line = f"pull via the API (timed)     berth {at:6.2f} s"
if have_docker:
    adt = statistics.median(col("unpack-docker"))
    line += f"              docker {adt:6.2f} s"
print(line)
# Unpack throughput over the whole window from the first layer byte to the last layer
# in (comparable whether or not an engine unpacks while it downloads); Docker's also
# over its unpack phases alone, as it is usually quoted.
ft = statistics.median(col("unpack-berth", 3))
line = f"layer unpack throughput      berth {ub / 1e6 / ft:6.0f} MB/s ({ft:.2f} s, download included)"
if have_docker:
    dft = statistics.median(col("unpack-docker", 3))
    dt = statistics.median(col("unpack-docker", 1))
    line += (f"   docker {ud / 1e6 / dft:6.0f} MB/s ({dft:.2f} s, download included;"
             f" {ud / 1e6 / dt:.0f} MB/s over its unpack phases alone)")
print(line)
print(f"CPU per Berth pull           berthd {statistics.median(col('cpu-berth')):.2f} s, "
      f"registry {statistics.median(col('cpu-berth', 1)):.2f} s (medians)")
print(f"goal: pull <= 1.5 s: {b:.2f} s {'met' if b <= 1.5 else 'NOT met'}")
if have_docker:
    print(f"goal: pull >= 4x faster than docker: {d / b:.1f}x {'met' if d / b >= 4 else 'NOT met'}")
PY
