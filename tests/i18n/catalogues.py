"""The French and Spanish catalogues against the sources (SPEC §9.3: a test fails on any message without a
French or Spanish translation; docs/decisions.md, "Languages").

``check`` copies the sources (``SOURCE_DIRS``) and the committed catalogues (``locale/``) into a work folder,
runs Django's ``makemessages`` there for both domains (``django``: .py, .html, .txt; ``djangojs``: .js) and
reports, per language and domain: messages missing from the committed catalogue, messages left untranslated
or fuzzy, messages the sources no longer have (stale), format strings that do not match (``msgfmt
--check-format``), and ``\\u`` escapes in a message (Python reads the character, xgettext the backslash,
so such a message would never be found). Nothing outside the work folder is written.

``python -m tests.i18n.catalogues`` (``make messages``) runs the same ``makemessages`` and copies the
updated catalogues back into ``locale/``: new messages arrive empty, for a translator to fill.

``compile_catalogues`` compiles ``locale/*/LC_MESSAGES/*.po`` whose ``.mo`` is missing or older (the
install runs ``compilemessages``; the test session calls this so a plain ``pytest`` sees the translations).
GNU gettext (``msgfmt``, ``xgettext``, ``msgmerge``) comes from Debian's ``gettext`` package.
"""

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[2]
SOURCE_DIRS = ("apps", "billing_site", "templates", "static")
LANGUAGES = ("fr", "es")
DOMAINS = ("django", "djangojs")
PLURAL_FORMS = {"fr": "nplurals=2; plural=(n > 1);", "es": "nplurals=2; plural=(n != 1);"}
LANGUAGE_NAMES = {"fr": "French", "es": "Spanish"}

_SETTINGS = """SECRET_KEY = "catalogues"
USE_I18N = True
INSTALLED_APPS = []
LOCALE_PATHS = [{locale!r}]
"""


class GettextMissing(RuntimeError):
    pass


def require_gettext() -> None:
    missing = [tool for tool in ("xgettext", "msgmerge", "msgfmt") if shutil.which(tool) is None]
    if missing:
        raise GettextMissing(f"GNU gettext is not installed ({', '.join(missing)} missing): "
                             "apt-get install gettext (scripts/test.sh does it as root).")


# --- reading a catalogue -------------------------------------------------------------------------------


@dataclass
class Entry:
    msgid: str = ""
    msgid_plural: str | None = None
    msgctxt: str | None = None
    msgstr: dict = field(default_factory=dict)
    flags: set = field(default_factory=set)
    obsolete: bool = False

    @property
    def key(self) -> tuple:
        return self.msgctxt, self.msgid

    @property
    def translated(self) -> bool:
        return bool(self.msgstr) and all(self.msgstr.values())


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "a": "\a", "b": "\b", "f": "\f", "v": "\v"}


def _unquote(text: str) -> str:
    text = text.strip()
    if len(text) < 2 or text[0] != '"' or text[-1] != '"':
        raise ValueError(f"not a quoted PO string: {text!r}")
    return re.sub(r'\\(.)', lambda m: _ESCAPES.get(m.group(1), "\\" + m.group(1)), text[1:-1])


def read_catalogue(path: Path) -> dict[tuple, Entry]:
    """The entries of a PO file by (msgctxt, msgid); the header (msgid "") is left out."""
    entries: dict[tuple, Entry] = {}
    for block in re.split(r"\n\s*\n", path.read_text(encoding="utf-8")):
        entry, target = Entry(), None
        for raw in block.splitlines():
            line = raw
            if line.startswith("#~"):
                entry.obsolete, line = True, line[2:].lstrip()
                if line.startswith("|"):  # an obsolete entry's previous msgid
                    continue
            if line.startswith("#,"):
                entry.flags |= {flag.strip() for flag in line[2:].split(",")}
                continue
            if not line or line.startswith("#"):
                continue
            keyword, _, rest = line.partition(" ")
            if line.startswith('"'):
                value = _unquote(line)
            elif keyword in ("msgctxt", "msgid", "msgid_plural"):
                target, value = keyword, _unquote(rest)
                setattr(entry, keyword, "")
            elif keyword.startswith("msgstr"):
                index = int(keyword[7:-1]) if keyword.startswith("msgstr[") else 0
                target, value = ("msgstr", index), _unquote(rest)
                entry.msgstr[index] = ""
            else:
                raise ValueError(f"{path}: cannot read {raw!r}")
            if isinstance(target, tuple):
                entry.msgstr[target[1]] += value
            else:
                setattr(entry, target, getattr(entry, target) + value)
        if target is not None and (entry.msgid or entry.msgctxt):
            entries[entry.key] = entry
    return entries


# --- makemessages in a work folder -------------------------------------------------------------------


def _copy_sources(base: Path, workdir: Path, source_dirs) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.mo", "node_modules")
    for name in source_dirs:
        if (base / name).is_dir():
            shutil.copytree(base / name, workdir / name, ignore=ignore)
    if (base / "locale").is_dir():
        shutil.copytree(base / "locale", workdir / "locale", ignore=ignore)


def make_messages(base: Path, workdir: Path, languages=LANGUAGES, source_dirs=SOURCE_DIRS) -> Path:
    """Runs ``makemessages`` for ``languages`` and both domains on a copy of ``base``'s sources and
    catalogues in ``workdir``; returns the work folder's ``locale``."""
    require_gettext()
    _copy_sources(base, workdir, source_dirs)
    locale = workdir / "locale"
    locale.mkdir(exist_ok=True)
    (workdir / "catalogue_settings.py").write_text(_SETTINGS.format(locale=str(locale)))
    env = {**os.environ, "PYTHONPATH": str(workdir), "DJANGO_SETTINGS_MODULE": "catalogue_settings"}
    for domain in DOMAINS:
        command = [sys.executable, "-m", "django", "makemessages", "--domain", domain, "--no-obsolete",
                   "--ignore", "catalogue_settings.py", *[arg for code in languages for arg in ("-l", code)]]
        done = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"makemessages -d {domain} failed:\n{done.stdout}\n{done.stderr}")
    for code in languages:
        for domain in DOMAINS:
            path = locale / code / "LC_MESSAGES" / f"{domain}.po"
            if path.exists() and not (base / "locale" / code / "LC_MESSAGES" / f"{domain}.po").exists():
                _write_header(path, code)  # a new catalogue: its language and plural forms, not gettext's template
    return locale


def _write_header(path: Path, code: str) -> None:
    text = path.read_text(encoding="utf-8")
    text = re.sub(r'"Language: \\n"', f'"Language: {code}\\\\n"', text, count=1)
    text = re.sub(r'"Language-Team: [^"]*"', f'"Language-Team: {LANGUAGE_NAMES.get(code, code)}\\\\n"', text, count=1)
    if code in PLURAL_FORMS:
        text = re.sub(r'"Plural-Forms: [^"]*"', f'"Plural-Forms: {PLURAL_FORMS[code]}\\\\n"', text, count=1)
    text = text.replace('#, fuzzy\nmsgid ""\nmsgstr ""', 'msgid ""\nmsgstr ""', 1)
    path.write_text(text, encoding="utf-8")


# --- the check -----------------------------------------------------------------------------------------


def _describe(key: tuple) -> str:
    context, msgid = key
    text = msgid if len(msgid) <= 90 else msgid[:87] + "…"
    return repr(text) + (f" (context {context!r})" if context else "")


def check(base: Path = BASE_DIR, workdir: Path | None = None, languages=LANGUAGES,
          source_dirs=SOURCE_DIRS) -> list[str]:
    """Every problem of ``base``'s committed catalogues against its sources, one line each (empty: none)."""
    import tempfile

    if workdir is None:
        with tempfile.TemporaryDirectory(prefix="catalogues-") as folder:
            return check(base, Path(folder), languages, source_dirs)
    fresh_locale = make_messages(base, workdir, languages, source_dirs)
    problems = []
    for code in languages:
        for domain in DOMAINS:
            name = f"locale/{code}/LC_MESSAGES/{domain}.po"
            committed_path, fresh_path = base / name, fresh_locale / code / "LC_MESSAGES" / f"{domain}.po"
            committed = read_catalogue(committed_path) if committed_path.exists() else {}
            fresh = read_catalogue(fresh_path) if fresh_path.exists() else {}
            committed = {key: entry for key, entry in committed.items() if not entry.obsolete}
            fresh = {key: entry for key, entry in fresh.items() if not entry.obsolete}
            if fresh and not committed_path.exists():
                problems.append(f"{name}: missing: {len(fresh)} messages have no {code} catalogue "
                                "(python -m tests.i18n.catalogues creates it)")
                continue
            for key in fresh.keys() - committed.keys():
                problems.append(f"{name}: missing: {_describe(key)}")
            for key in committed.keys() - fresh.keys():
                problems.append(f"{name}: stale (no longer in the sources): {_describe(key)}")
            for key, entry in fresh.items():
                if key in committed and "fuzzy" in committed[key].flags:
                    problems.append(f"{name}: fuzzy: {_describe(key)}")
                elif key in committed and not entry.translated:
                    problems.append(f"{name}: untranslated: {_describe(key)}")
                if re.search(r"\\(u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|N\{)", entry.msgid):
                    problems.append(f"{name}: a \\u escape in the message, which xgettext does not read: "
                                    f"write the character itself: {_describe(key)}")
            if committed_path.exists():
                done = subprocess.run(["msgfmt", "--check", "-o", os.devnull, str(committed_path)],
                                      capture_output=True, text=True)
                if done.returncode != 0:
                    problems.append(f"{name}: msgfmt --check: {done.stderr.strip()}")
    return sorted(problems)


def message_counts(base: Path = BASE_DIR) -> dict[str, int]:
    """Messages per language and domain in the committed catalogues (``fr/django``: 287, …)."""
    counts = {}
    for code in LANGUAGES:
        for domain in DOMAINS:
            path = base / "locale" / code / "LC_MESSAGES" / f"{domain}.po"
            if path.exists():
                counts[f"{code}/{domain}"] = sum(1 for e in read_catalogue(path).values() if not e.obsolete)
    return counts


def update(base: Path = BASE_DIR) -> None:
    """``makemessages`` for both languages and domains, written back into ``base/locale``."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="catalogues-") as folder:
        fresh_locale = make_messages(base, Path(folder))
        for path in sorted(fresh_locale.glob("*/LC_MESSAGES/*.po")):
            target = base / "locale" / path.relative_to(fresh_locale)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
            print(f"updated {target.relative_to(base)}")


def compile_catalogues(base: Path = BASE_DIR) -> list[Path]:
    """Compiles each ``locale/*/LC_MESSAGES/*.po`` whose ``.mo`` is missing or older; returns those done."""
    done = []
    if shutil.which("msgfmt") is None:
        return done
    for po in sorted((base / "locale").glob("*/LC_MESSAGES/*.po")):
        mo = po.with_suffix(".mo")
        if not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime:
            subprocess.run(["msgfmt", "--check-format", "-o", str(mo), str(po)], check=True)
            done.append(mo)
    return done


if __name__ == "__main__":
    update()
    problems = check()
    print("\n".join(problems) if problems else "Every message is translated.")
