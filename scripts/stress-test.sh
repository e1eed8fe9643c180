#!/usr/bin/env bash
# Runs one test file (or the subtests matching a pattern) several times alone while busy loops occupy every
# core, to show whether it depends on timing. Everything is bounded in time: the busy loops and each run end
# after SECONDS at the latest.
#   bash scripts/stress-test.sh [-n RUNS] [-s SECONDS] [-l LOOPS_PER_CORE] [-g PATTERN] test/x.test.mjs
# Prints one line a run (pass/FAIL, duration, the failing assertions) and a summary; exits 1 if a run failed.
set -u
runs=3 seconds=60 per_core=1 grep=''
while getopts n:s:l:g: o; do
  case $o in
  n) runs=$OPTARG ;;
  s) seconds=$OPTARG ;;
  l) per_core=$OPTARG ;;
  g) grep=$OPTARG ;;
  *) exit 2 ;;
  esac
done
shift $((OPTIND - 1))
file=${1:?usage: stress-test.sh [-n RUNS] [-s SECONDS] [-l LOOPS_PER_CORE] [-g PATTERN] test/x.test.mjs}
cd "$(dirname "$0")/.." || exit 2
loops=$(($(nproc) * per_core))
failed=0
for i in $(seq 1 "$runs"); do
  pids=()
  for _ in $(seq 1 "$loops"); do
    timeout "$seconds" sh -c 'while :; do :; done' &
    pids+=($!)
  done
  start=$(date +%s.%N)
  # tap's own per-test limit as `npm test` sets it (package.json "tap": timeout 120), not its default 30 s
  out=$(TAP_GREP="$grep" TAP_TIMEOUT="${TAP_TIMEOUT:-120}" timeout -k 5 "$seconds" node "$file" 2>&1)
  rc=$?
  end=$(date +%s.%N)
  kill "${pids[@]}" 2>/dev/null
  wait "${pids[@]}" 2>/dev/null
  took=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')
  if [ "$rc" -eq 0 ]; then
    echo "run $i: pass (${took} s, $loops busy loops)"
  else
    failed=$((failed + 1))
    echo "run $i: FAIL rc=$rc (${took} s, $loops busy loops)"
    printf '%s\n' "$out" | grep -E '^\s*not ok|^\s+(found|wanted|at):|timed out' | head -20 | sed 's/^/    /'
  fi
done
echo "$file${grep:+ [$grep]}: $((runs - failed)) of $runs passed under load"
[ "$failed" -eq 0 ]
