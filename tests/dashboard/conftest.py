"""The dashboard's world: Acme billed by codes (Europe/Berlin) with units in every branch, codes in every
state, a queued renewal, blocked and soon-blocked accounts, and a second service whose rows must never count.

At ``NOW`` (T0 + 1 h; 12:00 in Berlin on 4 May 2026), Acme holds:

| unit (account)                     | live code (held by)      | queued          | unit deactivates (Berlin) |
|------------------------------------|--------------------------|-----------------|---------------------------|
| North truck 1 (North Client)       | c1 30 d (North)          |                 | 2026-06-03                |
| North truck 2 (North Client)       | c2 5 d (North)           | q2 10 d (North) | 2026-05-19 (q2's end)     |
| North-East van (North-East Client) | c3 3 d (North)           |                 | 2026-05-07                |
| South bus (South Client)           | c4 60 d (top)            |                 | 2026-07-03                |
| Direct car (Direct Client)         | c7 20 d (top)            |                 | 2026-05-24                |
| North spare (North Client)         | none: inactive           |                 |                           |

plus c5 new (top), c8 new (North), c6 30 d running on no unit (top).
"""


import pytest

from tests.dashboard.helpers import T0, DashWorld, build_dash_world


@pytest.fixture
def dw(world) -> DashWorld:
    return build_dash_world(world, T0)


