#!/usr/bin/env bash
# The README's first command, for now: installs dependencies, builds (optimized), and runs
# the runtime's examples, short runtime and cluster benchmarks (the cluster one starts its own
# redis-server and second node), and local_server, printing what happens. When the cluster,
# gateway and demo game land, this becomes the one-command local cluster with bots.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
"$root/tools/install_deps.sh"
cmake -S "$root" -B "$root/build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C "$root/build" -j"$(nproc)"
for example in hello rooms call_and_reply links_and_monitors supervisor timers; do
  echo
  echo "== local_server/examples/$example.cpp"
  "$root/build/bin/example_$example"
done
echo
echo "== bench_runtime (compare with ../shared/anchors/run; see README)"
for c in pingpong counting ring spawn; do "$root/build/bin/bench_runtime" "$c" 1000000; done
echo
echo "== bench_cluster: a redis-server and a second node started on loopback, 64-byte messages and calls"
"$root/build/bin/bench_cluster" oneway 200000
"$root/build/bin/bench_cluster" call 5000

echo
echo "== local_server: starts, runs its clock process, stops cleanly on SIGTERM"
"$root/build/bin/local_server" --log-level info &
pid=$!
sleep 2
kill -TERM "$pid"
wait "$pid"
