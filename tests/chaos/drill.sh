#!/usr/bin/env bash
# One `keel chaos` drill for ctest (label "chaos"): STORE is sqlite or postgres.
#   tests/chaos/drill.sh KEEL_BINARY STORE [SECONDS]
# On PostgreSQL it uses the test cluster (KEEL_TEST_PG_URL, a fresh schema) and, when
# KEEL_TEST_PG_DIR names its directory, restarts the server as one of the faults
# (ctest runs this test alone: RUN_SERIAL).
set -euo pipefail
bin=$1; store=$2; seconds=${3:-${KEEL_CHAOS_SECONDS:-60}}
here=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d /tmp/keel-chaos-test-XXXXXX)
trap 'rm -rf "$work"' EXIT
args=(--duration "$seconds" --kill-every 3 --checkouts $((seconds * 4)) --hot-skus 3
      --work-dir "$work/logs" --payment-window-ms 20000)
case "$store" in
sqlite)
  db="sqlite:$work/data" ;;
postgres)
  if [ -z "${KEEL_TEST_PG_URL:-}" ]; then
    if [ -n "${CI:-}" ]; then echo "KEEL_TEST_PG_URL is not set under CI" >&2; exit 1; fi
    echo "skipped: KEEL_TEST_PG_URL is not set"; exit 0
  fi
  schema="chaos_$(date +%s)_$$"
  db="${KEEL_TEST_PG_URL}?schema=$schema"
  args+=(--sim-data "$work/sims")
  if [ -n "${KEEL_TEST_PG_DIR:-}" ]; then
    args+=(--pg-restart "$here/scripts/pg_cluster.sh restart $KEEL_TEST_PG_DIR")
  fi ;;
*) echo "usage: $0 KEEL_BINARY sqlite|postgres [SECONDS]" >&2; exit 2 ;;
esac
set +e
"$bin" chaos --db "$db" "${args[@]}"
rc=$?
set -e
if [ $rc -ne 0 ]; then
  echo "--- the drill failed; the last lines of each process's log:"
  for f in "$work"/logs/*.log; do echo "== $f"; tail -n 20 "$f"; done
fi
exit $rc
