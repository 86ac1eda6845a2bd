"""Resolution with its explanation, and the set-based availability the discount module reads."""

import pytest

from apps.accounts import operations as account_ops
from apps.services.operations import set_service_override
from apps.services.resolution import (
    available_services,
    resolutions,
    resolve_service,
    resolve_services,
)
from tests import factories
from tests.services.helpers import row


def test_plan_row_inherited_from_the_parent_plan_is_explained(billed):
    row(billed.base_plan, "sms", "1:0;10:1.5;-1", interval="daily")
    resolution = resolve_service(billed.north, "sms")
    assert (resolution.source, resolution.plan, resolution.chain) == ("plan", billed.base_plan, ["Dealer", "Base"])
    assert resolution.explanation == "from plan Dealer, inherited from Base; account override: none"
    assert (resolution.interval, resolution.cost_table, resolution.allowed) == ("daily", "1:0;10:1.5;-1", True)


def test_override_wins_and_unknown_follows_the_setting(billed):
    row(billed.base_plan, "sms", "-1", interval="daily")
    set_service_override(actor=billed.top, account=billed.north, name="sms", interval="hourly", cost_table="5:0;-1")
    assert resolve_service(billed.north, "sms").source == "override"
    assert resolve_service(billed.north_client, "sms").reason == "service_denied"
    unknown = resolve_service(billed.north_client, "drivers")
    assert (unknown.source, unknown.allowed, unknown.reason) == ("unknown", False, "service_unknown")
    account_ops.update_account(actor=billed.top, account=billed.north_client,
                               changes={"allow_unknown_services": True})
    billed.north_client.refresh_from_db()
    assert resolve_service(billed.north_client, "drivers").allowed


def test_a_top_account_without_plan_denies_everything(world):
    planless = factories.top_account(name="Planless", actor=world.platform)
    assert {r.reason for r in resolve_services(planless)} == {"no_plan"}


def test_available_services_apply_ancestors_denials_in_fixed_queries(billed, django_assert_max_num_queries):
    row(billed.base_plan, "sms", "", interval="daily")
    row(billed.base_plan, "drivers", "")
    row(billed.dealer_plan, "drivers", "-1")  # dealers deny drivers to their whole subtree
    clients = [billed.north_client, billed.north_east_client, billed.south_client]
    with django_assert_max_num_queries(6):
        available = available_services(clients)
    assert available[billed.north_client.pk] == {"sms", "avl_resource"}  # Base's own row
    assert available[billed.south_client.pk] == {"sms", "avl_resource"}
    set_service_override(actor=billed.top, account=billed.north, name="drivers", cost_table="")
    assert available_services([billed.north_client])[billed.north_client.pk] == {"sms", "drivers", "avl_resource"}


def test_resolutions_explain_an_ancestors_cap_and_read_only_the_names_asked(billed, django_assert_max_num_queries):
    row(billed.base_plan, "sms", "", interval="daily")
    row(billed.base_plan, "drivers", "")
    set_service_override(actor=billed.top, account=billed.north, name="drivers", cost_table="-1")
    clients = [billed.north_client, billed.north_east_client, billed.south_client]
    with django_assert_max_num_queries(6):
        found = resolutions(clients, ["drivers"])
    assert set(found) == {(c.pk, "drivers") for c in clients}  # only the name asked
    capped = found[(billed.north_east_client.pk, "drivers")]
    assert (capped.allowed, capped.reason, capped.source) == (False, "limit_reached", "plan")
    assert capped.explanation == ("from plan Base; account override: none; denied above by "
                                  "account 'North': account override (table '-1'); the plan would give: "
                                  "from plan Dealer, inherited from Base")
    south = found[(billed.south_client.pk, "drivers")]
    assert (south.allowed, south.explanation) == (True, "from plan Base; account override: none")
    assert available_services(clients, names=["drivers", "sms"]) == {
        billed.north_client.pk: {"sms"}, billed.north_east_client.pk: {"sms"}, billed.south_client.pk: {"sms", "drivers"}}


def test_the_chain_statement_compiled_once_reads_what_the_queryset_reads(billed):
    """``load_chain`` runs a statement compiled once with marker parameters, prepared, and reads its
    rows itself: for every account, depth and name (a plan row, an override, an unknown name), it
    returns the same field values and annotations as the query built afresh, and the chain is the
    account's own path."""
    from django.db import connection

    from apps.accounts.models import Account
    from apps.services.resolution import _chain_accounts, _chain_queryset

    row(billed.base_plan, "sms", "1:0;10:1.5;-1", interval="daily")
    set_service_override(actor=billed.top, account=billed.north, name="sms", interval="hourly", cost_table="5:0;-1")
    columns = (*(f.attname for f in Account._meta.concrete_fields),
               "ov_type", "ov_interval", "ov_cost", "catalogue_type", "plans_json")

    def read(accounts):
        return [tuple(getattr(a, c) for c in columns) for a in accounts]

    def run_compiled(pk, name):  # as load_chain runs it: prepared, plain rows made accounts
        return _chain_accounts(pk, name)

    accounts = list(Account.objects.order_by("depth", "pk"))
    assert {a.depth for a in accounts} >= {0, 1, 2, 3}
    assert len({a.service_id for a in accounts}) > 1
    for account in accounts:
        for name in ("sms", "avl_unit", "no_such_service", "it's \"quoted\""):
            fresh = read(_chain_queryset(account.pk, name))
            compiled = read(run_compiled(account.pk, name))
            assert compiled == fresh, (account.name, name, connection.vendor)
            assert [tuple(map(type, r)) for r in compiled] == [tuple(map(type, r)) for r in fresh]  # 0 == 0.0
            assert [r[0] for r in compiled] == account.ancestor_ids() + [account.pk]


def test_load_chain_of_no_such_account_is_not_found(billed):
    from apps.core.errors import NotFound
    from apps.services.resolution import load_chain

    with pytest.raises(NotFound):
        load_chain(10**9, "sms")
