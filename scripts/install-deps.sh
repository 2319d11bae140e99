#!/usr/bin/env bash
# Installs every Debian 12 package pgagent needs to build, test, benchmark and package.
# Idempotent; needs root (or sudo). Used by scripts/test.sh and scripts/demo.sh.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config ccache
  libpq-dev postgresql-15 postgresql-contrib
  libzmq3-dev cppzmq-dev
  libprotobuf-dev protobuf-compiler
  libcurl4-openssl-dev
  liblmdb-dev lmdb-utils
  libspdlog-dev libfmt-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libinih-dev libcli11-dev libsystemd-dev uuid-dev
  python3 openssl ca-certificates procps
  systemd dpkg-dev file
  libmicrohttpd-dev
  lintian help2man man-db prometheus
)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages already installed"
  exit 0
fi

echo "install-deps: installing ${#missing[@]} packages: ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
