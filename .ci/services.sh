#!/usr/bin/env bash
# Start every service the tests need: each script in .ci/services.d/ installs and starts one.
set -euo pipefail
cd "$(dirname "$0")"
for script in services.d/*.sh; do
    [ -e "$script" ] || continue
    echo "== $script"
    bash "$script"
done
