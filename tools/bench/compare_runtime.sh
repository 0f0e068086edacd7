#!/usr/bin/env bash
# Runs bench_runtime and the anchors (CAF 0.17 and Erlang/OTP) on the same cases and N,
# several times each, ALTERNATING (behavior, caf, erlang, behavior, caf, erlang, ...) so that
# a slow or fast spell of this shared, noisy machine falls on every system alike, and prints
# each raw line as it comes, then per case and system: the median rate, min, max and
# spread = max/min (a spread far above 1 says: do not trust one run of it).
# The anchors: ../shared/anchors/run (pingpong, counting, ring, spawn; or $ANCHORS/run) and
# tools/bench/anchors/run (m2m, broadcast). Each installs libcaf-dev/erlang-nox if missing.
#
# Usage: tools/bench/compare_runtime.sh [options] [N [spawn_N]]
#   --runs R        runs per system and case (default 5)
#   --n N           messages per case (default 1000000)
#   --spawn-n N     processes for spawn (default 200000)
#   --procs P       m2m processes (default 1000)
#   --subs S        broadcast subscribers (default 10000)
#   --cases LIST    comma-separated subset of: pingpong,pingpong-slack0,counting,ring,
#                   ring-slack0,m2m,broadcast,spawn (default all; the -slack0 cases are ours
#                   only: `--slack 0` places each process on the least loaded worker, so
#                   neighbours start on different workers; the anchors have no such knob and
#                   are compared by their default figure)
#   --bench PATH    the bench_runtime to run (default build/bin/bench_runtime)
#   --ab OTHER      A/B mode: alternate --bench (a) with OTHER (b), another bench_runtime
#                   built from the commit before a change, instead of the anchors
# The two positionals are the older interface (N and spawn_N) and still work.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
anchors=${ANCHORS:-$root/../shared/anchors}
more=$root/tools/bench/anchors
runs=5 n=1000000 spawn_n=200000 procs=1000 subs=10000
cases=pingpong,pingpong-slack0,counting,ring,ring-slack0,m2m,broadcast,spawn
bench=$root/build/bin/bench_runtime
other=
positional=()
while [ $# -gt 0 ]; do
  case $1 in
    --runs) runs=$2; shift 2 ;;
    --n) n=$2; shift 2 ;;
    --spawn-n) spawn_n=$2; shift 2 ;;
    --procs) procs=$2; shift 2 ;;
    --subs) subs=$2; shift 2 ;;
    --cases) cases=$2; shift 2 ;;
    --bench) bench=$2; shift 2 ;;
    --ab) other=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "compare_runtime.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) positional+=("$1"); shift ;;
  esac
done
[ ${#positional[@]} -ge 1 ] && n=${positional[0]}
[ ${#positional[@]} -ge 2 ] && spawn_n=${positional[1]}
[ -x "$bench" ] || { echo "build first: cmake -S . -B build -G Ninja && ninja -C build bench_runtime" >&2; exit 1; }
if [ -n "$other" ]; then
  [ -x "$other" ] || { echo "--ab: $other is not an executable" >&2; exit 1; }
  systems=(a b)
  echo "A/B: a = $bench, b = $other"
else
  systems=(behavior caf erlang)
fi
for c in ${cases//,/ }; do
  case $c in pingpong|pingpong-slack0|counting|ring|ring-slack0|m2m|broadcast|spawn) ;;
    *) echo "compare_runtime.sh: unknown case $c" >&2; exit 2 ;; esac
done

results=$(mktemp)
trap 'rm -f "$results"' EXIT

# The command line of one run of case $1 on system $2, or nothing when that system has no
# such case (the anchors and ring-slack0).
command_for() {
  local c=$1 sys=$2 bin=$bench args
  case $c in
    pingpong-slack0) args="pingpong $n --slack 0" ;;
    ring-slack0) args="ring $n --slack 0" ;;
    m2m) args="m2m $n --procs $procs" ;;
    broadcast) args="broadcast $n --subs $subs" ;;
    spawn) args="spawn $spawn_n" ;;
    *) args="$c $n" ;;
  esac
  case $sys in
    behavior|a) echo "$bin $args" ;;
    b) echo "$other $args" ;;
    caf|erlang)
      case $c in
        pingpong-slack0|ring-slack0) ;;
        m2m) echo "$more/run m2m $n $sys $procs" ;;
        broadcast) echo "$more/run broadcast $n $sys $subs" ;;
        spawn) echo "$anchors/run spawn $spawn_n $sys" ;;
        *) echo "$anchors/run $c $n $sys" ;;
      esac ;;
  esac
}

ci=0
for c in ${cases//,/ }; do
  ci=$((ci + 1))
  for ((r = 1; r <= runs; r++)); do
    si=0
    for sys in "${systems[@]}"; do
      si=$((si + 1))
      cmd=$(command_for "$c" "$sys")
      [ -n "$cmd" ] || continue
      # Only the result line: the anchors' spawn also prints its memory on stderr.
      line=$($cmd 2>/dev/null | grep -E '^[a-z]+ [a-z0-9]+ n=[0-9]+ time=' | tail -1)
      rate=$(sed -n 's/.* rate=\([0-9.]*\) .*/\1/p' <<<"$line")
      if [ -n "$rate" ]; then
        # Both sides of an A/B print "behavior ...": the side goes in front.
        if [ -n "$other" ]; then echo "$sys: $line"; else echo "$line"; fi
        echo "$ci $c $si $sys $rate" >>"$results"
      else
        echo "$sys FAILED: $cmd"
        echo "$ci $c $si $sys FAIL" >>"$results"
      fi
    done
  done
done

echo
printf '%-12s %-8s %5s %14s %14s %14s %8s\n' case system runs median min max spread
# Sorted by case, then system, then rate, so each group's rates come in ascending order.
sort -k1,1n -k3,3n -k5,5g "$results" | awk '
  function flush() {
    if (key == "") return
    if (k == 0) { printf "%-12s %-8s %5d %14s %14s %14s %8s  (%d failed)\n", c, s, 0, "-", "-", "-", "-", fails }
    else {
      med = (k % 2) ? v[(k + 1) / 2] : (v[k / 2] + v[k / 2 + 1]) / 2
      printf "%-12s %-8s %5d %14.0f %14.0f %14.0f %8.2f%s\n", c, s, k, med, v[1], v[k],
             v[k] / v[1], fails ? "  (" fails " failed)" : ""
    }
  }
  {
    if ($2 " " $4 != key) { flush(); key = $2 " " $4; c = $2; s = $4; k = 0; fails = 0 }
    if ($5 == "FAIL") fails++; else v[++k] = $5 + 0
  }
  END { flush() }'
# A run that printed no result line makes the whole comparison fail.
! grep -q ' FAIL$' "$results"
