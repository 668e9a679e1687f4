#!/usr/bin/env bash
# Runs one fuzz target: its regression cases (each must pass), then SECONDS of
# fuzzing from its seed corpus (default 20). New inputs go to a temp dir, not into
# the repository; a crash leaves its input in tests/fuzz/crashes/ and fails.
#   tests/fuzz/run.sh BINARY NAME FUZZ_DIR [SECONDS]
set -euo pipefail
bin=$1; name=$2; dir=$3; seconds=${4:-20}
seeds="$dir/corpus/$name"; regressions="$dir/regressions/$name"
work=$(mktemp -d /tmp/keel-fuzz-XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$dir/crashes"
if [ -d "$regressions" ] && [ -n "$(ls -A "$regressions")" ]; then
  "$bin" -runs=0 "$regressions"/*
fi
args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 -print_final_stats=1
      -artifact_prefix="$dir/crashes/$name-")
[ -d "$seeds" ] && args+=("$work" "$seeds") || args+=("$work")
exec "$bin" "${args[@]}"
