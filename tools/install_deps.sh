#!/usr/bin/env bash
# Installs every Debian package behavior needs to build, test and run (the one list the
# README and .ci/run both use). Idempotent; run as root or with sudo available.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

PACKAGES=(
  build-essential cmake ninja-build pkg-config clang libclang-rt-dev
  libuv1-dev libprotobuf-dev protobuf-compiler rapidjson-dev
  libspdlog-dev libfmt-dev libhiredis-dev libgtest-dev libgmock-dev
  libssl-dev libhttp-parser-dev libcli11-dev
  redis-server redis-tools curl procps
  # headless Chromium for the dashboard and browser-client tests (chromium-driver: WebDriver
  # for the game page); wrk for the name server benchmark; docker-compose validates deploy/
  chromium chromium-driver wrk docker-compose
  # network namespaces, veth and iptables DROP rules for the partition tests (tests/chaos)
  iproute2 iptables
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
echo "deps: ${#PACKAGES[@]} packages present"
