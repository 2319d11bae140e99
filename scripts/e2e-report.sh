#!/usr/bin/env bash
# The end-to-end proof of issue 9 (docs/performance.md): builds both daemons and
# bench/e2e/pgagent_e2e_bench, then runs overhead (pgbench A/B/A/B), the soak with chaos
# (SIGKILLs, PostgreSQL restarts, listener outage, log rotations) and the footprint runs
# against a throwaway PostgreSQL cluster and the local HTTPS test listener. Writes
# report.md + report.json. Everything stays on 127.0.0.1 and in temp dirs.
#   ./scripts/e2e-report.sh                 # full variant (~50 min)
#   ./scripts/e2e-report.sh --quick         # the CI variant (~3 min)
#   E2E_OUT=/tmp/r ./scripts/e2e-report.sh --full --soak-s 600   # any bench flag passes on
# Exit code: the bench's (0: nothing lost, no crash, no growth trend in the full run).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD=${E2E_BUILD_DIR:-$ROOT/build}
JOBS=${JOBS:-2}
OUT=${E2E_OUT:-$BUILD/e2e-report}

launcher=()
if command -v ccache >/dev/null 2>&1; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo "${launcher[@]}" >/dev/null
cmake --build "$BUILD" -j"$JOBS" --target pgagent_e2e_bench pgagent-collectord pgagent-shipperd

variant=(--full)
for arg in "$@"; do
  case "$arg" in --quick|--full) variant=() ;; esac
done
exec "$BUILD/bench/e2e/pgagent_e2e_bench" "${variant[@]}" "$@" --out "$OUT"
