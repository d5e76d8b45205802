#!/usr/bin/env bash
# Run a command while a CPU hog takes one core (stress-ng --cpu 1), as on a shared 2-core machine;
# the hog is started before the command and stopped after it, whatever the command's outcome.
#   scripts/with-cpu-hog.sh make test
set -euo pipefail
if ! command -v stress-ng >/dev/null 2>&1; then
  echo "error: stress-ng is not installed" >&2
  echo "  hint: run 'sudo apt-get install -y stress-ng', or run 'make test-stress' as root to install it" >&2
  exit 2
fi
stress-ng --cpu "${HOG_CPUS:-1}" --cpu-method matrixprod --quiet &
hog=$!
trap 'kill "$hog" 2>/dev/null || true; wait "$hog" 2>/dev/null || true' EXIT
echo "with-cpu-hog: stress-ng (pid $hog) keeps ${HOG_CPUS:-1} core(s) busy while: $*" >&2
"$@"
