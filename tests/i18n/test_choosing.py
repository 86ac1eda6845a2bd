"""Which language answers (SPEC §9.3, §9.8 "Languages"): in the admin the operator's own setting, else the
browser's ``Accept-Language``, else English; in the API an explicit ``Accept-Language``, else the
operator's setting, else English. The header switcher writes the operator's setting."""

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from apps.accounts import operations
from apps.accounts.models import Operator

pytestmark = pytest.mark.django_db

SITE_HEADER = {"en": "Telematics billing", "fr": "Facturation télématique", "es": "Facturación telemática"}


def _set(operator, language):
    Operator.objects.filter(pk=operator.pk).update(language=language)


def _admin(operator, accept=None):
    client = Client(**({"HTTP_ACCEPT_LANGUAGE": accept} if accept else {}))
    client.force_login(operator)
    return client


@pytest.mark.parametrize(("saved", "accept", "expected"), [
    ("", None, "en"),            # nothing chosen, nothing asked: English
    ("", "es-MX,es;q=0.9", "es"),  # the browser's
    ("", "de-DE,fr;q=0.5", "fr"),  # the browser's first language we have
    ("", "de-DE", "en"),          # a language we do not have: English
    ("fr", "es", "fr"),           # the operator's own setting wins over the browser in the admin
    ("es", None, "es"),
])
def test_admin_pages_follow_the_operator_then_the_browser(world, saved, accept, expected):
    _set(world.north_op, saved)
    response = _admin(world.north_op, accept).get("/admin/")
    assert response.status_code == 200
    html = response.content.decode()
    assert f'<html lang="{expected}"' in html
    assert SITE_HEADER[expected] in html
    assert response["Content-Language"] == expected


def test_the_sign_in_page_follows_the_browser(db):
    response = Client(HTTP_ACCEPT_LANGUAGE="es").get("/admin/login/")
    assert response.status_code == 200 and '<html lang="es"' in response.content.decode()


def test_django_s_language_cookie_does_not_override_the_operator(world):
    _set(world.north_op, "es")
    client = _admin(world.north_op, "en")
    client.cookies["django_language"] = "fr"
    assert '<html lang="es"' in client.get("/admin/").content.decode()


# --- the header switcher -------------------------------------------------------------------------------


def test_the_switcher_is_in_the_header_of_every_admin_page(world):
    client = _admin(world.north_restricted)
    html = client.get("/admin/codes/apply/").content.decode()
    assert 'id="language-switcher"' in html and f'action="{reverse("operator-language")}"' in html
    assert '<option value="fr" lang="fr"' in html and ">Français<" in html and ">Español<" in html


@pytest.mark.parametrize("language", ["fr", "es", "en", ""])
def test_the_switcher_saves_the_operator_s_language_and_returns(world, language):
    client = _admin(world.north_op)
    response = client.post(reverse("operator-language"), {"language": language, "next": "/admin/units/unit/?q=x"})
    assert response.status_code == 302 and response["Location"] == "/admin/units/unit/?q=x"
    assert Operator.objects.get(pk=world.north_op.pk).language == language
    html = client.get("/admin/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert f'<html lang="{language or "en"}"' in html
    assert f'<option value="{language}"' + (' lang="%s"' % language if language else "") + " selected" in html


def test_the_choice_survives_a_new_sign_in(world):
    client = _admin(world.north_op)
    client.post(reverse("operator-language"), {"language": "fr", "next": "/admin/"})
    client.logout()
    fresh = Client(HTTP_ACCEPT_LANGUAGE="en")
    fresh.force_login(Operator.objects.get(pk=world.north_op.pk))
    html = fresh.get("/admin/").content.decode()
    assert '<html lang="fr"' in html and SITE_HEADER["fr"] in html


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/admin/", "javascript:alert(1)", ""])
def test_the_switcher_returns_only_to_this_site(world, target):
    response = _admin(world.top).post(reverse("operator-language"), {"language": "es", "next": target})
    assert response.status_code == 302 and response["Location"] == reverse("admin:index")


@pytest.mark.parametrize("value", ["de", "FR", "fr-CA", " fr", "x" * 50, "fr\x00"])
def test_the_switcher_refuses_another_language_and_writes_nothing(world, value):
    _set(world.top, "es")
    response = _admin(world.top).post(reverse("operator-language"), {"language": value, "next": "/admin/"})
    assert response.status_code == 400
    assert response.content.decode().startswith("Idioma: ")  # named, in the operator's language
    assert Operator.objects.get(pk=world.top.pk).language == "es"


def test_the_switcher_without_a_language_is_refused(world):
    response = _admin(world.top).post(reverse("operator-language"), {"next": "/admin/"})
    assert response.status_code == 400 and response.content.decode().startswith("Language: ")


def test_the_switcher_answers_only_post_and_only_signed_in(world):
    assert _admin(world.top).get(reverse("operator-language")).status_code == 405
    response = Client().post(reverse("operator-language"), {"language": "fr"})
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_an_operator_of_a_blocked_account_may_still_switch(world):
    from apps.accounts.models import Account

    Account.objects.filter(pk=world.north.pk).update(blocked=True)
    response = _admin(world.north_op).post(reverse("operator-language"), {"language": "fr", "next": "/admin/"})
    assert response.status_code == 302
    assert Operator.objects.get(pk=world.north_op.pk).language == "fr"


# --- the operator's page in the admin ------------------------------------------------------------------


def test_the_operator_page_edits_the_language(world):
    client = _admin(world.top)
    url = reverse("admin:accounts_operator_change", args=[world.north_op.pk])
    page = client.get(url).content.decode()
    assert 'name="language"' in page
    response = client.post(url, {"email": "north@example.com", "is_active": "on", "language": "es"})
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Operator.objects.get(pk=world.north_op.pk).language == "es"


def test_a_new_operator_may_be_given_a_language(world):
    client = _admin(world.top)
    response = client.post(reverse("admin:accounts_operator_add"), {
        "username": "nouveau", "password": "a-long-password-42", "email": "", "account": world.north.pk,
        "role": "distributor", "language": "fr"})
    assert response.status_code == 302, response.content.decode()[:3000]
    assert Operator.objects.get(username="nouveau").language == "fr"


# --- the API ----------------------------------------------------------------------------------------------


def _token(operator) -> APIClient:
    key = operations.rotate_token(actor=operator, operator=operator)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


@pytest.mark.parametrize(("saved", "accept", "expected"), [
    ("", None, "en"),
    ("es", None, "es"),              # no explicit language: the operator's
    ("es", "fr", "fr"),              # an explicit Accept-Language wins in the API
    ("fr", "de", "fr"),              # a language we do not have is not an explicit choice
    ("", "es-ES,es;q=0.9", "es"),
])
def test_the_api_follows_accept_language_then_the_operator(world, saved, accept, expected):
    _set(world.top, saved)
    client = _token(Operator.objects.get(pk=world.top.pk))
    response = client.get("/api/v1/accounts/999999999/", **({"HTTP_ACCEPT_LANGUAGE": accept} if accept else {}))
    assert response.status_code == 404
    assert response["Content-Language"] == expected
    assert response.json()["code"] == "not_found"


def test_the_api_over_a_session_follows_the_same_rule(world):
    _set(world.top, "es")
    client = Client()
    client.force_login(world.top)
    assert client.get("/api/v1/accounts/999999999/")["Content-Language"] == "es"
    assert client.get("/api/v1/accounts/999999999/", HTTP_ACCEPT_LANGUAGE="fr")["Content-Language"] == "fr"


def test_a_language_does_not_stick_to_the_next_request(world):
    _set(world.top, "fr")
    _token(Operator.objects.get(pk=world.top.pk)).get("/api/v1/accounts/")
    response = APIClient().get("/api/v1/accounts/")  # anonymous, no header: English again
    assert response.status_code == 401 and response["Content-Language"] == "en"


def test_the_operators_api_reads_and_writes_the_language(world, as_user):
    api = as_user(world.top)
    url = f"/api/v1/operators/{world.north_op.pk}/"
    assert api.get(url).json()["language"] == ""
    response = api.patch(url, {"language": "fr"}, format="json")
    assert response.status_code == 200 and response.json()["language"] == "fr"
    assert Operator.objects.get(pk=world.north_op.pk).language == "fr"
    response = api.patch(url, {"language": "de"}, format="json")
    assert response.status_code == 400 and list(response.json()["fields"]) == ["language"]
    assert Operator.objects.get(pk=world.north_op.pk).language == "fr"
    response = api.post("/api/v1/operators/", {"username": "nuevo", "password": "a-long-password-42",
                                                "account": world.north.pk, "role": "distributor",
                                                "language": "es"}, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["language"] == "es"


def test_an_operator_sets_their_own_language_over_the_api(world, as_user):
    response = as_user(world.north_restricted).patch(f"/api/v1/operators/{world.north_restricted.pk}/",
                                                     {"language": "es"}, format="json")
    assert response.status_code == 200, response.json()
    assert Operator.objects.get(pk=world.north_restricted.pk).language == "es"


def test_the_operation_refuses_another_language(world):
    from apps.core.errors import InvalidInput

    with pytest.raises(InvalidInput) as refused:
        operations.update_operator(actor=world.top, operator=world.north_op, language="pt")
    assert list(refused.value.fields) == ["language"]


def test_outside_a_request_an_operator_is_written_to_in_their_language(world):
    from django.utils import translation
    from django.utils.translation import gettext

    from apps.core.languages import language_of

    _set(world.north_op, "es")
    operator = Operator.objects.get(pk=world.north_op.pk)
    with translation.override(language_of(operator)):
        assert gettext("Activation codes") == "Códigos de activación"
    assert language_of(Operator.objects.get(pk=world.top.pk)) == "en"
    assert language_of(None) == "en"
