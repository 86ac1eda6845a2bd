"""The browsable API (Accept: text/html) as every role: never a 500, and no form, select or filter names an
object outside the viewer's scope (issue 11 item 3, SPEC §9.1). Paths come from the OpenAPI schema."""

import re

import pytest
from drf_spectacular.generators import SchemaGenerator

from apps.plans.models import Plan

HTML = {"HTTP_ACCEPT": "text/html"}
OUTSIDE = {
    # Names each role must never read: other branches, the other service.
    "top": ["Other Service", "Other Client", "Other base", "othertop"],
    "north_op": ["South Client", "Other Service", "Other Client", "Other base", "othertop", "Acme root plan"],
    "north_restricted": ["South Client", "Other Service", "Other Client", "Other base", "othertop",
                         "Acme root plan"],
    "other_top": ["Acme Telematics", "North Client", "South Client", "North-East", "Acme dealer plan"],
}


def _paths():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return sorted(schema["paths"])


PATHS = _paths()


def _fill(path: str, world) -> str:
    ids = {"id": world.north_client.pk, "pk": world.north_client.pk, "plan_id": world.base_plan.pk,
           "service_id": 1, "user_id": 1, "grant_id": 1, "code": "0" * 32, "name": "avl_unit"}
    return re.sub(r"\{(\w+)\}", lambda m: str(ids[m.group(1)]), path)


@pytest.mark.parametrize("role", list(OUTSIDE))
def test_every_api_page_in_a_browser_is_below_500_and_in_scope(world, client, role):
    Plan.objects.filter(service=world.acme, name="Service plan").update(name="Acme root plan")
    Plan.objects.filter(pk=world.dealer_plan.pk).update(name="Acme dealer plan")
    client.force_login(getattr(world, role))
    for path in PATHS:
        url = _fill(path, world)
        for method in ("get", "options"):
            response = getattr(client, method)(url, **HTML)
            assert response.status_code < 500, (role, method, url, response.status_code)
            text = response.content.decode()
            for name in OUTSIDE[role]:
                assert name not in text, (role, method, url, name)


def test_restricted_distributor_gets_403_pages_not_500(world, client):
    client.force_login(world.north_restricted)
    for url in ("/api/v1/accounts/", "/api/v1/plans/", "/api/v1/units/", "/api/v1/codes/", "/api/v1/code-events/",
                "/api/v1/discount/accounts/", "/api/v1/codes/generate/", f"/api/v1/accounts/{world.north.pk}/"):
        response = client.get(url, **HTML)
        assert response.status_code in (403, 404, 405), (url, response.status_code)


def test_generate_and_discount_accounts_open_in_a_browser(world, client):
    client.force_login(world.top)
    assert client.get("/api/v1/codes/generate/", **HTML).status_code == 405
    assert client.get("/api/v1/discount/accounts/", **HTML).status_code in (200, 404)


def test_operators_page_selects_show_only_the_viewers_accounts(world, client):
    """``/api/v1/operators/`` as North's distributor: the create form's account select and the filter
    form list North's subtree only (they used to list every account of every service)."""
    client.force_login(world.north_op)
    text = client.get("/api/v1/operators/", **HTML).content.decode()
    assert re.search(r'<select[^>]*name="account"', text)  # the create form's account select
    assert re.search(r"<option[^>]*>\s*North Client\s*<", text)  # with the viewer's accounts
    options = [o.strip() for o in re.findall(r"<option[^>]*>([^<]*)<", text)]
    assert options, "the filter form's selects"
    for option in options:
        assert not any(name in option for name in ("South", "Other", "Acme Telematics")), option
