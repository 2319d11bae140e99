#!/usr/bin/env bash
# The README's test command: installs what is missing, builds, and runs ALL tests.
#   1. build/        RelWithDebInfo, every test (unit + integration: real PostgreSQL,
#                    HTTPS listener, ZeroMQ ipc://, LMDB).
#   2. build-asan/   AddressSanitizer + UndefinedBehaviorSanitizer, the unit tests.
# Exits non-zero on any failure and prints ctest's summary.
# Environment: JOBS (default: nproc), PGAGENT_SKIP_ASAN=1 skips step 2 (local iteration only;
# CI always runs both), PGAGENT_TEST_ARGS extra ctest arguments (e.g. "-R logtail").
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
JOBS=${JOBS:-$(nproc)}

start=$(date +%s)
"$ROOT/scripts/install-deps.sh"

launcher=()
if command -v ccache >/dev/null 2>&1; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi

echo "== build (RelWithDebInfo) =="
cmake -S "$ROOT" -B "$ROOT/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo "${launcher[@]}" >/dev/null
cmake --build "$ROOT/build" -j"$JOBS"

status=0
echo "== all tests (unit + integration) =="
(cd "$ROOT/build" && ctest --output-on-failure -j"$JOBS" ${PGAGENT_TEST_ARGS:-}) || status=1

if [ "${PGAGENT_SKIP_ASAN:-0}" != "1" ]; then
  echo "== build (ASan + UBSan) =="
  cmake -S "$ROOT" -B "$ROOT/build-asan" -DCMAKE_BUILD_TYPE=Debug -DPGAGENT_SANITIZE=ON \
    -DPGAGENT_BUILD_BENCH=OFF "${launcher[@]}" >/dev/null
  # Only the unit test binaries: their ctest names are their target names.
  unit_targets=$(cd "$ROOT/build-asan" && ctest -N -L unit | sed -n 's/^ *Test *#[0-9]*: //p')
  # shellcheck disable=SC2086
  cmake --build "$ROOT/build-asan" -j"$JOBS" --target $unit_targets
  echo "== unit tests under ASan + UBSan =="
  (cd "$ROOT/build-asan" && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
     ctest --output-on-failure -j"$JOBS" -L unit ${PGAGENT_TEST_ARGS:-}) || status=1
fi

echo "test.sh: finished in $(( $(date +%s) - start )) s, status $status"
exit $status
