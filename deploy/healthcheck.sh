#!/usr/bin/env bash
# healthcheck.sh — the image's HEALTHCHECK: GET /readyz at the address the entrypoint noted
# (/tmp/behavior/ready-url: the name server's HTTP port, a node's metrics port) must answer
# 200 "ready" (registered in Redis, heartbeats taken; 503 while Redis is unreachable, stalled
# or refusing writes). A container without such a port (the bot) is healthy while it runs.
set -euo pipefail
url=$(cat /tmp/behavior/ready-url 2>/dev/null || true)
if [ -z "$url" ]; then
  exit 0
fi
case $url in
  *:0/readyz|*:-1/readyz) echo "no fixed metrics port to check (set BEHAVIOR_METRICS_PORT)" >&2; exit 1 ;;
esac
[ "$(curl -fsS --max-time 2 "$url")" = ready ]
