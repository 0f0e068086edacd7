#!/usr/bin/env bash
# CTest's entry to the TypeScript SDK (label sdk, tests/CMakeLists.txt):
#   ctest.sh setup           npm ci (once: again only when package-lock.json changed), npm run build
#   ctest.sh cluster BIN_DIR the Node tests: KCP over a lossy channel, and against a cluster launched from BIN_DIR
#   ctest.sh play            the checked-in play page is the one the sources build
# Exits 77 (CTest's skip) only when node or npm is not installed (tools/install_deps.sh
# installs both: CI runs these for real), or when the packages are not installed yet and
# the npm registry cannot be reached (a machine with Debian's archive only): said loudly.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "SKIP: node or npm is not installed (tools/install_deps.sh test)"
  exit 77
fi
registry_unreachable() {
  if ! npm ping >/dev/null 2>&1; then
    echo "SKIP: the npm registry cannot be reached and node_modules is not installed; the SDK is NOT tested here"
    return 0
  fi
  return 1
}
[ -d node_modules ] || ! registry_unreachable || exit 77
case ${1:-} in
  setup)
    node --version
    if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
      npm ci --no-audit --no-fund
    fi
    npm run build
    ;;
  cluster)
    BEHAVIOR_BIN_DIR=${2:?ctest.sh cluster BIN_DIR} node --test test/kcp.test.mjs test/cluster.test.mjs
    ;;
  play)
    node scripts/build_play.mjs --check
    ;;
  *)
    echo "usage: ctest.sh setup | cluster BIN_DIR | play" >&2
    exit 2
    ;;
esac
