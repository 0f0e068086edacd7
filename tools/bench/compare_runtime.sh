#!/usr/bin/env bash
# Runs bench_runtime and the anchors (../shared/anchors/run: CAF 0.17 and Erlang/OTP) on the
# same cases and N, one after the other in one run, so their lines can be compared directly.
# Usage: tools/bench/compare_runtime.sh [N] [spawn_N]     (defaults: 1000000 1000000)
# Needs a built tree (build/bin/bench_runtime) and the shared anchors beside the repo.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
anchors=${ANCHORS:-$root/../shared/anchors}
n=${1:-1000000}
spawn_n=${2:-1000000}
bench=$root/build/bin/bench_runtime
[ -x "$bench" ] || { echo "build first: cmake -S . -B build -G Ninja && ninja -C build" >&2; exit 1; }
for c in pingpong counting ring; do
  "$anchors/run" "$c" "$n" 2>/dev/null
  "$bench" "$c" "$n"
  "$bench" "$c" "$n" --slack 0
done
"$anchors/run" spawn "$spawn_n" 2>&1 | grep -v "^debconf"
"$bench" spawn "$spawn_n"
