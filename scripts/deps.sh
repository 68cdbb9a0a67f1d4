#!/usr/bin/env bash
# Installs every Debian 12 package the project needs to build, test and run.
# Idempotent: when everything is already installed it only checks and returns (well under 1 s).
# Usage: scripts/deps.sh [--with-fuzz] [--with-bench]   (root, or sudo available)
set -euo pipefail

packages=(
  # build
  g++ cmake ninja-build pkg-config make
  # libraries (DESIGN.md "Dependencies")
  libuv1-dev node-llhttp libsimdjson-dev libfmt-dev libcli11-dev libmsgpack-cxx-dev
  librdkafka-dev catch2
  # run and end-to-end tests
  haproxy curl python3 procps
  # static checks of the Helm chart (test/deploy)
  yamllint
)
if [[ " $* " == *" --with-fuzz "* ]]; then
  # libFuzzer and the sanitizer runtimes come with clang's runtime package
  packages+=(clang libclang-rt-14-dev)
fi
if [[ " $* " == *" --with-bench "* ]]; then
  # bench/: Google Benchmark, wrk, callgrind, and Node.js for the seed stand-in
  packages+=(libbenchmark-dev wrk valgrind nodejs)
fi

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "installed" ]] || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  exit 0
fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "deps.sh: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  SUDO=sudo
fi
echo "deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts the haproxy service on install where it can; the project runs its own.
if [[ " ${missing[*]} " == *" haproxy "* ]] && command -v systemctl >/dev/null && systemctl is-active -q haproxy 2>/dev/null; then
  $SUDO systemctl stop haproxy || true
fi
echo "deps.sh: done" >&2
