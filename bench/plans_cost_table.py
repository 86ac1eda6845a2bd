"""Benchmark of the pure cost-table module (no database): what the kernel does per account.

Run: .venv/bin/python bench/plans_cost_table.py
Measures parse + canonical for typical tables, and range_total / total over 10,000-position steps
for 100,000 accounts, to show that pricing does not grow with the number of positions.
"""

import os
import platform
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from apps.plans.cost_table import parse  # noqa: E402

TABLES = ["1:0;5:10;10:3;50:1", "1:0;10:1.5;-1", "0:10;-1", "3:0;-1", "",
          ";".join(f"{c}:{c % 7}.25" for c in range(10, 1010, 10))]  # a 100-item table


def timed(label, func, repeat):
    start = time.perf_counter()
    for _ in range(repeat):
        func()
    elapsed = time.perf_counter() - start
    print(f"{label:<58} {repeat:>9,} × {elapsed / repeat * 1e6:8.2f} µs  = {elapsed:6.2f} s")


def main():
    print(f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cpus, "
          f"{platform.platform()}")
    for text in TABLES:
        label = text if len(text) < 30 else f"{text[:26]}… ({text.count(';') + 1} items)"
        timed(f"parse {label!r}", lambda t=text: parse(t), 2_000)
    graduated, big = parse(TABLES[0]), parse(TABLES[-1])
    timed("range_total(start, 10,000), 4 items (100,000 accounts)",
          lambda: graduated.range_total(123_456, 10_000), 100_000)
    timed("total(1,000,000), 4 items", lambda: graduated.total(1_000_000), 100_000)
    timed("range_total(start, 10,000), 100 items", lambda: big.range_total(500, 10_000), 20_000)
    timed("range_total(start, 1,000,000), 100 items", lambda: big.range_total(500, 1_000_000), 20_000)
    timed("price(n), 100 items", lambda: big.price(777), 100_000)


if __name__ == "__main__":
    main()
