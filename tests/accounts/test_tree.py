from apps.accounts.models import Account
from apps.accounts.queries import accounts_visible_to


def test_paths_follow_the_tree(db, shared_world):
    w = shared_world
    assert w.north_east.path == f"/{w.acme.pk}/{w.north.pk}/{w.north_east.pk}/"
    assert w.north_east.service_id == w.acme.pk
    assert w.acme.service_id == w.acme.pk
    assert w.north_east.depth == 2


def test_distributor_sees_only_its_subtree(db, shared_world):
    names = set(accounts_visible_to(shared_world.north_op).values_list("name", flat=True))
    assert names == {"North", "North-East", "North Client", "North-East Client"}
    assert "South" not in names
    assert set(accounts_visible_to(shared_world.south_op).values_list("name", flat=True)) == {"South", "South Client"}


def test_top_user_sees_its_service_only(db, shared_world):
    visible = accounts_visible_to(shared_world.top)
    assert visible.filter(pk=shared_world.other_service.pk).count() == 0
    assert visible.count() == Account.objects.filter(service=shared_world.acme).count()
