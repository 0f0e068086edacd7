#!/usr/bin/env bash
# entrypoint.sh — the image's entrypoint: turns the container-only values of the BEHAVIOR_*
# variables into real ones, notes where the healthcheck should look, then execs the server.
#   BEHAVIOR_S2S_HOST / BEHAVIOR_METRICS_HOST / BEHAVIOR_PUBLIC_HOST=auto
#       → this container's own IPv4 address (what the other containers can reach; the s2s
#         address is both bound and published in Redis, and must be numeric)
#   BEHAVIOR_METRICS_PORT, BEHAVIOR_TCP_PORT, BEHAVIOR_UDP_PORT, BEHAVIOR_WS_PORT=auto → a
#       free port chosen here (for host networking, where replicas of one service share the
#       ports; the healthcheck reads the metrics port back)
#   BEHAVIOR_CLUSTER_SECRET_FILE, BEHAVIOR_REDIS_PASSWORD_FILE, BEHAVIOR_ADMIN_TOKEN_FILE,
#   BEHAVIOR_REDIS_SENTINEL_PASSWORD_FILE → the variable without _FILE, read from that file
#       (Swarm secrets)
#   BEHAVIOR_NAME_SERVER=http://<name>:<port> (the bot) → the name resolved to IPv4
set -euo pipefail

own_ipv4() {
  local ip
  for ip in $(hostname -i 2>/dev/null) $(hostname -I 2>/dev/null); do
    case $ip in
      127.*|*:*) ;;
      *.*.*.*) echo "$ip"; return 0 ;;
    esac
  done
  echo "entrypoint: no IPv4 address for this container" >&2
  return 1
}

listening() {  # is TCP port $1 in use on this network namespace?
  local hex
  hex=$(printf '%04X' "$1")
  awk -v p=":$hex" 'NR > 1 && substr($2, length($2) - 4) == p { found = 1 } END { exit !found }' \
    /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

free_port() {
  local port
  for _ in $(seq 100); do
    port=$((20000 + RANDOM % 20000))
    listening "$port" || { echo "$port"; return 0; }
  done
  echo "entrypoint: no free port found" >&2
  return 1
}

# Secrets from files (Docker Swarm secrets under /run/secrets, Kubernetes secret volumes):
# <VAR>_FILE names a file whose content (without a final newline) becomes <VAR>, so the
# value never sits in the service's environment or definition.
for var in BEHAVIOR_CLUSTER_SECRET BEHAVIOR_REDIS_PASSWORD BEHAVIOR_REDIS_SENTINEL_PASSWORD BEHAVIOR_ADMIN_TOKEN; do
  file_var="${var}_FILE"
  if [ -n "${!file_var:-}" ]; then
    [ -r "${!file_var}" ] || { echo "entrypoint: $file_var: cannot read ${!file_var}" >&2; exit 2; }
    export "$var=$(cat "${!file_var}")"
    unset "$file_var"
  fi
done

for var in BEHAVIOR_CLUSTER_SECRET BEHAVIOR_REDIS_PASSWORD BEHAVIOR_ADMIN_TOKEN; do
  if [[ ${!var:-} == CHANGE-ME* ]]; then
    echo "entrypoint: $var is still the example value from deploy/.env.example" >&2
    exit 2
  fi
done

for var in BEHAVIOR_S2S_HOST BEHAVIOR_METRICS_HOST BEHAVIOR_PUBLIC_HOST; do
  if [ "${!var:-}" = auto ]; then
    export "$var=$(own_ipv4)"
  fi
done
# "auto" ports: replicas of one service sharing a host network (Swarm on the host network)
# each take free ones; a gateway publishes its client ports in Redis, and the name server
# tells clients.
for var in BEHAVIOR_METRICS_PORT BEHAVIOR_TCP_PORT BEHAVIOR_UDP_PORT BEHAVIOR_WS_PORT; do
  if [ "${!var:-}" = auto ]; then
    export "$var=$(free_port)"
  fi
done

if [[ ${BEHAVIOR_NAME_SERVER:-} =~ ^(https?://)?([^/:]+)(:[0-9]+)?(/.*)?$ ]]; then
  host=${BASH_REMATCH[2]}
  if ! [[ $host =~ ^[0-9.]+$ ]]; then
    ip=""
    for _ in $(seq 60); do  # the name exists once that container has started
      ip=$(getent ahostsv4 "$host" | awk 'NR == 1 { print $1 }') && [ -n "$ip" ] && break
      sleep 1
    done
    [ -n "$ip" ] || { echo "entrypoint: cannot resolve $host" >&2; exit 1; }
    export BEHAVIOR_NAME_SERVER="${BASH_REMATCH[1]}$ip${BASH_REMATCH[3]}${BASH_REMATCH[4]}"
  fi
fi

# Where /readyz (readiness: registered in Redis, heartbeats taken) answers: the name
# server's HTTP port, else the node's metrics port. The container is healthy when ready.
health_host() {
  case $1 in ''|0.0.0.0) echo 127.0.0.1 ;; *) echo "$1" ;; esac
}
mkdir -p /tmp/behavior
case "$(basename "${1:-}")" in
  name_server) url="http://$(health_host "${BEHAVIOR_HTTP_HOST:-}"):${BEHAVIOR_HTTP_PORT:-8080}/readyz" ;;
  local_server|gateway) url="http://$(health_host "${BEHAVIOR_METRICS_HOST:-}"):${BEHAVIOR_METRICS_PORT:-0}/readyz" ;;
  *) url="" ;;
esac
echo "$url" > /tmp/behavior/ready-url

exec "$@"
