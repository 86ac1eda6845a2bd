"""Seeded rows (catalogue, role groups, beat schedules), all from idempotent ``ensure_…()`` functions.

Migrations call them; so does ``post_migrate`` (permissions exist only after it) and the
``seeded`` test fixture, because transactional and browser tests truncate every table.
"""


def ensure_seeds():
    from apps.accounts.roles import ensure_groups
    from apps.services.catalogue import ensure_catalogue
    from billing_site.beat import ensure_beat_schedules

    ensure_catalogue()
    ensure_beat_schedules()
    ensure_groups()
