#!/usr/bin/env bash
# Logins per second and latency of the name server: wrk on POST /v1/login (dev auth, a new
# user each request) against a real cluster on this machine: redis-server, three
# local_servers (capacities 1000/2000/3000), one node registered as a gateway (a
# local_server with --cluster-kind gateway stands in until the gateway binary exists), and
# the name_server. Everything on 127.0.0.1; stops everything on exit.
# With "tls" the name server speaks HTTPS (a self-signed pair made with the openssl CLI for
# the run) and wrk logs in over https: keep-alive connections, so one handshake each and
# then the cost of TLS records.
# Usage: tools/bench/bench_name_server.sh [seconds] [connections] [tls]     (defaults: 10 64)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=$root/build/bin
secs=${1:-10}
conns=${2:-64}
tls=${3:-}
[ -x "$bin/name_server" ] || { echo "build first: cmake -S . -B build -G Ninja && ninja -C build" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk is missing: tools/install_deps.sh" >&2; exit 1; }

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
redis_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" >"$work/redis.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done

export BEHAVIOR_CLUSTER_SECRET="bench-$$"
common=(--redis "127.0.0.1:$redis_port" --redis-prefix "bench$$:" --log-level warn --metrics-port -1)
for spec in 1:1000 2:2000 3:3000; do
  "$bin/local_server" "${common[@]}" --kinds-lib "$bin/../lib/libbehavior_demo_game.so" --node-id "${spec%%:*}" --capacity "${spec##*:}" --workers 1 \
    >"$work/node${spec%%:*}.log" 2>&1 &
  pids+=($!)
done
"$bin/local_server" "${common[@]}" --node-id 40 --workers 1 --cluster-kind gateway \
  --cluster-attribute tcp=127.0.0.1:7000,udp=127.0.0.1:7001,ws=127.0.0.1:7002 >"$work/gateway.log" 2>&1 &
pids+=($!)
http_port=$(free_port)
tls_args=()
curl_tls=()
scheme=http
if [ "$tls" = tls ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=127.0.0.1 \
    -addext subjectAltName=IP:127.0.0.1 -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
  tls_args=(--tls-cert "$work/cert.pem" --tls-key "$work/key.pem")
  curl_tls=(--cacert "$work/cert.pem")
  scheme=https
fi
"$bin/name_server" "${common[@]}" --node-id 50 --http-port "$http_port" --auth dev --login-rate 0 "${tls_args[@]}" \
  >"$work/name_server.log" 2>&1 &
pids+=($!)

url="$scheme://127.0.0.1:$http_port"
for _ in $(seq 100); do
  code=$(curl -s "${curl_tls[@]}" -o /dev/null -w '%{http_code}' -X POST -d '{"user":"probe"}' "$url/v1/login" || true)
  [ "$code" = 200 ] && break
  sleep 0.1
done
[ "$code" = 200 ] || { echo "the cluster did not come up (last login: $code)"; cat "$work"/*.log; exit 1; }

echo "wrk -t1 -c$conns -d${secs}s --latency -s tools/bench/login.lua $url/v1/login"
wrk -t1 -c"$conns" -d"${secs}s" --latency -s "$root/tools/bench/login.lua" "$url/v1/login" | tee "$work/wrk.txt"
rate=$(awk '/Requests\/sec/ {print $2}' "$work/wrk.txt")
p99=$(awk '$1 == "99%" {print $2}' "$work/wrk.txt")
errors=$(awk '/Non-2xx/ {print $NF}' "$work/wrk.txt")
echo "behavior name_server login scheme=$scheme rate=${rate} logins/s p99=${p99} non2xx=${errors:-0} connections=$conns"
curl -s "${curl_tls[@]}" "$url/metrics" | grep -E '^behavior_name_(logins|placements)_total'
