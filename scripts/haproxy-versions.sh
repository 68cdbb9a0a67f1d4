#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# haproxy-versions.sh - newer HAProxy versions for the compatibility tests, without touching
# the system (Debian 12 stays on bookworm; nothing is installed over it).
#
#   scripts/haproxy-versions.sh fetch [VERSION...]   # default: 3.0 3.2 3.4; prints one
#                                                    #   "<version> <wrapper>" line per version
#   scripts/haproxy-versions.sh path VERSION         # prints the wrapper of a fetched version
#                                                    #   (exit 1 if it is not fetched yet)
#   scripts/haproxy-versions.sh list                 # fetched versions and their exact builds
#   scripts/haproxy-versions.sh deps VERSION         # the .deb files unpacked for VERSION
#
# VERSION -> Debian suite: 3.0 trixie, 3.2 sid, 3.4 experimental (sid + experimental, with
# haproxy taken from experimental). 2.6 is Debian 12's own package (`path 2.6` prints
# /usr/sbin/haproxy).
#
# How: one private apt configuration per version under $HEP_CACHE/apt/<version>/ (its own
# sources.list, lists, package cache and an EMPTY dpkg status, so apt resolves haproxy's whole
# Depends closure as if nothing were installed); `apt-get install --download-only` fetches
# haproxy and that closure (libc6, libssl3t64, liblua5.4-0, libpcre2-8-0, libsystemd0 and what
# they need); each .deb is unpacked with `dpkg-deb -x` into $HEP_CACHE/<version>/root/. The
# wrapper $HEP_CACHE/<version>/haproxy runs the unpacked binary with the unpacked loader:
#   <root>/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 --library-path <root libs> \
#       <root>/usr/sbin/haproxy "$@"
# A version counts as fetched once `<wrapper> -vv` worked (stamp file .ok); a second `fetch`
# is a fast no-op. Delete $HEP_CACHE/<version> to fetch it again.
#
# Env: HEP_CACHE (default <repo>/.hep/haproxy, gitignored).
# Exit status: 0 when every requested version is ready, 1 otherwise (a download that fails is
# a failure, never a skip).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
cache=${HEP_CACHE:-$root/.hep/haproxy}
arch=amd64
triplet=x86_64-linux-gnu
mirror=http://deb.debian.org/debian
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
all_versions=(3.0 3.2 3.4)

log() { printf 'haproxy-versions: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

suites_of() {  # the suites of the private sources.list of a version
  case $1 in
    3.0) echo trixie ;;
    3.2) echo sid ;;
    3.4) echo "sid experimental" ;;
    *) die "unknown version '$1' (known: 2.6 ${all_versions[*]})" ;;
  esac
}
target_of() {  # the suite haproxy itself comes from
  case $1 in
    3.0) echo trixie ;;
    3.2) echo sid ;;
    3.4) echo experimental ;;
  esac
}

apt_opts() {  # private apt configuration of one version
  local a=$1
  printf '%s\n' \
    -o "Dir::Etc::sourcelist=$a/sources.list" -o "Dir::Etc::sourceparts=$a/empty" \
    -o "Dir::Etc::preferences=$a/empty/none" -o "Dir::Etc::preferencesparts=$a/empty" \
    -o "Dir::Etc::parts=$a/empty" \
    -o "Dir::State=$a/state" -o "Dir::State::status=$a/state/status" \
    -o "Dir::Cache=$a/cache" -o "Dir::Cache::archives=$a/cache/archives" \
    -o "Dir::Log=$a/log" \
    -o "APT::Architecture=$arch" -o "APT::Architectures=$arch" \
    -o "Acquire::Languages=none" -o "Acquire::Retries=3" \
    -o "APT::Install-Recommends=false" -o "APT::Install-Suggests=false" \
    -o "APT::Get::Assume-Yes=true" -o "Debug::NoLocking=true" \
    -o "APT::Sandbox::User=root" -o "Dpkg::Use-Pty=false"
}

wrapper_of() { echo "$cache/$1/haproxy"; }

fetch_one() {
  local v=$1 dir="$cache/$1" a="$cache/apt/$1"
  local w
  w=$(wrapper_of "$v")
  if [ -f "$dir/.ok" ] && [ -x "$w" ]; then
    echo "$v $w"
    return 0
  fi
  local started=$SECONDS
  rm -rf "$dir" "$a/cache/archives/partial"
  mkdir -p "$a/state/lists/partial" "$a/cache/archives/partial" "$a/empty" "$a/log" "$dir"
  : >"$a/state/status"
  local s
  : >"$a/sources.list"
  for s in $(suites_of "$v"); do
    echo "deb [arch=$arch signed-by=$keyring] $mirror $s main" >>"$a/sources.list"
  done
  local opts
  mapfile -t opts < <(apt_opts "$a")
  log "$v: apt-get update ($(suites_of "$v"))"
  apt-get "${opts[@]}" -q update >"$a/log/update.log" 2>&1 ||
    { cat "$a/log/update.log" >&2; die "$v: apt-get update failed"; }
  # The exact version of haproxy in the target suite (experimental is never a candidate).
  local target pkgver
  target=$(target_of "$v")
  pkgver=$(apt-cache "${opts[@]}" policy haproxy | awk -v t="$target" '
    / [0-9]+ (https?|file):/ { if ($0 ~ ("/debian " t "/") && ver != "" && !found) { print ver; found = 1 }; next }
    /^ +(\*\*\* )?[0-9]/ { sub(/\*\*\* /, ""); ver = $1 }')
  [ -n "$pkgver" ] || die "$v: no haproxy package in $target"
  case $pkgver in
    "$v".*) ;;
    *) die "$v: $target has haproxy $pkgver, not $v.x (update this script's table)" ;;
  esac
  log "$v: haproxy $pkgver from $target: downloading it and its dependencies"
  # Empty dpkg status: the simulated install is haproxy's complete Depends closure.
  apt-get "${opts[@]}" -q -s install "haproxy=$pkgver" >"$a/log/resolve.log" 2>&1 ||
    { cat "$a/log/resolve.log" >&2; die "$v: apt-get cannot resolve haproxy=$pkgver"; }
  apt-get "${opts[@]}" -q --download-only install "haproxy=$pkgver" >"$a/log/download.log" 2>&1 ||
    { cat "$a/log/download.log" >&2; die "$v: apt-get --download-only install failed"; }
  mkdir -p "$dir/root"
  : >"$dir/debs.txt"
  local name ver deb n=0
  while read -r name ver; do
    # Packages haproxy only needs for its maintainer scripts bring no library it loads.
    case $name in perl-base | perl | perl-modules-* | libperl* | debconf | adduser | passwd | \
      init-system-helpers | dpkg | tar) continue ;; esac
    deb="$a/cache/archives/${name}_${ver//:/%3a}_*.deb"
    # shellcheck disable=SC2086
    deb=$(ls $deb 2>/dev/null | head -n 1)
    [ -n "$deb" ] || die "$v: $name $ver was resolved but not downloaded"
    dpkg-deb -x "$deb" "$dir/root"
    printf '%s %s\n' "$name" "$ver" >>"$dir/debs.txt"
    n=$((n + 1))
  done < <(sed -n 's/^Inst \([^ ]*\) (\([^ ]*\) .*/\1 \2/p' "$a/log/resolve.log")
  [ "$n" -gt 0 ] || die "$v: nothing to unpack (see $a/log/resolve.log)"
  local r="$dir/root"
  [ -x "$r/usr/sbin/haproxy" ] || die "$v: usr/sbin/haproxy missing after unpacking"
  local ld="$r/usr/lib/$triplet/ld-linux-x86-64.so.2"
  [ -e "$ld" ] || ld="$r/lib64/ld-linux-x86-64.so.2"
  [ -e "$ld" ] || die "$v: the unpacked libc6 has no loader"
  cat >"$w" <<EOF
#!/bin/sh
# HAProxy $pkgver (Debian $target), unpacked by scripts/haproxy-versions.sh; runs with its own
# loader and libraries, so nothing of the system's libc or libssl is used. --argv0 names this
# wrapper: a master-worker (-W) reload re-executes argv[0], which must bring the loader along.
exec "$r/usr/lib/$triplet/ld-linux-x86-64.so.2" --argv0 "$w" \\
  --library-path "$r/usr/lib/$triplet:$r/lib/$triplet:$r/usr/lib:$r/lib" \\
  "$r/usr/sbin/haproxy" "\$@"
EOF
  chmod +x "$w"
  if ! "$w" -vv >"$dir/vv.txt" 2>&1; then
    cat "$dir/vv.txt" >&2
    die "$v: '$w -vv' failed (a library missing from the unpacked set?)"
  fi
  head -n 1 "$dir/vv.txt" | grep -q "version $v\." ||
    die "$v: '$w -vv' says: $(head -n 1 "$dir/vv.txt")"
  echo "$pkgver" >"$dir/.ok"
  log "$v: ready in $((SECONDS - started))s: $(head -n 1 "$dir/vv.txt")"
  echo "$v $w"
}

cmd=${1:-fetch}
[ $# -gt 0 ] && shift
case $cmd in
  fetch)
    [ $# -gt 0 ] || set -- "${all_versions[@]}"
    rc=0
    for v in "$@"; do
      [ "$v" = 2.6 ] && { echo "2.6 $(command -v haproxy || echo /usr/sbin/haproxy)"; continue; }
      suites_of "$v" >/dev/null
      ( fetch_one "$v" ) || rc=1
    done
    exit $rc
    ;;
  path)
    v=${1:?usage: haproxy-versions.sh path VERSION}
    if [ "$v" = 2.6 ]; then command -v haproxy || echo /usr/sbin/haproxy; exit 0; fi
    suites_of "$v" >/dev/null
    w=$(wrapper_of "$v")
    [ -f "$cache/$v/.ok" ] && [ -x "$w" ] ||
      die "$v is not fetched (run: scripts/haproxy-versions.sh fetch $v)"
    echo "$w"
    ;;
  list)
    for v in "${all_versions[@]}"; do
      if [ -f "$cache/$v/.ok" ]; then
        printf '%s %s %s\n' "$v" "$(cat "$cache/$v/.ok")" "$(wrapper_of "$v")"
      else
        printf '%s (not fetched)\n' "$v"
      fi
    done
    ;;
  deps)
    v=${1:?usage: haproxy-versions.sh deps VERSION}
    [ -f "$cache/$v/debs.txt" ] || die "$v is not fetched"
    cat "$cache/$v/debs.txt"
    ;;
  *)
    sed -n '3,12p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
