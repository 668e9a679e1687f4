#!/usr/bin/env bash
# How long `keel serve` takes from exec to a 200 from /readyz, on a SQLite data dir:
#   bench/serve_ready.sh DATA_DIR [path/to/keel]
set -u
dir=${1:?DATA_DIR}; bin=${2:-build/keel}
log=$(mktemp)
start=$(date +%s.%N)
$bin serve --db sqlite:$dir --http 127.0.0.1:0 --payments-http 127.0.0.1:0 --carrier-http 127.0.0.1:0 --seed-demo 0 > $log 2>&1 &
pid=$!
url=""
for i in $(seq 1 2000); do
  url=$(grep -o "Keel API on http://127.0.0.1:[0-9]*" $log | head -1 | sed 's/Keel API on //')
  if [ -n "$url" ]; then
    code=$(curl -s -o /dev/null -w "%{http_code}" $url/readyz)
    [ "$code" = 200 ] && break
  fi
  sleep 0.01
done
end=$(date +%s.%N)
echo "ready_s=$(echo "$end - $start" | bc)"
kill -INT $pid; wait $pid 2>/dev/null
rm -f $log
