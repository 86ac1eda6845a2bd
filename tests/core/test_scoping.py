"""The one scoping rule in its two forms: the query (``in_scope``) and one loaded account (``sees``)."""

from apps.accounts.models import Account, Operator
from apps.accounts.queries import accounts_visible_to
from apps.core.scoping import sees


def test_sees_agrees_with_the_scoped_query_for_every_operator_and_account(world):
    Operator.objects.filter(pk=world.south_op.pk).update(is_active=False)
    operators = [*Operator.objects.select_related("account"), None]
    accounts = list(Account.objects.all())
    assert len(operators) >= 8 and len(accounts) >= 9
    for operator in operators:
        visible = set(accounts_visible_to(operator).values_list("pk", flat=True)) if operator else set()
        assert {a.pk for a in accounts if sees(operator, a)} == visible, operator
    assert not sees(Operator.objects.get(pk=world.south_op.pk), world.south_client)  # inactive
    assert sees(world.north_op, world.north_east_client) and not sees(world.north_op, world.south_client)
