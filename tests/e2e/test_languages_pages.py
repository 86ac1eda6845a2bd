"""The main pages in French and Spanish at 1366 px (issue 18 item 5; SPEC §9.3): the dashboard, the codes window,
the plan window, the discount module (a top user) and "Apply a code" (a distributor). On each page no English is
left (a list of the page's English words and headings is absent from the visible text, their translations are
present) and nothing is cut or pushed out by the longer words: the page does not scroll sideways and the
header's tools stay inside it. The screenshots (``var/screenshots/i18n-<page>-<language>.png``) were looked at."""

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from apps.accounts import operations as account_ops
from apps.accounts.models import Account, Operator
from apps.codes import operations as code_ops
from apps.core import clock
from apps.discounts.operations import save_snapshots
from apps.discounts.queries import local_today
from apps.plans.models import PlanService
from apps.units import operations as unit_ops
from tests.codes.helpers import make_unit

WIDE = {"width": 1366, "height": 900}

# English words and headings of the pages (Django's own and ours), as whole words, case-sensitive: none may be
# left on a French or Spanish page.
ENGLISH = {
    "dashboard": ["Activation codes", "Dashboard", "Accounts", "Units", "Expiring", "Apply a code", "Code log",
                  "Generate codes", "Recent actions", "View site", "Log out", "Discount module", "Ledger"],
    "codes": ["Activation codes", "Search", "Filter", "Actions", "state", "validity", "Go", "Show counts",
              "activated", "expires", "days left", "New", "Active", "Generate codes", "Code log", "Apply a code",
              "Not expired", "By activation date", "From", "Clear", "unit", "account", "shared with"],
    # (General, Services, Modems, description, type, parent: the same words in French or Spanish)
    "plan": ["Change plan", "Save", "Save and continue editing", "History", "Device types", "Report style",
             "Cost table", "count", "Effective plan", "Effective services", "Calculator", "Delete", "name",
             "Empty settings are inherited", "Inherit from the parent plan", "interval", "Remove",
             "This plan's own service rows"],
    "discount": ["Discount module", "Current discount", "Maximum discount", "Applied discount", "Units",
                 "Recalculate", "Accounts", "Account", "Rank", "Discount", "Details", "To raise it", "This month",
                 "Month so far", "Saved for", "purchased", "in use", "Remove", "Turn", "Sensors", "Eco driving",
                 "Commands", "unit", "account"],
    "discount_units": ["Units of", "Rank (unit points)", "Discount", "Details", "To raise it", "All accounts",
                       "Remove", "Turn", "Sensors", "Eco driving", "Commands", "storage", "p.p. (unit", "account)"],
    "apply": ["Apply an activation code", "Apply the code", "Type an activation code", "Unit",
              "32 characters", "A unit of your branch", "Home"],
}
# What each page shows instead, per language.
EXPECTED = {
    "fr": {
        "dashboard": ["Codes d’activation", "Soldes les plus bas", "Déconnexion"],
        "codes": ["Codes d’activation", "Rechercher", "Filtre", "jours restants", "Non expirés", "Journal des codes"],
        "plan": ["Enregistrer", "Général", "Types d’appareils", "Table de coûts", "Plan effectif"],
        "discount": ["Module de remise", "Remise actuelle", "Recalculer", "Comptes", "Ce mois-ci"],
        "discount_units": ["Unités de North Client", "Tous les comptes", "Capteurs : 1", "(unité)"],
        "apply": ["Appliquer un code d’activation", "Appliquer le code", "Unité"],
    },
    "es": {
        "dashboard": ["Códigos de activación", "Saldos más bajos", "Cerrar sesión"],
        "codes": ["Códigos de activación", "Buscar", "Filtro", "días restantes", "No vencidos", "Registro de códigos"],
        "plan": ["Guardar", "General", "Tipos de dispositivo", "Tabla de costos", "Plan efectivo"],
        "discount": ["Módulo de descuento", "Descuento actual", "Recalcular", "Cuentas", "Este mes"],
        "discount_units": ["Unidades de North Client", "Todas las cuentas", "Sensores: 1", "(unidad)"],
        "apply": ["Aplicar un código de activación", "Aplicar el código", "Unidad"],
    },
}


def _visible_text(page) -> str:
    """The page's text as shown, with the words of its buttons, placeholders and images' alternatives."""
    return page.evaluate("""() => [document.body.innerText, ...Array.from(document.querySelectorAll(
        "input[type=submit], input[type=button], [placeholder], img[alt]")).map(
        e => e.value || e.getAttribute("placeholder") || e.getAttribute("alt") || "")].join("\\n")""")


def _english_left(text: str, words: list[str]) -> list[str]:
    return [word for word in words if re.search(rf"(?<![\w’'-]){re.escape(word)}(?![\w’'-])", text)]


def _check(page, shot, name: str, language: str):
    shot(f"i18n-{name}-{language}")
    text = _visible_text(page)
    assert not _english_left(text, ENGLISH[name]), (name, language, _english_left(text, ENGLISH[name]), text)
    missing = [word for word in EXPECTED[language][name] if word.lower() not in text.lower()]
    assert not missing, (name, language, missing, text)
    # Nothing pushed out sideways by the longer words; the header's tools inside the page.
    assert page.evaluate("document.documentElement.scrollWidth") <= WIDE["width"], name
    tools = page.locator("#user-tools").bounding_box()
    assert tools is not None and tools["x"] >= 0 and tools["x"] + tools["width"] <= WIDE["width"], (name, tools)


def _prepare(world, language: str):
    """Acme bills by activation codes with the discount switched on: three codes, two on units (counted by the
    discount), the top user and distributor North speaking ``language``, then the month's saved days (the
    stored table is worded in the top users' language: ``tables.service_language``)."""
    code_ops.switch_billing_method(actor=world.platform, service=world.acme, method="activation_codes",
                                   confirm=True)
    truck = make_unit(world.north_client, "North truck 1")
    Operator.objects.filter(pk__in=[world.top.pk, world.north_op.pk]).update(language=language)
    for name in ("avl_unit", "storage_user", "unit_sensors", "unit_alias"):
        PlanService.objects.get_or_create(plan=world.base_plan, name=name,
                                          defaults={"type": "periodic", "interval": "none"})
    account_ops.update_account(actor=world.platform, account=world.acme,
                               changes={"discount_enabled": True, "plan": world.base_plan})
    van = unit_ops.create_unit(actor=world.platform, account=world.north_client, name="Van 7", unique_id="van7",
                               sensors=[{"name": "Ignition", "type": "ignition"}], eco_driving=True)
    codes = code_ops.generate_codes(actor=world.top, service=world.acme, quantity=3, validity_days=30)
    code_ops.assign_code(actor=world.top, code=codes[0], unit=truck)
    code_ops.assign_code(actor=world.top, code=codes[1], unit=van)
    today = local_today(world.acme, clock.now())
    days = [today.replace(day=1) + timedelta(days=i) for i in range(today.day - 1)] or [today - timedelta(days=1)]
    save_snapshots(service=Account.objects.get(pk=world.acme.pk), days=days, now=clock.now())


@pytest.mark.parametrize("language", ["fr", "es"])
def test_the_main_pages_have_no_english_left(world, login, live_server, page, shot, language):
    _prepare(world, language)
    page.set_viewport_size(WIDE)

    login("top")
    page.goto(f"{live_server.url}/admin/")
    expect(page.locator("html")).to_have_attribute("lang", language)
    _check(page, shot, "dashboard", language)
    # The forecast chart's coordinates are SVG numbers whatever the language (a French "12,5" drew no bar).
    bars = page.locator("svg.forecast-chart rect.bar")
    expect(bars).not_to_have_count(0)
    for attribute in ("x", "y", "width", "height"):
        assert re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", bars.first.get_attribute(attribute)), attribute

    page.goto(f"{live_server.url}/admin/codes/activationcode/")
    expect(page.locator("#result_list tbody tr")).to_have_count(3)
    _check(page, shot, "codes", language)

    page.goto(f"{live_server.url}/admin/plans/plan/{world.dealer_plan.pk}/change/")
    page.fill(".cost-calculator .calc-table", "1:2;5:-1")
    expect(page.locator(".cost-calculator .calc-result")).to_contain_text("10")
    _check(page, shot, "plan", language)
    calculator = page.locator(".cost-calculator .calc-result").inner_text()
    assert not _english_left(calculator, ["object", "denied", "total for", "limit", "canonical", "denies", "Item"]), calculator

    page.goto(f"{live_server.url}/admin/discounts/discountmodule/")
    expect(page.locator("#discount-summary")).to_be_visible()
    _check(page, shot, "discount", language)
    page.locator(f"tr.account-row[data-account='{world.north_client.pk}'] a.drill").click()
    expect(page.locator("#units-title")).to_be_visible()
    for details in page.locator("#discount-units details").all():  # the reasons, opened
        details.locator("summary").click()
    _check(page, shot, "discount_units", language)

    page.context.clear_cookies()
    login("north")
    page.goto(f"{live_server.url}/admin/codes/apply/")
    page.wait_for_selector("#apply-form")
    _check(page, shot, "apply", language)
