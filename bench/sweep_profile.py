"""Profile of the expiry sweep with its audit events (issue 13 item 5): cProfile of one rolled-back sweep
(Python side) and the time of each statement it sends (captured), on a database built by
``bench/audit_bench.py``. ``--sort cumulative|tottime``; ``--top N``.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/<bench db> .venv/bin/python bench/sweep_profile.py
"""

import argparse
import cProfile
import os
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "billing_site.settings.dev")
os.environ.setdefault("DEBUG", "0")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from apps.codes import operations as ops  # noqa: E402
from apps.core import clock  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import codes_bench  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sort", default="cumulative")
    parser.add_argument("--top", type=int, default=35)
    args = parser.parse_args()
    now = clock.now()
    profile = cProfile.Profile()
    with CaptureQueriesContext(connection) as ctx:
        start = time.perf_counter()
        codes_bench.measure_rolled_back(lambda: profile.runcall(ops.expire_codes, now=now))
        elapsed = time.perf_counter() - start
    print(f"sweep (profiled, rolled back): {elapsed:.2f} s, load {open('/proc/loadavg').read().strip()}")
    for q in ctx.captured_queries:
        print(f"  {float(q['time']) * 1000:8.0f} ms  {q['sql'][:110].strip()!r}")
    pstats.Stats(profile).sort_stats(args.sort).print_stats(args.top)


if __name__ == "__main__":
    main()
