"""The admin's answers to malformed input and to roles that may only read (issue 11, SPEC §9.1).

Each test pins one failure the crawl (tests/test_crawl.py) found; the crawl keeps every other URL honest.
"""

import pytest
from django.test import Client

from apps.accounts.models import Operator, Role
from apps.codes import operations as code_ops
from apps.codes.models import NoticeDelivery
from apps.core import clock
from apps.plans.models import PlanService
from apps.units.models import Unit


def logged_in(operator) -> Client:
    client = Client()
    client.force_login(operator)
    return client


@pytest.mark.parametrize("role", ["platform", "top", "north_op"])
def test_the_add_operator_page_opens_and_creates_an_operator(world, role):
    """It was a 500 for every role (``KeyError: 'account'``: the add form lost its read-only fields)."""
    actor = getattr(world, role)
    client = logged_in(actor)
    page = client.get("/admin/accounts/operator/add/")
    assert page.status_code == 200
    assert b'name="account"' in page.content and b'name="role"' in page.content
    target = world.north_east
    response = client.post("/admin/accounts/operator/add/", {
        "username": f"new_{role}", "password": "Demo-pass-2026!", "email": "n@example.com",
        "account": target.pk, "role": Role.DISTRIBUTOR})
    assert response.status_code == 302, response.content[:2000]
    assert Operator.objects.get(username=f"new_{role}").account == target


def test_the_add_operator_page_offers_only_accounts_in_scope(world):
    client = logged_in(world.north_op)
    page = client.get("/admin/accounts/operator/add/").content.decode()
    assert "South" not in page and "Other Service" not in page and 'data-field-name="account"' in page
    # The account is a searchable picker (issue 16): its choices come from the admin's autocomplete.
    rows = client.get("/admin/autocomplete/", {"app_label": "accounts", "model_name": "operator",
                                               "field_name": "account", "term": ""}).json()["results"]
    names = {row["text"] for row in rows}
    assert "North › North-East" in names and not any(name.startswith(("South", "Other")) for name in names)


@pytest.mark.parametrize("url", [
    "/admin/accounts/account/", "/admin/accounts/operator/", "/admin/accounts/ledgerentry/", "/admin/plans/plan/",
    "/admin/plans/planservice/", "/admin/plans/planevent/", "/admin/services/catalogueservice/",
    "/admin/units/unit/", "/admin/units/monitoringuser/", "/admin/units/unitevent/",
    "/admin/codes/activationcode/", "/admin/codes/expirynotice/"])
@pytest.mark.parametrize("query", ["service=x", "service=%D9%A3", "account=x", "parent=x"])
def test_a_malformed_filter_value_is_the_admin_invalid_filter_answer_not_a_500(world, url, query):
    """``?service=x`` was a 500 on every list with the service filter (``?account=x`` on units and monitoring
    users, ``?parent=x`` on accounts): now the admin's own answer to a bad filter, a reload with ``?e=1``."""
    response = logged_in(world.platform).get(f"{url}?{query}")
    assert response.status_code in (200, 302), response.status_code
    if response.status_code == 302:
        assert response["Location"].endswith("?e=1")


@pytest.mark.parametrize("url", ["/admin/accounts/operator/?role__exact=%00", "/admin/units/unit/?q=%00",
                                 "/admin/accounts/ledgerentry/?kind__exact=ab%00c",
                                 "/admin/django_celery_beat/periodictask/?task=%00"])
def test_a_nul_byte_in_the_query_string_answers_400_naming_the_parameter(world, url):
    """PostgreSQL refuses NUL in text: Django's own choice filters passed it on and answered 500."""
    response = logged_in(world.platform).get(url)
    assert response.status_code == 400
    assert url.split("?")[1].split("=")[0].encode() in response.content
    assert b"NUL" in response.content


def test_a_nul_byte_in_an_api_query_answers_400_in_the_api_error_shape(world, as_user):
    response = as_user(world.top).get("/api/v1/units/?search=%00")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid" and "search" in response.json()["fields"]


def test_a_distributor_gets_403_on_a_plan_delete_page_and_never_its_accounts(world):
    """The refusal listed every account on the plan, other branches' included (South for North)."""
    client = logged_in(world.north_op)
    url = f"/admin/plans/plan/{world.dealer_plan.pk}/delete/"
    assert client.get(url).status_code == 403
    response = client.post(url, {"post": "yes"})
    assert response.status_code == 403
    assert b"South" not in response.content
    assert not list(response.wsgi_request._messages)
    assert world.dealer_plan.__class__.objects.filter(pk=world.dealer_plan.pk).exists()


def test_a_distributor_reads_a_plan_and_its_service_rows_read_only(world):
    """Its plan's service row page was a 500 for a read-only viewer (``KeyError: 'type'``)."""
    row = PlanService.objects.create(plan=world.dealer_plan, name="sms", type="on_demand", cost_table="0:1;-1")
    client = logged_in(world.north_op)
    for url in (f"/admin/plans/planservice/{row.pk}/change/", f"/admin/plans/plan/{world.dealer_plan.pk}/change/"):
        page = client.get(url)
        assert page.status_code == 200, url
        assert b'name="_save"' not in page.content, url
        assert client.post(url, {"name": "x"}).status_code == 403, url
    assert client.get(f"/admin/plans/planservice/{row.pk}/delete/").status_code == 403
    assert client.post(f"/admin/plans/planservice/{row.pk}/delete/", {"post": "yes"}).status_code == 403
    assert PlanService.objects.filter(pk=row.pk).exists()


def test_the_plan_service_filter_lists_only_plans_in_scope(world):
    """Django's default foreign-key filter listed every plan of every service."""
    from apps.plans.models import Plan

    other_plan = Plan.objects.get(service=world.other_service, name="Other base")
    for plan in (world.dealer_plan, other_plan):
        PlanService.objects.create(plan=plan, name="sms", type="on_demand", cost_table="0:1;-1")
    page = logged_in(world.other_top).get("/admin/plans/planservice/").content.decode()
    assert f"plan__id__exact={other_plan.pk}" in page and "Other base" in page
    assert f"plan__id__exact={world.dealer_plan.pk}" not in page and "Dealer" not in page


@pytest.fixture
def delivery(world):
    code_ops.switch_billing_method(actor=world.platform, service=world.acme, method="activation_codes", confirm=True)
    unit = Unit.objects.create(service=world.acme, account=world.north_client, name="Truck", unique_id="IMEI-d")
    code = code_ops.generate_codes(actor=world.top, service=world.acme, quantity=1, validity_days=30,
                                   shared_with=world.north)[0]
    code_ops.assign_code(actor=world.top, code=code, unit=unit)
    notice = code_ops.create_notice(actor=world.north_op, name="Soon", text="Renew", days_before=40,
                                    recipients=[world.north_op])
    return NoticeDelivery.objects.create(notice=notice, recipient=world.north_op, code=code, created_at=clock.now())


@pytest.mark.parametrize("next_url", ["//evil.example/steal", "https://evil.example/", "/\\evil.example",
                                      "javascript:alert(1)", "http://testserver.evil.example/"])
def test_dismissing_a_notice_redirects_only_to_a_path_of_this_site(world, delivery, next_url):
    response = logged_in(world.north_op).post(f"/admin/codes/notices/{delivery.pk}/dismiss/", {"next": next_url})
    assert response.status_code == 302
    assert response["Location"] == "/admin/"
    delivery.refresh_from_db()
    assert delivery.dismissed_at is not None


def test_dismissing_a_notice_returns_to_the_page_it_was_on(world, delivery):
    response = logged_in(world.north_op).post(f"/admin/codes/notices/{delivery.pk}/dismiss/",
                                              {"next": "/admin/codes/apply/?x=1"})
    assert response["Location"] == "/admin/codes/apply/?x=1"


def test_the_code_log_filters_by_service_for_the_platform_operator(world, delivery):
    client = logged_in(world.platform)
    acme = client.get(f"/admin/codes/log/?service={world.acme.pk}").content.decode()
    other = client.get(f"/admin/codes/log/?service={world.other_service.pk}").content.decode()
    assert delivery.code.code in acme and delivery.code.code not in other
    assert "North Client" not in other.split('id="code-log"')[0]  # the account picker follows the service
    assert logged_in(world.top).get("/admin/codes/log/").context["form"].fields.get("service") is None
