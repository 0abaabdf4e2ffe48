#!/usr/bin/env bash
# Side-by-side build benchmark (build issue): the same 9-step Dockerfile on a busybox
# image (FROM, ENV, WORKDIR, 3 COPY of distinct 1 MB files, 3 RUN) built by Berth, by
# Docker's legacy builder (DOCKER_BUILDKIT=0) and by BuildKit (DOCKER_BUILDKIT=1),
# cold (image and build cache removed, --no-cache) and fully cached, alternating, RUNS
# rounds each. Prints medians, ratios and the goals (cold <= 0.2 s and >= 5x faster than
# BuildKit; cached <= 20 ms).
#
#   bench/build.sh          # 5 rounds
#   RUNS=9 bench/build.sh
#
# Docker's builds use Debian's docker CLI 20.10 (/usr/bin/docker), which has BuildKit's
# client built in; the newer CLI needs the buildx plugin for BuildKit. Starts its own
# berthd and dockerd (each on a bridge of its own, no iptables or forwarding changes)
# and removes everything on exit. Nothing is pulled: FROM names a local image.
set -euo pipefail
RUNS="${RUNS:-5}"
BENCH_NAME=build
source "$(dirname "$0")/lib.sh"
bench_init

# Docker's client for builds: the one with BuildKit built in.
dcli=/usr/bin/docker
[ -x "$dcli" ] || dcli=docker
dkb() { DOCKER_HOST="unix://$dsock" "$dcli" "$@"; }

# Two /24s no route uses yet, for the two bridges.
free_net() {
  local x
  for x in $(seq 1 250); do
    ip route | grep -q "^10\.$1\.$x\." || { echo "10.$1.$x"; return 0; }
  done
  echo "no free 10.$1.x.0/24" >&2
  return 1
}
suffix=${work##*-}
bnet=$(free_net 251)
dnet=$(free_net 252)
bridges+=("bbr$suffix")
start_berthd --bridge "bbr$suffix" --bip "$bnet.1/24"
make_bridge "dbr$suffix" "$dnet.1/24"
start_dockerd --bridge "dbr$suffix"

scripts/busybox-rootfs.sh "$work/busybox.tar" >/dev/null
berth import "$work/busybox.tar" busybox-bench:latest >/dev/null
[ "$have_docker" = 1 ] && dk import "$work/busybox.tar" busybox-bench:latest >/dev/null

# The context: three distinct 1 MB files and the 9-step Dockerfile.
ctx="$work/ctx"
mkdir -p "$ctx"
for f in a b c; do head -c 1000000 /dev/urandom >"$ctx/$f.bin"; done
cat >"$ctx/Dockerfile" <<'EOF'
FROM busybox-bench:latest
ENV APP_HOME=/app MODE=bench
WORKDIR /app
COPY a.bin /app/a.bin
RUN wc -c a.bin > a.size
COPY b.bin /app/b.bin
RUN cat a.size b.bin | md5sum > b.sum
COPY c.bin /app/c.bin
RUN ls -l /app > listing && echo "$MODE" >> listing
EOF

# cold ENGINE: remove the image and every build cache, then build with --no-cache.
# cached ENGINE: build again, every step from the cache.
b_build() { berth build "$@" -t bench-build "$ctx"; }
d_build() { DOCKER_BUILDKIT=$1 dkb build "${@:2}" -t bench-build "$ctx"; }
b_clear() {
  berth rmi -f bench-build >/dev/null 2>&1 || true
  berth builder prune -af >/dev/null 2>&1 || true
}
d_clear() {
  dkb rmi -f bench-build >/dev/null 2>&1 || true
  dkb builder prune -af >/dev/null 2>&1 || true
  # Legacy builds leave their intermediate images; rmi removes those it tagged as
  # parents, prune removes any left dangling.
  dkb image prune -f >/dev/null 2>&1 || true
}
# Cache hits in a build's output: "Using cache" (legacy, Berth) or "CACHED" (BuildKit).
hits() { grep -cE "Using cache|CACHED" "$work/last.out" || true; }
expect_hits() { # name, want: "none" or "all" (at least the 6 COPY/RUN steps)
  local n
  n=$(hits)
  if [ "$2" = none ] && [ "$n" != 0 ]; then
    echo "$1: $n cache hits in a cold build" >&2; cat "$work/last.out" >&2; return 1
  fi
  if [ "$2" = all ] && [ "$n" -lt 6 ]; then
    echo "$1: only $n cache hits in a cached build" >&2; cat "$work/last.out" >&2; return 1
  fi
}

for e in berth legacy buildkit; do : >"$work/cold-$e.txt"; : >"$work/cached-$e.txt"; done
round() { # engine
  case $1 in
    berth)
      b_clear
      timed b_build --no-cache >>"$work/cold-berth.txt"; expect_hits berth none
      timed b_build >>"$work/cached-berth.txt"; expect_hits berth all ;;
    legacy | buildkit)
      local k=0
      [ "$1" = buildkit ] && k=1
      d_clear
      timed d_build "$k" --no-cache >>"$work/cold-$1.txt"; expect_hits "$1" none
      timed d_build "$k" >>"$work/cached-$1.txt"; expect_hits "$1" all ;;
  esac
}
# One warm-up round each (page cache, first-use costs), not counted.
round berth >/dev/null
[ "$have_docker" = 1 ] && { round legacy >/dev/null; round buildkit >/dev/null; }
for e in berth legacy buildkit; do : >"$work/cold-$e.txt"; : >"$work/cached-$e.txt"; done
for r in $(seq "$RUNS"); do
  round berth
  if [ "$have_docker" = 1 ]; then round legacy; round buildkit; fi
done

# PROFILE=1: 20 more cached Berth builds with berthd under `perf record`, and its top
# functions by self time (where a cached build's daemon time goes).
if [ "${PROFILE:-0}" = 1 ] && command -v perf >/dev/null; then
  perf record -q -F 1999 -g -p "$(cat "$work/berthd.pid")" -o "$work/perf.data" >"$work/perf.log" 2>&1 &
  perf_pid=$!
  sleep 0.5
  : >"$work/cached-profiled.txt"
  for _ in $(seq 20); do timed b_build >>"$work/cached-profiled.txt"; done
  kill -INT "$perf_pid"
  wait "$perf_pid" || true
  echo "== 20 profiled cached berth builds (median $(sort -n "$work/cached-profiled.txt" | sed -n 10p) s); berthd's top functions (self time) =="
  perf report -i "$work/perf.data" --no-children --sort dso,symbol --stdio 2>/dev/null |
    grep -E '^ +[0-9]+\.[0-9]+%' | head -n 25 || true
  # PROFILE_OUT=FILE keeps the recording (for `perf report -i FILE -g`).
  if [ -n "${PROFILE_OUT:-}" ]; then cp "$work/perf.data" "$PROFILE_OUT"; fi
fi

echo
echo "== build: Berth vs Docker (9-step Dockerfile on busybox, 3 x 1 MB COPY, 3 RUN; medians of $RUNS rounds;" \
  "load average $(cut -d' ' -f1-3 /proc/loadavg)) =="
python3 - "$work" "$have_docker" <<'PY'
import statistics, sys
work, have_docker = sys.argv[1], sys.argv[2] == "1"
def med(kind, e):
    return statistics.median(float(l) for l in open(f"{work}/{kind}-{e}.txt") if l.strip())
for kind in ("cold", "cached"):
    b = med(kind, "berth")
    line = f"build {kind:<7}  berth {b * 1000:8.1f} ms"
    if have_docker:
        for e, label in (("legacy", "docker legacy"), ("buildkit", "buildkit")):
            d = med(kind, e)
            line += f"   {label} {d * 1000:8.1f} ms ({d / b:5.1f}x)"
    print(line)
cold, cached = med("cold", "berth"), med("cached", "berth")
print(f"goal: cold build <= 0.2 s: {cold:.3f} s {'met' if cold <= 0.2 else 'NOT met'}")
if have_docker:
    r = med("cold", "buildkit") / cold
    print(f"goal: cold build >= 5x faster than BuildKit: {r:.1f}x {'met' if r >= 5 else 'NOT met'}")
print(f"goal: cached build <= 20 ms: {cached * 1000:.1f} ms {'met' if cached <= 0.02 else 'NOT met'}")
PY
