#!/usr/bin/env bash
# Stop early, with a clear message, when the Python given to make is older than 3.11.
set -euo pipefail
py=${1:-python3}
if ! command -v "$py" >/dev/null 2>&1; then
  echo "error: $py not found; fleetctl needs Python 3.11 or newer (make PYTHON=/path/to/python3.11)" >&2
  exit 2
fi
if ! "$py" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
  echo "error: $("$py" --version 2>&1) is too old; fleetctl needs 3.11 or newer (make PYTHON=python3.11)" >&2
  exit 2
fi
"$py" -c 'import venv, ensurepip' 2>/dev/null || {
  echo "error: $py lacks venv/ensurepip; on Debian: apt-get install python3-venv" >&2
  exit 2
}
