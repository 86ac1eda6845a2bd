"""The plan window in the admin: inline service rows validated as a whole, transfers, CSV/XLSX files."""

import io

import pytest
import tablib
from django.urls import reverse

from apps.plans.models import Plan, PlanEvent, PlanService
from tests import factories

pytestmark = pytest.mark.django_db


def _plan_post(plan, rows, **overrides):
    """The plan change form's POST: general fields plus the services inline."""
    data = {"name": plan.name, "parent": plan.parent_id or "", "description": plan.description,
            "history_period_days": plan.history_period_days if plan.history_period_days is not None else "",
            "block_by_balance": "", "limit_by_balance": "", "block_by_days": "", "allow_unknown_services": "",
            "device_type_limit": "", "services-TOTAL_FORMS": str(len(rows)), "services-INITIAL_FORMS": "0",
            "services-MIN_NUM_FORMS": "0", "services-MAX_NUM_FORMS": "1000"}
    for index, row in enumerate(rows):
        for key, value in row.items():
            data[f"services-{index}-{key}"] = value
        data[f"services-{index}-plan"] = plan.pk
    data.update(overrides)
    return data


def test_plan_pages_render_for_top_user_and_distributor(world, admin_as):
    PlanService.objects.create(plan=world.base_plan, name="sms", type="on_demand", cost_table="1:0;10:1.5;-1")
    client = admin_as(world.top)
    assert client.get(reverse("admin:plans_plan_changelist")).status_code == 200
    page = client.get(reverse("admin:plans_plan_change", args=[world.dealer_plan.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    for fieldset in ("General", "Services", "Device types", "Modems", "E-mail", "Report style"):
        assert f">{fieldset}<" in html
    assert "from plan Base, inherited by Dealer" in html
    assert client.get(reverse("admin:plans_plan_effective", args=[world.dealer_plan.pk])).status_code == 200
    assert client.get(reverse("admin:plans_plan_add")).status_code == 200
    north = admin_as(world.north_op)
    assert north.get(reverse("admin:plans_plan_changelist")).status_code == 200
    assert north.get(reverse("admin:plans_plan_add")).status_code == 403
    hidden = factories.plan(world.acme, name="Hidden", parent=world.base_plan)
    assert north.get(reverse("admin:plans_plan_change", args=[hidden.pk])).status_code == 404  # another scope: not found


def test_a_bad_cost_table_row_saves_nothing(world, admin_as):
    client = admin_as(world.top)
    url = reverse("admin:plans_plan_change", args=[world.dealer_plan.pk])
    response = client.post(url, _plan_post(world.dealer_plan, [
        {"name": "sms", "interval": "daily", "cost_table": "1:0;10:1.5;-1"},
        {"name": "drivers", "interval": "monthly", "cost_table": "5:1;3:2"},
    ], description="changed"))
    assert response.status_code == 200
    assert "item 2 (&#x27;3:2&#x27;): counter 3 is not greater than the previous counter 5" in response.content.decode()
    world.dealer_plan.refresh_from_db()
    assert world.dealer_plan.description == ""
    assert not world.dealer_plan.services.exists()
    assert not PlanEvent.objects.exists()


def test_plan_and_rows_save_through_the_operations(world, admin_as):
    client = admin_as(world.top)
    url = reverse("admin:plans_plan_change", args=[world.dealer_plan.pk])
    response = client.post(url, _plan_post(world.dealer_plan, [
        {"name": "sms", "interval": "daily", "cost_table": "1:0;10:1.50;-1"},
        {"name": "periodic", "interval": "monthly", "cost_table": "0:10;-1"},
    ], description="changed", block_by_days="true"))
    assert response.status_code == 302, response.content.decode()[:3000]
    world.dealer_plan.refresh_from_db()
    assert world.dealer_plan.block_by_days is True and world.dealer_plan.block_by_balance is None
    assert dict(world.dealer_plan.services.values_list("name", "cost_table")) == {
        "sms": "1:0;10:1.5;-1", "periodic": "0:10;-1"}
    assert sorted(PlanEvent.objects.values_list("action", flat=True)) == [
        "changed", "service_added", "service_added"]


def test_top_user_creates_a_plan_in_its_service(world, admin_as):
    client = admin_as(world.top)
    data = _plan_post(Plan(name="Silver", parent=world.base_plan), [])
    data["parent"] = world.base_plan.pk
    response = client.post(reverse("admin:plans_plan_add"), data)
    assert response.status_code == 302, response.content.decode()[:3000]
    plan = Plan.objects.get(name="Silver")
    assert plan.service_id == world.acme.pk and plan.history_period_days is None


def test_deleting_a_plan_in_use_is_refused_with_a_message(world, admin_as):
    client = admin_as(world.top)
    response = client.post(reverse("admin:plans_plan_delete", args=[world.base_plan.pk]), {"post": "yes"},
                           follow=True)
    assert Plan.objects.filter(pk=world.base_plan.pk).exists()
    assert "in use" in response.content.decode()


def test_export_action_previews_then_syncs(world, admin_as):
    PlanService.objects.create(plan=world.base_plan, name="sms", type="on_demand", cost_table="1:1")
    PlanService.objects.create(plan=world.dealer_plan, name="jobs", type="periodic")
    rows = list(world.base_plan.services.values_list("pk", flat=True))
    client = admin_as(world.top)
    url = reverse("admin:plans_planservice_changelist")
    base = {"action": "export_to_plans", "_selected_action": rows, "select_across": "0"}
    preview = client.post(url, {**base, "transfer_step": "preview", "targets": [world.dealer_plan.pk],
                                "mode": "sync"})
    html = preview.content.decode()
    assert preview.status_code == 200 and "What will change" in html
    assert '<code class="removed">jobs</code>' in html
    assert world.dealer_plan.services.filter(name="jobs").exists()  # nothing written yet
    done = client.post(url, {**base, "transfer_step": "confirm", "targets": [world.dealer_plan.pk], "mode": "sync"},
                       follow=True)
    assert "Dealer: 2 added, 0 replaced, 0 kept, 1 removed" in done.content.decode()  # sms and avl_resource
    assert dict(world.dealer_plan.services.values_list("name", "cost_table")) == {"sms": "1:1", "avl_resource": ""}


def test_distributor_gets_no_import(world, admin_as):
    client = admin_as(world.north_op)
    assert client.get(reverse("admin:plans_planservice_import")).status_code == 403
    assert client.get(reverse("admin:plans_planservice_changelist")).status_code == 200


# --- CSV / XLSX -----------------------------------------------------------------------------------

def _csv(rows):
    data = tablib.Dataset(headers=["plan", "name", "type", "interval", "cost table", "description"])
    for row in rows:
        data.append(row)
    return data.export("csv").encode()


def _upload(client, content, mode, name="services.csv", fmt="0"):
    upload = io.BytesIO(content)
    upload.name = name
    return client.post(reverse("admin:plans_planservice_import"),
                       {"import_file": upload, "format": fmt, "mode": mode, "resource": "0"})


def test_csv_with_bad_rows_lists_every_bad_row_and_offers_no_confirmation(world, admin_as):
    client = admin_as(world.top)
    response = _upload(client, _csv([
        ["Dealer", "sms", "on_demand", "daily", "1:0;10:1.5;-1", "SMS"],
        ["Dealer", "drivers", "on_demand", "monthly", "", ""],
        ["Dealer", "zones_library", "periodic", "none", "3:0;;-1", ""],
        ["Nope", "jobs", "periodic", "none", "", ""],
    ]), "add")
    html = response.content.decode()
    assert response.status_code == 200
    assert "drivers" in html and "is a periodic service in the catalogue" in html
    assert "empty item" in html
    assert "No plan named" in html
    assert "Confirm import" not in html
    assert set(PlanService.objects.values_list("name", flat=True)) == {"avl_resource"}  # the world's own


@pytest.mark.parametrize("mode", ["add", "replace", "sync"])
def test_csv_import_modes(world, admin_as, mode):
    PlanService.objects.create(plan=world.dealer_plan, name="sms", type="on_demand", cost_table="-1")
    PlanService.objects.create(plan=world.dealer_plan, name="jobs", type="periodic")
    client = admin_as(world.top)
    content = _csv([["Dealer", "sms", "on_demand", "daily", "1:0;10:1.50;-1", ""],
                    ["Dealer", "drivers", "", "monthly", "5:0;-1", "=HYPERLINK()"]])
    preview = _upload(client, content, mode)
    html = preview.content.decode()
    assert "Confirm import" in html, html[:4000]
    assert set(world.dealer_plan.services.values_list("name", flat=True)) == {"sms", "jobs"}  # preview only
    confirm = preview.context["confirm_form"].initial
    client.post(reverse("admin:plans_planservice_process_import"), confirm)
    tables = dict(world.dealer_plan.services.values_list("name", "cost_table"))
    expected = {
        "add": {"sms": "-1", "jobs": "", "drivers": "5:0;-1"},
        "replace": {"sms": "1:0;10:1.5;-1", "jobs": "", "drivers": "5:0;-1"},
        "sync": {"sms": "1:0;10:1.5;-1", "drivers": "5:0;-1"},
    }[mode]
    assert tables == expected
    assert PlanEvent.objects.filter(plan_id_snapshot=world.dealer_plan.pk, action="service_added").count() == 1


def test_export_is_scoped_and_escapes_formulas(world, admin_as):
    PlanService.objects.create(plan=world.dealer_plan, name="sms", type="on_demand", cost_table="-1",
                               description="=cmd|' /C calc'!A0")
    other_plan = Plan.objects.get(service=world.other_service, name="Other base")
    PlanService.objects.create(plan=other_plan, name="jobs", type="periodic")
    client = admin_as(world.top)
    columns = {f"planserviceresource_{name}": "on" for name in ("plan", "name", "type", "interval", "cost_table",
                                                                  "description")}
    response = client.post(reverse("admin:plans_planservice_export"), {"format": "0", "resource": "0", **columns})
    assert response["Content-Type"].startswith("text/csv")
    text = response.content.decode()
    assert "Other base" not in text
    assert "'=cmd|" in text
    lines = text.strip().splitlines()
    assert lines[0].split(",")[:5] == ["plan", "name", "type", "interval", "cost table"]
    assert lines[1].startswith("Base,avl_resource,periodic,none,,")  # the world's row
    assert lines[2].startswith("Dealer,sms,on_demand,none,-1,")


def test_platform_operator_imports_into_a_chosen_service(world, admin_as):
    client = admin_as(world.platform)
    upload = io.BytesIO(_csv([["Other base", "sms", "on_demand", "none", "1:2", ""]]))
    upload.name = "s.csv"
    preview = client.post(reverse("admin:plans_planservice_import"), {
        "import_file": upload, "format": "0", "mode": "add", "resource": "0", "service": world.other_service.pk})
    assert "Confirm import" in preview.content.decode()
    client.post(reverse("admin:plans_planservice_process_import"), preview.context["confirm_form"].initial)
    assert PlanService.objects.get(plan__service=world.other_service, name="sms").cost_table == "1:2"


def test_top_user_reads_its_own_protected_plan_chain(world, client):
    """The top account's plan chain is the platform operator's: the top user gets it read-only, not a 500."""
    from apps.accounts import operations as account_ops

    account_ops.update_account(actor=world.platform, account=world.acme, changes={"plan": world.dealer_plan})
    client.force_login(world.top)
    response = client.get(reverse("admin:plans_plan_change", args=[world.base_plan.pk]))
    assert response.status_code == 200
    assert "modems" in response.content.decode().lower()
