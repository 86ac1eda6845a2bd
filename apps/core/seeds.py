"""Seeded rows (catalogue, role groups, beat schedules), all from idempotent ``ensure_…()`` functions.

``post_migrate`` calls ``ensure_seeds`` (permissions exist only after it), and so does the ``seeded``
test fixture, because transactional and browser tests truncate every table. ``core`` knows no domain:
each app that owns seeded rows registers its ``ensure_…()`` in its ``AppConfig.ready`` (``register``),
and they run in the order of ``INSTALLED_APPS``.
"""

from collections.abc import Callable

_seeders: list[Callable[[], None]] = []


def register(seeder: Callable[[], None]) -> None:
    if seeder not in _seeders:
        _seeders.append(seeder)


def ensure_seeds():
    for seeder in _seeders:
        seeder()
