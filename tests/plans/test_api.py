"""Plans through the API: rights per role, validation, inheritance, services, import/export, calculator."""

from decimal import Decimal

import pytest

from apps.accounts import operations as account_ops
from apps.plans import operations
from apps.plans.models import DeviceType, Modem, Plan, PlanEvent, PlanService
from apps.plans.models import CatalogueService
from tests import factories

pytestmark = pytest.mark.django_db


def _row(plan, name, cost_table="", interval="none", **extra):
    return PlanService.objects.create(plan=plan, name=name, type=CatalogueService.objects.get(name=name).type,
                                      interval=interval, cost_table=cost_table, **extra)


# --- plans ----------------------------------------------------------------------------------------

def test_top_user_creates_a_plan_with_a_parent_and_an_event_is_recorded(world, as_user):
    response = as_user(world.top).post("/api/v1/plans/", {
        "name": "Gold", "parent": world.base_plan.pk, "currency_format": "€%.02f", "block_by_balance": True,
        "block_balance": "-10", "retranslator_mask": "*.example.com:20*, 10.0.0.?:5000",
        "sms_sender": "+4930123456", "email": "billing@acme.example",
    }, format="json")
    assert response.status_code == 201, response.json()
    plan = Plan.objects.get(pk=response.json()["id"])
    assert (plan.service_id, plan.parent_id, plan.block_balance) == (world.acme.pk, world.base_plan.pk,
                                                                     Decimal("-10"))
    assert response.json()["block_balance"] == "-10.0000"
    event = PlanEvent.objects.get(plan_id_snapshot=plan.pk)
    assert (event.action, event.actor_id, event.details["currency_format"]) == ("created", world.top.pk, "€%.02f")


@pytest.mark.parametrize(("field", "value"), [
    ("currency_format", "%d $"), ("currency_format", "%.02f %.02f"), ("retranslator_mask", "host"),
    ("retranslator_mask", "a.com:99999"), ("retranslator_mask", "a.com:80,,b.com:81"), ("email", "nope"),
    ("sms_sender", "a very long sender name"), ("report_color", "red"), ("device_type_limit", "maybe"),
    ("min_days", "x"), ("block_balance", "1.23456"), ("name", ""),
])
def test_bad_plan_settings_answer_400_naming_the_field(world, as_user, field, value):
    before = Plan.objects.count()
    response = as_user(world.top).post("/api/v1/plans/", {"name": "X", "parent": world.base_plan.pk, field: value},
                                       format="json")
    assert response.status_code == 400
    assert field in response.json()["fields"]
    assert Plan.objects.count() == before


def test_root_plan_must_set_its_history_period(world, as_user):
    response = as_user(world.top).post("/api/v1/plans/", {"name": "Root"}, format="json")
    assert response.status_code == 400
    assert "history_period_days" in response.json()["fields"]


def test_duplicate_plan_name_in_a_service_is_refused(world, as_user):
    response = as_user(world.top).post("/api/v1/plans/", {"name": "base", "parent": world.base_plan.pk},
                                       format="json")
    assert response.status_code == 400
    assert "name" in response.json()["fields"]


def test_parent_cycle_is_refused(world, as_user):
    child = factories.plan(world.acme, name="Child", parent=world.dealer_plan)
    response = as_user(world.top).patch(f"/api/v1/plans/{world.dealer_plan.pk}/", {"parent": child.pk},
                                        format="json")
    assert response.status_code == 400
    assert "parent" in response.json()["fields"]
    world.dealer_plan.refresh_from_db()
    assert world.dealer_plan.parent_id == world.base_plan.pk


def test_parent_from_another_service_is_an_unknown_id(world, as_user):
    other = Plan.objects.get(service=world.other_service, name="Other base")
    response = as_user(world.top).post("/api/v1/plans/", {"name": "X", "parent": other.pk}, format="json")
    assert response.status_code == 400
    assert response.json()["fields"]["parent"] == ["No such object."]


def test_top_account_plan_chain_is_for_the_platform_operator_only(world, as_user):
    account_ops.update_account(actor=world.platform, account=world.acme, changes={"plan": world.dealer_plan})
    # Dealer and its parent Base are now the top account's chain.
    for plan in (world.dealer_plan, world.base_plan):
        response = as_user(world.top).patch(f"/api/v1/plans/{plan.pk}/", {"description": "x"}, format="json")
        assert response.status_code == 403
    free = factories.plan(world.acme, name="Free", parent=world.base_plan)
    assert as_user(world.top).patch(f"/api/v1/plans/{free.pk}/", {"description": "x"},
                                    format="json").status_code == 200
    assert as_user(world.platform).patch(f"/api/v1/plans/{world.base_plan.pk}/", {"description": "y"},
                                         format="json").status_code == 200


def test_distributor_reads_its_plan_and_sub_plans_only(world, as_user):
    extra = factories.plan(world.acme, name="Sub", parent=world.base_plan)
    hidden = factories.plan(world.acme, name="Hidden", parent=world.base_plan)
    account_ops.update_account(actor=world.top, account=world.north, changes={"sub_plans": [extra]})
    client = as_user(world.north_op)
    names = {p["name"] for p in client.get("/api/v1/plans/").json()["results"]}
    assert names == {"Dealer", "Sub"}
    assert client.get(f"/api/v1/plans/{hidden.pk}/").status_code == 404
    assert client.patch(f"/api/v1/plans/{extra.pk}/", {"description": "x"}, format="json").status_code == 403
    assert client.post("/api/v1/plans/", {"name": "Mine", "parent": extra.pk}, format="json").status_code == 403


def test_restricted_distributor_and_other_service_see_no_plans(world, as_user):
    assert as_user(world.north_restricted).get("/api/v1/plans/").status_code == 403
    response = as_user(world.other_top).get(f"/api/v1/plans/{world.base_plan.pk}/")
    assert response.status_code == 404


def test_deleting_a_plan_in_use_or_a_parent_answers_409(world, as_user):
    client = as_user(world.top)
    response = client.delete(f"/api/v1/plans/{world.base_plan.pk}/")
    assert response.status_code == 409
    assert response.json()["code"] == "plan_in_use"
    assert "Dealer" in response.json()["uses"]["children"]
    unused = factories.plan(world.acme, name="Unused", parent=world.base_plan)
    assert client.delete(f"/api/v1/plans/{unused.pk}/").status_code == 204
    assert not Plan.objects.filter(pk=unused.pk).exists()
    assert PlanEvent.objects.filter(plan_id_snapshot=unused.pk, action="deleted").exists()


def test_effective_plan_names_the_source_of_every_setting(world, as_user):
    operations.update_plan(actor=world.platform, plan=world.base_plan,
                           changes={"currency_format": "%.02f $", "block_by_days": True, "min_days": 3})
    operations.update_plan(actor=world.platform, plan=world.dealer_plan, changes={"min_days": 5})
    body = as_user(world.top).get(f"/api/v1/plans/{world.dealer_plan.pk}/effective/").json()
    settings = body["settings"]
    assert settings["currency_format"] == {"value": "%.02f $", "source": f"plan:{world.base_plan.pk}",
                                           "source_name": "Base"}
    assert settings["min_days"]["value"] == 5 and settings["min_days"]["source_name"] == "Dealer"
    assert settings["block_by_balance"] == {"value": False, "source": "default", "source_name": "default"}
    assert settings["history_period_days"]["value"] == 400


def test_device_type_limit_and_modems(world, as_user):
    tracker, camera = DeviceType.objects.create(name="Tracker"), DeviceType.objects.create(name="Camera")
    limited = Modem.objects.create(name="SMPP", limit_by_plans=True)
    open_modem = Modem.objects.create(name="Open")
    client = as_user(world.top)
    response = client.patch(f"/api/v1/plans/{world.dealer_plan.pk}/", {"device_types": [tracker.pk]},
                            format="json")
    assert response.status_code == 400 and "device_types" in response.json()["fields"]
    response = client.patch(f"/api/v1/plans/{world.dealer_plan.pk}/", {
        "device_type_limit": "only", "device_types": [tracker.pk], "modems": [limited.pk]}, format="json")
    assert response.status_code == 200, response.json()
    assert client.patch(f"/api/v1/plans/{world.dealer_plan.pk}/", {"modems": [open_modem.pk]},
                        format="json").status_code == 400
    from apps.plans.inheritance import device_type_allowed, modem_allowed

    child = factories.plan(world.acme, name="Child", parent=world.dealer_plan)
    assert device_type_allowed(child, tracker) and not device_type_allowed(child, camera)
    assert modem_allowed(world.dealer_plan, limited) and not modem_allowed(child, limited)
    assert modem_allowed(child, open_modem)


# --- plan services --------------------------------------------------------------------------------

def test_bad_then_good_cost_table(world, as_user):
    client = as_user(world.top)
    url = f"/api/v1/plans/{world.dealer_plan.pk}/services/"
    bad = client.post(url, {"name": "sms", "interval": "daily", "cost_table": "3:0;;-1"}, format="json")
    assert bad.status_code == 400
    assert bad.json()["fields"]["cost_table"] == ["item 2 (''): empty item (two ';' in a row, or a ';' at the "
                                                  "start or the end)"]
    assert not PlanService.objects.filter(plan=world.dealer_plan).exists()
    good = client.post(url, {"name": "sms", "interval": "daily", "cost_table": " 1:0.00; 10:1.50;-1 "}, format="json")
    assert good.status_code == 201, good.json()
    assert good.json()["cost_table"] == "1:0;10:1.5;-1"
    assert good.json()["type"] == "on_demand"
    assert PlanEvent.objects.filter(plan_id_snapshot=world.dealer_plan.pk, action="service_added").count() == 1


@pytest.mark.parametrize(("body", "field"), [
    ({"name": "no_such_service"}, "name"),
    ({"name": "sms", "type": "periodic"}, "type"),
    ({"name": "sms", "interval": "daily", "cost_table": "0:5"}, "cost_table"),
    ({"name": "periodic", "interval": "none", "cost_table": "0:10;-1"}, "cost_table"),
    ({"name": "sms", "interval": "yearly"}, "interval"),
])
def test_service_rows_follow_the_catalogue(world, as_user, body, field):
    response = as_user(world.top).post(f"/api/v1/plans/{world.dealer_plan.pk}/services/", body, format="json")
    assert response.status_code == 400
    assert field in response.json()["fields"]


def test_flat_fee_on_a_periodic_service_with_an_interval(world, as_user):
    response = as_user(world.top).post(f"/api/v1/plans/{world.dealer_plan.pk}/services/",
                                       {"name": "periodic", "interval": "monthly", "cost_table": "0:10;-1"},
                                       format="json")
    assert response.status_code == 201


def test_service_row_update_and_delete(world, as_user):
    row = _row(world.dealer_plan, "sms", "1:1")
    client = as_user(world.top)
    url = f"/api/v1/plans/{world.dealer_plan.pk}/services/{row.pk}/"
    assert client.patch(url, {"cost_table": "x"}, format="json").status_code == 400
    row.refresh_from_db()
    assert row.cost_table == "1:1"
    assert client.patch(url, {"cost_table": "2:1.10;-1"}, format="json").json()["cost_table"] == "2:1.1;-1"
    assert client.delete(url).status_code == 204
    assert [e.action for e in PlanEvent.objects.filter(plan_id_snapshot=world.dealer_plan.pk).order_by("id")] == [
        "service_changed", "service_removed"]
    # another plan's row through this plan's URL: 404
    other = _row(world.base_plan, "sms")
    assert client.get(f"/api/v1/plans/{world.dealer_plan.pk}/services/{other.pk}/").status_code == 404


def test_effective_services_inherit_row_by_row(world, as_user):
    _row(world.base_plan, "sms", "1:1")
    _row(world.base_plan, "avl_unit", "1:0;5:10", interval="monthly")
    _row(world.dealer_plan, "sms", "-1")
    child = factories.plan(world.acme, name="Child", parent=world.dealer_plan)
    body = as_user(world.top).get(f"/api/v1/plans/{child.pk}/effective-services/").json()
    by_name = {s["name"]: s for s in body}
    assert by_name["sms"]["cost_table"] == "-1" and by_name["sms"]["plan_name"] == "Dealer"
    assert by_name["avl_unit"]["plan"] == world.base_plan.pk and by_name["avl_unit"]["inherited"]
    assert by_name["avl_unit"]["explanation"] == "from plan Base, inherited by Dealer → Child"


# --- import / export ------------------------------------------------------------------------------

def test_import_keeps_existing_names_unless_delete_existing(world, as_user):
    _row(world.base_plan, "sms", "1:1")
    _row(world.base_plan, "drivers", "5:0;-1", interval="monthly")
    _row(world.dealer_plan, "sms", "-1")
    _row(world.dealer_plan, "jobs", "")
    client = as_user(world.top)
    url = f"/api/v1/plans/{world.dealer_plan.pk}/services/import/"
    response = client.post(url, {"source_plans": [world.base_plan.pk]}, format="json")
    assert response.json() == {"added": 2, "kept": 1, "removed": 0}  # drivers and avl_resource
    tables = dict(world.dealer_plan.services.values_list("name", "cost_table"))
    assert tables == {"sms": "-1", "jobs": "", "drivers": "5:0;-1", "avl_resource": ""}
    response = client.post(url, {"source_plans": [world.base_plan.pk], "names": ["sms"], "delete_existing": True},
                           format="json")
    assert response.json() == {"added": 1, "kept": 0, "removed": 4}
    assert dict(world.dealer_plan.services.values_list("name", "cost_table")) == {"sms": "1:1"}
    assert PlanEvent.objects.filter(plan_id_snapshot=world.dealer_plan.pk, action="services_imported").count() == 2


def test_import_refuses_a_name_in_several_sources(world, as_user):
    other = factories.plan(world.acme, name="Other", parent=world.base_plan)
    _row(world.base_plan, "sms", "1:1")
    _row(other, "sms", "1:2")
    target = factories.plan(world.acme, name="Target", parent=world.base_plan)
    response = as_user(world.top).post(f"/api/v1/plans/{target.pk}/services/import/",
                                       {"source_plans": [world.base_plan.pk, other.pk]}, format="json")
    assert response.status_code == 400
    assert response.json()["clashes"] == {"sms": ["Base", "Other"]}
    assert not target.services.exists()


@pytest.mark.parametrize(("mode", "expected", "counts"), [
    ("add", {"sms": "-1", "jobs": "", "drivers": "5:0;-1"}, {"added": 1, "replaced": 0, "kept": 1, "removed": 0}),
    ("replace", {"sms": "1:1", "jobs": "", "drivers": "5:0;-1"}, {"added": 1, "replaced": 1, "kept": 0, "removed": 0}),
    ("sync", {"sms": "1:1", "drivers": "5:0;-1"}, {"added": 1, "replaced": 1, "kept": 0, "removed": 1}),
])
def test_export_modes(world, as_user, mode, expected, counts):
    _row(world.base_plan, "sms", "1:1")
    _row(world.base_plan, "drivers", "5:0;-1", interval="monthly")
    _row(world.base_plan, "routes", "3")
    _row(world.dealer_plan, "sms", "-1")
    _row(world.dealer_plan, "jobs", "")
    response = as_user(world.top).post(f"/api/v1/plans/{world.base_plan.pk}/services/export/",
                                       {"target_plans": [world.dealer_plan.pk], "names": ["sms", "drivers"],
                                        "mode": mode}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["targets"] == [{"plan": world.dealer_plan.pk, "plan_name": "Dealer", **counts}]
    assert dict(world.dealer_plan.services.values_list("name", "cost_table")) == expected
    assert PlanEvent.objects.filter(plan_id_snapshot=world.base_plan.pk, action="services_exported").exists()


def test_export_to_a_protected_plan_is_refused_for_a_top_user(world, as_user):
    account_ops.update_account(actor=world.platform, account=world.acme, changes={"plan": world.base_plan})
    source = factories.plan(world.acme, name="Source", parent=world.base_plan)
    _row(source, "sms", "1:1")
    response = as_user(world.top).post(f"/api/v1/plans/{source.pk}/services/export/",
                                       {"target_plans": [world.base_plan.pk], "mode": "sync"}, format="json")
    assert response.status_code == 403
    assert list(world.base_plan.services.values_list("name", flat=True)) == ["avl_resource"]  # unchanged


# --- calculator and catalogues --------------------------------------------------------------------

def test_evaluate_endpoint(world, as_user):
    response = as_user(world.north_op).post("/api/v1/cost-tables/evaluate/",
                                            {"cost_table": "1:0;10:1.5;-1", "count": 12}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["total"] == "13.5000" and body["denied_from"] == 11
    assert body["prices"][0] == "0.0000" and body["prices"][10] is None
    bad = as_user(world.north_op).post("/api/v1/cost-tables/evaluate/", {"cost_table": "1:x", "count": 1},
                                       format="json")
    assert bad.status_code == 400
    assert bad.json()["fields"]["cost_table"] == ["item 1 ('1:x'): value 'x' is not a number"]
    too_many = as_user(world.north_op).post("/api/v1/cost-tables/evaluate/", {"cost_table": "", "count": 10**6},
                                            format="json")
    assert too_many.status_code == 400 and "count" in too_many.json()["fields"]


def test_catalogue_holds_the_seed_and_research_names(world, as_user):
    body = as_user(world.top).get("/api/v1/catalogue/?page_size=500").json()
    types = {row["name"]: row["type"] for row in body["results"]}
    assert types["avl_retranslator"] == "on_demand"  # the seed wins over the research notes
    assert types["wialon_web"] == "on_demand" and types["zone_groups"] == "periodic"
    assert len(types) == 50


def test_top_user_adds_an_application_service_for_its_service_only(world, as_user):
    response = as_user(world.top).post("/api/v1/catalogue/", {"name": "Fleet Pro", "description": "Our app"},
                                       format="json")
    assert response.status_code == 201, response.json()
    entry = CatalogueService.objects.get(name="Apps: Fleet Pro")
    assert entry.service_id == world.acme.pk and entry.type == "on_demand"
    assert PlanEvent.objects.filter(action="app_service_added", service=world.acme).exists()
    other_names = {r["name"] for r in as_user(world.other_top).get("/api/v1/catalogue/?page_size=500").json()[
        "results"]}
    assert "Apps: Fleet Pro" not in other_names
    # usable in this service's plans, unknown in the other service's
    assert as_user(world.top).post(f"/api/v1/plans/{world.dealer_plan.pk}/services/",
                                   {"name": "Apps: Fleet Pro"}, format="json").status_code == 201
    other_plan = Plan.objects.get(service=world.other_service, name="Other base")
    assert as_user(world.other_top).post(f"/api/v1/plans/{other_plan.pk}/services/",
                                         {"name": "Apps: Fleet Pro"}, format="json").status_code == 400
    assert as_user(world.north_op).post("/api/v1/catalogue/", {"name": "X"}, format="json").status_code == 403
    assert as_user(world.top).post("/api/v1/catalogue/", {"name": "Apps: Fleet Pro"},
                                   format="json").status_code == 400


def test_ensure_catalogue_is_idempotent_and_adds_missing_names(world):
    from apps.plans.catalogue import CATALOGUE, ensure_catalogue

    CatalogueService.objects.filter(name="tacho").delete()
    ensure_catalogue()
    ensure_catalogue()
    assert CatalogueService.objects.filter(service__isnull=True).count() == len(CATALOGUE)


def test_device_types_and_modems_lists(world, as_user):
    DeviceType.objects.create(name="Teltonika FMB920")
    Modem.objects.create(name="GSM", limit_by_plans=False)
    client = as_user(world.north_op)
    assert client.get("/api/v1/device-types/").json()["results"][0]["name"] == "Teltonika FMB920"
    assert client.get("/api/v1/modems/").json()["results"] == [
        {"id": Modem.objects.get().pk, "name": "GSM", "limit_by_plans": False}]


def test_plan_list_queries_do_not_grow_with_plans(world, as_user, django_assert_max_num_queries):
    for n in range(30):
        factories.plan(world.acme, name=f"P{n}", parent=world.base_plan)
    client = as_user(world.top)
    with django_assert_max_num_queries(8):
        assert client.get("/api/v1/plans/?page_size=100").status_code == 200
