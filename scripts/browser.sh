#!/usr/bin/env bash
# Makes sure a headless Chromium is on this machine for the console's browser tests
# (tests/console/test_console_browser.py): installs Debian's `chromium` package when it
# is missing and apt-get can run. Never fails the set-up: without Chromium those two
# tests skip with "optional tool missing: Chromium", which `make test` lists under -rs.
set -uo pipefail

log() { echo "[browser] $*" >&2; }

if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1 || [ "$(id -u)" != 0 ]; then
  log "Chromium missing and apt-get unavailable (or not root): the browser tests will skip"
  exit 0
fi
log "Chromium missing: installing Debian's chromium package with apt-get"
if apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; then
  log "Chromium installed: $(chromium --version 2>/dev/null)"
else
  log "apt-get could not install chromium: the browser tests will skip"
fi
exit 0
