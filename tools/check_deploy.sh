#!/usr/bin/env bash
# check_deploy.sh — static checks of deploy/ for the test suite (ctest -L e2e): the compose
# files are valid for Debian's docker-compose (alone and with the host-network override),
# they refuse to start without the secrets, the image's scripts parse, and (given a bin/
# directory) every shared library the binaries link comes from a package the Dockerfile's
# runtime stage installs.
#   usage: tools/check_deploy.sh [build/bin]     exit 0 ok, 1 failed, 77 skipped (no docker-compose)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
deploy=$root/deploy
bin_dir=${1:-}
fail=0
bad() { echo "FAIL: $*" >&2; fail=1; }

if ! command -v docker-compose >/dev/null; then
  echo "SKIP: docker-compose is not installed (tools/install_deps.sh installs it)"
  exit 77
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Throwaway values: the real ones live in deploy/.env, which this never reads.
printf '%s\n' BEHAVIOR_CLUSTER_SECRET=check-secret BEHAVIOR_REDIS_PASSWORD=check-redis \
  BEHAVIOR_ADMIN_TOKEN=check-admin > "$tmp/env"
: > "$tmp/empty"
compose() { (cd "$tmp" && env -u BEHAVIOR_CLUSTER_SECRET -u BEHAVIOR_REDIS_PASSWORD -u BEHAVIOR_ADMIN_TOKEN \
  docker-compose "$@"); }

for files in "-f $deploy/docker-compose.yml" "-f $deploy/docker-compose.yml -f $deploy/docker-compose.override.yml" \
    "-f $deploy/docker-compose.yml -f $deploy/docker-compose.host.yml"; do
  # shellcheck disable=SC2086
  if ! compose --env-file "$tmp/env" $files config > "$tmp/config.yml" 2> "$tmp/err"; then
    bad "docker-compose $files config: $(cat "$tmp/err")"
    continue
  fi
  for svc in redis name_server gateway local_server bots; do
    grep -q "^  $svc:" "$tmp/config.yml" || bad "service $svc missing ($files)"
  done
  echo "ok: docker-compose ${files//$deploy\//deploy/} config"
done
# shellcheck disable=SC2086
if compose --env-file "$tmp/empty" -f "$deploy/docker-compose.yml" config > /dev/null 2> "$tmp/err"; then
  bad "docker-compose config passes without BEHAVIOR_CLUSTER_SECRET"
elif ! grep -q "BEHAVIOR_" "$tmp/err"; then
  bad "docker-compose config without secrets failed for another reason: $(cat "$tmp/err")"
else
  echo "ok: refused without the secrets"
fi

# The Swarm stack (docker stack deploy reads the same format): valid, every service there,
# and no secret in it: they come from swarm secrets.
if ! compose -f "$deploy/docker-stack.yml" config > "$tmp/stack.yml" 2> "$tmp/err"; then
  bad "docker-compose -f deploy/docker-stack.yml config: $(cat "$tmp/err")"
else
  for svc in redis redis-replica sentinel-1 sentinel-2 sentinel-3 name_server gateway local_server; do
    grep -q "^  $svc:" "$tmp/stack.yml" || bad "service $svc missing (deploy/docker-stack.yml)"
  done
  grep -Eq 'BEHAVIOR_(CLUSTER_SECRET|REDIS_PASSWORD|ADMIN_TOKEN):' "$tmp/stack.yml" &&
    bad "deploy/docker-stack.yml puts a secret in the environment (use the _FILE form)"
  echo "ok: deploy/docker-stack.yml config"
fi

for script in entrypoint.sh healthcheck.sh; do
  bash -n "$deploy/$script" || bad "$script does not parse"
  [ -x "$deploy/$script" ] || bad "$script is not executable"
done

if [ -n "$bin_dir" ] && command -v dpkg >/dev/null; then
  # The runtime stage's apt-get install list, plus what debian:bookworm-slim already has.
  wanted=" libc6 libgcc-s1 libstdc++6 zlib1g $(awk '/AS runtime/ { r = 1 } r && /apt-get install/ { i = 1 }
    i { print; if ($0 !~ /\\$/) exit }' "$deploy/Dockerfile" | tr -s ' \\' ' ') "
  # The binaries, and the demo game's kinds library (the image's default game).
  for b in local_server name_server gateway bot ../lib/libbehavior_demo_game.so; do
    [ -e "$bin_dir/$b" ] || continue
    for lib in $(ldd "$bin_dir/$b" | awk '$3 ~ /^\// { print $3 }'); do
      # The build's own libraries (the game's messages) ship beside game.so in the image.
      [ "$(dirname "$(readlink -f "$lib")")" = "$(readlink -f "$bin_dir/../lib")" ] && continue
      pkg=$(dpkg -S "$(readlink -f "$lib")" 2>/dev/null | head -1 | cut -d: -f1) || pkg=""
      [ -n "$pkg" ] || pkg=$(dpkg -S "$lib" 2>/dev/null | head -1 | cut -d: -f1) || pkg=""
      [ -n "$pkg" ] || pkg=$(dpkg -S "/usr$lib" 2>/dev/null | head -1 | cut -d: -f1) || pkg=""
      if [ -z "$pkg" ]; then
        bad "$b links $lib, which no Debian package owns"
      elif [[ $wanted != *" $pkg "* ]]; then
        bad "$b links $lib from $pkg: add it to the runtime stage of deploy/Dockerfile"
      fi
    done
  done
  echo "ok: runtime packages cover what the binaries in $bin_dir link"
fi

if [ "$fail" -ne 0 ]; then
  echo "check_deploy: FAILED"
  exit 1
fi
echo "check_deploy: all checks passed"
