"""The account page's tools link to the admin pages (not the API) and follow the strict-ancestor rule."""


def test_account_page_links_to_its_admin_tools(db, shared_world, client):
    client.force_login(shared_world.top)
    page = client.get(f"/admin/accounts/account/{shared_world.north.pk}/change/").content.decode()
    assert f'href="/admin/accounts/account/{shared_world.north.pk}/services/"' in page
    assert f'href="/admin/accounts/account/{shared_world.north.pk}/payment/"' in page
    assert client.get(f"/admin/accounts/account/{shared_world.north.pk}/services/").status_code == 200


def test_a_distributor_gets_no_payment_link_for_its_own_account(db, shared_world, client):
    client.force_login(shared_world.north_op)
    page = client.get(f"/admin/accounts/account/{shared_world.north.pk}/change/").content.decode()
    assert "/payment/" not in page
    assert f'href="/admin/accounts/account/{shared_world.north_client.pk}/payment/"' in client.get(
        f"/admin/accounts/account/{shared_world.north_client.pk}/change/").content.decode()
