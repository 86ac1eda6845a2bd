"""The API's ``detail`` and field messages follow ``Accept-Language``; ``code``, field names and enum values
do not (SPEC §9.3, API.md Additions). A domain error, the strict amount parser's refusal and DRF's own
messages, each in English, French and Spanish."""

import pytest

from rest_framework.test import APIClient

from apps.accounts import operations as account_operations
from apps.accounts.models import Account, LedgerEntry, Operator

pytestmark = pytest.mark.django_db

CHILDREN = {
    "en": "This account has 2 child accounts: an account without dealer rights may have none, so its dealer "
          "rights stay.",
    "fr": "Ce compte a 2 comptes enfants : un compte sans droits de revendeur ne peut en avoir aucun, ses droits "
          "de revendeur restent donc.",
    "es": "Esta cuenta tiene 2 cuentas hijas: una cuenta sin derechos de distribuidor no puede tener ninguna, así "
          "que sus derechos de distribuidor se mantienen.",
}
NOT_AN_AMOUNT = {
    "en": "Not an amount: write digits 0-9, an optional leading minus and at most 4 decimal places after a "
          "point, e.g. 12.5 or -3.25.",
    "fr": "Ce n’est pas un montant : écrivez des chiffres 0-9, un signe moins facultatif au début et au plus 4 "
          "décimales après un point, p. ex. 12.5 ou -3.25.",
    "es": "No es un importe: escriba dígitos 0-9, un signo menos opcional al principio y como máximo 4 decimales "
          "tras un punto, p. ej. 12.5 o -3.25.",
}
INTEGER = {"en": "A valid integer is required.", "fr": "Un nombre entier valide est requis.",
           "es": "Introduzca un número entero válido."}
SELF = {"en": "You cannot deactivate yourself.", "fr": "Vous ne pouvez pas vous désactiver vous-même.",
        "es": "No puede desactivarse a sí mismo."}


@pytest.mark.parametrize("language", ["en", "fr", "es"])
def test_a_domain_error_is_translated_and_keeps_its_code(world, as_user, language):
    """``has_child_accounts`` (SPEC §9.8 "Children"): revoking dealer rights from North, which has two
    child accounts."""
    response = as_user(world.top).patch(f"/api/v1/accounts/{world.north.pk}/", {"dealer_rights": False},
                                        format="json", HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "has_child_accounts"
    assert body["fields"] == {"dealer_rights": [CHILDREN[language]]}
    assert body["detail"] == f"dealer_rights: {CHILDREN[language]}"
    assert response["Content-Language"] == language
    assert Account.objects.get(pk=world.north.pk).dealer_rights


@pytest.mark.parametrize("language", ["en", "fr", "es"])
def test_an_invalid_input_of_an_operation_is_translated(world, as_user, language):
    response = as_user(world.top).patch(f"/api/v1/operators/{world.top.pk}/", {"is_active": False},
                                        format="json", HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 400
    assert response.json() == {"detail": f"is_active: {SELF[language]}", "code": "invalid",
                               "fields": {"is_active": [SELF[language]]}}


@pytest.mark.parametrize("language", ["en", "fr", "es"])
def test_validation_errors_are_translated_with_the_same_fields_and_code(world, as_user, language):
    response = as_user(world.top).post(f"/api/v1/accounts/{world.north.pk}/payments/", {"amount": "12,5", "days": "many"},
                                       format="json", HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert body["fields"]["amount"] == [NOT_AN_AMOUNT[language]]  # the API keeps its one amount syntax
    assert body["fields"]["days"] == [INTEGER[language]]  # DRF's own message, from its catalogue
    assert not LedgerEntry.objects.filter(account=world.north).exists()


def test_the_english_answer_is_the_default(world, as_user):
    response = as_user(world.top).patch(f"/api/v1/accounts/{world.north.pk}/", {"dealer_rights": False},
                                        format="json")
    assert response.json()["fields"] == {"dealer_rights": [CHILDREN["en"]]}


COST_TABLE = {
    "en": "item 1 ('1:x'): value 'x' is not a number",
    "fr": "élément 1 ('1:x') : la valeur 'x' n’est pas un nombre",
    "es": "elemento 1 ('1:x'): el valor 'x' no es un número",
}
NOT_FOUND = {"en": "Not found.", "fr": "Introuvable.", "es": "No encontrado."}


@pytest.mark.parametrize("language", ["en", "fr", "es"])
def test_a_cost_table_error_is_translated_and_keeps_its_code(world, as_user, language):
    """The cost table's parser words its refusal in the request's language; the table's syntax is the same in
    every language (SPEC §9.8 "Languages")."""
    response = as_user(world.top).post("/api/v1/cost-tables/evaluate/", {"cost_table": "1:x", "count": 3},
                                       format="json", HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert body["fields"] == {"cost_table": [COST_TABLE[language]]}
    assert body["detail"] == f"cost_table: {COST_TABLE[language]}"


@pytest.mark.parametrize("language", ["en", "fr", "es"])
def test_not_found_is_translated_and_keeps_its_code(world, as_user, language):
    response = as_user(world.top).get("/api/v1/accounts/999999999/", HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 404
    assert response.json() == {"detail": NOT_FOUND[language], "code": "not_found"}


def test_the_operator_s_language_answers_without_an_accept_language(world):
    """No explicit Accept-Language: the token's operator's own setting (SPEC §9.8); the code stays English."""
    Operator.objects.filter(pk=world.top.pk).update(language="es")
    key = account_operations.rotate_token(actor=world.top, operator=world.top)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    response = client.post("/api/v1/cost-tables/evaluate/", {"cost_table": "1:x", "count": 3}, format="json")
    assert response.json()["fields"] == {"cost_table": [COST_TABLE["es"]]}
    assert response.json()["code"] == "invalid"
