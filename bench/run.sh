#!/usr/bin/env bash
# Side-by-side benchmarks: Berth and Docker on the same machine, in the same run
# (hyperfine), medians and ratios printed at the end, with the goals of the foundation
# issue: `run --rm busybox true` at least 25x faster than Docker's, and at most 15 ms
# with `--network none`; and log throughput (write 100 MB of stdout, read it back with
# `logs`) against the operations issue's goals, 20x and 50x Docker's.
#
#   bench/run.sh            # all benchmarks
#   RUNS=50 bench/run.sh    # more runs per command (default 30)
#
# Starts its own berthd and dockerd on private sockets, data and exec roots and removes
# everything on exit, even on failure or Ctrl-C: both daemons, containerd and its
# shims, mounts, cgroups, berthd's bridge and docker0. Both daemons run with
# --iptables=false and --ip-forward=false so they leave the host's firewall and
# forwarding alone (neither touches the per-container path of `run --rm true`: no ports
# are published). No container traffic leaves the machine: the benchmarks run `true`.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${RUNS:-30}"
scripts/deps.sh bench
bin=$(scripts/build-release.sh)

work=$(mktemp -d /tmp/berth-bench-XXXX)
bsock="$work/berth.sock"
dsock="$work/docker.sock"
had_docker0=0
ip link show docker0 >/dev/null 2>&1 && had_docker0=1

# Pids of processes whose command line mentions our work dir (containerd and its
# shims, started by our dockerd with paths under it).
ours() {
  local p
  for p in /proc/[0-9]*; do
    tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -qF -- "$work/" && echo "${p#/proc/}"
  done
  return 0
}

cleanup() {
  set +e
  if [ -f "$work/berthd.pid" ]; then
    "$bin/berth" -H "unix://$bsock" rm -f bench-exec bench-mem >/dev/null 2>&1
    kill "$(cat "$work/berthd.pid")" 2>/dev/null
  fi
  if [ -f "$work/dockerd.pid" ]; then
    DOCKER_HOST="unix://$dsock" docker rm -f bench-exec bench-mem >/dev/null 2>&1
    dpid=$(cat "$work/dockerd.pid")
    kill -TERM "$dpid" 2>/dev/null
    for _ in $(seq 150); do kill -0 "$dpid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$dpid" 2>/dev/null
  fi
  sleep 0.2
  for p in $(ours); do kill -KILL "$p" 2>/dev/null; done
  for f in "$work"/run/c/*/shim.pid "$work"/run/c/*/init.pid; do
    [ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null
  done
  grep -o " $work[^ ]*" /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null
  for c in /sys/fs/cgroup/*/berth-bench /sys/fs/cgroup/*/docker-bench; do
    [ -d "$c" ] && find "$c" -depth -type d -exec rmdir {} + 2>/dev/null
  done
  [ -n "${bbridge:-}" ] && ip link del "$bbridge" 2>/dev/null
  # dockerd leaves its bridge behind; remove it only if it was not there before.
  if [ "$had_docker0" = 0 ] && ip link show docker0 >/dev/null 2>&1; then
    ip link del docker0 2>/dev/null
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

scripts/busybox-rootfs.sh "$work/busybox.tar" >/dev/null

# Exec roots on tmpfs, as /run is on a host (both engines keep sockets, pid files and
# exit records there).
for d in "$work/run" "$work/dexec"; do
  mkdir -p "$d"
  mount -t tmpfs -o mode=0711 tmpfs "$d"
done

# Berth.
echo '{}' >"$work/none.json"
# Its own bridge, and like dockerd below no firewall or forwarding changes: no NAT
# rule may let a container out, and nothing is left behind.
bbridge="brun${work##*-}"
"$bin/berthd" -H "unix://$bsock" --data-root "$work/data" --exec-root "$work/run" \
  --cgroup-parent berth-bench --config-file "$work/none.json" \
  --bridge "$bbridge" --bip 10.231.251.1/24 --iptables=false --ip-forward=false \
  >"$work/berthd.log" 2>&1 &
echo $! >"$work/berthd.pid"
berth() { "$bin/berth" -H "unix://$bsock" "$@"; }
for _ in $(seq 100); do berth version >/dev/null 2>&1 && break; sleep 0.05; done
berth import "$work/busybox.tar" busybox >/dev/null

# Docker (dockerd from Debian's docker.io), when it can run here.
have_docker=0
if command -v dockerd >/dev/null; then
  dockerd --data-root "$work/docker" --exec-root "$work/dexec" -H "unix://$dsock" \
    --pidfile "$work/dockerd.pid" --cgroup-parent docker-bench \
    --iptables=false --ip-forward=false >"$work/dockerd.log" 2>&1 &
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
line = f"{sys.argv[2]:<28} berth {b:7.1f} ms (min {r['berth']['min'] * 1000:5.1f})"
if "docker" in r:
    d = r["docker"]["median"] * 1000
    line += f"   docker {d:7.1f} ms   docker/berth = {d / b:5.1f}x"
print(line)
PY
}

B="$bin/berth -H unix://$bsock"
D="docker -H unix://$dsock"
compare run-rm-true "$B run --rm busybox true" "$D run --rm busybox true"
compare run-rm-true-net-none "$B run --rm --network none busybox true" "$D run --rm --network none busybox true"
berth run -d --name bench-exec busybox sleep 100000 >/dev/null
[ "$have_docker" = 1 ] && dk run -d --name bench-exec busybox sleep 100000 >/dev/null
compare exec-true "$B exec bench-exec true" "$D exec bench-exec true"

# Memory: private memory of one shim (Berth) vs one containerd shim (Docker), with a
# second container running, so the code that every shim maps counts once, as shared,
# and not in each container (what one more container costs).
berth run -d --name bench-mem busybox sleep 100000 >/dev/null
[ "$have_docker" = 1 ] && dk run -d --name bench-mem busybox sleep 100000 >/dev/null
pss() { awk '/^Private_(Clean|Dirty)/ {s += $2} END {print s}' "/proc/$1/smaps_rollup"; }
shims=("$work"/run/c/*/shim.pid)
bshim=$(cat "${shims[0]}")
mem="memory per container         berth-shim $(pss "$bshim") kB private"
if [ "$have_docker" = 1 ]; then
  dshim=""
  for p in $(ours); do
    grep -q containerd-shim "/proc/$p/comm" 2>/dev/null && { dshim=$p; break; }
  done
  [ -n "$dshim" ] && mem+="   containerd-shim $(pss "$dshim") kB private"
fi
echo "$mem" >>"$results"
echo "daemon idle RSS              berthd $(awk '/VmRSS/ {print $2}' /proc/"$(cat "$work/berthd.pid")"/status) kB" \
  "$( [ "$have_docker" = 1 ] && echo "  dockerd $(awk '/VmRSS/ {print $2}' /proc/"$(cat "$work/dockerd.pid")"/status) kB")" >>"$results"

# Log throughput (operations issue): a container writes LOG_MB of stdout (100-byte
# lines) through the default json-file driver, then `logs` reads it all back.
#
# The producer is the same for both engines and costs next to nothing: the lines are
# made once on the host (not timed) and bind-mounted read-only into the container,
# which only runs `cat`. (A producer such as `yes | head -c` inside the container
# takes most of a second by itself here and would measure busybox, not the logging.)
#
# Write = from `run -d` until `wait` returns: container start, every byte through the
# engine's stdout pipe into the json-file log, the exit recorded. Read = `logs` of the
# exited container piped into `wc -c`: the engine reads and decodes the file, frames
# the records, the CLI demultiplexes them and writes them to the pipe; the byte count
# must be exactly LOG_MB MiB. Between the two, untimed, `sync`: the kernel is still
# writing the log just made to disk in the background, and on a 2-core machine that
# flush would otherwise land in the read figure (either engine's). LOG_RUNS rounds,
# alternating berth and docker, medians reported.
LOG_MB="${LOG_MB:-100}"
LOG_RUNS="${LOG_RUNS:-5}"
log_bytes=$((LOG_MB * 1024 * 1024))
log_line=$(printf 'x%.0s' $(seq 99))
# (`yes` ends on SIGPIPE, which pipefail would take for a failure.)
{ yes "$log_line" || true; } | head -c "$log_bytes" >"$work/lines.txt"
log_round() { # engine-function name, round
  local cli=$1 n=$2 t0 t1 t1r t2 got
  t0=$(date +%s.%N)
  $cli run -d --name "logbench$n" -v "$work/lines.txt:/lines.txt:ro" busybox cat /lines.txt >/dev/null
  $cli wait "logbench$n" >/dev/null
  t1=$(date +%s.%N)
  sync
  t1r=$(date +%s.%N)
  got=$($cli logs "logbench$n" | wc -c)
  t2=$(date +%s.%N)
  $cli rm -f "logbench$n" >/dev/null
  [ "$got" = "$log_bytes" ] || { echo "logs gave $got bytes, want $log_bytes" >&2; return 1; }
  echo "$t0 $t1 $t1r $t2" | awk '{printf "%.3f %.3f\n", $2 - $1, $4 - $3}'
}
: >"$work/logs-berth.txt"
: >"$work/logs-docker.txt"
for r in $(seq "$LOG_RUNS"); do
  log_round berth "$r" >>"$work/logs-berth.txt"
  [ "$have_docker" = 1 ] && log_round dk "$r" >>"$work/logs-docker.txt"
done
python3 - "$work" "$LOG_MB" "$have_docker" >>"$results" <<'PY'
import statistics, sys
work, mb, have_docker = sys.argv[1], float(sys.argv[2]), sys.argv[3] == "1"
def med(name):
    rows = [tuple(map(float, l.split())) for l in open(f"{work}/logs-{name}.txt") if l.strip()]
    return statistics.median(r[0] for r in rows), statistics.median(r[1] for r in rows)
bw, br = med("berth")
line = f"log write {mb:.0f} MB            berth {mb / bw:7.1f} MB/s ({bw:.2f} s)"
rline = f"log read back ({mb:.0f} MB)       berth {mb / br:7.1f} MB/s ({br:.2f} s)"
if have_docker:
    dw, dr = med("docker")
    line += f"   docker {mb / dw:7.1f} MB/s ({dw:.2f} s)   berth/docker = {dw / bw:5.1f}x"
    rline += f"   docker {mb / dr:7.1f} MB/s ({dr:.2f} s)   berth/docker = {dr / br:5.1f}x"
print(line)
print(rline)
if have_docker:
    print(f"goal: log write >= 20x docker: {dw / bw:.1f}x {'met' if dw / bw >= 20 else 'NOT met'}")
    print(f"goal: log read >= 50x docker: {dr / br:.1f}x {'met' if dr / br >= 50 else 'NOT met'}")
PY

# The issue's goals, from the medians above.
python3 - "$work" "$have_docker" >>"$results" <<'PY'
import json, sys
work, have_docker = sys.argv[1], sys.argv[2] == "1"
med = lambda n, c: {x["command"]: x for x in json.load(open(f"{work}/{n}.json"))["results"]}[c]["median"] * 1000
none = med("run-rm-true-net-none", "berth")
print(f"goal: run --rm --network none <= 15 ms: {none:.1f} ms {'met' if none <= 15 else 'NOT met'}")
if have_docker:
    ratio = med("run-rm-true", "docker") / med("run-rm-true", "berth")
    print(f"goal: run --rm true >= 25x faster than docker: {ratio:.1f}x {'met' if ratio >= 25 else 'NOT met'}")
PY

echo
echo "== Berth vs Docker (medians of $RUNS runs, same machine, same run; load average $(cut -d' ' -f1-3 /proc/loadavg)) =="
cat "$results"
