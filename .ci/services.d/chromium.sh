#!/usr/bin/env bash
# Debian's chromium for the report's browser test (tests/report/test_browser.py, marker `browser`).
# Idempotent and quick: does nothing when /usr/bin/chromium already runs; otherwise one
# `apt-get update` and a minimal install (no recommends). Playwright drives this binary through
# `executable_path`, so `playwright install` (a download from a CDN) is never needed.
set -euo pipefail

if [ -x /usr/bin/chromium ] && /usr/bin/chromium --version >/dev/null 2>&1; then
    echo "chromium: $(/usr/bin/chromium --version)"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"; else
        echo "chromium: not root and no sudo; the browser test will be skipped" >&2
        exit 0
    fi
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
echo "chromium: $(/usr/bin/chromium --version)"
