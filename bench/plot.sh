#!/usr/bin/env bash
# Draws Keel's throughput against concurrency and its latency histograms, for the
# engine (keel bench engine) and for checkout (keel bench checkout), on SQLite, into
# docs/plots/. Needs gnuplot (apt-get install gnuplot-nox). Takes a few minutes.
#   bench/plot.sh [path/to/keel]
set -euo pipefail
KEEL=${1:-build/keel}
OUT=docs/plots
command -v gnuplot >/dev/null || { echo "error: gnuplot not found (apt-get install gnuplot-nox)" >&2; exit 2; }
[ -x "$KEEL" ] || { echo "error: $KEEL is not an executable keel" >&2; exit 2; }
mkdir -p "$OUT"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

field() { grep -o "$1=[0-9.]*" | head -1 | cut -d= -f2; }

echo "# concurrency sagas_per_s p50_ms p99_ms" > "$work/engine.dat"
for c in 1 4 16 64 128; do
  n=$(( c == 1 ? 500 : 4000 ))
  line=$("$KEEL" bench engine --sagas $n --activities 4 --concurrency $c \
         --latencies "$work/engine-$c.lat" | tail -1)
  echo "$c $(field sagas_per_s <<<"$line") $(field p50_ms <<<"$line") $(field p99_ms <<<"$line")" \
    >> "$work/engine.dat"
done
echo "# concurrency checkouts_per_s p50_ms p99_ms" > "$work/checkout.dat"
for c in 1 4 16 32; do
  n=$(( c == 1 ? 100 : 600 ))
  line=$("$KEEL" bench checkout --checkouts $n --concurrency $c \
         --latencies "$work/checkout-$c.lat" 2>/dev/null | tail -1)
  echo "$c $(field checkouts_per_s <<<"$line") $(field p50_ms <<<"$line") $(field p99_ms <<<"$line")" \
    >> "$work/checkout.dat"
done
cp "$work"/*.dat "$OUT/"

gnuplot <<GP
set terminal pngcairo size 900,420 font ",10"
set grid
set logscale x 2
set xlabel "in flight (clients)"
set key left top

set output "$OUT/engine_throughput.png"
set title "keel bench engine (4-step saga, SQLite, synchronous=FULL)"
set ylabel "sagas/s"
set y2label "latency, ms"
set y2tics
plot "$work/engine.dat" using 1:2 with linespoints title "sagas/s", \
     "" using 1:3 axes x1y2 with linespoints title "p50 ms", \
     "" using 1:4 axes x1y2 with linespoints title "p99 ms"

set output "$OUT/checkout_throughput.png"
set title "keel bench checkout (SQLite, synchronous=FULL)"
set ylabel "checkouts/s"
plot "$work/checkout.dat" using 1:2 with linespoints title "checkouts/s", \
     "" using 1:3 axes x1y2 with linespoints title "p50 ms", \
     "" using 1:4 axes x1y2 with linespoints title "p99 ms"

unset logscale x
unset y2tics
unset y2label
set xlabel "latency, ms"
set ylabel "count"
set style fill solid 0.5
bin(x, w) = w * floor(x / w)

set output "$OUT/engine_latency.png"
set title "keel bench engine: saga latency at 64 in flight"
plot "$work/engine-64.lat" using (bin(\$1, 1)):(1.0) smooth frequency with boxes title "sagas"

set output "$OUT/checkout_latency.png"
set title "keel bench checkout: checkout latency at 16 clients"
plot "$work/checkout-16.lat" using (bin(\$1, 5)):(1.0) smooth frequency with boxes title "checkouts"
GP
echo "plots in $OUT:"; ls "$OUT"
