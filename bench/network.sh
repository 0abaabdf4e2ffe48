#!/usr/bin/env bash
# Network benchmarks, Berth and Docker side by side in the same run:
#   - container-to-container TCP throughput on a user-defined bridge network,
#   - host-to-published-port TCP throughput (127.0.0.1:PORT -> container:5001),
#   - what a bridge adds to `run --rm busybox true` (default network vs --network none).
#
#   bench/network.sh            # MB=1000 RUNS=5 by default
#   MB=2000 RUNS=9 bench/network.sh
#
# Everything stays on this machine: the traffic goes between containers on bridges the
# script's own daemons create, or from the host to 127.0.0.1. Both daemons run on
# private sockets, data and exec roots, and are removed on exit with their bridges.
set -euo pipefail
cd "$(dirname "$0")/.."
MB="${MB:-1000}"
RUNS="${RUNS:-5}"
scripts/deps.sh bench
bin=$(scripts/build-release.sh)

work=$(mktemp -d /tmp/berth-netbench-XXXX)
bsock="$work/berth.sock"
dsock="$work/docker.sock"
had_docker0=0
ip link show docker0 >/dev/null 2>&1 && had_docker0=1
# A bridge name and subnet of our own, so the run never touches another daemon's.
bbridge="bnb$$"
bbridge="${bbridge:0:15}"

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
    "$bin/berth" -H "unix://$bsock" rm -f $("$bin/berth" -H "unix://$bsock" ps -aq) >/dev/null 2>&1
    "$bin/berth" -H "unix://$bsock" network rm nb >/dev/null 2>&1
    kill "$(cat "$work/berthd.pid")" 2>/dev/null
  fi
  if [ -f "$work/dockerd.pid" ]; then
    DOCKER_HOST="unix://$dsock" docker rm -f $(DOCKER_HOST="unix://$dsock" docker ps -aq) >/dev/null 2>&1
    DOCKER_HOST="unix://$dsock" docker network rm nb >/dev/null 2>&1
    dpid=$(cat "$work/dockerd.pid")
    kill -TERM "$dpid" 2>/dev/null
    for _ in $(seq 150); do kill -0 "$dpid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$dpid" 2>/dev/null
  fi
  sleep 0.3
  for p in $(ours); do kill -KILL "$p" 2>/dev/null; done
  grep -o " $work[^ ]*" /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null
  for c in /sys/fs/cgroup/*/berth-netbench /sys/fs/cgroup/*/docker-netbench; do
    [ -d "$c" ] && find "$c" -depth -type d -exec rmdir {} + 2>/dev/null
  done
  ip link del "$bbridge" 2>/dev/null
  if [ "$had_docker0" = 0 ] && ip link show docker0 >/dev/null 2>&1; then
    ip link del docker0 2>/dev/null
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

scripts/busybox-rootfs.sh "$work/busybox.tar" >/dev/null

echo '{}' >"$work/none.json"
"$bin/berthd" -H "unix://$bsock" --data-root "$work/data" --exec-root "$work/run" \
  --cgroup-parent berth-netbench --config-file "$work/none.json" \
  --bridge "$bbridge" --bip 10.231.0.1/24 >"$work/berthd.log" 2>&1 &
echo $! >"$work/berthd.pid"
B() { "$bin/berth" -H "unix://$bsock" "$@"; }
for _ in $(seq 100); do B version >/dev/null 2>&1 && break; sleep 0.05; done
B import "$work/busybox.tar" busybox >/dev/null

have_docker=0
if command -v dockerd >/dev/null; then
  dockerd --data-root "$work/docker" --exec-root "$work/dexec" -H "unix://$dsock" \
    --pidfile "$work/dockerd.pid" --cgroup-parent docker-netbench \
    --bip 10.232.0.1/24 --iptables=false --ip-forward=false >"$work/dockerd.log" 2>&1 &
  for _ in $(seq 200); do DOCKER_HOST="unix://$dsock" docker version >/dev/null 2>&1 && { have_docker=1; break; }; sleep 0.1; done
fi
D() { DOCKER_HOST="unix://$dsock" docker "$@"; }
[ "$have_docker" = 1 ] && D import "$work/busybox.tar" busybox >/dev/null

# One transfer: a sink container counts what it receives (its `nc -l` keeps its stdin
# open, or it would close at once), a source sends $MB MiB and times itself with
# /proc/uptime (busybox has no sub-second `date`; MB is large enough for 10 ms ticks).
# Prints MB/s, or nan when the sink did not receive every byte.
bytes=$((MB * 1048576))
sink() { # cli, extra run flags...
  local cli=$1
  shift
  $cli rm -f nb-sink >/dev/null 2>&1 || true
  $cli run -d --name nb-sink "$@" busybox sh -c 'sleep 600 | nc -l -p 5001 | wc -c; sleep 600' >/dev/null
  sleep 0.3
}
sink_check() { # cli, MB/s from the source
  local cli=$1 rate=$2 got=""
  for _ in $(seq 100); do
    got=$($cli logs nb-sink 2>&1 | tr -d ' \r\n')
    [ -n "$got" ] && break
    sleep 0.1
  done
  $cli rm -f nb-sink >/dev/null
  if [ "$got" = "$bytes" ]; then echo "$rate"; else echo "sink got ${got:-nothing}, want $bytes" >&2; echo nan; fi
}
c2c() { # cli: B or D
  local cli=$1 rate
  sink "$cli" --network nb
  rate=$($cli run --rm --network nb busybox sh -c "
    s=\$(cut -d' ' -f1 /proc/uptime)
    dd if=/dev/zero bs=1M count=$MB 2>/dev/null | nc nb-sink 5001
    e=\$(cut -d' ' -f1 /proc/uptime)
    awk -v s=\$s -v e=\$e 'BEGIN { printf \"%.0f\\n\", $bytes / 1e6 / (e - s) }'" 2>&1 | tail -n1)
  sink_check "$cli" "$rate"
}
host2port() { # cli, host port
  local cli=$1 port=$2 t0 t1
  sink "$cli" -p "127.0.0.1:$port:5001"
  t0=$(date +%s.%N)
  dd if=/dev/zero bs=1M count="$MB" 2>/dev/null | timeout 60 busybox nc 127.0.0.1 "$port" >/dev/null 2>&1 || true
  t1=$(date +%s.%N)
  sink_check "$cli" "$(awk -v a="$t0" -v b="$t1" -v n="$bytes" 'BEGIN { printf "%.0f", n / 1e6 / (b - a) }')"
}
median() { python3 -c 'import statistics, sys; v = [float(x) for x in sys.argv[1:] if x != "nan"]; print(f"{statistics.median(v):.0f}" if v else "nan")' "$@"; }

B network create nb >/dev/null
[ "$have_docker" = 1 ] && D network create nb >/dev/null

results="$work/results.txt"
: >"$results"
for test in c2c host2port; do
  b=() d=()
  for i in $(seq "$RUNS"); do
    if [ "$test" = c2c ]; then
      b+=("$(c2c B)")
      [ "$have_docker" = 1 ] && d+=("$(c2c D)")
    else
      b+=("$(host2port B $((18400 + i)))")
      [ "$have_docker" = 1 ] && d+=("$(host2port D $((18500 + i)))")
    fi
  done
  line=$(printf '%-34s berth %6s MB/s' "$test throughput ($MB MiB)" "$(median "${b[@]}")")
  if [ "$have_docker" = 1 ]; then
    dm=$(median "${d[@]}")
    line+=$(printf '   docker %6s MB/s   berth/docker = %s' "$dm" \
      "$(python3 -c 'import sys; b, d = map(float, sys.argv[1:]); print(f"{b / d:.2f}x")' "$(median "${b[@]}")" "$dm")")
  fi
  echo "$line" >>"$results"
done

# What the bridge adds to a container's start and removal.
hf=(-N --warmup 3 --runs 20 --export-json "$work/bridge.json"
  -n berth-bridge "$bin/berth -H unix://$bsock run --rm busybox true"
  -n berth-none "$bin/berth -H unix://$bsock run --rm --network none busybox true")
[ "$have_docker" = 1 ] && hf+=(-n docker-bridge "docker -H unix://$dsock run --rm busybox true")
hyperfine "${hf[@]}" >/dev/null
python3 - "$work/bridge.json" >>"$results" <<'PY'
import json, sys
r = {x["command"]: x["median"] * 1000 for x in json.load(open(sys.argv[1]))["results"]}
line = f"run --rm true: bridge {r['berth-bridge']:.1f} ms, none {r['berth-none']:.1f} ms, bridge cost {r['berth-bridge'] - r['berth-none']:.1f} ms"
if "docker-bridge" in r:
    line += f"   docker bridge {r['docker-bridge']:.1f} ms ({r['docker-bridge'] / r['berth-bridge']:.1f}x)"
print(line)
PY

echo
echo "== Network: Berth vs Docker (medians of $RUNS runs; load average $(cut -d' ' -f1-3 /proc/loadavg)) =="
cat "$results"
