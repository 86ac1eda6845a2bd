"""Units and monitoring users in the admin: scoped pages, saves through the operations, bulk actions."""

from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME

from apps.accounts.models import Account
from apps.plans.models import Plan
from apps.units import operations
from apps.units.models import AccessGrant, MonitoringUser, Unit, UnitEvent

CHANGELIST = "/admin/units/unit/"


def inline_management(prefix: str, total: int = 0, initial: int = 0) -> dict:
    return {f"{prefix}-TOTAL_FORMS": str(total), f"{prefix}-INITIAL_FORMS": str(initial),
            f"{prefix}-MIN_NUM_FORMS": "0", f"{prefix}-MAX_NUM_FORMS": "1000"}


def unit_form(account, **fields) -> dict:
    data = {"name": "Admin truck", "account": str(account.pk), "unique_id": "ADM1", "device_type": "",
            "modem": "", **inline_management("sensors"), **inline_management("commands"),
            **inline_management("service_intervals")}
    data.update(fields)
    return data


def test_changelist_is_scoped_for_distributor_and_top_user(admin_as, world, make_unit):
    make_unit(world.north_client, name="North truck")
    make_unit(world.south_client, name="South truck")
    page = admin_as(world.north_op).get(CHANGELIST).content.decode()
    assert "North truck" in page and "South truck" not in page
    assert "South Client" not in page  # nor in the account filter
    page = admin_as(world.top).get(CHANGELIST).content.decode()
    assert "North truck" in page and "South truck" in page


def test_restricted_distributor_has_no_units_admin(admin_as, world):
    assert admin_as(world.north_restricted).get(CHANGELIST).status_code == 403


def _account_picker(client) -> set[str]:
    """The names the unit form's account picker offers (the admin's autocomplete, every page of it)."""
    response = client.get("/admin/autocomplete/", {"app_label": "units", "model_name": "unit",
                                                   "field_name": "account", "term": ""})
    assert response.status_code == 200
    return {row["text"] for row in response.json()["results"]}


def test_account_choices_are_the_subtree_without_top_accounts(admin_as, world):
    page = admin_as(world.north_op).get(f"{CHANGELIST}add/").content.decode()
    assert 'data-field-name="account"' in page and "North Client" not in page  # a picker, not a select
    names = _account_picker(admin_as(world.north_op))
    # Each named by its path from the viewer's level (North › North-East), never by the top account.
    assert {"North › North Client", "North › North-East › North-East Client"} <= names
    assert not any("South" in n or "Acme Telematics" in n for n in names)
    names = _account_picker(admin_as(world.top))
    assert not any("Acme Telematics" in n for n in names) and "South › South Client" in names


def test_add_unit_with_sensor_through_the_admin(admin_as, world):
    data = unit_form(world.north_client, **inline_management("sensors", total=1),
                     **{"sensors-0-name": "Fuel", "sensors-0-type": "fuel_level"},
                     eco_driving="on", eco_criteria=["braking", "turn"])
    response = admin_as(world.north_op).post(f"{CHANGELIST}add/", data)
    assert response.status_code == 302, response.content.decode()[:3000]
    unit = Unit.objects.get(unique_id="ADM1")
    assert list(unit.sensors.values_list("name", "type")) == [("Fuel", "fuel_level")]
    assert (unit.eco_driving, unit.eco_criteria, unit.account_id) == (True, ["braking", "turn"], world.north_client.pk)
    assert UnitEvent.objects.get(unit_id_snapshot=unit.pk).actor_name == "north"


def test_refusal_is_shown_on_the_form_and_nothing_is_saved(admin_as, world, tracker):
    plan = Plan.objects.get(pk=world.base_plan.pk)
    plan.device_type_limit = "except"
    plan.save()
    plan.device_types.set([tracker])
    data = unit_form(world.north_client, device_type=str(tracker.pk), **inline_management("sensors", total=1),
                     **{"sensors-0-name": "Fuel", "sensors-0-type": "fuel_level"})
    response = admin_as(world.top).post(f"{CHANGELIST}add/", data)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "device_type" in errors and "forbids this device type" in errors["device_type"][0]
    assert not Unit.objects.exists() and not UnitEvent.objects.exists()


def test_change_unit_replaces_changed_inline_lists(admin_as, world, make_unit):
    unit = make_unit(world.north_client, sensors=[{"name": "Old", "type": "ignition"}], commands=[{"name": "Keep"}])
    sensor, command = unit.sensors.get(), unit.commands.get()
    data = unit_form(world.north_client, name="Renamed", unique_id=unit.unique_id,
                     **inline_management("sensors", total=2, initial=1),
                     **{"sensors-0-id": str(sensor.pk), "sensors-0-unit": str(unit.pk), "sensors-0-name": "Old",
                        "sensors-0-type": "ignition", "sensors-0-DELETE": "on",
                        "sensors-1-name": "New", "sensors-1-type": "voltage"},
                     **inline_management("commands", total=1, initial=1),
                     **{"commands-0-id": str(command.pk), "commands-0-unit": str(unit.pk),
                        "commands-0-name": "Keep"})
    response = admin_as(world.north_op).post(f"{CHANGELIST}{unit.pk}/change/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    unit.refresh_from_db()
    assert unit.name == "Renamed"
    assert list(unit.sensors.values_list("name", flat=True)) == ["New"]
    assert list(unit.commands.values_list("pk", flat=True)) == [command.pk]  # untouched list kept as is
    assert UnitEvent.objects.get(unit_id_snapshot=unit.pk, action="updated").details == {
        "name": {"from": "Truck " + unit.unique_id, "to": "Renamed"}, "sensors": {"count": 1}}


def test_change_form_shows_state_and_code_panel(admin_as, world, make_unit):
    unit = make_unit(world.north_client)
    page = admin_as(world.top).get(f"{CHANGELIST}{unit.pk}/change/").content.decode()
    assert "activation code" in page.lower() and "Deactivation reason" in page


def test_delete_archives_the_unit(admin_as, world, make_unit):
    unit = make_unit(world.north_client)
    client = admin_as(world.north_op)
    page = client.get(f"{CHANGELIST}{unit.pk}/delete/").content.decode()
    assert "Archive the unit" in page
    response = client.post(f"{CHANGELIST}{unit.pk}/delete/", {"post": "yes"}, follow=True)
    assert f"The unit “{unit.name}” was archived." in response.content.decode()
    assert "deleted successfully" not in response.content.decode()
    unit.refresh_from_db()
    assert unit.archived_at is not None and UnitEvent.objects.filter(action="archived").count() == 1
    assert list(client.get(CHANGELIST).context["cl"].result_list) == []


def test_south_cannot_open_norths_unit(admin_as, world, make_unit):
    unit = make_unit(world.north_client)
    client = admin_as(world.south_op)
    assert client.get(f"{CHANGELIST}{unit.pk}/change/").status_code == 404
    assert client.post(f"{CHANGELIST}{unit.pk}/delete/", {"post": "yes"}).status_code == 404
    assert Unit.objects.get(pk=unit.pk).archived_at is None


def test_bulk_deactivate_confirms_then_counts(admin_as, world, make_unit):
    units = [make_unit(world.north_client) for _ in range(3)]
    operations.set_unit_active(actor=world.top, unit=units[0], active=False)
    client = admin_as(world.north_op)
    post = {"action": "deactivate_selected", ACTION_CHECKBOX_NAME: [str(u.pk) for u in units], "index": "0"}
    page = client.post(CHANGELIST, post)
    assert page.status_code == 200
    assert (page.context["to_change_count"], page.context["unchanged_count"], page.context["refused_count"]) == (
        2, 1, 0)
    assert Unit.objects.filter(active=True).count() == 2  # nothing happens before the confirmation
    response = client.post(CHANGELIST, {**post, "confirm": "yes"}, follow=True)
    assert "Deactivated 2 unit(s); skipped 1." in response.content.decode()
    assert not Unit.objects.filter(active=True).exists()
    assert UnitEvent.objects.filter(action="deactivated").count() == 3


def test_bulk_activate_lists_units_refused_under_billing_by_codes(admin_as, world, make_unit):
    Account.objects.filter(pk=world.acme.pk).update(billing_method="activation_codes")
    units = [make_unit(world.north_client) for _ in range(2)]
    client = admin_as(world.top)
    post = {"action": "activate_selected", ACTION_CHECKBOX_NAME: [str(u.pk) for u in units], "index": "0"}
    page = client.post(CHANGELIST, post)
    assert page.context["refused_count"] == 2 and "activation codes" in page.content.decode()
    response = client.post(CHANGELIST, {**post, "confirm": "yes"}, follow=True)
    assert "Activated 0 unit(s); skipped 2." in response.content.decode()
    assert not Unit.objects.filter(active=True).exists()


def test_changelist_query_count_does_not_grow(admin_as, world, make_unit, django_assert_max_num_queries):
    client = admin_as(world.top)
    make_unit(world.north_client)
    client.get(CHANGELIST)  # warm the session and content types
    with django_assert_max_num_queries(30) as few:
        assert client.get(CHANGELIST).status_code == 200
    for _ in range(15):
        make_unit(world.south_client)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert client.get(CHANGELIST).status_code == 200


# --- monitoring users -----------------------------------------------------------------------------------

def test_monitoring_user_admin_creates_and_grants(admin_as, world, make_unit):
    unit = make_unit(world.north_east_client)
    client = admin_as(world.north_op)
    response = client.post("/admin/units/monitoringuser/add/", {
        "name": "dispatch", "account": str(world.north.pk), **inline_management("grants")})
    assert response.status_code == 302
    user = MonitoringUser.objects.get(name="dispatch")
    response = client.post(f"/admin/units/monitoringuser/{user.pk}/change/", {
        **inline_management("grants", total=1), "grants-0-unit": str(unit.pk), "grants-0-account": ""})
    assert response.status_code == 302, response.context["inline_admin_formsets"][0].formset.errors
    grant = AccessGrant.objects.get(user=user)
    assert grant.unit_id == unit.pk
    response = client.post(f"/admin/units/monitoringuser/{user.pk}/change/", {
        **inline_management("grants", total=1, initial=1), "grants-0-id": str(grant.pk),
        "grants-0-user": str(user.pk), "grants-0-DELETE": "on"})
    assert response.status_code == 302
    assert not AccessGrant.objects.exists()
    assert list(UnitEvent.objects.filter(monitoring_user_id_snapshot=user.pk).order_by("id")
                .values_list("action", flat=True)) == ["user_created", "access_granted", "access_revoked"]


def test_monitoring_user_admin_grant_refusal_is_a_form_error(admin_as, world, make_unit):
    user = operations.create_monitoring_user(actor=world.top, account=world.north, name="ops")
    client = admin_as(world.top)
    both = {**inline_management("grants", total=1), "grants-0-unit": str(make_unit(world.north_client).pk),
            "grants-0-account": str(world.north.pk)}
    response = client.post(f"/admin/units/monitoringuser/{user.pk}/change/", both)
    assert response.status_code == 200
    assert "Give either a unit or an account, not both." in response.content.decode()
    assert not AccessGrant.objects.exists()


def test_monitoring_user_list_is_scoped(admin_as, world):
    operations.create_monitoring_user(actor=world.top, account=world.north, name="north-ops")
    operations.create_monitoring_user(actor=world.top, account=world.south, name="south-ops")
    page = admin_as(world.north_op).get("/admin/units/monitoringuser/").content.decode()
    assert "north-ops" in page and "south-ops" not in page


def test_platform_operator_filters_units_by_service(admin_as, world, make_unit):
    make_unit(world.north_client, name="Acme truck")
    make_unit(Account.objects.get(name="Other Client"), actor=world.other_top, name="Other truck")
    client = admin_as(world.platform)
    page = client.get(CHANGELIST).content.decode()
    assert "Acme truck" in page and "Other truck" in page and "Other Service" in page  # the Service filter
    names = [u.name for u in client.get(f"{CHANGELIST}?service={world.other_service.pk}").context["cl"].result_list]
    assert names == ["Other truck"]


def test_blocked_distributor_sees_units_read_only(admin_as, world, make_unit):
    from apps.accounts import operations as account_ops

    unit = make_unit(world.north_client)
    account_ops.block_account(actor=world.top, account=world.north, reason="unpaid")
    client = admin_as(world.north_op)
    assert client.get(CHANGELIST).status_code == 200
    assert client.get(f"{CHANGELIST}add/").status_code == 403
    response = client.post(f"{CHANGELIST}{unit.pk}/change/", unit_form(world.north_client, unique_id=unit.unique_id,
                                                                       name="Blocked rename"))
    assert response.status_code == 403
    assert Unit.objects.get(pk=unit.pk).name != "Blocked rename"


def test_unit_log_is_read_only_and_scoped(admin_as, world, make_unit):
    make_unit(world.north_client, name="North truck")
    make_unit(world.south_client, name="South truck")
    client = admin_as(world.north_op)
    events = client.get("/admin/units/unitevent/").context["cl"].result_list
    assert [(e.action, e.unit_name) for e in events] == [("created", "North truck")]
    assert client.get("/admin/units/unitevent/add/").status_code == 403
    top_events = admin_as(world.top).get("/admin/units/unitevent/").context["cl"].result_list
    assert {e.unit_name for e in top_events} == {"North truck", "South truck"}
    operations.update_unit(actor=world.top, unit=Unit.objects.get(name="North truck"), changes={"name": "Renamed"})
    assert "name: North truck → Renamed" in client.get("/admin/units/unitevent/?action=updated").content.decode()


def test_platform_account_choices_name_the_service(admin_as, world, make_unit):
    names = _account_picker(admin_as(world.platform))
    assert "Acme Telematics › North › North Client" in names and "Other Service › Other Client" in names
    page = admin_as(world.platform).get(f"/admin/units/unit/{make_unit(world.north_client).pk}/change/")
    assert "Acme Telematics › North › North Client" in page.content.decode()  # the chosen account, labelled alike


def test_per_unit_sensor_limit_is_shown_on_the_form(admin_as, world):
    from tests.services.helpers import row

    row(world.dealer_plan, "unit_sensors", "5:0;-1", interval="monthly")
    sensors = {f"sensors-{i}-{key}": value for i in range(6) for key, value in (("name", f"S{i}"), ("type", "ignition"))}
    data = unit_form(world.north_client, **inline_management("sensors", total=6), **sensors)
    response = admin_as(world.north_op).post(f"{CHANGELIST}add/", data)
    assert response.status_code == 200
    errors = response.context["adminform"].form.non_field_errors()
    assert errors and errors[0].startswith("sensors: 'unit_sensors': the limit of account 'North' is 5 per unit")
    assert not Unit.objects.exists() and not UnitEvent.objects.exists()
