#!/usr/bin/env bash
# Install the Debian packages the tests and the demo run for real, when they are missing.
# As root it uses apt-get; otherwise it says what to install and stops.
#   scripts/system-deps.sh            prometheus and postgresql (make test, make demo)
#   scripts/system-deps.sh stress-ng  also these packages, by command name (make test-stress)
set -euo pipefail

missing=()
command -v prometheus >/dev/null 2>&1 || [ -x /usr/bin/prometheus ] || missing+=(prometheus)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
for extra in "$@"; do
  command -v "$extra" >/dev/null 2>&1 || missing+=("$extra")
done

[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "error: missing Debian packages: ${missing[*]}" >&2
  echo "  hint: run 'sudo apt-get install -y ${missing[*]}', or run make as root to install them" >&2
  exit 2
fi
echo "installing Debian packages: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# Keep the packages' own services from starting: the test fixtures start their own, on loopback.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy" && created_policy=1
fi
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
[ "$created_policy" -eq 1 ] && rm -f "$policy"
exit 0
