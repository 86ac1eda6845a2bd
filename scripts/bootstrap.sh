#!/usr/bin/env bash
# Creates .venv (if missing) and installs the project with its test extras, pinned by constraints.txt.
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
