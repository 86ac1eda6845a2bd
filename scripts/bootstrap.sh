#!/usr/bin/env bash
# Creates .venv (if missing) and installs the project with its test extras, pinned by constraints.txt;
# compiles the French and Spanish catalogues (locale/*.po → .mo, never committed) with GNU gettext,
# installed from Debian's packages when missing (as root), as the test command installs chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is needed")'
if [ ! -x .venv/bin/python ]; then "$PYTHON" -m venv .venv; fi
stamp=.venv/.installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ constraints.txt -nt "$stamp" ]; then
  .venv/bin/pip install -q -U pip
  .venv/bin/pip install -q -c constraints.txt -e '.[test]'
  touch "$stamp"
fi
if ! command -v msgfmt >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "Installing Debian's gettext for the French and Spanish catalogues…"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gettext >/dev/null
  else
    echo "WARNING: GNU gettext (msgfmt) missing: pages stay in English and the catalogue test fails (apt-get install gettext)"
  fi
fi
if command -v msgfmt >/dev/null; then
  # Only .po files newer than their .mo are compiled; the project's own locale/ only (not .venv's).
  .venv/bin/python manage.py compilemessages --ignore=.venv --ignore=var --ignore=node_modules -v0
fi
