"""Settings for the kernel's HTTP benchmark: the project's base settings plus a trivial endpoint.

DEBUG off (no query log), the project's URLs with ``/bench/ping/`` added (``bench.services_urls``).
"""

from billing_site.settings.base import *  # noqa: F403

DEBUG = False
ROOT_URLCONF = "bench.services_urls"
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
