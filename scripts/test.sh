#!/usr/bin/env bash
# `make test`: install what the tests need and run the whole suite (unit, API, admin, races, browser).
# Without DATABASE_URL the suite runs on SQLite and the PostgreSQL-only tests (races, locks, triggers)
# skip with their reason; .ci/run sets DATABASE_URL and REDIS_URL so nothing skips there.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
if [ ! -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "Installing Debian's chromium for the browser tests…"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "WARNING: ${CHROMIUM_PATH:-/usr/bin/chromium} missing: browser tests will not run (apt-get install chromium)"
  fi
fi
exec .venv/bin/pytest "$@"
