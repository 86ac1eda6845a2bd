from apps.accounts.models import Account
from apps.accounts.queries import accounts_visible_to


def test_paths_follow_the_tree(world):
    assert world.north_east.path == f"/{world.acme.pk}/{world.north.pk}/{world.north_east.pk}/"
    assert world.north_east.service_id == world.acme.pk
    assert world.acme.service_id == world.acme.pk
    assert world.north_east.depth == 2


def test_distributor_sees_only_its_subtree(world):
    names = set(accounts_visible_to(world.north_op).values_list("name", flat=True))
    assert names == {"North", "North-East", "North Client", "North-East Client"}
    assert "South" not in names
    assert set(accounts_visible_to(world.south_op).values_list("name", flat=True)) == {"South", "South Client"}


def test_top_user_sees_its_service_only(world):
    visible = accounts_visible_to(world.top)
    assert visible.filter(pk=world.other_service.pk).count() == 0
    assert visible.count() == Account.objects.filter(service=world.acme).count()
