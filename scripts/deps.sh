#!/usr/bin/env bash
# Installs every Debian 12 package the project needs to build, test and run.
# Idempotent: when everything is already installed it only checks and returns (well under 1 s).
# Usage: scripts/deps.sh [--with-fuzz] [--with-bench] [--with-ui]   (root, or sudo available)
#   --with-ui: the browser tests of the web viewer (test/ui): Debian's chromium and Node.js,
#   and playwright-core from npm into .hep/node (git-ignored; it drives the system chromium,
#   no browser is downloaded).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
playwright_version=1.65.1

packages=(
  # build
  g++ cmake ninja-build pkg-config make
  # libraries (DESIGN.md "Dependencies")
  libuv1-dev node-llhttp libsimdjson-dev libfmt-dev libcli11-dev libmsgpack-cxx-dev
  librdkafka-dev catch2
  # the replay subcommand's HTTP client
  libcurl4-openssl-dev
  # run and end-to-end tests
  haproxy curl python3 procps
  # replay's https end-to-end test makes a self-signed certificate
  openssl
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

with_ui=""
if [[ " $* " == *" --with-ui "* ]]; then
  packages+=(chromium fonts-dejavu-core nodejs)
  with_ui=1
fi

# playwright-core into .hep/node, once per version. Debian's own nodejs comes without npm,
# which is then a package of its own; NodeSource's nodejs has it built in.
install_playwright() {
  [[ -n "$with_ui" ]] || return 0
  local dir=$root/.hep/node
  if grep -qs "\"version\": \"$playwright_version\"" "$dir/node_modules/playwright-core/package.json"; then
    return 0
  fi
  if ! command -v npm >/dev/null; then
    $SUDO apt-get install -y -qq --no-install-recommends npm >/dev/null
  fi
  local major
  major=$(node -p 'process.versions.node.split(".")[0]')
  if ((major < 20)); then
    echo "deps.sh: playwright-core $playwright_version needs Node.js 20 or newer (have $(node --version))" >&2
    exit 1
  fi
  echo "deps.sh: npm install playwright-core@$playwright_version into $dir" >&2
  mkdir -p "$dir"
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --prefix "$dir" --no-save --no-audit --no-fund \
    --loglevel=error "playwright-core@$playwright_version" >&2
}

SUDO=""
if [[ $(id -u) -ne 0 ]] && command -v sudo >/dev/null; then
  SUDO=sudo
fi

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "installed" ]] || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  install_playwright
  exit 0
fi

if [[ $(id -u) -ne 0 && -z "$SUDO" ]]; then
  echo "deps.sh: need root (or sudo) to install: ${missing[*]}" >&2
  exit 1
fi
echo "deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts the haproxy service on install where it can; the project runs its own.
if [[ " ${missing[*]} " == *" haproxy "* ]] && command -v systemctl >/dev/null && systemctl is-active -q haproxy 2>/dev/null; then
  $SUDO systemctl stop haproxy || true
fi
install_playwright
echo "deps.sh: done" >&2
