"""The dashboard and forecast over the API and in the admin: shapes, bad input, scope, links, query counts."""

from datetime import date, timedelta

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from apps.codes import operations as ops
from tests import factories
from tests.codes.helpers import make_unit

from tests.dashboard.helpers import NOW, T0


@pytest.fixture(autouse=True)
def _at_now():
    with time_machine.travel(NOW, tick=False):
        yield


# --- API -------------------------------------------------------------------------------------------------------

def test_dashboard_answer_has_the_contract_fields(dw, as_user):
    body = as_user(dw.top).get("/api/v1/dashboard/").json()
    assert body["units"] == {"active": 5, "inactive": 1}
    assert body["codes"] == {"new": 2, "on_unit": 5, "running_unassigned": 1, "queued": 1, "expiring_7": 2,
                             "expiring_30": 6}
    assert body["accounts"] == {"blocked": 1, "blocking_soon": 1}
    assert body["lowest_balances"][0] == {"account": dw.north_client.pk, "name": "North Client",
                                          "balance": "0.0000"}
    assert body["discount"] is None


def test_dashboard_of_a_distributor_has_no_discount_and_no_outside_names(dw, as_user):
    response = as_user(dw.north_op).get("/api/v1/dashboard/")
    assert response.status_code == 200
    assert "discount" not in response.json()
    assert b"South" not in response.content and b"Direct" not in response.content


@pytest.mark.parametrize("query,field,code", [
    ("", "service", "invalid"), ("?service=abc", "service", "invalid"),
    ("?service=99999999", "service", "does_not_exist")])
def test_platform_operator_names_a_service(dw, as_user, query, field, code):
    response = as_user(dw.platform).get(f"/api/v1/dashboard/{query}")
    assert response.status_code == 400
    assert response.json()["code"] == code and field in response.json()["fields"]


def test_platform_operator_dashboard_and_forecast_of_a_service(dw, as_user):
    client = as_user(dw.platform)
    assert client.get(f"/api/v1/dashboard/?service={dw.other_service.pk}").json()["units"] == {
        "active": 1, "inactive": 0}
    rows = client.get(f"/api/v1/codes/forecast/?service={dw.other_service.pk}&days=3").json()
    assert rows == [{"day": "2026-05-04", "units": 0}, {"day": "2026-05-05", "units": 0},
                    {"day": "2026-05-06", "units": 1}]


def test_restricted_distributor_and_anonymous_are_refused(dw, as_user, api_client):
    assert api_client.get("/api/v1/dashboard/").status_code == 401
    assert api_client.get("/api/v1/codes/forecast/").status_code == 401
    assert as_user(dw.north_restricted).get("/api/v1/dashboard/").status_code == 403
    assert as_user(dw.north_restricted).get("/api/v1/codes/forecast/").status_code == 403


def test_forecast_is_a_plain_array_of_days(dw, as_user):
    rows = as_user(dw.top).get("/api/v1/codes/forecast/").json()
    assert isinstance(rows, list) and len(rows) == 90
    assert rows[0] == {"day": "2026-05-04", "units": 0}
    assert {r["day"]: r["units"] for r in rows if r["units"]} == {
        "2026-05-07": 1, "2026-05-19": 1, "2026-05-24": 1, "2026-06-03": 1, "2026-07-03": 1}
    north = as_user(dw.north_op).get(f"/api/v1/codes/forecast/?days=366&distributor={dw.north_east.pk}").json()
    assert len(north) == 366 and {r["day"] for r in north if r["units"]} == {"2026-05-07"}


@pytest.mark.parametrize("query,field,code", [
    ("days=0", "days", "invalid"), ("days=367", "days", "invalid"), ("days=abc", "days", "invalid"),
    ("distributor=abc", "distributor", "invalid"), ("distributor=99999999", "distributor", "does_not_exist"),
    ("distributor={south}", "distributor", "does_not_exist")])
def test_forecast_bad_input_names_the_field(dw, as_user, query, field, code):
    response = as_user(dw.north_op).get(f"/api/v1/codes/forecast/?{query.format(south=dw.south.pk)}")
    assert response.status_code == 400, response.content
    assert response.json()["code"] == code and field in response.json()["fields"]


def test_the_other_service_never_sees_acme_through_the_distributor_parameter(dw, as_user):
    response = as_user(dw.other_top).get(f"/api/v1/codes/forecast/?distributor={dw.north.pk}")
    assert response.status_code == 400 and response.json()["code"] == "does_not_exist"
    assert b"North" not in response.content


# --- query counts: fixed, whatever the data ----------------------------------------------------------------------

def _grow(dw, n: int):
    """n more units with codes in several branches (one queued), accounts, a dealer: more of everything."""
    dealer = factories.account(dw.acme, name=f"West {n}", plan_=dw.dealer_plan, dealer_rights=True,
                               actor=dw.platform)
    for i in range(n):
        client = factories.account(dealer if i % 2 else dw.north, name=f"Client {n}-{i}", plan_=dw.base_plan,
                                   actor=dw.platform)
        unit = make_unit(client, f"Unit {n}-{i}")
        code, queued = ops.generate_codes(actor=dw.top, service=dw.acme, quantity=2, validity_days=10 + i, now=T0)
        ops.assign_code(actor=dw.top, code=code, unit=unit, now=T0)
        if i % 3 == 0:
            ops.queue_code(actor=dw.top, code=queued, unit=unit, now=T0)


def _count(fn) -> int:
    with CaptureQueriesContext(connection) as ctx:
        fn()
    return len(ctx.captured_queries)


@pytest.mark.parametrize("who", ["top", "north_op", "platform"])
def test_query_counts_do_not_grow_with_the_data(dw, who):
    from apps.accounts import operations as account_ops

    account_ops.update_account(actor=dw.platform, account=dw.acme, changes={"discount_enabled": True})
    user = getattr(dw, who)
    client = Client()
    client.force_login(user)
    service = f"?service={dw.acme.pk}" if who == "platform" else ""
    sep = "&" if service else "?"
    pages = {"home": f"/admin/{service}", "forecast": f"/admin/dashboard/forecast/{service}",
             "csv": f"/admin/dashboard/forecast.csv{service}{sep}days=366"}
    api = Client()
    api.force_login(user)
    apis = {"dashboard": f"/api/v1/dashboard/{service}", "forecast": f"/api/v1/codes/forecast/{service}"}

    def measure():
        counts = {}
        for name, url in pages.items():
            counts[name] = _count(lambda url=url: client.get(url))
            assert client.get(url).status_code == 200, (name, url)
        for name, url in apis.items():
            counts[f"api-{name}"] = _count(lambda url=url: api.get(url))
        return counts

    small = measure()
    _grow(dw, 12)
    assert measure() == small


def test_dashboard_queries_alone_are_few(dw):
    """The figures and the forecast themselves, computed: units 1, codes 2, accounts 1 + the candidates' rules 2
    + ids 1 + the kernel's warning reads, balances 1, the service 1; the forecast 2 (one aggregate for every day
    and distributor, the dealers' names), at every allowed N, for a top user and a distributor, narrowed or not.
    Read again before any write, the aggregates come from the cache: the forecast costs its names alone."""
    from django.core.cache import cache

    from apps.dashboard import queries

    scope = queries.scope_for(dw.top)
    north, north_scope = queries.distributor_in_scope(scope, str(dw.north.pk)), queries.scope_for(dw.north_op)
    assert _count(lambda: (scope.version, north_scope.version)) == 2  # once a request, then kept on the scope
    for days in (1, queries.DEFAULT_DAYS, queries.MAX_DAYS):
        for args in ((scope,), (scope, north), (north_scope,)):
            def run(days=days, args=args):
                return queries.forecast(args[0], NOW, days=days, distributor=args[1] if len(args) > 1 else None)
            cache.clear()
            assert _count(run) == 2
            assert _count(run) == 1
    cache.clear()
    n = _count(lambda: queries.dashboard(scope, NOW))
    assert n <= 16, n
    assert _count(lambda: queries.dashboard(scope, NOW)) <= 3  # the balances and the discount, read every time


def test_figures_follow_every_write_and_the_clock(dw):
    """Kept figures never outlive a write (the audit chain moves in the write's transaction) nor their minute."""
    from apps.dashboard import queries

    def figures(at):
        return queries.dashboard(queries.scope_for(dw.top), at)

    before = figures(NOW)
    assert figures(NOW) == before
    ops.generate_codes(actor=dw.top, service=dw.acme, quantity=3, validity_days=30, now=NOW)
    after = figures(NOW)
    assert after["codes"]["new"] == before["codes"]["new"] + 3
    later = NOW + timedelta(days=400)  # every clock has run out: the clock-relative figures are read afresh
    assert figures(later)["codes"]["expiring_30"] == 0 != after["codes"]["expiring_30"]


# --- admin pages ----------------------------------------------------------------------------------------------------

def _page(user, url):
    client = Client()
    client.force_login(user)
    return client.get(url)


def test_home_of_a_top_user_shows_the_figures_with_links_and_the_app_list(dw):
    html = _page(dw.top, "/admin/").content.decode()
    assert 'id="dashboard"' in html and 'id="units-active">5<' in html and 'id="codes-queued">1<' in html
    assert "/admin/codes/activationcode/?state=queued" in html
    assert "/admin/accounts/account/?blocking_soon=1" in html
    assert "(Europe/Berlin)" in html
    assert 'id="content-main"' in html and "app-accounts" in html  # the usual application list stays
    assert "Other Client" not in html and "Other Service" not in html


@pytest.mark.parametrize("app", ["codes", "units", "accounts"])
def test_an_application_index_lists_its_models_without_the_dashboard(dw, app):
    """Django renders /admin/<app>/ from the home's template: the figures, banner and links are the home's
    alone, so an application's index costs what its list costs, not the service's aggregates."""
    client = Client()
    client.force_login(dw.top)
    with CaptureQueriesContext(connection) as home:
        client.get("/admin/")
    with CaptureQueriesContext(connection) as index:
        response = client.get(f"/admin/{app}/")
    html = response.content.decode()
    assert response.status_code == 200 and f"app-{app}" in html
    assert 'id="dashboard"' not in html and 'id="jobs-link"' not in html
    assert len(index.captured_queries) < len(home.captured_queries) - 10


def test_home_caps_the_new_codes_like_the_list_it_links_to(dw, monkeypatch):
    from apps.core.admin import CappedPaginator

    monkeypatch.setattr(CappedPaginator, "CAP", 1)
    assert 'id="codes-new">1+<' in _page(dw.top, "/admin/").content.decode()


def test_home_of_a_distributor_names_nothing_outside_its_branch(dw):
    html = _page(dw.north_op, "/admin/").content.decode()
    assert 'id="units-active">3<' in html
    assert "South" not in html and "Direct Client" not in html and "Other" not in html


def test_home_of_a_restricted_distributor_is_the_apply_page(dw):
    response = _page(dw.north_restricted, "/admin/")
    assert response.status_code == 302 and response["Location"] == "/admin/codes/apply/"


def test_home_of_the_platform_operator_offers_the_chooser_then_the_figures(dw):
    html = _page(dw.platform, "/admin/").content.decode()
    assert 'id="dashboard-chooser"' in html and 'id="units-active"' not in html and "app-accounts" in html
    html = _page(dw.platform, f"/admin/?service={dw.acme.pk}").content.decode()
    assert 'id="units-active">5<' in html and f"service={dw.acme.pk}&amp;state=new" in html
    assert "2026-05-04 13:00 (Europe/Berlin)" in html  # the chosen service's zone, not the platform's UTC
    bad = _page(dw.platform, "/admin/?service=abc")
    assert bad.status_code == 200 and b"errornote" in bad.content


@pytest.mark.parametrize("link,expected", [
    ("/admin/units/unit/?active__exact=1", 5), ("/admin/units/unit/?active__exact=0", 1),
    ("/admin/codes/activationcode/?state=new", 2), ("/admin/codes/activationcode/?state=active_assigned", 5),
    ("/admin/codes/activationcode/?state=active_unassigned", 1), ("/admin/codes/activationcode/?state=queued", 1),
    ("/admin/codes/activationcode/?expiring_within=7", 2), ("/admin/codes/activationcode/?expiring_within=30", 6),
    ("/admin/accounts/account/?blocked__exact=1", 1), ("/admin/accounts/account/?blocking_soon=1", 1)])
def test_each_figure_link_lists_exactly_the_counted_rows(dw, link, expected):
    response = _page(dw.top, link)
    assert response.status_code == 200
    assert response.context["cl"].result_count == expected, link


def test_forecast_page_table_chart_and_csv(dw):
    response = _page(dw.top, "/admin/dashboard/forecast/?days=60")
    html = response.content.decode()
    assert response.status_code == 200
    assert "<svg" in html and 'class="bar"' in html and "Europe/Berlin" in html
    assert response.context["columns"] == ["North", "Direct"]  # South's unit deactivates after 60 days
    csv_text = _page(dw.top, "/admin/dashboard/forecast.csv?days=60").content.decode()
    lines = csv_text.strip().splitlines()
    assert lines[0].startswith("day (Europe/Berlin),units,North,Direct")
    assert "2026-05-19,1,1,0" in lines and len(lines) == 61


def test_forecast_page_bad_input_is_a_400_with_the_reason(dw):
    response = _page(dw.top, "/admin/dashboard/forecast/?days=0")
    assert response.status_code == 400 and b"days" in response.content
    response = _page(dw.north_op, f"/admin/dashboard/forecast.csv?distributor={dw.south.pk}")
    assert response.status_code == 400 and b"South" not in response.content
    assert _page(dw.north_restricted, "/admin/dashboard/forecast/").status_code == 403
    assert _page(dw.platform, "/admin/dashboard/forecast/").status_code == 200  # the chooser


def test_forecast_first_day_follows_the_service_zone(dw):
    with time_machine.travel(date(2026, 5, 4).isoformat() + "T22:30:00+00:00", tick=False):
        rows = _page(dw.top, "/admin/dashboard/forecast.csv?days=1").content.decode().splitlines()
    assert rows[1].startswith("2026-05-05,")  # 00:30 on the 5th in Berlin
    assert T0 + timedelta(hours=12) > NOW


def test_forecast_page_folds_distributors_past_eight_into_one_column(dw, monkeypatch):
    from apps.dashboard import views

    monkeypatch.setattr(views, "PAGE_COLUMNS", 1)
    response = _page(dw.top, "/admin/dashboard/forecast/")
    assert response.context["columns"] == ["North", "Other distributors", "Direct"]
    assert response.context["column_totals"] == [3, 1, 1]
    csv_header = _page(dw.top, "/admin/dashboard/forecast.csv").content.decode().splitlines()[0]
    assert csv_header.endswith("units,North,South,Direct")  # the CSV keeps every distributor


@pytest.mark.parametrize("key,figure", [
    ("units_active", ("units", "active")), ("units_inactive", ("units", "inactive")),
    ("codes_new", ("codes", "new")), ("codes_on_unit", ("codes", "on_unit")),
    ("codes_running_unassigned", ("codes", "running_unassigned")), ("codes_queued", ("codes", "queued")),
    ("codes_expiring_7", ("codes", "expiring_7")), ("codes_expiring_30", ("codes", "expiring_30")),
    ("accounts_blocked", ("accounts", "blocked")), ("accounts_blocking_soon", ("accounts", "blocking_soon"))])
@pytest.mark.parametrize("who", ["platform", "north_op"])
def test_every_link_of_the_page_lists_its_figure(dw, who, key, figure):
    """The links as the page builds them (the platform operator's carry ``service=``), for another role too."""
    from apps.dashboard import queries, views

    user = getattr(dw, who)
    scope = queries.scope_for(user, dw.acme.pk)
    expected = queries.dashboard(scope, NOW)[figure[0]][figure[1]]
    response = _page(user, views.figure_links(scope)[key])
    assert response.status_code == 200
    assert response.context["cl"].result_count == expected, (who, key)
