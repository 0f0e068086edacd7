#!/usr/bin/env bash
# Installs the Debian packages behavior needs (the one list the README, .ci/run and the
# Dockerfile use). Idempotent; run as root or with sudo available.
#   tools/install_deps.sh                 everything: build, run and test (README, CI)
#   tools/install_deps.sh build [run ...] only these groups (the Docker builder: build)
# Groups:
#   build  compilers, CMake, and the -dev packages of every library (GoogleTest too: CMake
#          configures the tests)
#   run    redis-server and the tools the launcher, the scripts and the healthcheck use
#   test   clang (libFuzzer), headless Chromium (dashboard and browser-client tests), Node and
#          npm (the TypeScript SDK's tests and its play-page bundle, tools/sdk/typescript), wrk
#          (name server benchmark), docker-compose (validates deploy/), iproute2 and
#          iptables (network namespaces and partitions in tests/chaos)
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

BUILD=(
  build-essential cmake ninja-build pkg-config
  libuv1-dev libprotobuf-dev protobuf-compiler rapidjson-dev
  libspdlog-dev libfmt-dev libhiredis-dev libgtest-dev libgmock-dev
  libssl-dev libhttp-parser-dev libcli11-dev
)
RUN=(redis-server redis-sentinel redis-tools curl procps)
TEST=(clang libclang-rt-dev chromium chromium-driver wrk docker-compose iproute2 iptables openssl nodejs npm)

groups=("$@")
[ ${#groups[@]} -gt 0 ] || groups=(build run test)
PACKAGES=()
for g in "${groups[@]}"; do
  case $g in
    build) PACKAGES+=("${BUILD[@]}") ;;
    run) PACKAGES+=("${RUN[@]}") ;;
    test) PACKAGES+=("${TEST[@]}") ;;
    *) echo "install_deps.sh: unknown group '$g' (build, run, test)" >&2; exit 2 ;;
  esac
done

# Installed, or (nodejs, npm) present as a command: another build of Node (one whose nodejs
# package provides npm and conflicts with Debian's) must not be replaced.
present() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "ok installed" && return 0
  case $1 in
    nodejs) command -v node >/dev/null ;;
    npm) command -v npm >/dev/null ;;
    *) return 1 ;;
  esac
}
missing=()
for p in "${PACKAGES[@]}"; do
  present "$p" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
echo "deps (${groups[*]}): ${#PACKAGES[@]} packages present"
