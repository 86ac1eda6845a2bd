#!/usr/bin/env bash
# `make run`: install, migrate, load the demo data (idempotent), print the demo logins, then serve the
# admin at http://127.0.0.1:8000/admin/ with one Celery worker and the beat scheduler. Ctrl-C stops all.
# Embedded defaults: SQLite in var/, a filesystem broker. DATABASE_URL / REDIS_URL switch to PostgreSQL / Redis.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
export DJANGO_SETTINGS_MODULE=${DJANGO_SETTINGS_MODULE:-billing_site.settings.dev}
PY=.venv/bin/python
LOG_DIR=${VAR_DIR:-var}
mkdir -p "$LOG_DIR"
$PY manage.py migrate --noinput -v0
$PY manage.py load_demo
pids=()
cleanup() { trap - INT TERM EXIT; kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup INT TERM EXIT
# One worker with the embedded beat (-B): on SQLite there must be exactly one writer process for jobs.
.venv/bin/celery -A billing_site worker -B --pool=solo --loglevel=INFO \
  --scheduler django_celery_beat.schedulers:DatabaseScheduler >"$LOG_DIR/celery.log" 2>&1 &
pids+=($!)
echo "Celery worker + beat running (log: $LOG_DIR/celery.log)"
$PY manage.py runserver 127.0.0.1:${PORT:-8000} &
pids+=($!)
wait -n "${pids[@]}"
