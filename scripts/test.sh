#!/usr/bin/env bash
# Installs what is missing, builds everything with ASan+UBSan (-Werror), runs the fuzz targets
# (clang/libFuzzer, FUZZ_SECONDS each, default 60) and then every test with ctest: unit tests,
# the end-to-end tests against the real haproxy, and the web viewer in headless chromium
# (test/ui). Exits non-zero on any failure.
#   FUZZ_SECONDS=0 skips fuzzing; CTEST_ARGS="-L unit" narrows ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
started=$(date +%s)
jobs=$(nproc)

bash scripts/deps.sh --with-fuzz --with-ui

# House rule (STYLE.md §1): only agent/ may include uv.h.
if grep -rlE '#include\s*[<"]uv\.h[>"]' spop correlate storage api; then
  echo "test.sh: uv.h is included outside agent/ (above)" >&2
  exit 1
fi

echo "== build (ASan+UBSan) =="
cmake -S . -B build/test -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DHEP_SANITIZE=ON -DHEP_WERROR=ON >/dev/null
cmake --build build/test -j"$jobs"

FUZZ_SECONDS=${FUZZ_SECONDS:-60}
if [[ "$FUZZ_SECONDS" != 0 ]]; then
  echo "== fuzz (${FUZZ_SECONDS}s per target) =="
  CC=clang CXX=clang++ cmake -S . -B build/fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DHEP_FUZZ=ON -DHEP_TESTS=OFF >/dev/null
  cmake --build build/fuzz -j"$jobs"
  FUZZ_SECONDS=$FUZZ_SECONDS FUZZ_BUILD_DIR=$root/build/fuzz bash test/fuzz/run.sh
fi

echo "== HAProxy 3.0/3.2/3.4 for the compatibility tests =="
# Their e2e tests fetch on their own too and fail when the download fails.
bash scripts/haproxy-versions.sh fetch ||
  echo "test.sh: fetching HAProxy versions failed; their e2e tests will fail" >&2

echo "== ctest =="
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
echo "test.sh: build and fuzz took $(( $(date +%s) - started ))s"
# ctest's summary is the last thing printed.
exec ctest --test-dir build/test --output-on-failure -j"$jobs" ${CTEST_ARGS:-}
