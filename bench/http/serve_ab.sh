#!/usr/bin/env bash
# Runs wrk against `keel serve` in several configurations, in turn, round after round
# (the machine drifts, so variants are interleaved rather than run in blocks).
#
#   bench/http/serve_ab.sh ROUNDS 'NAME DATA_DIR BINARY FLAGS...' ['NAME DATA_DIR BINARY ...' ...]
#
# DATA_DIR is a sqlite data dir seeded with the 100k demo catalog by that binary
# (keel serve --seed-demo 100000, once). Prints one line per run: NAME round req/s p50 p99.
set -euo pipefail
rounds=${1:?ROUNDS}; shift 1
script=$(dirname "$0")/item_by_id.lua
port=18190
for r in $(seq 1 "$rounds"); do
  for variant in "$@"; do
    read -r name dir bin flags <<<"$variant"
    log=$(mktemp /tmp/keel-ab-XXXXXX.log)
    # shellcheck disable=SC2086
    $bin serve --db "sqlite:$dir" --http 127.0.0.1:$port --payments-http 127.0.0.1:$((port+1)) \
      --carrier-http 127.0.0.1:$((port+2)) --seed-demo 0 ${flags:-} >"$log" 2>&1 &
    pid=$!
    for _ in $(seq 1 200); do grep -q "Keel API on" "$log" && break; sleep 0.05; done
    grep -q "Keel API on" "$log" || { echo "$name did not start:"; tail -5 "$log"; kill $pid; exit 1; }
    out=$(wrk -t2 -c32 -d${WRK_SECONDS:-10}s --latency -s "$script" "http://127.0.0.1:$port")
    kill -INT $pid; wait $pid || true
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    p50=$(echo "$out" | awk '$1=="50%" {print $2}')
    p99=$(echo "$out" | awk '$1=="99%" {print $2}')
    echo "$name round=$r req_per_s=$rps p50=$p50 p99=$p99"
    rm -f "$log"
  done
done
