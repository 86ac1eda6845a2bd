"""The account tree, as the building blocks of ``core`` see it, registered by the app that owns it.

``core`` imports no domain app (docs/architecture.md, "Layers"). Its admin and API shells still need
two facts about the tree every row hangs from: the account model (to scope foreign-key choices and
list the services) and whether an account is blocked (writes are refused while it is). The accounts
app registers both in its ``AppConfig.ready`` (``register``); ``core`` asks through ``account_model()``
and ``is_blocked(account)``. The same pattern as ``get_user_model()``: the low layer names a role, the
domain fills it.
"""

from collections.abc import Callable

_registered: dict[str, object] = {}


def register(*, account_model, is_blocked: Callable[[object], bool]) -> None:
    _registered["account_model"] = account_model
    _registered["is_blocked"] = is_blocked


def account_model():
    return _registered["account_model"]


def is_blocked(account) -> bool:
    return _registered["is_blocked"](account)
