"""Sign-in: Django's password rules on every password the admin sets, and the admin login throttled per
username and address with django-axes (5 failures → 15 minutes locked out, a good login resets)."""

from datetime import timedelta

import pytest
import time_machine
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.urls import reverse
from django.utils import timezone

from apps.accounts import operations
from apps.demo.management.commands.load_demo import PASSWORDS
from apps.accounts.models import Operator, Role
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/"
LIMIT = settings.AXES_FAILURE_LIMIT


def _login(client, username, password, address="10.0.0.1"):
    return client.post(LOGIN, {"username": username, "password": password, "next": "/admin/"},
                       REMOTE_ADDR=address)


def _logged_in(response):
    return response.status_code == 302 and response["Location"] == "/admin/"


# --- password rules -------------------------------------------------------------------------------

def test_the_validators_are_the_four_standard_ones_with_ten_characters():
    names = [v["NAME"].rsplit(".", 1)[1] for v in settings.AUTH_PASSWORD_VALIDATORS]
    assert names == ["UserAttributeSimilarityValidator", "MinimumLengthValidator", "CommonPasswordValidator",
                     "NumericPasswordValidator"]
    with pytest.raises(Exception, match="at least 10 characters"):
        validate_password("Sh0rt-pw!")


@pytest.mark.parametrize("username", sorted(PASSWORDS))
def test_demo_passwords_pass_the_rules(username):
    """``make run`` prints these logins; load_demo creates them through the validating operation."""
    validate_password(PASSWORDS[username][1], Operator(username=username, email=f"{username}@example.com"))


@pytest.mark.parametrize("password, reason", [
    ("short-1", "too short"), ("1234567890123", "entirely numeric"), ("password123", "too common"),
    ("northwind-op", "too similar"),
])
def test_create_operator_refuses_weak_passwords(world, password, reason):
    from apps.core.errors import InvalidInput

    with pytest.raises(InvalidInput) as caught:
        operations.create_operator(actor=world.platform, username="northwind-op", password=password,
                                   email="", account=world.north, role=Role.DISTRIBUTOR)
    assert reason in " ".join(caught.value.fields["password"])
    assert not Operator.objects.filter(username="northwind-op").exists()


def test_admin_add_operator_form_refuses_a_weak_password(world, client):
    client.force_login(world.platform)
    response = client.post(reverse("admin:accounts_operator_add"), {
        "username": "newbie", "password": "12345", "email": "", "account": world.north.pk,
        "role": Role.DISTRIBUTOR})
    assert response.status_code == 200
    assert "too short" in response.content.decode()
    assert not Operator.objects.filter(username="newbie").exists()


def test_admin_sets_another_operators_password_under_the_rules(world, client):
    client.force_login(world.platform)
    url = reverse("admin:auth_user_password_change",
                  args=[world.north_op.pk])
    weak = client.post(url, {"password1": "north", "password2": "north", "usable_password": "true"})
    assert weak.status_code == 200
    assert "too short" in weak.content.decode()
    world.north_op.refresh_from_db()
    assert world.north_op.check_password(PASSWORD)
    good = client.post(url, {"password1": "Fresh-enough-2027", "password2": "Fresh-enough-2027",
                             "usable_password": "true"})
    assert good.status_code == 302
    world.north_op.refresh_from_db()
    assert world.north_op.check_password("Fresh-enough-2027")


def test_own_password_change_follows_the_rules(world, client):
    client.force_login(world.top)
    weak = client.post(reverse("admin:password_change"), {
        "old_password": PASSWORD, "new_password1": "1234567890", "new_password2": "1234567890"})
    assert weak.status_code == 200
    assert "entirely numeric" in weak.content.decode()
    world.top.refresh_from_db()
    assert world.top.check_password(PASSWORD)


# --- login throttling -----------------------------------------------------------------------------

def test_failures_lock_that_username_from_that_address_only(world, client):
    for _ in range(LIMIT - 1):
        assert _login(client, "north", "wrong-password").status_code == 200
    locked = _login(client, "north", "wrong-password")
    assert locked.status_code == 429
    html = locked.content.decode()
    assert "too many failed attempts" in html and "Try again in 15 minutes" in html
    assert "Telematics billing" in html  # the admin's look
    assert locked["Retry-After"] == "900"
    # the right password from the same address is refused while locked out
    assert _login(client, "north", PASSWORD).status_code == 429
    # another address signs in; another username from the locked address too
    assert _logged_in(_login(client, "north", PASSWORD, address="10.0.0.2"))
    client.logout()
    assert _logged_in(_login(client, "south", PASSWORD))


def test_the_lockout_ends_after_the_cool_off(world, client):
    start = timezone.now()
    with time_machine.travel(start, tick=False) as traveller:
        for _ in range(LIMIT):
            _login(client, "north", "wrong-password")
        traveller.shift(settings.AXES_COOLOFF_TIME - timedelta(seconds=5))
        assert _login(client, "north", PASSWORD).status_code == 429
        traveller.shift(timedelta(seconds=10))
        assert _logged_in(_login(client, "north", PASSWORD))


def test_a_good_login_resets_the_failures(world, client):
    for _ in range(LIMIT - 1):
        _login(client, "north", "wrong-password")
    assert _logged_in(_login(client, "north", PASSWORD))
    assert not AccessAttempt.objects.filter(username="north").exists()
    client.logout()
    for _ in range(LIMIT - 1):
        assert _login(client, "north", "wrong-password").status_code == 200
    assert _logged_in(_login(client, "north", PASSWORD))


def test_force_login_and_api_tokens_are_untouched_by_a_lockout(world, client, api_client):
    for _ in range(LIMIT):
        _login(client, "north", "wrong-password", address="127.0.0.1")
    key = operations.rotate_token(actor=world.platform, operator=world.north_op)
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert api_client.get("/api/v1/accounts/").status_code == 200
    client.force_login(world.north_op)
    assert client.get("/admin/").status_code == 200
