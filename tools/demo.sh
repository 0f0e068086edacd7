#!/usr/bin/env bash
# The README's first command: installs the Debian packages, builds (optimized), and runs the
# whole cluster on this machine with the demo game: `build/bin/launch` starts redis-server (in
# a temporary folder, on a free port), two local servers, a gateway and the name server,
# prints where each listens, lets bots play over TCP, WebSocket and UDP (with reconnects)
# while it shows their progress, prints the bots' summary (zero loss or a failure) and the
# cluster's state, and stops everything. Arguments go to launch (see `build/bin/launch --help`),
# e.g. `tools/demo.sh --bots 200 --duration 60`, or `--bots 0` to play in a browser at
# the printed /play address until Ctrl-C.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/tools/install_deps.sh"
cmake -S "$root" -B "$root/build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C "$root/build" -j"$(nproc)" launch bot ctl local_server name_server gateway
exec "$root/build/bin/launch" "$@"
