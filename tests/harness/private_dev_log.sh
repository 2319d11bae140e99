#!/bin/sh
# Runs a command in a new mount namespace whose /dev/log is a given unix socket, so that a
# program calling syslog(3) (PostgreSQL with log_destination = syslog) reaches a test's
# private syslog daemon. Nothing outside the namespace changes: the namespace gets its own
# /dev (a small tmpfs holding a bind mount of every entry of the machine's /dev, except
# log) and the socket is bind-mounted over its log. The machine's /dev/log, whether it
# exists or not, is never opened, written or mounted over.
# Usage (as root): private_dev_log.sh <socket> <scratch dir> <command> [args...]
set -eu
[ $# -ge 3 ] || { echo "usage: $0 <socket> <scratch dir> <command> [args...]" >&2; exit 2; }
sock=$1
scratch=$2
shift 2
[ -S "$sock" ] || { echo "$0: $sock is not a socket" >&2; exit 2; }
exec unshare --mount --propagation private /bin/sh -eu -c '
  sock=$1; d=$2/dev; shift 2
  mkdir -p "$d"
  mount -t tmpfs -o mode=0755,size=64k pgagent-private-dev "$d"
  for e in /dev/* /dev/.[!.]*; do
    [ -e "$e" ] || [ -L "$e" ] || continue
    n=${e##*/}
    [ "$n" = log ] && continue
    if [ -L "$e" ]; then
      ln -s "$(readlink "$e")" "$d/$n"
    elif [ -d "$e" ]; then
      mkdir "$d/$n" && mount --rbind "$e" "$d/$n"
    else
      : > "$d/$n" && mount --bind "$e" "$d/$n"
    fi
  done
  : > "$d/log"
  mount --bind "$sock" "$d/log"
  mount --move "$d" /dev
  exec "$@"
' private-dev-log "$sock" "$scratch" "$@"
