#!/usr/bin/env bash
# Make sure PostgreSQL server binaries (initdb, pg_ctl) are present; install Debian's
# postgresql-15 package when they are not (needs root, as on CI).
set -euo pipefail
if command -v pg_ctl >/dev/null 2>&1 || compgen -G "/usr/lib/postgresql/*/bin/pg_ctl" >/dev/null; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "PostgreSQL server binaries not found: install the postgresql-15 package (Debian/Ubuntu) and re-run." >&2
  exit 1
fi
. "$(dirname "$0")/apt-install.sh"
apt_install "installing PostgreSQL 15 (Debian package postgresql-15)" postgresql-15 postgresql
