"""Numbers and money in the language's formats (SPEC §9.3 and §9.8): shown with the language's separators
inside the currency pattern (which still decides the symbol and its place), and money typed in a form read
in the language's format, as strictly as before. The API keeps its one amount syntax."""

from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import translation

from apps.accounts.models import Account, LedgerEntry, Operator
from apps.services import ledger
from apps.core.money import (MoneyError, currency_example, format_money, format_money_input, parse_localized_money,
                             parse_money)

NBSP = "\u00a0"
NNBSP = "\u202f"


@pytest.mark.parametrize(("language", "amount", "pattern", "shown"), [
    ("en", "1234.5", "€%.02f", "€1,234.50"),
    ("fr", "1234.5", "%.02f €", f"1{NBSP}234,50 €"),
    ("es", "1234.5", "%.02f €", f"1{NBSP}234,50 €"),
    ("fr", "-1234567.125", "$%.02f", f"$-1{NBSP}234{NBSP}567,13"),  # half-up, the pattern's place for the sign
    ("fr", "-0.004", "%.02f €", "0,00 €"),
    ("es", "999.995", None, "1000,00".replace("1000", f"1{NBSP}000")),
])
def test_money_is_shown_in_the_language_s_format_inside_the_pattern(language, amount, pattern, shown):
    with translation.override(language):
        assert format_money(Decimal(amount), pattern) == shown


def test_a_currency_pattern_s_example_follows_the_language():
    with translation.override("fr"):
        assert currency_example("€%.02f") == f"€1{NBSP}234,50"
    with translation.override("en"):
        assert currency_example("€%.02f") == "€1,234.50"


@pytest.mark.parametrize(("language", "value", "shown"), [
    ("en", Decimal("-7.5000"), "-7.50"),
    ("en", Decimal("1234.5000"), "1,234.50"),
    ("fr", Decimal("1234.5000"), f"1{NBSP}234,50"),
    ("fr", Decimal("12.3456"), "12,3456"),   # never rounded: what is shown is what is stored
    ("es", Decimal("-0.0000"), "0,00"),
    ("es", 5, "5,00"),
])
def test_a_form_shows_an_amount_in_the_language_s_format(language, value, shown):
    with translation.override(language):
        assert format_money_input(value) == shown


@pytest.mark.parametrize(("language", "text", "amount"), [
    ("fr", "1 234,50", "1234.50"),
    ("fr", f"1{NBSP}234,50", "1234.50"),
    ("fr", f"1{NNBSP}234,50", "1234.50"),
    ("fr", "1234,50", "1234.50"),
    ("fr", "-1 234 567,1234", "-1234567.1234"),
    ("fr", "12", "12"),
    ("es", "1234,5", "1234.5"),
    ("es", f"-3{NBSP}000", "-3000"),
    ("en", "1,234.50", "1234.50"),
    ("en", "1234.50", "1234.50"),
    ("en", "-7.5", "-7.5"),
])
def test_a_form_reads_what_it_shows(language, text, amount):
    with translation.override(language):
        assert parse_localized_money(text) == Decimal(amount)


@pytest.mark.parametrize("language", ["en", "fr", "es"])
def test_what_a_form_shows_reads_back_the_same_amount(language):
    with translation.override(language):
        for value in ("0", "-0.01", "12.3456", "999999999999.9999", "-1234567.5"):
            assert parse_localized_money(format_money_input(Decimal(value))) == Decimal(value)


BAD_EVERYWHERE = ["1e3", "NaN", "Infinity", "+1", " 1", "1 ", "١٢", "１２", ".5", "-", "", "1_000", "--1", "12 34",
                  "1 2345", "12,345,67"]


@pytest.mark.parametrize("language", ["en", "fr", "es"])
@pytest.mark.parametrize("text", BAD_EVERYWHERE)
def test_the_form_parser_stays_strict_about_garbage(language, text):
    with translation.override(language), pytest.raises(MoneyError):
        parse_localized_money(text)


@pytest.mark.parametrize(("language", "text"), [
    ("fr", "12.50"),       # the other language's decimal separator is refused, never guessed
    ("fr", "1.234,50"),
    ("fr", "1 23,5"),      # groups are three digits
    ("fr", "1,00001"),     # at most 4 places
    ("fr", "1 000 000 000 000"),  # at most 12 digits before the separator
    ("es", "1.234"),
    ("es", "1,234.50"),
    ("en", "1,5"),
    ("en", "1 234.50"),
    ("en", "12,50"),
])
def test_the_form_parser_refuses_the_other_formats(language, text):
    with translation.override(language), pytest.raises(MoneyError):
        parse_localized_money(text)


def test_the_refusal_names_the_language_s_format():
    with translation.override("fr"), pytest.raises(MoneyError) as refused:
        parse_localized_money("12.50")
    assert refused.value.reason == ("Ce n’est pas un montant : écrivez des chiffres 0-9, un signe moins facultatif "
                                    f"au début et au plus 4 décimales, p. ex. 1{NBSP}234,50 ou -3,25.")
    with translation.override("fr"), pytest.raises(MoneyError) as refused:
        parse_localized_money("1,00001")
    assert refused.value.reason == "Au plus 4 décimales."


def test_the_strict_parser_keeps_its_one_syntax_in_every_language():
    for language in ("en", "fr", "es"):
        with translation.override(language):
            assert parse_money("1234.50") == Decimal("1234.50")
            for text in ("1234,50", "1 234,50", "1,234.50"):
                with pytest.raises(MoneyError):
                    parse_money(text)


# --- through the admin and the API ------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_french_payment_form_takes_a_french_amount(world, client):
    Operator.objects.filter(pk=world.top.pk).update(language="fr")
    client.force_login(world.top)
    url = reverse("admin:accounts_account_payment", args=[world.north.pk])
    response = client.post(url, {"amount": "1 234,50", "days": "0", "description": "x", "confirm": "yes"})
    assert response.status_code == 302, response.content.decode()[:3000]
    assert Account.objects.get(pk=world.north.pk).balance == Decimal("1234.50")


@pytest.mark.django_db
def test_a_french_payment_form_refuses_an_english_amount_on_the_field(world, client):
    Operator.objects.filter(pk=world.top.pk).update(language="fr")
    client.force_login(world.top)
    url = reverse("admin:accounts_account_payment", args=[world.north.pk])
    response = client.post(url, {"amount": "1,234.50", "days": "0", "description": "x", "confirm": "yes"})
    assert response.status_code == 200
    assert list(response.context["form"].errors) == ["amount"]
    assert "p. ex. 1\u00a0234,50" in response.context["form"].errors["amount"][0]
    assert not LedgerEntry.objects.filter(account=world.north).exists()


@pytest.mark.django_db
def test_the_account_form_shows_a_threshold_as_the_language_writes_it_and_takes_it_back(world, client):
    Account.objects.filter(pk=world.north_client.pk).update(block_balance=Decimal("-1500.2500"))
    Operator.objects.filter(pk=world.top.pk).update(language="es")
    client.force_login(world.top)
    url = reverse("admin:accounts_account_change", args=[world.north_client.pk])
    form = client.get(url).context["adminform"].form
    shown = form["block_balance"].value()
    assert form.fields["block_balance"].prepare_value(shown) == f"-1{NBSP}500,25"
    assert 'value="-1\u00a0500,25"' in client.get(url).content.decode()


@pytest.mark.django_db
def test_the_accounts_list_shows_balances_in_the_operator_s_language(world, client):

    ledger.record_payment(actor=world.top, account=world.north, amount="1234.5", description="x")
    Operator.objects.filter(pk=world.top.pk).update(language="fr")
    client.force_login(world.top)
    html = client.get(reverse("admin:accounts_account_changelist")).content.decode()
    assert f"1{NBSP}234,50" in html or "1&nbsp;234,50" in html


@pytest.mark.django_db
def test_the_api_writes_amounts_one_way_whatever_the_language(world, as_user):
    response = as_user(world.top).post(f"/api/v1/accounts/{world.north.pk}/payments/",
                                       {"amount": "1234.5", "description": "x"}, format="json",
                                       HTTP_ACCEPT_LANGUAGE="fr")
    assert response.status_code == 201, response.json()
    assert response.json()["amount"] == "1234.5000"
