"""The account page's tools link to the admin pages (not the API) and follow the strict-ancestor rule."""


def test_account_page_links_to_its_admin_tools(world, client):
    client.force_login(world.top)
    page = client.get(f"/admin/accounts/account/{world.north.pk}/change/").content.decode()
    assert f'href="/admin/accounts/account/{world.north.pk}/services/"' in page
    assert f'href="/admin/accounts/account/{world.north.pk}/payment/"' in page
    assert client.get(f"/admin/accounts/account/{world.north.pk}/services/").status_code == 200


def test_a_distributor_gets_no_payment_link_for_its_own_account(world, client):
    client.force_login(world.north_op)
    page = client.get(f"/admin/accounts/account/{world.north.pk}/change/").content.decode()
    assert "/payment/" not in page
    assert f'href="/admin/accounts/account/{world.north_client.pk}/payment/"' in client.get(
        f"/admin/accounts/account/{world.north_client.pk}/change/").content.decode()
