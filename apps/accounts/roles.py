"""Roles as Django groups with model permissions (the coarse gate); object-level rules live in
the operations (strict-ancestor rule) and the scoping queries.

Permissions are named by patterns so that models added later are covered: ``("codes", "*")`` is every
permission of the codes app, ``("units", "view_*")`` every view permission of the units app.
"""

from fnmatch import fnmatch

from .models import Role

ROLE_PERMISSIONS: dict[str, list[tuple[str, str]]] = {
    Role.TOP_USER: [
        ("accounts", "*"), ("plans", "*"), ("services", "*"), ("units", "*"), ("codes", "*"),
        ("discounts", "*"), ("django_celery_beat", "view_*"),
    ],
    Role.DISTRIBUTOR: [
        ("accounts", "view_*"), ("accounts", "add_account"), ("accounts", "change_account"),
        ("accounts", "make_payment"), ("accounts", "add_operator"), ("accounts", "change_operator"),
        ("plans", "view_plan"), ("plans", "view_planservice"), ("services", "view_*"), ("services", "check_service"),
        ("units", "*"), ("codes", "*"),
    ],
    Role.RESTRICTED_DISTRIBUTOR: [("codes", "apply_code")],
}
# Distributors never get these, whatever the patterns above match.
EXCLUDED = {
    Role.TOP_USER: {"accounts.change_service_settings"},
    Role.DISTRIBUTOR: {"codes.generate_codes", "codes.view_codeevent_all", "discounts.*"},
    Role.RESTRICTED_DISTRIBUTOR: set(),
}
GROUP_NAMES = {Role.TOP_USER: "Top users", Role.DISTRIBUTOR: "Distributors",
               Role.RESTRICTED_DISTRIBUTOR: "Restricted distributors"}


def ensure_groups():
    from django.contrib.auth.models import Group, Permission

    perms = list(Permission.objects.select_related("content_type"))
    for role, patterns in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=GROUP_NAMES[role])
        wanted = []
        for perm in perms:
            full = f"{perm.content_type.app_label}.{perm.codename}"
            if any(fnmatch(full, pattern) for pattern in EXCLUDED[role]):
                continue
            if any(perm.content_type.app_label == app and fnmatch(perm.codename, code) for app, code in patterns):
                wanted.append(perm)
        group.permissions.set(wanted)


def group_for(role: str):
    from django.contrib.auth.models import Group

    name = GROUP_NAMES.get(role)
    return Group.objects.get_or_create(name=name)[0] if name else None
