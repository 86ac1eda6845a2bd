"""The one way from an admin page to an operation (``apps.core.admin.OperationAdminMixin``): the operation runs
once the main form and every inline formset are valid; a refusal rolls back everything the request wrote and
shows the page again as posted, the error under the field it names; the saved instance becomes the admin's."""

import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse

from apps.accounts.models import Account, AuditEvent
from apps.plans.models import CatalogueService, Plan, PlanEvent, PlanService
from tests.plans.test_admin import _plan_post

pytestmark = pytest.mark.django_db


def _field_errors(response) -> dict:
    return {name: list(errors) for name, errors in response.context["adminform"].form.errors.items()}


def test_a_refused_account_add_shows_the_error_under_its_field_and_writes_nothing(world, admin_as):
    accounts, events = Account.objects.count(), AuditEvent.objects.count()
    response = admin_as(world.top).post(reverse("admin:accounts_account_add"), {
        "name": "South Client", "parent": world.north.pk, "plan": world.base_plan.pk, "payment_amount": "20",
        "block_by_balance": "", "limit_by_balance": "", "block_by_days": "", "allow_unknown_services": ""})
    assert response.status_code == 200
    assert _field_errors(response) == {"name": ["An account with this name already exists in this service."]}
    assert response.context["adminform"].form["payment_amount"].value() == "20"  # the page as posted
    assert (Account.objects.count(), AuditEvent.objects.count()) == (accounts, events)


def test_a_refusal_after_a_write_rolls_the_whole_page_back_and_names_the_row(world, admin_as):
    """The plan's change is written (its event and audit row too), then the new row's operation refuses:
    nothing stays, and the refusal is shown under the row's own field, not the plan's namesake field."""
    PlanService.objects.create(plan=world.dealer_plan, name="sms", type="on_demand", cost_table="1:1")
    plan_events, audit_events = PlanEvent.objects.count(), AuditEvent.objects.count()
    url = reverse("admin:plans_plan_change", args=[world.dealer_plan.pk])
    response = admin_as(world.top).post(url, _plan_post(world.dealer_plan, [
        {"name": "sms", "interval": "daily", "cost_table": "1:0;-1"}], description="changed"))
    assert response.status_code == 200
    assert _field_errors(response) == {}
    row = response.context["inline_admin_formsets"][0].formset.forms[0]
    assert dict(row.errors) == {"name": ["This plan already lists 'sms'."]}
    assert "This plan already lists &#x27;sms&#x27;." in response.content.decode()
    plan = Plan.objects.get(pk=world.dealer_plan.pk)
    assert plan.description == ""
    assert list(plan.services.values_list("name", "cost_table")) == [("sms", "1:1")]
    assert (PlanEvent.objects.count(), AuditEvent.objects.count()) == (plan_events, audit_events)


def test_an_invalid_inline_row_on_the_plan_page_writes_nothing(world, admin_as):
    plan_events, audit_events = PlanEvent.objects.count(), AuditEvent.objects.count()
    url = reverse("admin:plans_plan_change", args=[world.dealer_plan.pk])
    response = admin_as(world.top).post(url, _plan_post(world.dealer_plan, [
        {"name": "sms", "interval": "daily", "cost_table": "1:0;-1"},
        {"name": "drivers", "interval": "monthly", "cost_table": "5:1;3:2"}], description="changed",
        block_by_days="true"))
    assert response.status_code == 200
    assert response.context["inline_admin_formsets"][0].formset.forms[1].errors["cost_table"]
    plan = Plan.objects.get(pk=world.dealer_plan.pk)
    assert (plan.description, plan.block_by_days) == ("", None)
    assert not plan.services.exists()
    assert (PlanEvent.objects.count(), AuditEvent.objects.count()) == (plan_events, audit_events)


def test_a_refused_app_service_shows_the_error_under_its_field_and_writes_nothing(world, admin_as):
    client = admin_as(world.top)
    response = client.post(reverse("admin:services_catalogueservice_add"), {"name": "Tracker", "description": "x"})
    assert response.status_code == 302
    entry = CatalogueService.objects.get(name="Apps: Tracker")
    assert entry.service_id == world.acme.pk
    assert AuditEvent.objects.filter(action="app_service_added", subject_id=entry.pk).exists()
    entries, audit_events = CatalogueService.objects.count(), AuditEvent.objects.count()
    response = client.post(reverse("admin:services_catalogueservice_add"), {"name": "tracker", "description": "y"})
    assert response.status_code == 200
    assert _field_errors(response) == {"name": ["'Apps: tracker' is already in the catalogue."]}
    assert (CatalogueService.objects.count(), AuditEvent.objects.count()) == (entries, audit_events)


def test_the_saved_instance_becomes_the_admins_object(world, admin_as):
    """The redirect and the admin's log entry name the plan the operation created."""
    data = _plan_post(Plan(name="Silver", parent=world.base_plan), [
        {"name": "sms", "interval": "daily", "cost_table": "1:0;-1"}], _continue="1")
    data.update({"parent": world.base_plan.pk, "services-0-plan": ""})
    response = admin_as(world.top).post(reverse("admin:plans_plan_add"), data)
    plan = Plan.objects.get(name="Silver")
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:plans_plan_change", args=[plan.pk])
    entry = LogEntry.objects.get(object_repr="Silver")
    assert entry.object_id == str(plan.pk) and "sms" in entry.get_change_message()
    assert list(plan.services.values_list("name", flat=True)) == ["sms"]
