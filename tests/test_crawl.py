"""The crawl (SPEC §9.1): every named admin and API URL of the resolver, as every role, in a browser and as
JSON, with ids in scope, out of scope, absent and malformed, every list with malformed filter values, an
empty POST to every URL. No answer may be a 5xx, and none may contain a name from outside its viewer's
scope (tests/crawl_data.py names every object after its branch or service).

The URLs come from ``django.urls.get_resolver()``, never from a hand list: a new page is crawled the day
it is added, and a URL whose arguments the crawl cannot fill fails ``test_every_url_is_crawled``.
One test per URL name and role loops over the variants and reports every failure at once. The data is
built once for the module (rolled back at its end); every request runs in a savepoint rolled back after it,
so an empty POST that writes cannot change what the next request sees.
"""

import copy
import re
import time
import pytest
from django.contrib import admin
from django.db import transaction
from django.test import Client, RequestFactory
from django.urls import reverse

from apps.accounts import operations as account_ops
from tests import crawl_data
from tests.crawl_data import IN_ZONE, OUT_ZONE, ROLES
from tests.url_walk import Route, routes

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
JSON = "application/json"
ABSENT_INT, OVERFLOW_INT = "99999999", "99999999999999999999"
PLACEHOLDER = "424242424242"

# The kind of object each URL argument names; admin ``object_id`` arguments name the model of their URL.
ARG_KINDS = {
    ("admin:accounts_account_payment", "pk"): "account",
    ("admin:accounts_account_block", "pk"): "account",
    ("admin:accounts_account_billing_method", "pk"): "service",
    ("admin:plans_plan_effective", "pk"): "plan",
    ("admin:plans_planservice_import_job", "pk"): "planimportjob",
    ("admin:codes_activationcode_reassign", "pk"): "activationcode",
    ("codes-generate-job", "pk"): "codegenerationjob",
    ("admin:auth_user_password_change", "id"): "operator",
    ("admin:view_on_site", "content_type_id"): "content_type",
    ("admin:view_on_site", "object_id"): "account",
    ("admin-account-services", "pk"): "account",
    ("admin-account-overrides", "pk"): "account",
    ("codes-dismiss-notice", "delivery_id"): "delivery",
    ("account-service-override", "pk"): "account",
    ("account-service-override", "name"): "override",
    ("plan-effective-services", "pk"): "plan",
    ("plan-service-detail", "plan_id"): "plan",
    ("plan-service-detail", "service_id"): "planservice",
    ("plan-services", "plan_id"): "plan",
    ("plan-services-import", "plan_id"): "plan",
    ("plan-services-export", "plan_id"): "plan",
    ("monitoring-user-grant-list", "user_id"): "monitoringuser",
    ("monitoring-user-grant-detail", "user_id"): "monitoringuser",
    ("monitoring-user-grant-detail", "pk"): "grant",
}
API_PK_KINDS = {"account": "account", "operator": "operator", "plan": "plan", "unit": "unit",
                "monitoring-user": "monitoringuser", "code-event": "codeevent", "audit-event": "auditevent", "expiry-notice": "expirynotice",
                "device-type": "devicetype", "modem": "modem", "code": "code"}
STRING_KINDS = {"code", "override"}
# Query strings every list gets as every role; FILTER_ROLES also get each filter parameter the list shows them
# set to "x", to a NUL byte and (dates) to an impossible date. (NUL is refused before any view, by one
# middleware: one NUL query a list and role is enough to keep that true.)
ADMIN_LIST_QUERIES = ("service=x", "account=x", "p=abc", "p=100000", "o=99", "q=%00", "since=2026-13-45",
                      "until=x", "format=csv&service=x")
FILTER_ROLES = ("platform", "top", "distributor")
DATE_LIKE = re.compile(r"(date|__gte|__lt|__lte|__gt|__from|__to|since|until|_at)")
API_LIST_QUERIES = ("service=x", "account=x", "page=abc", "page=100000", "page_size=x", "ordering=99",
                    "search=%00")


ROUTES = routes()


def _model_kind(route_name: str) -> str:
    """admin:django_celery_beat_periodictask_change → periodictask; admin:units_unit_change → unit."""
    body = route_name.split(":")[1].rsplit("_", 1)[0]
    for app in ("django_celery_beat_", "axes_", "accounts_", "auth_", "codes_", "discounts_", "plans_", "services_",
                "units_"):
        if body.startswith(app):
            return body[len(app):]
    return body


def unfilled(route: Route) -> list[str]:
    return [arg for arg in route.args if arg != "app_label" and _kind(route, arg) is None]


def _kind(route: Route, arg: str) -> str | None:
    if (route.name, arg) in ARG_KINDS:
        return ARG_KINDS[route.name, arg]
    if route.name.startswith("admin:") and arg == "object_id":
        return _model_kind(route.name)
    if route.api and arg in ("pk", "code"):
        return API_PK_KINDS.get(route.name.rsplit("-", 1)[0] if arg == "pk" else "code")
    return None


def _url(route: Route, values: dict) -> str:
    """Reverse with real values; a malformed value goes in place of a placeholder the converter accepts."""
    clean = {arg: (PLACEHOLDER if value in ("abc", OVERFLOW_INT, "abc%00") else value)
             for arg, value in values.items()}
    url = reverse(route.name, kwargs=clean)
    for arg, value in values.items():
        if clean[arg] == PLACEHOLDER:
            url = url.replace(PLACEHOLDER, value, 1)
    return url


def id_variants(route: Route, world, role: str) -> list[tuple[str, str]]:
    """(label, url) for an id in scope, out of scope, absent and malformed (one URL without arguments)."""
    if not route.args:
        return [("-", reverse(route.name))]
    if route.args == ("app_label",):
        labels = sorted({model._meta.app_label for model in admin.site._registry})
        return [(label, reverse(route.name, kwargs={"app_label": label})) for label in labels]
    variants = []
    for label, zone in (("in", IN_ZONE[role]), ("out", OUT_ZONE[role])):
        variants.append((label, _url(route, {a: str(world.objects[_kind(route, a)][zone]) for a in route.args})))
    wrong = [("absent", ABSENT_INT, "ZZNOPE"), ("malformed", "abc", "abc%00")]
    if route.api or "object_id" not in route.args:  # an int converter: 20 digits pass it (``path:`` is like "abc")
        wrong.append(("overflow", OVERFLOW_INT, "ZZNOPE"))
    for label, value_int, value_str in wrong:
        values = {}
        for arg in route.args:  # one argument wrong at a time would multiply requests; all wrong at once
            kind = _kind(route, arg)
            values[arg] = value_str if kind in STRING_KINDS else value_int
        variants.append((label, _url(route, values)))
    return variants


def filter_queries(route: Route, world, role: str) -> list[str]:
    if route.api:
        return list(API_LIST_QUERIES)
    model_admin = _model_admin(route)
    queries = list(ADMIN_LIST_QUERIES)
    if model_admin is None or role not in FILTER_ROLES or not model_admin.has_view_permission(
            _request(world.actors[role])):
        return queries
    request = _request(world.actors[role])
    changelist = model_admin.get_changelist_instance(request)
    for spec in changelist.filter_specs:
        for parameter in spec.expected_parameters():
            queries += [f"{parameter}=x", f"{parameter}=%00"]
            if DATE_LIKE.search(parameter):
                queries.append(f"{parameter}=2026-13-45")
    return queries


def _request(user):
    request = RequestFactory().get("/")
    request.user = user
    return request


def _model_admin(route: Route):
    for model, model_admin in admin.site._registry.items():
        if route.name == f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist":
            return model_admin
    return None


STATS = {"requests": 0, "seconds": 0.0, "cpu": 0.0, "tests": 0}


@pytest.fixture(scope="module")
def crawl_world(django_db_setup, django_db_blocker, request):
    started = time.monotonic()
    with django_db_blocker.unblock():
        atomic = transaction.atomic()
        atomic.__enter__()
        try:
            world = crawl_data.build()
            world.tokens = {role: (account_ops.rotate_token(actor=world.actors["platform"], operator=actor)
                                   if actor else None) for role, actor in world.actors.items()}
            built = time.monotonic() - started
            yield world
        finally:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter and capture and STATS["tests"]:
        with capture.global_and_fixture_disabled():
            reporter.write_line(
                f"\ncrawl: {len(ROUTES)} URLs x {len(ROLES)} roles, {STATS['tests']} tests, {STATS['requests']} "
                f"requests in {STATS['seconds']:.1f} s ({STATS['cpu']:.1f} s CPU in the test process; "
                f"+ {built:.1f} s to build the data)")


def _body(response) -> bytes:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content)
    return response.content


def _messages(response) -> bytes:
    """The messages a request queued (shown on the next page): a refusal's text is an answer too."""
    storage = getattr(getattr(response, "wsgi_request", None), "_messages", None)
    return "\n".join(str(m.message) for m in getattr(storage, "_queued_messages", [])).encode()


def _clients(world, role):
    browser, machine = Client(raise_request_exception=False), Client(raise_request_exception=False)
    actor = world.actors[role]
    if actor is not None:
        browser.force_login(actor)
        machine.defaults["HTTP_AUTHORIZATION"] = f"Token {world.tokens[role]}"
    return browser, machine


def crawl_one(route: Route, role: str, world) -> tuple[list[str], int]:
    browser, machine = _clients(world, role)
    json_client = machine if route.api else browser
    forbidden = [marker.encode() for marker in world.forbidden(role)]
    failures, count = [], 0

    def hit(method, url, client, accept, label):
        nonlocal count
        count += 1
        cookies = copy.deepcopy(client.cookies)
        with transaction.atomic():
            if method == "get":
                response = client.get(url, HTTP_ACCEPT=accept)
            else:
                response = client.post(url, data=b"", content_type=JSON if accept == JSON else
                                       "application/x-www-form-urlencoded", HTTP_ACCEPT=accept)
            body = _body(response) + _messages(response)
            transaction.set_rollback(True)
        client.cookies = cookies
        where = f"{method.upper()} {url} [{label}, {'json' if accept == JSON else 'html'}]"
        if response.status_code >= 500:
            exc = getattr(response, "exc_info", None)
            reason = f"{exc[0].__name__}: {exc[1]}" if exc else body[:200]
            failures.append(f"{where} -> {response.status_code} {reason}")
        leaked = [m.decode() for m in forbidden if m in body and m.decode() not in url]  # not what it asked for
        if leaked:
            failures.append(f"{where} -> {response.status_code} shows {', '.join(leaked)}")

    variants = id_variants(route, world, role)
    for index, (label, url) in enumerate(variants):
        hit("get", url, browser, BROWSER, label)
        if route.api or index == 0:  # the admin answers the same page whatever the Accept header
            hit("get", url, json_client, JSON, label)
    in_url = variants[0][1]
    hit("post", in_url, browser, BROWSER, "empty post")
    if route.api:
        hit("post", in_url, json_client, JSON, "empty post")
    if route.is_list:
        for query in filter_queries(route, world, role):
            hit("get", f"{in_url}?{query}", browser, BROWSER, "filter")
            if route.api:
                hit("get", f"{in_url}?{query}", json_client, JSON, "filter")
    return failures, count


def test_every_url_is_crawled():
    """Every named URL's arguments can be filled: a new URL with an unknown argument fails here, listed."""
    missing = {route.name: unfilled(route) for route in ROUTES if unfilled(route)}
    assert not missing, f"the crawl cannot build these URLs (add their arguments to ARG_KINDS): {missing}"
    assert len(ROUTES) > 150  # the walk found the admin and the API, not a fragment


CASES = [pytest.param(route, role, id=f"{route.name}-{role}")
         for route in ROUTES if not unfilled(route) for role in ROLES]


@pytest.mark.parametrize("route,role", CASES)
def test_crawl(crawl_world, db, route, role):
    started, cpu = time.monotonic(), time.process_time()
    failures, count = crawl_one(route, role, crawl_world)
    STATS["requests"] += count
    STATS["seconds"] += time.monotonic() - started
    STATS["cpu"] += time.process_time() - cpu
    STATS["tests"] += 1
    assert not failures, f"{len(failures)} failing answers:\n" + "\n".join(failures)


# --- the platform operator's "Service" filter narrows every list (SPEC §8.7) ---------------------------

SERVICE_BLIND = {"auth", "django_celery_beat", "axes"}  # lists of objects outside any service
SERVICE_LISTS = sorted(
    [f"admin:{m._meta.app_label}_{m._meta.model_name}_changelist" for m in admin.site._registry
     if m._meta.app_label not in SERVICE_BLIND and m._meta.model_name not in ("devicetype", "modem", "discountmodule")]
    + ["codes-log"])


@pytest.mark.parametrize("name", SERVICE_LISTS)
def test_platform_service_filter_narrows_every_list(crawl_world, db, name):
    """``?service=<id>`` shows that service's rows only: none of the other service's names or codes."""
    world = crawl_world
    client = Client()
    client.force_login(world.actors["platform"])
    acme, other = world.objects["service"]["north"], world.objects["service"]["other"]
    service_names = [crawl_data.ACME + "Telematics", crawl_data.OTHER + "Svc"]
    failures = []
    for service, markers in ((acme, [crawl_data.OTHER, world.codes["other"]]),
                             (other, [crawl_data.NORTH, crawl_data.SOUTH, world.codes["north"], world.codes["acme"],
                                      world.codes["south"]])):
        query = "service=%s&since=2000-01-01&until=2100-01-01" if name == "codes-log" else "service=%s"
        response = client.get(f"{reverse(name)}?{query % service}")
        assert response.status_code == 200, (name, response.status_code)
        body = response.content.decode()
        for service_name in service_names:  # the filter itself lists every service by name
            body = body.replace(service_name, "")
        failures += [f"?service={service}: shows {m} in ...{body[max(0, body.index(m) - 150):body.index(m) + 40]}"
                     for m in markers if m in body]
    assert not failures, failures


# --- read-only means no write path (SPEC §9.1) -----------------------------------------------------------------

@pytest.mark.parametrize("role", ["platform", "top", "distributor", "other"])  # restricted: reads no model
def test_a_role_that_may_only_read_an_object_gets_no_write_path(crawl_world, db, role):
    """For every admin model and an object in the role's scope: when the admin says the role may read but not
    change it, its change page is read-only (no save button) and a POST is 403; when the role may not delete
    it, its delete page is 403 and a confirmed POST deletes nothing (a custom ``delete_view`` once read the
    plan's uses before asking)."""
    world, actor = crawl_world, crawl_world.actors[role]
    client = Client(raise_request_exception=False)
    client.force_login(actor)
    failures, checked = [], 0
    for model, model_admin in admin.site._registry.items():
        kind, app = model._meta.model_name, model._meta.app_label
        if kind not in world.objects:
            continue
        pk = world.objects[kind][IN_ZONE[role]]
        request = _request(actor)
        obj = model_admin.get_queryset(request).filter(pk=pk).first()
        if obj is None or not model_admin.has_view_permission(request, obj):
            continue
        change, delete = (reverse(f"admin:{app}_{kind}_{view}", args=[pk]) for view in ("change", "delete"))
        if not model_admin.has_change_permission(request, obj):
            checked += 1
            with transaction.atomic():
                page, posted = client.get(change), client.post(change, {})
                transaction.set_rollback(True)
            if page.status_code != 200 or b'name="_save"' in page.content:
                failures.append(f"{change}: {page.status_code}, {'with' if page.status_code == 200 else 'no'} save")
            if posted.status_code != 403:
                failures.append(f"POST {change}: {posted.status_code}")
        if not model_admin.has_delete_permission(request, obj):
            checked += 1
            with transaction.atomic():
                page, posted = client.get(delete), client.post(delete, {"post": "yes"})
                still_there = model.objects.filter(pk=pk).exists()
                transaction.set_rollback(True)
            if page.status_code != 403 or posted.status_code != 403 or not still_there:
                failures.append(f"{delete}: GET {page.status_code}, POST {posted.status_code}, kept {still_there}")
    assert checked, "nothing read-only was found to check"
    assert not failures, failures
