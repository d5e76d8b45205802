#!/usr/bin/env bash
# The first hour on a loaded machine: `fleetctl demo --headless` (the default 400-node fleet) RUNS
# times in a row while stress-ng takes one of the cores; stops at the first failure.
#   scripts/demo-under-load.sh [RUNS] [extra demo flags...]      (make demo-stress)
set -uo pipefail
runs="${1:-5}"
shift || true
here="$(cd "$(dirname "$0")/.." && pwd)"
for i in $(seq 1 "$runs"); do
  start=$(date +%s)
  log="$(mktemp -t fleetctl-demo-XXXX.log)"
  if "$here/scripts/with-cpu-hog.sh" "$here/.venv/bin/fleetctl" demo --headless "$@" >"$log" 2>&1; then
    echo "run $i/$runs: passed in $(( $(date +%s) - start ))s: $(grep '^Summary:' "$log")"
  else
    echo "run $i/$runs: FAILED in $(( $(date +%s) - start ))s (log: $log)"
    tail -20 "$log"
    exit 1
  fi
  rm -f "$log"
done
