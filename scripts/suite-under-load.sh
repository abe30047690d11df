#!/usr/bin/env bash
# Runs the whole test suite N times in a row (default 5) with a CPU hog on one
# core, the check of issue 13: every timing bound in the suite must hold with
# the other core busy. One line per run (exit status, tests, failures, minutes)
# goes to stdout; each run's TAP output is kept in $OUT_DIR.
#
#   bash scripts/suite-under-load.sh [runs]      (root; after `bash scripts/setup.sh`)
set -uo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
runs=${1:-5}
out_dir=${OUT_DIR:-$(mktemp -d /tmp/suite-under-load.XXXXXX)}
mkdir -p "$out_dir"
cores=$(nproc)
# The hog: a busy loop pinned to the last core, ended by PID on any exit.
taskset -c $((cores - 1)) sh -c 'while :; do :; done' &
hog=$!
trap 'kill "$hog" 2>/dev/null' EXIT
echo "hog pid $hog on core $((cores - 1)) of $cores; logs in $out_dir"
green=0
for i in $(seq 1 "$runs"); do
  start=$(date +%s)
  npm test > "$out_dir/run$i.tap" 2>&1
  rc=$?
  mins=$(( ($(date +%s) - start) / 60 ))
  tests=$(grep -E '^# tests ' "$out_dir/run$i.tap" | tail -1 | awk '{print $3}')
  fails=$(grep -E '^# fail ' "$out_dir/run$i.tap" | tail -1 | awk '{print $3}')
  echo "run $i: exit $rc, tests ${tests:-?}, fail ${fails:-?}, ${mins} min"
  [ "$rc" -eq 0 ] && green=$((green + 1))
done
echo "$green of $runs runs green"
[ "$green" -eq "$runs" ]
