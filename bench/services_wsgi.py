"""WSGI entry of the kernel's HTTP benchmark (``bench.services_settings``)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.services_settings")
application = get_wsgi_application()
