#!/usr/bin/env bash
# healthcheck.sh — the image's HEALTHCHECK: GET /healthz at the address the entrypoint noted
# (/tmp/behavior/healthz-url: the name server's HTTP port, a node's metrics port) must
# answer "ok". A container without such a port (the bot) is healthy while it runs.
set -euo pipefail
url=$(cat /tmp/behavior/healthz-url 2>/dev/null || true)
if [ -z "$url" ]; then
  exit 0
fi
case $url in
  *:0/healthz|*:-1/healthz) echo "no fixed metrics port to check (set BEHAVIOR_METRICS_PORT)" >&2; exit 1 ;;
esac
[ "$(curl -fsS --max-time 2 "$url")" = ok ]
