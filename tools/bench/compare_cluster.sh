#!/usr/bin/env bash
# Runs bench_cluster and the Erlang distribution anchor (../shared/anchors/run_dist) on the
# same cases one after the other, so their lines can be compared directly.
# Usage: tools/bench/compare_cluster.sh [oneway_N] [call_N]     (defaults: 1000000 20000)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
anchors=${ANCHORS:-$root/../shared/anchors}
oneway_n=${1:-1000000}
call_n=${2:-20000}
bench=$root/build/bin/bench_cluster
[ -x "$bench" ] || { echo "build first: cmake -S . -B build -G Ninja && ninja -C build" >&2; exit 1; }
"$anchors/run_dist" oneway "$oneway_n" 2>/dev/null
"$bench" oneway "$oneway_n"
"$bench" oneway "$oneway_n" --spin-us 0
"$bench" oneway "$oneway_n" --io-thread
"$anchors/run_dist" call "$call_n" 2>/dev/null
"$bench" call "$call_n"
"$bench" call "$call_n" --spin-us 0
"$bench" call "$call_n" --workers 2
"$bench" call "$call_n" --io-thread
