"""Who may do what, as ``core``'s own pages ask it: named checks registered by the app that owns the rules.

``core`` imports no domain app (docs/architecture.md, "Layers"), yet its scheduled-jobs page, the admin
home and the admin index's jobs link decide by who the operator is. They ask a named check here
(``allows(SEE_JOBS, user)``, or ``{% if user|may:"see_jobs" %}`` with the ``rights`` template tags); the
accounts app registers each name with the one function of ``apps.accounts.rights`` that answers it, in
its ``AppConfig.ready``. The same pattern as ``core.tree``. A name nobody registered refuses.
"""

from collections.abc import Callable

SEE_JOBS = "see_jobs"  # the scheduled-jobs page and its link on the admin index
HOME_IS_APPLY_CODE = "home_is_apply_code"  # the admin home is "Apply a code" (the operator's only page)

_checks: dict[str, Callable[[object], bool]] = {}


def register(**checks: Callable[[object], bool]) -> None:
    _checks.update(checks)


def allows(name: str, user) -> bool:
    check = _checks.get(name)
    return bool(check is not None and check(user))
