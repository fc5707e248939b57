#!/usr/bin/env bash
# Draws docs/queue-benchmark.png (throughput against message size, one line per queue) from
# the "throughput against message size" table that build/bench/bench_queue prints.
# Usage: bench/plot_queue.sh [BENCH_OUTPUT [OUT.png]]
#   BENCH_OUTPUT  a saved output of bench_queue; without it, runs
#                 build/bench/bench_queue --only sweep (and prints its output)
# Needs gnuplot (Debian's gnuplot-nox).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
input=${1:-}
out=${2:-$root/docs/queue-benchmark.png}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [[ -z $input ]]; then
    "$root/build/bench/bench_queue" --only sweep | tee "$tmp/bench.txt"
    input=$tmp/bench.txt
fi
# The table's rows: size, then one rate per implementation (0: not measured).
awk '/^throughput against message size/ { on = 1; next }
     on && /^\| *[0-9]/ { gsub(/\|/, " "); print }
     on && /^$/ { exit }' "$input" >"$tmp/sweep.dat"
if [[ ! -s $tmp/sweep.dat ]]; then
    echo "plot_queue.sh: no 'throughput against message size' table in $input" >&2
    exit 1
fi
title=$(grep -m1 '^messages per run' "$input" || true)
gnuplot <<GNUPLOT
set terminal pngcairo size 900,560 font "sans,10"
set output "$out"
set title "Queue throughput, one producer -> one consumer process\n{/*0.8 $title}"
set logscale xy
set xlabel "message size (bytes)"
set ylabel "messages per second"
set xtics (16, 64, 256, "1K" 1024, "4K" 4096, "16K" 16384, "64K" 65536)
set format y "10^{%L}"
set grid
set key outside right
set datafile missing "0"
plot "$tmp/sweep.dat" using 1:(\$5 > 0 ? \$5 : 1/0) with linespoints lw 2 title "ipckit::Queue<T>", \
     "" using 1:(\$6 > 0 ? \$6 : 1/0) with linespoints lw 2 title "ipckit::ByteQueue", \
     "" using 1:(\$4 > 0 ? \$4 : 1/0) with linespoints title "Boost message\\\\_queue", \
     "" using 1:(\$3 > 0 ? \$3 : 1/0) with linespoints title "pthread condvar ring", \
     "" using 1:(\$2 > 0 ? \$2 : 1/0) with linespoints title "System V msgsnd", \
     "" using 1:(\$7 > 0 ? \$7 : 1/0) with linespoints title "Python multiprocessing.Queue"
GNUPLOT
echo "plot_queue.sh: wrote $out"
