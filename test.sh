#!/usr/bin/env bash
# Installs what is missing, builds everything (Release, and the ASan+UBSan and TSan
# builds), starts a throwaway PostgreSQL 15 on a free loopback port, and runs:
#   - the whole ctest suite on the Release build (SQLite and PostgreSQL), including
#     the abuse tests, the kill tests, a 60-second chaos drill per store, the pages
#     in headless chromium and the OpenAPI lint;
#   - the whole suite again under ASan+UBSan, with a short run of each fuzz target;
#   - the engine, store and HTTP tests under TSan.
# Stops PostgreSQL. Exits non-zero on any failure. Benchmarks are not part of it
# (see docs/benchmarks.md). KEEL_CHAOS_SECONDS and KEEL_FUZZ_SECONDS shorten or
# lengthen the drills and the fuzzing.
set -euo pipefail
cd "$(dirname "$0")"
scripts/install_deps.sh --test
npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error
scripts/build.sh
scripts/build.sh asan
scripts/build.sh tsan

pgdir=$(mktemp -d /tmp/keel-pg-XXXXXX)
chmod 755 "$pgdir"
trap 'scripts/pg_cluster.sh stop "$pgdir"' EXIT
export "$(scripts/pg_cluster.sh start "$pgdir")"
export KEEL_TEST_PG_DIR="$pgdir"  # the chaos drill restarts this server
echo "PostgreSQL for tests: ${KEEL_TEST_PG_URL/:keel-test-pw@/:***@}"

ctest --test-dir build --output-on-failure -j2 --timeout 900
# Sanitizers find what the Release run cannot see; the drills are Release-only.
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp" \
  ctest --test-dir build-asan --output-on-failure -j2 --timeout 900 -LE "chaos|browser"
TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
  ctest --test-dir build-tsan --output-on-failure -j2 --timeout 900 -L "engine|http"
