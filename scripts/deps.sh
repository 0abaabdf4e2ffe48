#!/usr/bin/env bash
# Installs the Debian packages Berth needs. `deps.sh build` for building and running
# (libc6-dev and libseccomp-dev also give the static archives of the release build),
# `deps.sh test` adds what the test suite uses, `deps.sh bench` adds docker.io,
# hyperfine and debootstrap (bench/pull.sh's base image) for side-by-side benchmarks.
# Idempotent: skips apt when all are present.
set -euo pipefail
build=(pkg-config libc6-dev libseccomp-dev iproute2 iptables ca-certificates)
test=(busybox-static procps jq docker-registry apache2-utils openssl rsyslog docker-compose zstd curl skopeo)
bench=(docker.io hyperfine debootstrap)
want=("${build[@]}")
case "${1:-build}" in
  build) ;;
  test) want+=("${test[@]}") ;;
  bench) want+=("${test[@]}" "${bench[@]}") ;;
  *) echo "usage: $0 build|test|bench" >&2; exit 2 ;;
esac
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  echo "installing: ${missing[*]}" >&2
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# docker-py, for the compatibility tests (a client that pins older API versions).
if [ "${1:-build}" != build ] && command -v python3 >/dev/null && ! python3 -c 'import docker' 2>/dev/null; then
  python3 -m pip install -q docker >/dev/null 2>&1 || echo "warning: could not install docker-py" >&2
fi
# prometheus_client's text parser, for the metrics scrape test (tests/e2e/tests/ops.rs).
if [ "${1:-build}" != build ] && command -v python3 >/dev/null && ! python3 -c 'import prometheus_client' 2>/dev/null; then
  python3 -m pip install -q prometheus_client >/dev/null 2>&1 || echo "warning: could not install prometheus_client" >&2
fi
