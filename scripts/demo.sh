#!/usr/bin/env bash
# The README's demo command: installs what is missing, builds, and runs both daemons
# against a throwaway PostgreSQL 15 cluster under pgbench load, delivering over HTTPS to a
# local test listener that implements the Bitville listener contract. Prints what arrived.
# Everything stays on 127.0.0.1 and in temp dirs that are removed afterwards.
#   DEMO_SECONDS=40 ./scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
JOBS=${JOBS:-$(nproc)}

"$ROOT/scripts/install-deps.sh"

launcher=()
if command -v ccache >/dev/null 2>&1; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
cmake -S "$ROOT" -B "$ROOT/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo "${launcher[@]}" >/dev/null
cmake --build "$ROOT/build" -j"$JOBS" --target pgagent_demo pgagent-collectord pgagent-shipperd

exec "$ROOT/build/tests/demo/pgagent_demo" --seconds "${DEMO_SECONDS:-40}"
