"""The catalogue test (SPEC §9.3; issue 18 item 2): ``makemessages`` over a copy of the sources, and every
message must be in ``locale/fr`` and ``locale/es``, translated and not fuzzy. The second half proves the
check fails: a small project with a deliberately incomplete catalogue is reported message by message."""

import textwrap
from pathlib import Path

from tests.i18n import catalogues


def test_every_message_of_the_sources_is_translated_in_french_and_spanish():
    problems = catalogues.check()
    assert not problems, ("Catalogues out of date: run `make messages`, translate the new messages in "
                          "locale/fr and locale/es (no fuzzy entries), then run this test again.\n"
                          + "\n".join(problems))


def test_both_catalogues_hold_the_same_messages():
    counts = catalogues.message_counts()
    assert counts["fr/django"] == counts["es/django"] > 250, counts


# --- the check can fail --------------------------------------------------------------------------------


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")


HEADER = '''
msgid ""
msgstr ""
"Content-Type: text/plain; charset=UTF-8\\n"
"Language: fr\\n"
"Plural-Forms: nplurals=2; plural=(n > 1);\\n"
'''


def _po(body: str) -> str:
    return HEADER.lstrip() + "\n" + textwrap.dedent(body).lstrip()


def _project(tmp_path: Path) -> Path:
    base = tmp_path / "project"
    _write(base / "apps" / "demo" / "views.py", '''
        from django.utils.translation import gettext as _
        from django.utils.translation import ngettext

        TEXTS = [_("Translated"), _("Left empty"), _("Marked fuzzy"), _("Added since"), _("Hello %(name)s"),
                 _("Bad \\u201cquote\\u201d")]
        COUNT = ngettext("%(n)d unit", "%(n)d units", 2)
    ''')
    _write(base / "templates" / "page.html", '''
        {% load i18n %}<p>{% translate "From a template" %}</p>
    ''')
    _write(base / "static" / "page.js", '''
        const label = gettext("From a script");
    ''')
    _write(base / "locale" / "fr" / "LC_MESSAGES" / "django.po", _po('''
        msgid "Translated"
        msgstr "Traduit"

        msgid "Left empty"
        msgstr ""

        #, fuzzy
        msgid "Marked fuzzy"
        msgstr "Marqué approximatif"

        #, python-format
        msgid "Hello %(name)s"
        msgstr "Bonjour %(nom)s"

        msgid "Bad \\\\u201cquote\\\\u201d"
        msgstr "Mauvais guillemets"

        #, python-format
        msgid "%(n)d unit"
        msgid_plural "%(n)d units"
        msgstr[0] "%(n)d unité"
        msgstr[1] ""

        msgid "From a template"
        msgstr "D’un gabarit"

        msgid "Gone from the sources"
        msgstr "Disparu des sources"
    '''))
    return base


def test_the_check_reports_every_kind_of_gap(tmp_path):
    base = _project(tmp_path)
    before = (base / "locale" / "fr" / "LC_MESSAGES" / "django.po").read_text(encoding="utf-8")
    problems = catalogues.check(base, tmp_path / "work", languages=("fr",))
    text = "\n".join(problems)
    po = "locale/fr/LC_MESSAGES/django.po"
    assert f"{po}: untranslated: 'Left empty'" in problems
    assert f"{po}: untranslated: '%(n)d unit'" in problems  # one plural form empty is untranslated
    assert f"{po}: fuzzy: 'Marked fuzzy'" in problems
    assert f"{po}: missing: 'Added since'" in problems
    assert f"{po}: stale (no longer in the sources): 'Gone from the sources'" in problems
    assert "locale/fr/LC_MESSAGES/djangojs.po: missing: 1 messages have no fr catalogue" in text
    assert "a \\u escape in the message" in text
    assert f"{po}: msgfmt --check:" in text and "argument 'name'" in text  # %(nom)s is not %(name)s
    assert not any("'Translated'" in line or "From a template" in line for line in problems)
    # The committed catalogue is untouched: the check works on a copy.
    assert (base / "locale" / "fr" / "LC_MESSAGES" / "django.po").read_text(encoding="utf-8") == before


def test_a_complete_catalogue_passes_the_same_check(tmp_path):
    base = tmp_path / "project"
    _write(base / "apps" / "demo.py", '''
        from django.utils.translation import gettext_lazy as _

        LABEL = _("Activation code")
    ''')
    _write(base / "locale" / "fr" / "LC_MESSAGES" / "django.po", _po('''
        msgid "Activation code"
        msgstr "Code d’activation"
    '''))
    assert catalogues.check(base, tmp_path / "work", languages=("fr",)) == []


def test_a_language_without_a_catalogue_is_reported(tmp_path):
    base = tmp_path / "project"
    _write(base / "apps" / "demo.py", '''
        from django.utils.translation import gettext as _

        LABEL = _("Unit")
    ''')
    problems = catalogues.check(base, tmp_path / "work", languages=("es",))
    assert problems == ["locale/es/LC_MESSAGES/django.po: missing: 1 messages have no es catalogue "
                        "(python -m tests.i18n.catalogues creates it)"]


def test_the_compiled_catalogues_are_up_to_date():
    """The session compiled them (tests/conftest.py); nothing compiled is committed (.gitignore)."""
    for po in sorted((catalogues.BASE_DIR / "locale").glob("*/LC_MESSAGES/*.po")):
        mo = po.with_suffix(".mo")
        assert mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime, mo
    assert "*.mo" in (catalogues.BASE_DIR / ".gitignore").read_text().split()
