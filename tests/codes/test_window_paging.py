"""The codes window's pages at scale (issue 11, item 8): every page reachable past the capped count,
next/previous/last links, the count honest ("30+" with a cap of 30), newest first, no page repeating
page 1, out-of-range pages a 404, "Show all" never quietly showing a page, and a query count that does
not grow with the data. The cap and the page size are shrunk so a few dozen codes stand for a million."""

from datetime import timedelta

import pytest
import time_machine

from apps.codes import operations as ops
from apps.codes.admin import ActivationCodeAdmin
from apps.codes.models import ActivationCode
from apps.core.admin import CappedPaginator
from apps.units.admin import UnitAdmin
from apps.units.models import Unit

from tests.codes.helpers import T0

CHANGELIST = "/admin/codes/activationcode/"
CAP, PER_PAGE = 30, 10


@pytest.fixture(autouse=True)
def _small_pages(monkeypatch):
    monkeypatch.setattr(CappedPaginator, "CAP", CAP)
    monkeypatch.setattr(ActivationCodeAdmin, "list_per_page", PER_PAGE)
    with time_machine.travel(T0 + timedelta(minutes=1), tick=False):
        yield


@pytest.fixture
def codes(cw):
    """75 codes in three batches an hour apart (ties inside a batch are broken by id): 7½ pages."""
    for hours in (3, 2, 1):
        ops.generate_codes(actor=cw.top, service=cw.acme, quantity=25, validity_days=30, now=T0 - timedelta(hours=hours))
    return list(ActivationCode.objects.filter(service=cw.acme).order_by("-created_at", "id")
                .values_list("code", flat=True))


@pytest.fixture
def top(client, cw):
    client.force_login(cw.top)
    return client


def _rows(response) -> list[str]:
    return [c.code for c in response.context["cl"].result_list]


def _page(client, **query):
    response = client.get(CHANGELIST, query)
    assert response.status_code == 200, response.status_code
    return response


def test_the_default_order_is_newest_first_then_by_id(codes, top):
    newest = ActivationCode.objects.filter(code__in=codes).order_by("-created_at").values_list("created_at",
                                                                                                 flat=True)[0]
    rows = list(ActivationCode.objects.filter(code__in=_rows(_page(top))))
    first = _rows(_page(top))
    assert first == codes[:PER_PAGE]
    assert {r.created_at for r in rows} == {newest}
    ids = [ActivationCode.objects.get(code=c).pk for c in first]
    assert ids == sorted(ids)


def test_every_numbered_page_past_the_cap_shows_its_own_rows(codes, top):
    seen = []
    for number in range(1, 9):
        response = _page(top, p=number)
        rows = _rows(response)
        assert rows == codes[(number - 1) * PER_PAGE:number * PER_PAGE], number
        assert number == 1 or rows != codes[:PER_PAGE]
        seen += rows
        html = response.content.decode()
        assert f"{CAP}+ activation codes" in html
        assert f'<span class="this-page">{number}</span>' in html
    assert seen == codes


def test_next_and_previous_links_beyond_the_cap(codes, top):
    cl = _page(top, p=4).context["cl"]  # rows 30–39: past the 30 counted
    assert cl.next_url == "?p=5" and cl.previous_url == "?p=3" and cl.first_url == "?"
    assert cl.last_url == "?cursor=last"
    last_numbered = _page(top, p=8).context["cl"]
    assert _rows(_page(top, p=8)) == codes[70:]
    assert last_numbered.next_url is None and last_numbered.last_url is None
    html = _page(top, p=4).content.decode()
    assert 'rel="next"' in html and 'rel="prev"' in html and "Show all" not in html


def test_following_next_from_the_first_page_visits_every_code_once(codes, top):
    url, seen = "", []
    while url is not None:
        cl = _page(top, **dict(pair.split("=") for pair in url.lstrip("?").split("&") if pair)).context["cl"]
        seen += [c.code for c in cl.result_list]
        url = cl.next_url
    assert seen == codes


def test_the_last_page_and_walking_back_by_cursor_visit_every_code_once(codes, top):
    response = _page(top, cursor="last")
    cl = response.context["cl"]
    assert _rows(response) == codes[-PER_PAGE:]
    assert cl.next_url is None and cl.previous_url.startswith("?cursor=b.")
    assert f"{CAP}+ activation codes" in response.content.decode()
    seen = _rows(response)
    while cl.previous_url:
        response = top.get(CHANGELIST + cl.previous_url)
        cl = response.context["cl"]
        seen = _rows(response) + seen
    assert seen == codes
    # Forward again by cursor from the top page.
    while cl.next_url:
        response = top.get(CHANGELIST + cl.next_url)
        cl = response.context["cl"]
        assert len(_rows(response)) <= PER_PAGE
    assert _rows(response) == codes[-PER_PAGE:]


def test_a_cursor_keeps_the_filters_and_a_filter_link_drops_the_cursor(codes, cw, top):
    ops.generate_codes(actor=cw.top, service=cw.acme, quantity=40, validity_days=90, now=T0 - timedelta(hours=5))
    ninety = list(ActivationCode.objects.filter(validity_days=90).order_by("-created_at", "id")
                  .values_list("code", flat=True))
    first = _page(top, validity_days="90").context["cl"]
    assert first.next_url.startswith("?p=2") and "validity_days=90" in first.next_url
    response = _page(top, validity_days="90", cursor="last")
    assert _rows(response) == ninety[-PER_PAGE:]
    cl = response.context["cl"]
    assert "validity_days=90" in cl.previous_url
    assert "cursor" not in cl.get_query_string({"validity_days": "30"})
    assert 'name="cursor"' not in response.content.decode()  # the search form starts from the first page


@pytest.mark.parametrize("p", ["9", "100000", "0", "-1", "1" + "0" * 30])
def test_a_page_past_the_end_or_below_one_is_a_404_not_page_one(codes, top, p):
    response = top.get(CHANGELIST, {"p": p})
    assert response.status_code == 404


@pytest.mark.parametrize("cursor", ["x", "a.!!", "a.bm90IGpzb24", "b.WzEsMiwzXQ", "a.WyJ4IiwgMV0",
                                    "a.WyIyMDI2LTA1LTA0VDA5OjAwOjAwKzAwOjAwIiwgOTk5OTk5OTk5OTk5OTk5OTk5OTk5XQ"])
def test_a_malformed_cursor_is_a_404(codes, top, cursor):
    assert top.get(CHANGELIST, {"cursor": cursor}).status_code == 404


def _cursor(direction: str, value) -> str:
    import base64
    import json

    return direction + "." + base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def test_a_crafted_cursor_never_reaches_the_database_as_an_error(codes, top):
    nested = "[" * 5000 + "]" * 5000
    assert top.get(CHANGELIST, {"cursor": "a." + base64_text(nested)}).status_code == 404
    assert top.get(CHANGELIST, {"cursor": "a.\x00"}).status_code == 400  # NUL: refused before any view
    # An offset PostgreSQL refuses (+16:00) is read in UTC; year 1 minus an offset is out of range.
    after = top.get(CHANGELIST, {"cursor": _cursor("a", ["2026-05-05T02:00:00+16:00", 0])})
    assert after.status_code == 200 and _rows(after) == codes[:PER_PAGE]
    assert top.get(CHANGELIST, {"cursor": _cursor("b", ["0001-01-01T00:00:00+14:00", 0])}).status_code in (200, 404)


def base64_text(text: str) -> str:
    import base64

    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def test_a_cursor_under_a_column_sort_is_a_404_and_numbered_pages_still_work(codes, top):
    assert top.get(CHANGELIST, {"cursor": "last", "o": "5"}).status_code == 404
    sorted_page = _page(top, o="5", p=5).context["cl"]  # sorted by validity: offset pages past the cap
    assert len(sorted_page.result_list) == PER_PAGE and sorted_page.next_url == "?o=5&p=6"
    assert sorted_page.last_url is None  # the end of a non-default order is not known cheaply


def test_show_all_never_shows_a_page_under_its_name(codes, top, monkeypatch):
    monkeypatch.setattr(ActivationCodeAdmin, "list_max_show_all", 20)
    response = top.get(CHANGELIST, {"all": ""}, follow=True)
    assert _rows(response) == codes[:PER_PAGE]
    assert "lists at most 20 rows" in response.content.decode()
    monkeypatch.setattr(ActivationCodeAdmin, "list_max_show_all", 200)
    assert "Show all" not in _page(top).content.decode()  # 30+ is more than it may show
    page = _page(top).content.decode()  # and so is the action bar's "select all"
    assert f"Select all {CAP}+ activation codes" in page and f"All {CAP}+ selected" in page
    assert f"{CAP + 1} activation codes" not in page and f"{CAP + 1} selected" not in page
    searched = _page(top, validity_days="30").content.decode()  # the search bar's count is capped too
    assert f"{CAP}+ results" in searched and f"{CAP + 1} results" not in searched
    assert "clear the search and filters" in searched and "Show all" not in searched


@pytest.mark.parametrize("query", [{}, {"p": "5"}, {"cursor": "last"}, {"state": "new", "p": "4"}])
def test_the_query_count_of_any_page_does_not_grow_with_the_data(codes, cw, top, query,
                                                                 django_assert_max_num_queries):
    top.get(CHANGELIST, query)  # warm the session and the content types
    with django_assert_max_num_queries(30) as small:
        assert top.get(CHANGELIST, query).status_code == 200
    ops.generate_codes(actor=cw.top, service=cw.acme, quantity=300, validity_days=30, now=T0 - timedelta(days=1))
    with django_assert_max_num_queries(len(small.captured_queries)):
        assert top.get(CHANGELIST, query).status_code == 200


def test_a_distributor_pages_its_own_codes_past_the_cap(cw, client):
    for hours in (2, 1):
        ops.generate_codes(actor=cw.top, service=cw.acme, quantity=20, validity_days=30, shared_with=cw.north,
                           now=T0 - timedelta(hours=hours))
    ops.generate_codes(actor=cw.top, service=cw.acme, quantity=20, validity_days=30, now=T0)  # not its own
    own = list(ActivationCode.objects.filter(shared_with=cw.north).order_by("-created_at", "id")
               .values_list("code", flat=True))
    client.force_login(cw.north_op)
    assert _rows(_page(client, p=4)) == own[30:40]
    assert _rows(_page(client, cursor="last")) == own[-PER_PAGE:]
    assert client.get(CHANGELIST, {"p": 5}).status_code == 404


def test_the_units_list_shares_the_paging_past_the_cap(cw, client, monkeypatch):
    monkeypatch.setattr(UnitAdmin, "list_per_page", PER_PAGE)
    Unit.objects.bulk_create(Unit(service_id=cw.acme.pk, account=cw.north_client, name=f"bulk {i:03d}",
                                  unique_id=f"PAGING{i}") for i in range(45))
    names = list(Unit.objects.filter(service_id=cw.acme.pk).order_by("name", "id").values_list("name", flat=True))
    client.force_login(cw.top)
    response = client.get("/admin/units/unit/", {"p": 5})
    assert [u.name for u in response.context["cl"].result_list] == names[40:50]
    assert f"{CAP}+ units" in response.content.decode()
    assert client.get("/admin/units/unit/", {"p": 99}).status_code == 404


def test_the_code_log_past_the_end_shows_its_real_last_page(cw):
    from apps.codes.models import CodeEvent

    ops.generate_codes(actor=cw.top, service=cw.acme, quantity=45, validity_days=30, now=T0)
    events = CodeEvent.objects.filter(service_id=cw.acme.pk).order_by("-at", "-id")
    assert events.count() >= 45
    paginator = CappedPaginator(events, PER_PAGE)
    assert paginator.capped
    last = -(-events.count() // PER_PAGE)
    assert paginator.get_page(last).number == last and not paginator.get_page(last).has_next()
    assert paginator.get_page(4).has_next()  # past the 30 counted, still a next page
    assert paginator.get_page(999).number == last
    assert paginator.get_page("1" + "0" * 30).number == last
    assert paginator.get_page(0).number == 1
    assert paginator.get_page("abc").number == 1


def test_a_cursor_page_starts_its_index_range_at_the_cursor(codes, top):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    cl = _page(top, cursor="last").context["cl"]
    with CaptureQueriesContext(connection) as ctx:
        response = top.get(CHANGELIST + cl.previous_url)
    assert _rows(response) == codes[-2 * PER_PAGE:-PER_PAGE]
    page_sql = next(q["sql"] for q in ctx.captured_queries if "LIMIT 11" in q["sql"])
    # The leading bound stands alone (an index range start), beside the tie-break on the id.
    assert '"codes_activationcode"."created_at" >= ' in page_sql
    assert '"codes_activationcode"."id" < ' in page_sql


@pytest.mark.parametrize("query", [{"state": "new"}, {"state": "new", "validity_days": "30"}, {}])
def test_each_row_links_to_its_code_with_the_list_filters_as_django_builds_them(codes, top, query):
    """The rows' links are built once per page (``CappedChangeList.row_query``), not resolved row by row: the same
    URL Django's ``add_preserved_filters`` makes, so saving a code comes back to the filtered list."""
    import re

    from django.contrib.admin.templatetags.admin_urls import add_preserved_filters

    response = _page(top, **query)
    cl = response.context["cl"]
    preserved = cl.model_admin.get_preserved_filters(response.wsgi_request)
    html = response.content.decode()
    links = re.findall(r'<th class="field-[a-z_]+"><a href="([^"]+)"', html)
    assert len(links) == len(cl.result_list) > 0
    for code, link in zip(cl.result_list, links, strict=True):
        expected = add_preserved_filters({"preserved_filters": preserved, "opts": cl.opts},
                                         f"/admin/codes/activationcode/{code.pk}/change/")
        assert link.replace("&amp;", "&") == expected
    assert ("_changelist_filters=" in links[0]) == bool(query)
