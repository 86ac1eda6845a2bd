"""Languages in Chromium (SPEC §9.3, §9.8): the header switcher turns the admin's own chrome French and
Spanish (Django ships those catalogues), the choice is the operator's and survives a new sign-in, and
money typed in French is read as French."""

import re

from playwright.sync_api import expect

from apps.accounts.models import Operator

WIDE = {"width": 1366, "height": 768}


def _switch(page, language: str):
    with page.expect_navigation():
        page.select_option("#language-switcher-select", language)
    page.wait_for_load_state()


def test_the_header_switcher_turns_the_admin_french_then_spanish_and_the_choice_survives_sign_in(
        world, login, live_server, page, shot):
    page.set_viewport_size(WIDE)
    login("top")
    page.goto(f"{live_server.url}/admin/")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("#logout-form button")).to_have_text("Log out")

    _switch(page, "fr")
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    tools = page.locator("#user-tools")
    expect(tools).to_contain_text("Bienvenue,")
    expect(tools).to_contain_text("Modifier le mot de passe")
    expect(page.locator("#logout-form button")).to_have_text("Déconnexion")
    expect(page.locator("#site-name")).to_have_text("Facturation télématique")
    expect(page.locator("#language-switcher-select")).to_have_value("fr")
    assert Operator.objects.get(pk=world.top.pk).language == "fr"
    _header_fits(page)
    shot("i18n-admin-home-fr-1366")

    _switch(page, "es")
    expect(page.locator("html")).to_have_attribute("lang", "es")
    expect(tools).to_contain_text("Bienvenidos,")
    expect(tools).to_contain_text("Cambiar contraseña")
    expect(page.locator("#logout-form button")).to_have_text("Cerrar sesión")
    _header_fits(page)
    shot("i18n-admin-home-es-1366")

    # A new sign-in from the same (English) browser: the operator's choice, not the browser's.
    page.click("#logout-form button")
    page.wait_for_load_state()
    login("top")
    page.goto(f"{live_server.url}/admin/")
    expect(page.locator("html")).to_have_attribute("lang", "es")
    expect(page.locator("#logout-form button")).to_have_text("Cerrar sesión")

    # "The browser's language" hands the choice back to the browser (English here).
    _switch(page, "")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    assert Operator.objects.get(pk=world.top.pk).language == ""


def _header_fits(page):
    """Nothing of the header is cut or pushed out at 1366 px: the user tools stay inside the page."""
    box = page.locator("#user-tools").bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= WIDE["width"], box
    assert page.evaluate("document.documentElement.scrollWidth") <= WIDE["width"]


def test_a_payment_typed_in_french_is_read_as_french(world, login, live_server, page, shot):
    Operator.objects.filter(pk=world.top.pk).update(language="fr")
    page.set_viewport_size(WIDE)
    login("top")
    page.goto(f"{live_server.url}/admin/accounts/account/{world.north.pk}/payment/")
    page.fill("#id_amount", "1 234,50")
    page.fill("#id_days", "0")
    page.fill("#id_description", "Facture 2026-11")
    page.click("input[type=submit]")
    expect(page.locator("#content table")).to_contain_text(re.compile("1\u00a0234,50"))
    shot("i18n-payment-confirmation-fr")
    page.click("input[name=confirm] ~ .submit-row input[type=submit], .submit-row input[type=submit]")
    expect(page.locator("#result_list")).to_contain_text("Facture 2026-11")
    expect(page.locator("#result_list")).to_contain_text("1234,5")  # the ledger's raw amount, a French decimal comma


def test_the_plan_page_shows_money_in_french_in_the_server_s_and_the_calculator_s_text(world, login, live_server,
                                                                                       page, shot):
    from decimal import Decimal

    from apps.accounts.models import Account
    from apps.plans.models import Plan

    Plan.objects.filter(pk=world.base_plan.pk).update(block_by_balance=True, block_balance=Decimal("-1000"))
    Account.objects.filter(pk=world.acme.pk).update(currency_format="%.02f €")
    Operator.objects.filter(pk=world.top.pk).update(language="fr")
    page.set_viewport_size(WIDE)
    login("top")
    page.goto(f"{live_server.url}/admin/plans/plan/{world.dealer_plan.pk}/change/")
    expect(page.locator(".field-block_balance .help")).to_contain_text("-1\u00a0000,00 €")  # Vide : hérite de …
    page.fill(".cost-calculator .calc-table", "1:1000")
    expect(page.locator(".cost-calculator .calc-result")).to_contain_text("1\u00a0000,00 €")
    expect(page.locator(".cost-calculator .calc-result")).to_contain_text("10\u00a0000,00 €")
    shot("i18n-plan-calculator-fr")
