"""The Celery app defaults to the WSGI app's settings module (SPEC §9.1): a worker started without
``DJANGO_SETTINGS_MODULE`` runs the production settings, never DEBUG with the built-in secret key."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROBE = ("import billing_site.celery as c; from django.conf import settings; "
         "print(c.app.main, settings.SETTINGS_MODULE, settings.DEBUG, settings.SECRET_KEY)")


def _run(**env) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "SECRET_KEY", "DEBUG")}
    return subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env={**clean, **env}, capture_output=True,
                          text=True, timeout=60)


def _wsgi_default() -> str:
    text = (ROOT / "billing_site" / "wsgi.py").read_text()
    return text.split('setdefault("DJANGO_SETTINGS_MODULE", "')[1].split('"')[0]


def test_a_worker_without_a_settings_module_runs_the_wsgi_apps_settings():
    result = _run(SECRET_KEY="k-from-the-environment")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["billing_site", _wsgi_default(), "False", "k-from-the-environment"]
    assert _wsgi_default() == "billing_site.settings.production"


def test_without_a_secret_key_such_a_worker_refuses_to_start():
    result = _run()
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_an_explicit_module_still_wins_as_make_run_sets_it():
    result = _run(DJANGO_SETTINGS_MODULE="billing_site.settings.dev")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[1] == "billing_site.settings.dev"
    assert "export DJANGO_SETTINGS_MODULE=${DJANGO_SETTINGS_MODULE:-billing_site.settings.dev}" in (
        ROOT / "scripts" / "run.sh").read_text()
