"""The Celery app. Like the WSGI app it defaults to the production settings: a worker started without
``DJANGO_SETTINGS_MODULE`` must not run with DEBUG on and the built-in secret key (production settings
refuse to start without ``SECRET_KEY``). ``make run`` (scripts/run.sh) sets the dev module explicitly."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "billing_site.settings.production")

app = Celery("billing_site", task_cls="celery.contrib.django.task:DjangoTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
