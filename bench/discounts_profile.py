"""Profile one discount calculation of an already built benchmark service (see discounts_bench.py).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/billing_bench_discounts \\
        .venv/bin/python bench/discounts_profile.py --service <id> [--top 30]

Prints the cumulative-time table of ``calculate_discount`` (cProfile), to find the hot spots.
"""

import argparse
import cProfile
import os
import pstats
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "billing_site.settings.dev")

import django  # noqa: E402

django.setup()

from apps.accounts.models import Account  # noqa: E402
from apps.discounts.queries import calculate_discount  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--service", type=int, required=True)
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()
    service = Account.objects.get(pk=args.service, parent__isnull=True)
    profile = cProfile.Profile()
    profile.runcall(calculate_discount, service)
    pstats.Stats(profile).sort_stats("cumulative").print_stats(args.top)
    pstats.Stats(profile).sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    main()
