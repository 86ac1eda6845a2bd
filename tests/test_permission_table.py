"""The permission table: role × every admin and API URL × method → expected status.

Each row names a URL (built from the ``world`` fixture), a method, an optional body, and the
status each actor gets. ``north`` is distributor North; ``south`` is distributor South, who must
see nothing of North's branch; ``restricted`` is North's restricted distributor; ``other`` is the
top user of another service. A missing role in a row means "not checked here".
"""

import re

import pytest
from django.test import Client
from rest_framework.test import APIClient
from apps.services import ledger

ROLES = ("anon", "platform", "top", "north", "restricted", "south", "other")


def _actor(world, role):
    return {"platform": world.platform, "top": world.top, "north": world.north_op,
            "restricted": world.north_restricted, "south": world.south_op, "other": world.other_top}.get(role)


def row(method, url, expected: dict, body=None, kind="api"):
    return pytest.param(method, url, expected, body, kind, id=f"{kind}-{method}-{url}")


PAY = {"amount": "10", "days": 1, "description": "table test"}
API = [
    row("get", "/api/v1/accounts/", {"anon": 401, "platform": 200, "top": 200, "north": 200, "restricted": 403,
                                     "south": 200, "other": 200}),
    row("get", "/api/v1/accounts/{north}/", {"anon": 401, "platform": 200, "top": 200, "north": 200,
                                             "restricted": 403, "south": 404, "other": 404}),
    row("patch", "/api/v1/accounts/{north_client}/", {"top": 200, "north": 200, "south": 404, "other": 404,
                                                      "restricted": 403}, {"name": "North Client renamed"}),
    row("post", "/api/v1/accounts/{north_client}/payments/", {"anon": 401, "platform": 201, "top": 201, "north": 201,
                                                              "restricted": 403, "south": 404, "other": 404}, PAY),
    row("post", "/api/v1/accounts/{north}/payments/", {"top": 201, "north": 403, "south": 404}, PAY),
    row("get", "/api/v1/accounts/{north_client}/ledger/", {"anon": 401, "top": 200, "north": 200, "restricted": 403,
                                                           "south": 404, "other": 404}),
    row("get", "/api/v1/operators/", {"anon": 401, "platform": 200, "top": 200, "north": 200, "restricted": 200,
                                      "south": 200}),
    row("get", "/api/v1/operators/{north_op}/", {"top": 200, "north": 200, "south": 404, "other": 404}),
    row("post", "/api/v1/operators/{north_op}/token/", {"anon": 401, "top": 201, "north": 201, "south": 404,
                                                        "restricted": 404, "other": 404}),
    row("get", "/api/schema/", {"anon": 401, "top": 200}),
    row("get", "/api/docs/", {"anon": 401, "top": 200}),  # anon: a page asking to sign in (issue 15)
]
DOMAIN_API = [
    row("get", "/api/v1/plans/", {"anon": 401, "platform": 200, "top": 200, "north": 200, "restricted": 403}),
    row("get", "/api/v1/plans/{dealer_plan}/", {"top": 200, "north": 200, "south": 200, "other": 404}),
    row("get", "/api/v1/plans/{dealer_plan}/effective/", {"top": 200, "north": 200, "other": 404}),
    row("get", "/api/v1/plans/{dealer_plan}/services/", {"top": 200, "other": 404}),
    row("post", "/api/v1/cost-tables/evaluate/", {"anon": 401, "top": 200, "north": 200},
        {"cost_table": "1:0;10:1.5;-1", "count": 3}),
    row("get", "/api/v1/catalogue/", {"anon": 401, "top": 200, "north": 200}),
    row("get", "/api/v1/accounts/{north_client}/services/", {"anon": 401, "top": 200, "north": 200,
                                                             "restricted": 403, "south": 404, "other": 404}),
    row("post", "/api/v1/accounts/{north_client}/check/", {"top": 200, "north": 200, "south": 404, "other": 404},
        {"service": "sms"}),
    row("get", "/api/v1/units/", {"anon": 401, "platform": 200, "top": 200, "north": 200, "restricted": 403,
                                  "south": 200}),
    row("get", "/api/v1/units/{north_unit}/", {"top": 200, "north": 200, "south": 404, "other": 404,
                                               "restricted": 403}),
    row("get", "/api/v1/monitoring-users/", {"anon": 401, "top": 200, "north": 200, "restricted": 403}),
    row("get", "/api/v1/codes/", {"anon": 401, "top": 200, "north": 200, "south": 200}),
    row("get", "/api/v1/codes/{north_code}/", {"top": 200, "north": 200, "south": 404, "other": 404}),
    row("post", "/api/v1/codes/generate/", {"top": 201, "north": 403, "restricted": 403},
        {"quantity": 1, "validity_days": 30}),
    row("post", "/api/v1/codes/{north_code}/queue/", {"anon": 401, "platform": 400, "top": 400, "north": 400,
                                                      "restricted": 403, "south": 404, "other": 404}, {"unit": 0}),
    row("post", "/api/v1/codes/{north_code}/unqueue/", {"anon": 401, "platform": 400, "top": 400, "north": 400,
                                                        "restricted": 403, "south": 404, "other": 404}),
    row("get", "/api/v1/code-events/", {"anon": 401, "top": 200, "north": 200}),
    row("get", "/api/v1/expiry-notices/", {"anon": 401, "top": 200, "north": 200}),
    row("get", "/api/v1/discount/", {"anon": 401, "top": 200, "north": 404, "restricted": 404, "south": 404,
                                     "other": 404}),
    row("get", "/api/v1/discount/?service={acme}", {"platform": 200}),
    row("get", "/api/v1/discount/advice/?account={north_client}", {"anon": 401, "top": 200, "north": 404,
                                                                    "restricted": 404, "south": 404, "other": 404}),
    row("get", "/api/v1/discount/advice/?account={north_client}&service={acme}", {"platform": 200}),
    row("get", "/api/v1/discount/advice/?unit={north_unit}", {"top": 200, "north": 404}),
    row("get", "/api/v1/accounts/{north_client}/replay/?since=2026-01-01&until=2026-01-31",
        {"anon": 401, "platform": 200, "top": 200, "north": 403, "restricted": 403, "south": 403, "other": 404}),
]
ADMIN = [
    # A restricted distributor's home is "Apply a code" (issue 15).
    row("get", "/admin/", {"anon": 302, "platform": 200, "top": 200, "north": 200, "restricted": 302}, kind="admin"),
    row("get", "/admin/accounts/account/", {"anon": 302, "platform": 200, "top": 200, "north": 200,
                                            "restricted": 403, "south": 200, "other": 200}, kind="admin"),
    row("get", "/admin/accounts/account/{north}/change/", {"top": 200, "north": 200, "south": 404, "other": 404,
                                                           "restricted": 403}, kind="admin"),
    row("get", "/admin/accounts/account/{north_client}/payment/", {"top": 200, "north": 200, "south": 404,
                                                                   "restricted": 403, "other": 404}, kind="admin"),
    row("get", "/admin/accounts/account/{north}/payment/", {"top": 200, "north": 403}, kind="admin"),
    row("get", "/admin/accounts/account/{north_client}/block/", {"top": 200, "north": 403, "south": 404},
        kind="admin"),
    row("get", "/admin/accounts/ledgerentry/", {"top": 200, "north": 200, "restricted": 403}, kind="admin"),
    row("get", "/admin/accounts/ledgerentry/export.csv", {"top": 200, "north": 200, "restricted": 403},
        kind="admin"),
    row("get", "/admin/accounts/operator/", {"top": 200, "north": 200, "restricted": 403}, kind="admin"),
    row("get", "/admin/accounts/operator/{south_op}/change/", {"top": 200, "north": 404}, kind="admin"),
    row("get", "/admin/accounts/account/{north_client}/services/", {"top": 200, "north": 200, "south": 404,
                                                                    "other": 404}, kind="admin"),
    row("get", "/admin/services/check/", {"top": 200, "north": 200, "restricted": 403}, kind="admin"),
    row("get", "/admin/plans/plan/", {"top": 200, "north": 200, "restricted": 403}, kind="admin"),
    row("get", "/admin/plans/plan/{dealer_plan}/change/", {"top": 200, "other": 404}, kind="admin"),
    row("get", "/admin/units/unit/", {"top": 200, "north": 200, "restricted": 403}, kind="admin"),
    row("get", "/admin/units/unit/{south_unit}/change/", {"top": 200, "south": 200, "north": 404}, kind="admin"),
    row("get", "/admin/codes/activationcode/", {"top": 200, "north": 200, "restricted": 403}, kind="admin"),
    row("get", "/admin/codes/apply/", {"top": 200, "north": 200, "restricted": 200}, kind="admin"),
    row("get", "/admin/codes/generate/", {"top": 200, "north": 403, "restricted": 403}, kind="admin"),
    row("get", "/admin/codes/log/", {"top": 200, "north": 200, "restricted": 403}, kind="admin"),
    row("get", "/admin/audit/", {"anon": 302, "platform": 200, "top": 200, "north": 200, "restricted": 403,
                                 "south": 200, "other": 200}, kind="admin"),
    row("get", "/admin/discounts/module/", {"top": 200, "north": 404, "restricted": 404}, kind="admin"),
    row("get", "/admin/services/replay/", {"anon": 302, "platform": 200, "top": 200, "north": 403, "restricted": 403},
        kind="admin"),
    row("get", "/admin/services/replay/?since=2026-01-01&until=2026-01-31", {"top": 200, "north": 403},
        kind="admin"),
]


def S(codes: str) -> dict:
    """Statuses in ``ROLES`` order, "-" for a role not checked: ``S("302 200 200 403 403 403 200")``."""
    return {role: int(code) for role, code in zip(ROLES, codes.split(), strict=True) if code != "-"}


# Every other named URL of the resolver (``test_every_resolver_url_has_a_row`` keeps this complete): the
# statuses each role gets, POST-only endpoints with an empty body (400 once the role may use them).
RESOLVER_API = [
    row("post", "/api/v1/accounts/{north_client}/consume/", S("401 400 400 400 403 - -")),
    row("post", "/api/v1/accounts/{north_client}/objects/", S("401 400 400 400 403 404 404")),
    row("get", "/api/v1/accounts/{north_client}/services/sms/", S("401 405 405 405 403 405 405")),
    row("post", "/api/v1/codes/apply/", S("401 400 400 400 400 400 400")),
    row("post", "/api/v1/codes/{north_code}/assign/", S("401 400 400 400 403 404 404")),
    row("get", "/api/v1/code-events/{event}/", S("401 200 200 200 403 404 404")),
    row("get", "/api/v1/audit-events/", S("401 200 200 200 403 200 200")),
    row("get", "/api/v1/audit-events/{audit_event}/", S("401 200 200 200 403 404 404")),
    row("post", "/api/v1/codes/{north_code}/reassign/", S("401 400 400 400 403 404 404")),
    row("post", "/api/v1/codes/{north_code}/share/", S("401 400 400 400 403 404 404")),
    row("post", "/api/v1/codes/{north_code}/unassign/", S("401 200 200 200 403 404 404")),
    row("post", "/api/v1/codes/{north_code}/unshare/", S("401 400 400 403 403 404 404")),
    row("get", "/api/v1/device-types/{device_type}/", S("401 200 200 200 200 200 200")),
    row("get", "/api/v1/device-types/", S("401 200 200 200 200 200 200")),
    row("get", "/api/v1/discount/accounts/", S("401 400 200 404 404 404 404")),
    row("get", "/api/v1/discount/history/", S("401 400 200 404 404 404 404")),
    row("get", "/api/v1/discount/units/", S("401 400 200 404 404 404 404")),
    row("get", "/api/v1/expiry-notices/{notice}/", S("401 200 200 200 403 404 404")),
    row("get", "/api/v1/modems/{modem}/", S("401 200 200 200 200 200 200")),
    row("get", "/api/v1/modems/", S("401 200 200 200 200 200 200")),
    row("get", "/api/v1/monitoring-users/{monitoring_user}/", S("401 200 200 200 403 404 404")),
    row("get", "/api/v1/monitoring-users/{monitoring_user}/grants/{grant}/", S("401 405 405 405 403 405 405")),
    row("get", "/api/v1/monitoring-users/{monitoring_user}/grants/", S("401 200 200 200 403 404 404")),
    row("get", "/api/v1/plans/{dealer_plan}/effective-services/", S("401 200 200 200 403 200 404")),
    row("get", "/api/v1/plans/{dealer_plan}/services/{plan_service}/", S("401 200 200 200 403 200 404")),
    row("get", "/api/v1/plans/{dealer_plan}/services/export/", S("401 405 405 405 403 405 405")),
    row("post", "/api/v1/plans/{dealer_plan}/services/import/", S("401 400 400 - 403 - 404")),
    row("get", "/api/v1/dashboard/", S("401 400 200 200 403 200 200")),
    row("get", "/api/v1/dashboard/?service={acme}", S("- 200 - - - - -")),
    row("get", "/api/v1/codes/forecast/", S("401 400 200 200 403 200 200")),
    row("get", "/api/v1/codes/forecast/?service={acme}&distributor={north}", S("- 200 200 200 - 400 400")),
]
RESOLVER_ADMIN = [
    row("get", "/admin/accounts/account/add/", S("302 200 200 200 403 200 200"), kind="admin"),
    row("get", "/admin/accounts/account/{acme}/billing-method/", S("302 200 403 404 404 404 404"), kind="admin"),
    row("get", "/admin/accounts/account/{north_client}/delete/", S("302 403 403 403 403 403 403"), kind="admin"),
    row("get", "/admin/accounts/account/{north_client}/history/", S("302 200 200 200 403 404 404"), kind="admin"),
    row("get", "/admin/accounts/ledgerentry/add/", S("302 403 403 403 403 403 403"), kind="admin"),
    row("get", "/admin/accounts/ledgerentry/{ledger}/change/", S("302 200 200 200 403 404 404"), kind="admin"),
    row("get", "/admin/accounts/ledgerentry/{ledger}/delete/", S("302 403 403 403 403 403 403"), kind="admin"),
    row("get", "/admin/accounts/ledgerentry/{ledger}/history/", S("302 200 200 200 403 404 404"), kind="admin"),
    row("get", "/admin/accounts/operator/add/", S("302 200 200 200 403 200 200"), kind="admin"),
    row("get", "/admin/accounts/operator/{north_op}/delete/", S("302 403 403 403 403 403 403"), kind="admin"),
    row("get", "/admin/accounts/operator/{north_op}/history/", S("302 200 200 200 404 404 404"), kind="admin"),
    row("get", "/admin/accounts/", S("302 200 200 200 404 200 200"), kind="admin"),
    row("get", "/admin/auth/group/add/", S("302 200 403 403 403 403 403"), kind="admin"),
    row("get", "/admin/auth/group/{group}/change/", S("302 200 403 403 403 403 403"), kind="admin"),
    row("get", "/admin/auth/group/", S("302 200 403 403 403 403 403"), kind="admin"),
    row("get", "/admin/auth/group/{group}/delete/", S("302 200 403 403 403 403 403"), kind="admin"),
    row("get", "/admin/auth/group/{group}/history/", S("302 200 403 403 403 403 403"), kind="admin"),
    row("get", "/admin/accounts/operator/{north_op}/password/", S("302 200 200 200 403 404 404"), kind="admin"),
    row("get", "/admin/autocomplete/", S("302 403 403 403 403 403 403"), kind="admin"),
    row("get", "/admin/codes/activationcode/add/", S("302 403 403 403 403 403 403"), kind="admin"),
    row("get", "/admin/codes/activationcode/{north_code_pk}/change/", S("302 200 200 200 403 404 404"), kind="admin"),
    row("get", "/admin/codes/activationcode/{north_code_pk}/delete/", S("302 403 403 403 403 403 403"), kind="admin"),
    row("get", "/admin/codes/activationcode/{north_code_pk}/history/", S("302 200 200 200 404 404 404"), kind="admin"),
    row("get", "/admin/codes/expirynotice/add/", S("302 200 200 200 403 200 200"), kind="admin"),
    row("get", "/admin/codes/expirynotice/{notice}/change/", S("302 200 200 200 403 404 404"), kind="admin"),
    row("get", "/admin/codes/expirynotice/", S("302 200 200 200 403 200 200"), kind="admin"),
    row("get", "/admin/codes/expirynotice/{notice}/delete/", S("302 403 403 403 403 403 403"), kind="admin"),
    row("get", "/admin/codes/expirynotice/{notice}/history/", S("302 200 200 200 404 404 404"), kind="admin"),
    row("get", "/admin/discounts/discountmodule/add/", S("302 403 403 403 403 403 403"), kind="admin"),
    row("get", "/admin/discounts/discountmodule/{snapshot}/change/", S("302 403 403 403 403 403 403"), kind="admin"),
    row("get", "/admin/discounts/discountmodule/", S("302 302 302 302 302 302 302"), kind="admin"),
    row("get", "/admin/discounts/discountmodule/{snapshot}/delete/", S("302 403 403 403 403 403 403"), kind="admin"),
    row("get", "/admin/discounts/discountmodule/{snapshot}/history/", S("302 403 403 403 403 403 403"), kind="admin"),
    row("get", "/admin/django_celery_beat/clockedschedule/add/", S("302 200 403 403 403 403 403"), kind="admin"),
    row("get", "/admin/django_celery_beat/clockedschedule/{clocked}/change/",
        S("302 200 403 403 403 403 403"), kind="admin"),
    row("get", "/admin/django_celery_beat/clockedschedule/", S("302 200 403 403 403 403 403"), kind="admin"),
    row("get", "/admin/django_celery_beat/clockedschedule/{clocked}/delete/",
        S("302 200 403 403 403 403 403"), kind="admin"),
    row("get", "/admin/django_celery_beat/clockedschedule/{clocked}/history/",
        S("302 200 403 403 403 403 403"), kind="admin"),
    row("get", "/admin/django_celery_beat/crontabschedule/add/", S("302 200 403 403 403 403 403"), kind="admin"),
    row("get", "/admin/django_celery_beat/crontabschedule/{crontab}/change/",
        S("302 200 403 403 403 403 403"), kind="admin"),
    row("get", "/admin/django_celery_beat/crontabschedule/", S("302 200 403 403 403 403 403"), kind="admin"),
    row("get", "/admin/django_celery_beat/crontabschedule/{crontab}/delete/",
        S("302 200 403 403 403 403 403"), kind="admin"),
    row("get", "/admin/django_celery_beat/crontabschedule/{crontab}/history/",
        S("302 200 403 403 403 403 403"), kind="admin"),
    row("get", "/admin/django_celery_beat/intervalschedule/add/", S("302 200 403 403 403 403 403"), kind="admin"),
    row("get", "/admin/django_celery_beat/intervalschedule/{interval}/change/",
        S("302 200 403 403 403 403 403"), kind="admin"),
    row("get", "/admin/django_celery_beat/intervalschedule/", S("302 200 403 403 403 403 403"), kind="admin"),
    row("get", "/admin/django_celery_beat/intervalschedule/{interval}/delete/",
        S("302 200 403 403 403 403 403"), kind="admin"),
    row("get", "/admin/django_celery_beat/intervalschedule/{interval}/history/",
        S("302 200 403 403 403 403 403"), kind="admin"),
    row("get", "/admin/django_celery_beat/periodictask/add/", S("302 200 403 403 403 403 403"), kind="admin"),
    row("get", "/admin/django_celery_beat/periodictask/{task}/change/", S("302 200 403 403 403 403 403"), kind="admin"),
    row("get", "/admin/django_celery_beat/periodictask/", S("302 200 403 403 403 403 403"), kind="admin"),
    row("get", "/admin/django_celery_beat/periodictask/{task}/delete/", S("302 200 403 403 403 403 403"), kind="admin"),
    row("get", "/admin/django_celery_beat/periodictask/{task}/history/",
        S("302 200 403 403 403 403 403"), kind="admin"),
    row("get", "/admin/django_celery_beat/solarschedule/add/", S("302 200 403 403 403 403 403"), kind="admin"),
    row("get", "/admin/django_celery_beat/solarschedule/{solar}/change/",
        S("302 200 403 403 403 403 403"), kind="admin"),
    row("get", "/admin/django_celery_beat/solarschedule/", S("302 200 403 403 403 403 403"), kind="admin"),
    row("get", "/admin/django_celery_beat/solarschedule/{solar}/delete/",
        S("302 200 403 403 403 403 403"), kind="admin"),
    row("get", "/admin/django_celery_beat/solarschedule/{solar}/history/",
        S("302 200 403 403 403 403 403"), kind="admin"),
    row("get", "/admin/jsi18n/", S("302 200 200 200 200 200 200"), kind="admin"),
    row("get", "/admin/jsi18n/site/", S("302 200 200 200 200 200 200"), kind="admin"),
    # The header's language switcher: every signed-in operator may set their own ("xx" is no language: 400).
    row("post", "/admin/language/", S("302 400 400 400 400 400 400"), {"language": "xx"}, kind="admin"),
    row("get", "/admin/login/", S("200 302 302 302 302 302 302"), kind="admin"),
    row("post", "/admin/logout/", S("302 200 200 200 200 200 200"), kind="admin"),
    row("get", "/admin/password_change/", S("302 200 200 200 200 200 200"), kind="admin"),
    row("get", "/admin/password_change/done/", S("302 200 200 200 200 200 200"), kind="admin"),
    row("get", "/admin/plans/plan/add/", S("302 200 200 403 403 403 200"), kind="admin"),
    row("get", "/admin/plans/plan/{dealer_plan}/delete/", S("302 200 200 403 403 403 404"), kind="admin"),
    row("get", "/admin/plans/plan/{dealer_plan}/effective/", S("302 200 200 200 404 200 404"), kind="admin"),
    row("get", "/admin/plans/plan/{dealer_plan}/history/", S("302 200 200 200 404 200 404"), kind="admin"),
    row("get", "/admin/plans/planevent/add/", S("302 403 403 403 403 403 403"), kind="admin"),
    row("get", "/admin/plans/planevent/{plan_event}/change/", S("302 200 200 403 403 403 404"), kind="admin"),
    row("get", "/admin/plans/planevent/", S("302 200 200 403 403 403 200"), kind="admin"),
    row("get", "/admin/plans/planevent/{plan_event}/delete/", S("302 403 403 403 403 403 403"), kind="admin"),
    row("get", "/admin/plans/planevent/{plan_event}/history/", S("302 200 200 404 404 404 404"), kind="admin"),
    row("get", "/admin/plans/planservice/add/", S("302 403 403 403 403 403 403"), kind="admin"),
    row("get", "/admin/plans/planservice/{plan_service}/change/", S("302 200 200 200 403 200 404"), kind="admin"),
    row("get", "/admin/plans/planservice/", S("302 200 200 200 403 200 200"), kind="admin"),
    row("get", "/admin/plans/planservice/{plan_service}/delete/", S("302 200 200 403 403 403 404"), kind="admin"),
    row("get", "/admin/plans/planservice/export/", S("302 200 200 200 403 200 200"), kind="admin"),
    row("get", "/admin/plans/planservice/{plan_service}/history/", S("302 200 200 200 404 200 404"), kind="admin"),
    row("get", "/admin/plans/planservice/import/", S("302 200 200 403 403 403 200"), kind="admin"),
    row("get", "/admin/plans/planservice/process_import/", S("302 302 302 302 302 302 302"), kind="admin"),
    row("get", "/admin/services/catalogueservice/add/", S("302 200 200 403 403 403 200"), kind="admin"),
    row("get", "/admin/services/catalogueservice/{app}/change/", S("302 200 200 200 403 200 404"), kind="admin"),
    row("get", "/admin/services/catalogueservice/", S("302 200 200 200 403 200 200"), kind="admin"),
    row("get", "/admin/services/catalogueservice/{app}/delete/", S("302 403 403 403 403 403 403"), kind="admin"),
    row("get", "/admin/services/catalogueservice/{app}/history/", S("302 200 200 200 403 200 404"), kind="admin"),
    row("get", "/admin/units/devicetype/add/", S("302 200 403 403 403 403 403"), kind="admin"),
    row("get", "/admin/units/devicetype/{device_type}/change/", S("302 200 200 200 403 200 200"), kind="admin"),
    row("get", "/admin/units/devicetype/", S("302 200 200 200 403 200 200"), kind="admin"),
    row("get", "/admin/units/devicetype/{device_type}/delete/", S("302 200 403 403 403 403 403"), kind="admin"),
    row("get", "/admin/units/devicetype/{device_type}/history/", S("302 200 200 200 403 200 200"), kind="admin"),
    row("get", "/admin/units/modem/add/", S("302 200 403 403 403 403 403"), kind="admin"),
    row("get", "/admin/units/modem/{modem}/change/", S("302 200 200 200 403 200 200"), kind="admin"),
    row("get", "/admin/units/modem/", S("302 200 200 200 403 200 200"), kind="admin"),
    row("get", "/admin/units/modem/{modem}/delete/", S("302 200 403 403 403 403 403"), kind="admin"),
    row("get", "/admin/units/modem/{modem}/history/", S("302 200 200 200 403 200 200"), kind="admin"),
    row("get", "/admin/units/monitoringuser/add/", S("302 200 200 200 403 200 200"), kind="admin"),
    row("get", "/admin/units/monitoringuser/{monitoring_user}/change/", S("302 200 200 200 403 404 404"), kind="admin"),
    row("get", "/admin/units/monitoringuser/", S("302 200 200 200 403 200 200"), kind="admin"),
    row("get", "/admin/units/monitoringuser/{monitoring_user}/delete/", S("302 403 403 403 403 403 403"), kind="admin"),
    row("get", "/admin/units/monitoringuser/{monitoring_user}/history/",
        S("302 200 200 200 403 404 404"), kind="admin"),
    row("get", "/admin/units/unit/add/", S("302 200 200 200 403 200 200"), kind="admin"),
    row("get", "/admin/units/unit/{north_unit}/delete/", S("302 200 200 200 403 404 404"), kind="admin"),
    row("get", "/admin/units/unit/{north_unit}/history/", S("302 200 200 200 403 404 404"), kind="admin"),
    row("get", "/admin/units/unitevent/add/", S("302 403 403 403 403 403 403"), kind="admin"),
    row("get", "/admin/units/unitevent/{unit_event}/change/", S("302 200 200 200 403 404 404"), kind="admin"),
    row("get", "/admin/units/unitevent/", S("302 200 200 200 403 200 200"), kind="admin"),
    row("get", "/admin/units/unitevent/{unit_event}/delete/", S("302 403 403 403 403 403 403"), kind="admin"),
    row("get", "/admin/units/unitevent/{unit_event}/history/", S("302 200 200 200 403 404 404"), kind="admin"),
    row("get", "/admin/r/{account_type}/{north_client}/", S("302 404 404 404 404 404 404"), kind="admin"),
    row("post", "/admin/codes/notices/{delivery}/dismiss/", S("302 302 302 302 302 302 302"), kind="admin"),
    row("get", "/admin/codes/generate/codes.csv", S("302 400 400 400 400 400 400"), kind="admin"),
    # A plan-services import job: its owner (the top user here) and the platform operator only.
    row("get", "/admin/plans/planservice/import/jobs/{import_job}/", S("302 200 200 404 404 404 404"), kind="admin"),
    # An account's own service overrides: read by whoever sees the account, changed by a strict ancestor's operator.
    row("get", "/admin/accounts/account/{north_client}/overrides/", S("302 200 200 200 403 404 404"), kind="admin"),
    row("post", "/admin/accounts/account/{north_client}/overrides/", S("302 200 200 200 403 404 404"), kind="admin"),
    # The discount module's Recalculate (a POST; the top user's own service, the platform operator names one).
    row("post", "/admin/discounts/module/recalculate/", S("302 404 302 404 404 404 404"), kind="admin"),
    row("post", "/admin/discounts/module/recalculate/?service={acme}", {"platform": 302, "other": 404}, kind="admin"),
    # django-axes' sign-in records: the platform operator's to read.
    row("get", "/admin/axes/accessattempt/", S("302 200 403 403 403 403 403"), kind="admin"),
    row("get", "/admin/axes/accessattempt/add/", S("302 403 403 403 403 403 403"), kind="admin"),
    row("get", "/admin/axes/accessattempt/{attempt}/change/", S("302 200 403 403 403 403 403"), kind="admin"),
    row("get", "/admin/axes/accessattempt/{attempt}/delete/", S("302 200 403 403 403 403 403"), kind="admin"),
    row("get", "/admin/axes/accessattempt/{attempt}/history/", S("302 200 403 403 403 403 403"), kind="admin"),
    row("get", "/admin/axes/accesslog/", S("302 200 403 403 403 403 403"), kind="admin"),
    row("get", "/admin/axes/accesslog/add/", S("302 403 403 403 403 403 403"), kind="admin"),
    row("get", "/admin/axes/accesslog/{access_log}/change/", S("302 200 403 403 403 403 403"), kind="admin"),
    row("get", "/admin/axes/accesslog/{access_log}/delete/", S("302 200 403 403 403 403 403"), kind="admin"),
    row("get", "/admin/axes/accesslog/{access_log}/history/", S("302 200 403 403 403 403 403"), kind="admin"),
    row("get", "/admin/axes/accessfailurelog/", S("302 200 403 403 403 403 403"), kind="admin"),
    row("get", "/admin/axes/accessfailurelog/add/", S("302 403 403 403 403 403 403"), kind="admin"),
    row("get", "/admin/axes/accessfailurelog/{failure_log}/change/", S("302 200 403 403 403 403 403"), kind="admin"),
    row("get", "/admin/axes/accessfailurelog/{failure_log}/delete/", S("302 200 403 403 403 403 403"), kind="admin"),
    row("get", "/admin/axes/accessfailurelog/{failure_log}/history/", S("302 200 403 403 403 403 403"), kind="admin"),
    row("get", "/admin/dashboard/forecast/", S("302 200 200 200 403 200 200"), kind="admin"),
    # Issue 15's workflows: reassign a code, a background generation (its operator and the platform only),
    # vouchers of a batch, the scheduled jobs, the accounts and units exports.
    row("get", "/admin/codes/activationcode/{north_code_pk}/reassign/", S("302 200 200 200 403 404 404"),
        kind="admin"),
    row("get", "/admin/codes/generate/jobs/{generation_job}/", S("302 200 200 404 404 404 404"), kind="admin"),
    row("get", "/admin/codes/batch/", S("302 400 400 400 403 400 400"), kind="admin"),
    row("get", "/admin/codes/batch/?service={acme}&created_at={north_code_created}", S("302 200 200 200 403 200 200"),
        kind="admin"),
    row("get", "/admin/jobs/", S("302 200 200 200 403 200 200"), kind="admin"),
    row("get", "/admin/accounts/account/export/", S("302 200 200 200 403 200 200"), kind="admin"),
    row("get", "/admin/units/unit/export/", S("302 200 200 200 403 200 200"), kind="admin"),
    row("get", "/admin/dashboard/forecast.csv", S("302 400 200 200 403 200 200"), kind="admin"),
    row("get", "/admin/dashboard/forecast.csv?service={acme}", S("- 200 - - - - -"), kind="admin"),
]


def _url(template, world):
    extra = getattr(world, "table_objects", {})
    return template.format(north=world.north.pk, north_client=world.north_client.pk, north_op=world.north_op.pk,
                           south_op=world.south_op.pk, south=world.south.pk, acme=world.acme.pk,
                           dealer_plan=world.dealer_plan.pk, **extra)


def _table_objects(world) -> dict:
    """What the rows address, beyond the world: Acme billed by codes with the discount on, a unit in North's
    and South's branches with a monitoring user and a grant, a code shared with North (on North's unit, with
    its events and a notice delivered to North's distributor), a payment, a plan service row, an application
    service, a discount snapshot, and one object of each catalogue outside any service."""
    from axes.models import AccessAttempt, AccessFailureLog, AccessLog
    from django.contrib.auth.models import Group
    from django.contrib.contenttypes.models import ContentType
    from django_celery_beat.models import (ClockedSchedule, CrontabSchedule, IntervalSchedule, PeriodicTask,
                                           SolarSchedule)

    from apps.accounts import operations as account_ops
    from apps.accounts.models import Account, AuditEvent, LedgerEntry
    from apps.codes import operations as code_ops
    from urllib.parse import quote

    from apps.codes.models import CodeEvent, CodeGenerationJob, NoticeDelivery
    from apps.core import clock
    from apps.discounts.models import DiscountSnapshot
    from apps.plans import operations as plan_ops
    from apps.plans.models import AccountServiceOverride, PlanEvent, PlanImportJob, PlanService
    from apps.units import operations as unit_ops
    from apps.plans.models import DeviceType, Modem
    from apps.units.models import Unit, UnitEvent

    account_ops.update_account(actor=world.platform, account=world.acme, changes={"discount_enabled": True})
    code_ops.switch_billing_method(actor=world.platform, service=world.acme, method="activation_codes", confirm=True)
    units = {name: Unit.objects.create(service=world.acme, account=account, name=name, unique_id=f"IMEI-{name}")
             for name, account in (("north_unit", world.north_client), ("south_unit", world.south_client))}
    code = code_ops.generate_codes(actor=world.top, service=world.acme, quantity=1, validity_days=30,
                                   shared_with=world.north)[0]
    code_ops.assign_code(actor=world.top, code=code, unit=units["north_unit"])
    PlanService.objects.create(plan=world.base_plan, name="storage_user", type="periodic", interval="none")
    user = unit_ops.create_monitoring_user(actor=world.platform, account=world.north_client, name="north_user")
    grant = unit_ops.grant_access(actor=world.platform, user=user, unit=units["north_unit"])
    ledger.record_payment(actor=world.top, account=world.north_client, amount=5, description="table payment")
    notice = code_ops.create_notice(actor=world.north_op, name="Soon", text="Renew", days_before=40,
                                    recipients=[world.north_op])
    delivery = NoticeDelivery.objects.create(notice=notice, recipient=world.north_op, code=code,
                                             created_at=clock.now())
    row = PlanService.objects.create(plan=world.dealer_plan, name="sms", type="on_demand", cost_table="0:1;-1")
    AccountServiceOverride.objects.create(account=world.north_client, name="sms", type="on_demand",
                                          cost_table="0:2;-1")
    app = plan_ops.add_app_service(actor=world.top, service=world.acme, name="Tracker")
    snapshot = DiscountSnapshot.objects.create(service=world.acme, day=clock.now().date(), current=1, maximum=2,
                                               applied=1, purchased=1, in_use=1, unused=0, full_cost=1,
                                               taken_at=clock.now())
    PlanEvent.objects.create(service=world.acme, plan_id_snapshot=world.dealer_plan.pk, plan_name="Dealer",
                             action="changed", actor_name="top", at=clock.now())
    return {
        **{k: u.pk for k, u in units.items()}, "north_code": code.code, "north_code_pk": code.pk, "monitoring_user": user.pk, "grant": grant.pk,
        "ledger": LedgerEntry.objects.filter(account=world.north_client).latest("pk").pk, "notice": notice.pk,
        "delivery": delivery.pk, "event": CodeEvent.objects.filter(code_id=code.pk).latest("pk").pk,
        "audit_event": AuditEvent.objects.filter(action="payment_recorded", account_id=world.north_client.pk)
        .latest("pk").pk,
        "unit_event": UnitEvent.objects.latest("pk").pk,
        "plan_service": row.pk, "plan_event": PlanEvent.objects.filter(service=world.acme).latest("pk").pk,
        "app": app.pk, "snapshot": snapshot.pk,
        "device_type": DeviceType.objects.create(name="Tracker T1").pk, "modem": Modem.objects.create(name="M1").pk,
        "group": Group.objects.order_by("pk").first().pk, "task": PeriodicTask.objects.order_by("pk").first().pk,
        "crontab": CrontabSchedule.objects.get_or_create(minute="7", hour="3")[0].pk,
        "interval": IntervalSchedule.objects.get_or_create(every=10, period="minutes")[0].pk,
        "clocked": ClockedSchedule.objects.create(clocked_time=clock.now()).pk,
        "solar": SolarSchedule.objects.get_or_create(event="sunrise", latitude=50, longitude=8)[0].pk,
        "account_type": ContentType.objects.get_for_model(Account).pk,
        "generation_job": CodeGenerationJob.objects.create(
            actor=world.top, service=world.acme, quantity=1, validity_days=30, state=CodeGenerationJob.State.DONE,
            done=1, created_at=clock.now(), finished_at=clock.now()).pk,
        "north_code_created": quote(code.created_at.isoformat()),
        "import_job": PlanImportJob.objects.create(
            actor=world.top, service=world.acme, mode="update", file_name="table.csv", file_format=0,
            tmp_name="table", state=PlanImportJob.State.DONE, created_at=clock.now(), finished_at=clock.now()).pk,
        **{key: model.objects.create(username="table-signin", ip_address="127.0.0.9", user_agent="table",
                                     http_accept="text/html", path_info="/admin/login/", **extra).pk
           for key, model, extra in (("attempt", AccessAttempt, {"get_data": "", "post_data": "",
                                                                  "failures_since_start": 1}),
                                     ("access_log", AccessLog, {}), ("failure_log", AccessFailureLog, {}))},
    }


@pytest.fixture(scope="module")
def table_world(shared_world, django_db_blocker):
    """The world built once for the module (the table has hundreds of cases; ``shared_world``) with the
    table's own objects; each case runs in its own savepoint (``db``), so a write in one row never shows
    in another."""
    with django_db_blocker.unblock():
        shared_world.table_objects = _table_objects(shared_world)
    return shared_world


ROWS = API + DOMAIN_API + ADMIN + RESOLVER_API + RESOLVER_ADMIN
CASES = [pytest.param(role, *case.values, id=f"{role}-{case.id}")
         for case in ROWS for role in ROLES if role in case.values[2]]


def test_every_resolver_url_has_a_row():
    """A new page cannot skip the table: every named URL of the resolver (tests/url_walk.py) is in a row."""
    from django.urls import resolve

    from tests.url_walk import routes

    placeholders = {"north_code": "ABCD"}
    covered = set()
    for case in ROWS:
        template = case.values[1].split("?")[0]
        names = set(re.findall(r"{(\w+)}", template))
        covered.add(resolve(template.format(**{n: placeholders.get(n, "1") for n in names})).view_name)
    missing = sorted(route.name for route in routes() if route.name not in covered)
    assert not missing, f"URLs without a row in the permission table: {missing}"


@pytest.mark.parametrize("role,method,url,expected,body,kind", CASES)
def test_permission_table(table_world, db, role, method, url, expected, body, kind):
    world = table_world
    actor = _actor(world, role)
    if kind == "api":
        client = APIClient()
        if actor is not None:
            client.force_authenticate(actor)
        response = getattr(client, method)(_url(url, world), body, format="json")
    else:
        client = Client()
        if actor is not None:
            client.force_login(actor)
        response = getattr(client, method)(_url(url, world), body or {})
    assert response.status_code == expected[role], (role, method, url, getattr(response, "content", b"")[:300])


# The pages that stand for one named check of ``apps.accounts.rights`` (SPEC §8.1): the table's statuses
# and the check must say the same for every role, so the rights module and the pages cannot drift apart.
PAGES_OF_RIGHTS = [
    ("/admin/codes/generate/", "may_generate_codes"),
    ("/admin/codes/activationcode/", "may_use_codes_window"),
    ("/admin/discounts/module/", "may_open_discount_module"),
    ("/admin/services/replay/", "may_replay_charges"),
    ("/admin/plans/plan/add/", "may_manage_plans"),
    ("/admin/plans/plan/", "may_read_plans"),
    ("/admin/units/unit/", "may_write_units"),
]


@pytest.mark.parametrize("url,check", PAGES_OF_RIGHTS)
def test_named_rights_agree_with_the_table(table_world, db, url, check):
    from apps.accounts import rights

    rows = [case.values for case in ROWS if case.values[0] == "get" and case.values[1] == url
            and case.values[4] == "admin"]
    assert rows, f"no row for {url}"
    for _method, _url_, expected, _body, _kind in rows:
        for role, status in expected.items():
            actor = _actor(table_world, role)
            allowed = actor is not None and getattr(rights, check)(actor)
            assert allowed == (status == 200), (url, role, status, check)
