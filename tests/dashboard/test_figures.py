"""Each figure of SPEC §9.4 with §9.8's meaning, in each viewer's scope (the conftest's table)."""

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine

from apps.dashboard import queries
from apps.discounts.models import DiscountSnapshot
from apps.units.models import Unit

from tests.dashboard.helpers import NOW, T0


def figures(user, service=None, now=NOW):
    return queries.dashboard(queries.scope_for(user, service), now)


def test_top_user_sees_the_whole_service_and_nothing_of_the_other(dw):
    f = figures(dw.top)
    assert f["units"] == {"active": 5, "inactive": 1}
    assert f["codes"] == {"new": 2, "on_unit": 5, "running_unassigned": 1, "queued": 1,
                          "expiring_7": 2, "expiring_30": 6}
    assert f["accounts"] == {"blocked": 1, "blocking_soon": 1}
    assert [row["name"] for row in f["lowest_balances"]] == [
        "North Client", "North-East", "North-East Client", "South Client", "South", "North", "Direct Client"]
    assert dw.acme.pk not in [row["account"] for row in f["lowest_balances"]]  # the viewer's own account
    assert f["discount"] is None  # the service has the discount off


def test_distributor_sees_its_subtree_only(dw):
    f = figures(dw.north_op)
    assert f["units"] == {"active": 3, "inactive": 1}  # North's trucks, the North-East van; the spare
    # Codes held in North's subtree: c1, c2, c3 on units, q2 queued, c8 new.
    assert f["codes"] == {"new": 1, "on_unit": 3, "running_unassigned": 0, "queued": 1,
                          "expiring_7": 2, "expiring_30": 4}
    assert f["accounts"] == {"blocked": 1, "blocking_soon": 1}
    names = [row["name"] for row in f["lowest_balances"]]
    assert names == ["North Client", "North-East", "North-East Client"]  # North itself left out
    assert "discount" not in f
    south = figures(dw.south_op)
    assert south["units"] == {"active": 1, "inactive": 0}
    assert south["accounts"] == {"blocked": 0, "blocking_soon": 0}
    assert [row["name"] for row in south["lowest_balances"]] == ["South Client"]


def test_platform_operator_names_the_service(dw):
    assert figures(dw.platform, str(dw.acme.pk)) == {**figures(dw.top), "lowest_balances": [
        {"account": dw.acme.pk, "name": dw.acme.name, "balance": Decimal("0.0000")},
        *figures(dw.top)["lowest_balances"][:9]]}
    other = figures(dw.platform, dw.other_service.pk)
    assert other["units"] == {"active": 1, "inactive": 0}
    assert (other["codes"]["new"], other["codes"]["expiring_7"]) == (1, 1)


def test_expiring_counts_the_window_edges_and_queued_codes(dw):
    """now < expires_at ≤ now + 7 d. A second before c2's end only c2 (5 d) is within 7 days (c3 has ended,
    q2 ends at 15 d); at c2's end q2 has started (it reads as on its unit, SPEC §9.8) and nothing is due."""
    assert figures(dw.top, now=T0 + timedelta(days=5, seconds=-1))["codes"]["expiring_7"] == 1
    at_end = figures(dw.top, now=T0 + timedelta(days=5))["codes"]
    assert at_end["queued"] == 0
    assert at_end["on_unit"] == 4  # c1, q2 (started), c4, c7
    assert at_end["expiring_7"] == 0
    # The queued q2 (ends T0 + 15 d) is in the 30-day figure now.
    assert figures(dw.top, now=T0 + timedelta(days=14))["codes"]["expiring_7"] == 2  # q2 and c7 (20 d)


def test_thirty_includes_seven_and_new_excludes_queued(dw):
    f = figures(dw.top)["codes"]
    assert f["expiring_30"] >= f["expiring_7"]
    assert f["new"] == 2  # c5 and c8; q2 is queued, not new


def test_blocked_counts_accounts_blocked_themselves_not_through_an_ancestor(dw):
    from apps.accounts import operations as account_ops

    account_ops.block_account(actor=dw.top, account=dw.north, reason="audit", now=T0)
    # North and North Client are blocked themselves; North-East (below North) only through its ancestor.
    assert figures(dw.top)["accounts"]["blocked"] == 2
    # North-East Client is still predicted (it is not blocked itself), North Client is not (blocked).
    assert figures(dw.top)["accounts"]["blocking_soon"] == 1


def test_discount_of_the_month_for_top_users(dw):
    from apps.accounts import operations as account_ops

    account_ops.update_account(actor=dw.platform, account=dw.acme, changes={"discount_enabled": True})
    for day, applied in ((1, "10.00"), (2, "20.00"), (3, "25.50")):
        DiscountSnapshot.objects.create(service=dw.acme, day=date(2026, 5, day), current=applied, maximum=50,
                                        applied=applied, purchased=10, in_use=5, unused=5, full_cost=0, taken_at=T0)
    DiscountSnapshot.objects.create(service=dw.acme, day=date(2026, 4, 30), current=90, maximum=90, applied=90,
                                    purchased=10, in_use=5, unused=5, full_cost=0, taken_at=T0)
    f = figures(dw.top)
    assert (f["discount"]["applied"], f["discount"]["month_average"]) == (Decimal("25.50"), Decimal("18.50"))
    assert "discount" not in figures(dw.north_op)


def test_archived_units_are_not_counted(dw):
    Unit.objects.filter(pk=dw.units["spare"].pk).update(archived_at=T0)
    assert figures(dw.top)["units"] == {"active": 5, "inactive": 0}


@pytest.mark.parametrize("param,code", [(None, "invalid"), ("", "invalid"), ("x1", "invalid"),
                                        ("999999999", "does_not_exist")])
def test_platform_operator_must_name_a_known_service(dw, param, code):
    from apps.core.errors import DomainError

    with pytest.raises(DomainError) as exc:
        queries.scope_for(dw.platform, param)
    assert exc.value.code == code and "service" in exc.value.fields


def test_a_service_named_by_another_role_is_ignored(dw):
    assert queries.scope_for(dw.north_op, dw.other_service.pk).service.pk == dw.acme.pk


# --- the forecast --------------------------------------------------------------------------------------------------

def forecast(user, service=None, now=NOW, **kwargs):
    return queries.forecast(queries.scope_for(user, service), now, **kwargs)


def _days(result):
    return {day: n for day, n in result.rows if n}


def test_forecast_counts_each_unit_once_on_the_day_it_deactivates(dw):
    result = forecast(dw.top)
    assert result.first_day == date(2026, 5, 4) and len(result.rows) == 90
    assert _days(result) == {date(2026, 5, 7): 1, date(2026, 5, 19): 1, date(2026, 5, 24): 1,
                             date(2026, 6, 3): 1, date(2026, 7, 3): 1}
    names = {key: result.names[key] for key in result.groups}
    by_name = {names[k]: dict(v) for k, v in result.groups.items()}
    assert by_name == {"North": {date(2026, 5, 7): 1, date(2026, 5, 19): 1, date(2026, 6, 3): 1},
                       "South": {date(2026, 7, 3): 1}, "Direct": {date(2026, 5, 24): 1}}
    assert result.group_order()[-1] == queries.DIRECT


def test_forecast_of_a_distributor_groups_by_its_own_dealer_children(dw):
    result = forecast(dw.north_op)
    by_name = {result.names[k]: dict(v) for k, v in result.groups.items()}
    assert by_name == {"North-East": {date(2026, 5, 7): 1},
                       "Direct": {date(2026, 5, 19): 1, date(2026, 6, 3): 1}}
    assert "South" not in str(result.names)


def test_forecast_days_and_distributor(dw):
    assert _days(forecast(dw.top, days=4)) == {date(2026, 5, 7): 1}
    assert len(forecast(dw.top, days=366).rows) == 366
    scope = queries.scope_for(dw.top)
    south = queries.distributor_in_scope(scope, str(dw.south.pk))
    assert _days(queries.forecast(scope, NOW, distributor=south)) == {date(2026, 7, 3): 1}
    north_scope = queries.scope_for(dw.north_op)
    from apps.core.errors import DoesNotExist

    with pytest.raises(DoesNotExist):
        queries.distributor_in_scope(north_scope, str(dw.south.pk))  # out of scope: the same as absent


def test_forecast_under_monthly_billing_is_all_zero(dw):
    from apps.codes import operations as ops

    ops.switch_billing_method(actor=dw.platform, service=dw.acme, method="monthly", confirm=True, now=NOW)
    result = forecast(dw.top)
    assert not result.billed_by_codes and result.total == 0 and len(result.rows) == 90


def test_forecast_moves_the_unit_to_its_queued_code_once_that_started(dw):
    """After c2's end (before any sweep) q2 reads as the live code: the unit still deactivates on q2's day."""
    dw.codes["q2"].refresh_from_db()
    later = dw.codes["q2"].activated_at + timedelta(hours=1)
    assert date(2026, 5, 19) in _days(forecast(dw.top, now=later))


def test_forecast_days_turn_at_local_midnight(dw):
    """Berlin is UTC+2 in May: a code ending 21:59 UTC ends on the local day, one ending 22:00 UTC on the next;
    and "today" turns at 22:00 UTC."""
    from apps.codes import operations as ops
    from tests.codes.helpers import make_unit

    late = make_unit(dw.south_client, "Late van")
    early = make_unit(dw.south_client, "Early van")
    for unit, at in ((late, datetime(2026, 5, 9, 21, 59, tzinfo=T0.tzinfo)),
                     (early, datetime(2026, 5, 9, 22, 0, tzinfo=T0.tzinfo))):
        code = ops.generate_codes(actor=dw.top, service=dw.acme, quantity=1, validity_days=1, now=at)[0]
        ops.assign_code(actor=dw.top, code=code, unit=unit, now=at)
    with time_machine.travel(datetime(2026, 5, 9, 21, 59, 59, tzinfo=T0.tzinfo), tick=False):
        result = forecast(dw.top, now=queries_now())
        assert result.first_day == date(2026, 5, 9)
        days = _days(result)
        assert days[date(2026, 5, 10)] == 1 and days[date(2026, 5, 11)] == 1
    with time_machine.travel(datetime(2026, 5, 9, 22, 0, 1, tzinfo=T0.tzinfo), tick=False):
        result = forecast(dw.top, now=queries_now())
        assert result.first_day == date(2026, 5, 10)
        assert result.rows[0] == (date(2026, 5, 10), 1) and result.rows[1] == (date(2026, 5, 11), 1)


def queries_now():
    from apps.core import clock

    return clock.now()


@pytest.mark.parametrize("setup", ["days on a plan", "days on an account", "balance on a plan", "nothing on"])
def test_prediction_candidates_never_leave_out_an_account_the_kernel_names(dw, setup):
    """The SQL narrowing before the kernel's prediction (issue 15's speed) is exact: with any rule switched
    on anywhere, the accounts named are those the kernel names over every unblocked account."""
    from apps.accounts.models import Account
    from apps.plans.models import Plan
    from apps.services.queries import block_warnings

    accounts = Account.objects.filter(service=dw.acme)
    Plan.objects.filter(service=dw.acme).update(block_by_days=None, min_days=None, block_by_balance=None)
    for i, account in enumerate(accounts.exclude(pk=dw.acme.pk).order_by("pk")):
        Account.objects.filter(pk=account.pk).update(days=i * 3, balance=i - 3)
    if setup == "days on a plan":
        Plan.objects.filter(service=dw.acme).update(block_by_days=True, min_days=5)
    elif setup == "days on an account":
        Account.objects.filter(pk=dw.south_client.pk).update(block_by_days=True, min_days=7, days=9)
    elif setup == "balance on a plan":
        Plan.objects.filter(service=dw.acme).update(block_by_balance=True, block_balance=1000)
    scope = queries.scope_for(dw.top)
    everyone = list(queries.accounts_in_scope(scope).filter(blocked=False).values_list("pk", flat=True))
    expected = sorted(block_warnings(everyone, NOW))
    assert queries.blocking_soon_ids(queries.accounts_in_scope(scope), NOW) == expected
    if setup.startswith("days"):  # the days rule names someone here; with balance on, the narrowing is off
        assert expected
    if setup == "days on an account":
        assert expected == [dw.south_client.pk]
