#!/usr/bin/env bash
# Make sure a PostgreSQL server answers on 127.0.0.1:5432 for the tests, and print the URL the
# tests should use (ROSMA_TEST_PG_URL). Installs and starts Debian's PostgreSQL when needed.
set -euo pipefail

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

url_trust="postgresql://postgres@127.0.0.1:5432/postgres"
url_role="postgresql://rosma_test:rosma_test@127.0.0.1:5432/postgres"

can() { PGCONNECT_TIMEOUT=3 psql "$1" -qAtc "select 1" >/dev/null 2>&1; }

if command -v psql >/dev/null 2>&1 && can "$url_trust"; then echo "$url_trust"; exit 0; fi
if command -v psql >/dev/null 2>&1 && can "$url_role"; then echo "$url_role"; exit 0; fi

if ! command -v pg_ctlcluster >/dev/null 2>&1; then
  echo "==> installing PostgreSQL" >&2
  $SUDO apt-get update -qq >&2
  $SUDO apt-get install -y -qq --no-install-recommends postgresql >&2
fi
ver=$(ls /etc/postgresql | sort -V | tail -n 1)
if ! pg_lsclusters -h | awk '{print $4}' | grep -q online; then
  echo "==> starting PostgreSQL $ver" >&2
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$ver" main start >&2
fi
for _ in $(seq 1 30); do
  pg_isready -q -h 127.0.0.1 -p 5432 && break
  sleep 1  # waiting for the server to accept connections
done
if can "$url_trust"; then echo "$url_trust"; exit 0; fi
echo "==> creating the rosma_test role" >&2
$SUDO runuser -u postgres -- psql -qc "DO \$\$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname='rosma_test') THEN CREATE ROLE rosma_test LOGIN CREATEDB PASSWORD 'rosma_test'; END IF; END\$\$;" >&2
can "$url_role" || { echo "PostgreSQL is running but the tests cannot log in" >&2; exit 1; }
echo "$url_role"
