#!/bin/sh
# Idle cost of pgagent-collectord following a quiet log: starts a throwaway PostgreSQL
# (logging_collector on, stderr log), runs collectord against it at interval_s = 60 (no
# shipperd: records wait in the window, which does not change the loop), waits for the first
# cycle, then reads utime + stime and the context switches of collectord from /proc/<pid>/stat
# and /proc/<pid>/task/*/status over SECONDS while nothing writes to the log. Prints the CPU share
# of one core and the wake-ups (context switches) per second.
#   bench/idle_cpu.sh COLLECTORD_BINARY [seconds=120]
#   STRACE_SECONDS=30 bench/idle_cpu.sh ...   also counts its system calls for 30 s (after)
# Needs root (the server runs as the postgres OS user). Everything lives in a temp dir that
# is removed at the end; only processes this script started are stopped, by pid.
set -eu
bin=${1:?usage: $0 COLLECTORD_BINARY [seconds]}
seconds=${2:-120}
[ -x "$bin" ] || { echo "$bin is not executable" >&2; exit 1; }
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
dir=$(mktemp -d /tmp/pgagent-idle-XXXXXX)
chmod 755 "$dir"
chown postgres "$dir"
collectord_pid=""
cleanup() {
  [ -n "$collectord_pid" ] && kill "$collectord_pid" 2>/dev/null && wait "$collectord_pid" 2>/dev/null
  runuser -u postgres -- "$pgbin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT INT TERM
port=$((20000 + $$ % 20000))
runuser -u postgres -- "$pgbin/initdb" -D "$dir/data" -U postgres --auth=trust --no-sync >/dev/null
cat >> "$dir/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
logging_collector = on
log_directory = 'log'
log_file_mode = 0644
CONF
runuser -u postgres -- "$pgbin/pg_ctl" -D "$dir/data" -w -l "$dir/startup.log" start >/dev/null
mkdir -m 700 "$dir/run" "$dir/state"
cat > "$dir/pgagent.ini" <<INI
[database]
host = 127.0.0.1
port = $port
name = postgres
user = postgres
[collection]
interval_s = 60
log_path = auto
[listener]
url = https://127.0.0.1:9/
api_key = idle-bench
project_id = idle
[buffer]
path = $dir/buffer
[ipc]
runtime_dir = $dir/run
[agent]
state_dir = $dir/state
control_dir = $dir/run
log_level = warn
INI
chmod 600 "$dir/pgagent.ini"
"$bin" --config "$dir/pgagent.ini" >"$dir/collectord.out" 2>&1 &
collectord_pid=$!
sleep 15  # start-up, the first cycle and the log settings
ticks() { awk '{print $14 + $15}' "/proc/$collectord_pid/stat"; }
switches() {
  cat /proc/"$collectord_pid"/task/*/status |
    awk '/^(non)?voluntary_ctxt_switches/ {s += $2} END {print s}'  # every thread
}
hz=$(getconf CLK_TCK)
t0=$(date +%s.%N); c0=$(ticks); s0=$(switches)
sleep "$seconds"
t1=$(date +%s.%N); c1=$(ticks); s1=$(switches)
kill -0 "$collectord_pid" || { echo "collectord exited:" >&2; cat "$dir/collectord.out" >&2; exit 1; }
# STRACE_SECONDS=<s>: afterwards, which system calls the idle collectord makes (strace -c).
if [ -n "${STRACE_SECONDS:-}" ]; then
  timeout -s INT "$STRACE_SECONDS" strace -c -f -p "$collectord_pid" 2>&1 | head -25 || true
fi
awk -v t0="$t0" -v t1="$t1" -v c0="$c0" -v c1="$c1" -v s0="$s0" -v s1="$s1" -v hz="$hz" \
    -v bin="$bin" 'BEGIN {
  wall = t1 - t0; cpu = (c1 - c0) / hz
  printf "%s: %.1f s idle, %.2f CPU s, %.3f%% of one core, %.1f wake-ups/s\n", bin, wall, cpu,
         100 * cpu / wall, (s1 - s0) / wall
}'
