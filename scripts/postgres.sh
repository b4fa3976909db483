#!/usr/bin/env bash
# PostgreSQL for the tests that run the storage layer on both backends (tests/pg_server.py starts a throw-away
# server from these binaries in a temporary folder). Installs the Debian package when it is missing and this
# runs as root (or with passwordless sudo); otherwise says what to run and fails, so that CI stops loudly.
# DETECTOR_APP_TEST_POSTGRES=0 skips the PostgreSQL tests (and this script) on a developer machine.
set -euo pipefail

[ "${DETECTOR_APP_TEST_POSTGRES:-1}" = 0 ] && exit 0
if compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || command -v initdb >/dev/null; then exit 0; fi
command -v apt-get >/dev/null || {
    echo "postgres.sh: no PostgreSQL server binaries (initdb) and no apt-get; install PostgreSQL, or set" \
         "DETECTOR_APP_TEST_POSTGRES=0 to skip the PostgreSQL tests" >&2; exit 1; }
if [ "$(id -u)" = 0 ]; then SUDO=""; elif sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
    echo "postgres.sh: PostgreSQL is missing; install it with: sudo apt-get install -y postgresql" \
         "(or set DETECTOR_APP_TEST_POSTGRES=0 to skip the PostgreSQL tests)" >&2
    exit 1
fi
echo "postgres.sh: installing the Debian package postgresql"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends postgresql >/dev/null
