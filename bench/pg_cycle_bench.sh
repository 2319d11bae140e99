#!/bin/sh
# Runs bench/pg_cycle_bench a few times (each run starts and removes its own PostgreSQL
# cluster) and prints each run's median table, so that run-to-run noise is visible.
#   bench/pg_cycle_bench.sh BUILD_DIR [runs=3] [backends=1000] [statements=5000]
# Needs root or the postgres OS user (as the test harness), and a quiet machine: the
# figures are server-side times, shared CPUs inflate them.
set -eu
build_dir=${1:?usage: $0 BUILD_DIR [runs] [backends] [statements]}
runs=${2:-3}
backends=${3:-1000}
statements=${4:-5000}
bench="$build_dir/bench/pg_cycle_bench"
[ -x "$bench" ] || { echo "no $bench: build the pg_cycle_bench target first" >&2; exit 1; }
i=1
while [ "$i" -le "$runs" ]; do
  echo "== run $i/$runs ($(uptime | sed 's/.*load average/load average/'))"
  "$bench" "$backends" "$statements" 15 300
  i=$((i + 1))
done
