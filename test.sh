#!/usr/bin/env bash
# Installs what is missing, builds everything, starts a throwaway PostgreSQL 15 on a free
# loopback port, runs the whole ctest suite (SQLite and PostgreSQL), stops PostgreSQL.
# Exits non-zero on any failure. Benchmarks are not part of it (see docs/benchmarks.md).
set -euo pipefail
cd "$(dirname "$0")"
scripts/install_deps.sh
scripts/build.sh

pgdir=$(mktemp -d /tmp/keel-pg-XXXXXX)
chmod 755 "$pgdir"
trap 'scripts/pg_cluster.sh stop "$pgdir"' EXIT
export "$(scripts/pg_cluster.sh start "$pgdir")"
echo "PostgreSQL for tests: ${KEEL_TEST_PG_URL/:keel-test-pw@/:***@}"

ctest --test-dir build --output-on-failure -j2 --timeout 900
