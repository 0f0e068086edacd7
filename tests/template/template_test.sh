#!/usr/bin/env bash
# template_test.sh BUILD_DIR — the path a new user takes, from a clean prefix: install
# behavior, make a project with behavior-new-game, build it against the installed tree
# (CMake package) and run its test, compile a program against every installed public header
# (pkg-config), then launch a local cluster of the stock binaries loading the project's
# kinds library and let bots play it. Any missing header, target or file fails here.
set -euo pipefail
build=$(cd "$1" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/behavior-template.XXXXXX")
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix

echo "== install into $prefix"
cmake --install "$build" --prefix "$prefix" >/dev/null
"$prefix/bin/local_server" --version

echo "== new project"
"$prefix/bin/behavior-new-game" mygame "$work/mygame"
if "$prefix/bin/behavior-new-game" mygame "$work/mygame" 2>/dev/null; then
  echo "FAIL: behavior-new-game overwrote a project" >&2; exit 1
fi

echo "== build it against the installed package"
cmake -S "$work/mygame" -B "$work/mygame/build" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$work/mygame/build" -j"$(nproc)"
ctest --test-dir "$work/mygame/build" --output-on-failure
test -f "$work/mygame/build/libmygame.so"

echo "== every public header through pkg-config"
{
  for h in "$prefix"/include/behavior/*.h; do echo "#include <behavior/$(basename "$h")>"; done
  echo 'int main() { behavior::Node node; return behavior::kVersionMajor < 0; }'
} >"$work/headers.cpp"
# shellcheck disable=SC2046
c++ -std=c++20 -o "$work/headers" "$work/headers.cpp" \
  $(PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config --cflags --libs behavior)
"$work/headers"

echo "== a local cluster of the installed binaries plays the project"
"$prefix/bin/launch" --kinds-lib "$work/mygame/build/libmygame.so" --bots 20 --duration 5 \
  --name-server-port 0 --log-dir "$work/logs" | tee "$work/launch.out"
grep -q "kinds library mygame" "$work"/logs/local_server-1*.log
echo "template: PASS"
