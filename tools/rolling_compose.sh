#!/usr/bin/env bash
# rolling_compose.sh — a rolling upgrade of the docker-compose deployment, run for real on
# this machine (host networking, everything on 127.0.0.1): the cluster from
# deploy/docker-compose.yml + deploy/docker-compose.host.yml with OLD local servers, bots
# playing over TCP, WebSocket and UDP from the host, then for each old local_server container
# in turn: one more local_server container from the NEW image (`up --no-recreate --scale`:
# the running ones are left alone), `ctl upgrade --old <its node> --new <the new node>`
# (waits until the new node is ready, drains and evacuates the old one with live migration),
# `docker stop` (SIGTERM) of the old container and a check that it exited 0. Then the bots'
# summary must show zero errors, lost, reordered, duplicated and state violations.
# Not part of CI (images, containers and 300 bots take minutes); docs/deployment.md.
#   usage: tools/rolling_compose.sh [build/bin]
#   env:   ROLL_LOCAL_SERVERS (2), ROLL_BOTS (300), ROLL_BASE_IMAGE (behavior:latest: an image of
#          deploy/Dockerfile whose runtime libraries the local build's binaries use),
#          ROLL_OLD_IMAGE / ROLL_NEW_IMAGE (default: made from build/bin with
#          deploy/Dockerfile.local as behavior:roll-old and behavior:roll-new), ROLL_TTL_MS
#          (3000: the nodes' registration TTL; a machine shared with builds may need 10000,
#          else a busy node is declared down), ROLL_LOGS (/tmp/rolling_compose.logs: every
#          container's log and the bots' output, written at the end)
# Exit 0: every old node was emptied and exited 0, the bots passed with zero counts.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$(cd "${1:-$root/build/bin}" && pwd)
olds_n=${ROLL_LOCAL_SERVERS:-2}
bots=${ROLL_BOTS:-300}
base=${ROLL_BASE_IMAGE:-behavior:latest}
old_image=${ROLL_OLD_IMAGE:-}
new_image=${ROLL_NEW_IMAGE:-}
project=behaviorroll
say() { echo "rolling_compose: $*"; }
die() { echo "rolling_compose: FAILED: $*" >&2; exit 1; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

for tool in docker docker-compose; do command -v $tool >/dev/null || die "$tool is not installed"; done
docker info >/dev/null 2>&1 || die "no Docker engine (start one, e.g. ../shared/tools/docker-engine)"
for b in local_server name_server gateway bot ctl; do [ -x "$bin/$b" ] || die "$bin/$b is missing (build first)"; done

tmp=$(mktemp -d)
bot_pid=""
C() { docker-compose -p $project --env-file "$tmp/env" -f "$root/deploy/docker-compose.yml" \
        -f "$root/deploy/docker-compose.host.yml" "$@"; }
logs=${ROLL_LOGS:-/tmp/rolling_compose.logs}
cleanup() {
  [ -n "$bot_pid" ] && kill "$bot_pid" 2>/dev/null || true
  { C logs --no-color 2>&1; cat "$tmp/bot.out" 2>/dev/null; } > "$logs" || true  # the containers' logs and the bots'
  C --profile bots down -v >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT

# Images: unless given, both from this build (the same binaries under two tags prove the flow).
if [ -z "$old_image" ] || [ -z "$new_image" ]; then
  docker image inspect "$base" >/dev/null 2>&1 || die "no base image $base: build deploy/Dockerfile first (docs/deployment.md)"
  mkdir -p "$tmp/ctx/bin" "$tmp/ctx/lib"
  cp "$bin/local_server" "$bin/name_server" "$bin/gateway" "$bin/bot" "$tmp/ctx/bin/"
  cp "$bin/../lib/libbehavior_demo_game.so" "$tmp/ctx/lib/game.so"
  cp "$bin/../lib/libbehavior_demo_game_proto.so" "$tmp/ctx/lib/"
  strip --strip-debug "$tmp/ctx/bin/"* "$tmp/ctx/lib/"*.so
  for tag in old new; do
    t0=$(now)
    docker build -q --network host -f "$root/deploy/Dockerfile.local" --build-arg BASE_IMAGE="$base" \
      --build-arg BUILD_LABEL="$tag" -t "behavior:roll-$tag" "$tmp/ctx" >/dev/null
    say "image behavior:roll-$tag built in $(secs "$t0" "$(now)") s"
  done
  old_image=${old_image:-behavior:roll-old}
  new_image=${new_image:-behavior:roll-new}
fi

secret=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
cat > "$tmp/env" <<ENV
BEHAVIOR_CLUSTER_SECRET=$secret
BEHAVIOR_REDIS_PASSWORD=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
BEHAVIOR_ADMIN_TOKEN=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
BEHAVIOR_AUTH=dev
BEHAVIOR_LOGIN_RATE=0
BEHAVIOR_TTL_MS=${ROLL_TTL_MS:-3000}
ENV
set -a; . "$tmp/env"; set +a
export BEHAVIOR_REDIS=127.0.0.1:16379 BEHAVIOR_NAME_SERVER=http://127.0.0.1:18080
ctl() { "$bin/ctl" "$@"; }

# The nodes' ids by container, read from their logs ("node id N allocated from Redis").
node_of() { docker logs "$1" 2>&1 | sed -n 's/.*node id \([0-9]*\) allocated.*/\1/p' | tail -1; }
healthy() { [ "$(docker inspect -f '{{.State.Health.Status}}' "$1" 2>/dev/null)" = healthy ]; }
wait_healthy() {  # container, seconds
  for _ in $(seq "$2"); do healthy "$1" && return 0; sleep 1; done
  return 1
}
local_containers() { C ps -q local_server; }

t_up=$(now)
BEHAVIOR_IMAGE=$old_image C up -d --no-build --scale local_server="$olds_n" redis name_server gateway local_server >/dev/null
mapfile -t olds < <(local_containers)
[ "${#olds[@]}" -eq "$olds_n" ] || die "expected $olds_n local_server containers, got ${#olds[@]}"
for c in "${olds[@]}" $(C ps -q name_server) $(C ps -q gateway); do
  wait_healthy "$c" 120 || die "container $c is not healthy after 120 s: $(docker logs --tail 20 "$c" 2>&1)"
done
say "cluster up in $(secs "$t_up" "$(now)") s: $olds_n local servers from $old_image"
ctl nodes

# Bots from the host (the cluster's client ports are on 127.0.0.1).
"$bin/bot" --players "$bots" --duration 900 --transports tcp,ws,udp --rooms 6 --rate 10 --drain 10 \
  --json --progress --user-prefix roll > "$tmp/bot.out" 2>&1 &
bot_pid=$!
for _ in $(seq 120); do
  grep -q "in room $bots/$bots" "$tmp/bot.out" && break
  kill -0 $bot_pid 2>/dev/null || die "the bot ended early: $(tail -5 "$tmp/bot.out")"
  sleep 1
done
grep -q "in room $bots/$bots" "$tmp/bot.out" || die "the bots did not all join: $(tail -3 "$tmp/bot.out")"
say "$bots bots playing"
sleep 3

t_roll=$(now)
i=0
for old in "${olds[@]}"; do
  i=$((i + 1))
  old_id=$(node_of "$old")
  [ -n "$old_id" ] || die "no node id in the log of $old"
  t_node=$(now)
  BEHAVIOR_IMAGE=$new_image C up -d --no-build --no-deps --no-recreate --scale local_server=$((olds_n + 1)) local_server \
    >/dev/null 2>&1
  new=""
  for _ in $(seq 30); do
    for c in $(local_containers); do
      [[ " ${olds[*]} ${done_new:-} " == *" $c "* ]] || new=$c
    done
    [ -n "$new" ] && break
    sleep 1
  done
  [ -n "$new" ] || die "no new local_server container came up for node $old_id; node $old_id keeps serving"
  [ "$(docker inspect -f '{{.Config.Image}}' "$new")" = "$new_image" ] || die "container $new does not run $new_image"
  wait_healthy "$new" 60 || die "the new container $new is not healthy; node $old_id keeps serving"
  new_id=$(node_of "$new")
  done_new="${done_new:-} $new"
  say "node $old_id ($old, $old_image) -> node $new_id ($new, $new_image)"
  ctl upgrade --old "$old_id" --new "$new_id" --timeout-ms 20000 --evacuate-timeout-ms 120000 --stall-timeout-ms 30000 ||
    die "ctl upgrade of node $old_id failed; it keeps serving"
  t_stop=$(now)
  docker stop -t 30 "$old" >/dev/null
  code=$(docker inspect -f '{{.State.ExitCode}}' "$old")
  [ "$code" = 0 ] || die "node $old_id's container exited $code after SIGTERM: $(docker logs --tail 20 "$old" 2>&1)"
  docker rm "$old" >/dev/null
  say "node $old_id stopped, exit 0 in $(secs "$t_stop" "$(now)") s; node $old_id rolled in $(secs "$t_node" "$(now)") s"
done
say "rolled $olds_n local servers in $(secs "$t_roll" "$(now)") s"
ctl nodes
ctl count

sleep 3  # play on the new nodes
kill -INT $bot_pid
wait $bot_pid || true
bot_pid=""
summary=$(grep '^{' "$tmp/bot.out" | tail -1)
grep -E "^bot summary|result=" "$tmp/bot.out" | tail -2 || true
echo "$summary" | python3 -c '
import json, sys
d = json.load(sys.stdin)
keys = ["players", "joins", "msgs_sent", "msgs_received", "errors", "lost", "reordered", "duplicated",
        "abandoned_by_failure", "state_violations", "result"]
print("rolling_compose: bots " + " ".join("%s=%s" % (k, d.get(k)) for k in keys))
bad = [k for k in keys[4:10] if d.get(k) != 0] + (["joins"] if d.get("joins") != d.get("players") else []) \
    + (["result"] if d.get("result") != "PASS" else [])
sys.exit("rolling_compose: FAILED: bot counts " + ",".join(bad) if bad else 0)'
say "PASS"
