"""The UI speaks English and Italian: every string is translatable, and the Italian catalogue is
complete, current and compiled."""

import gettext
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.utils import translation

ROOT = Path(__file__).resolve().parent.parent
PO = ROOT / "locale/it/LC_MESSAGES/django.po"
MO = ROOT / "locale/it/LC_MESSAGES/django.mo"


def parse_po(path: Path) -> list[dict]:
    """A small .po reader: msgctxt, msgid, msgid_plural, msgstr[n] and flags per entry."""
    entries, entry, last = [], None, None

    def unquote(text):
        return text.strip()[1:-1].encode("raw_unicode_escape").decode("unicode_escape")

    for line in path.read_text(encoding="utf-8").splitlines() + [""]:
        if not line.strip():
            if entry and "msgid" in entry:
                entries.append(entry)
            entry, last = None, None
            continue
        entry = entry or {"flags": "", "msgstr": {}}
        if line.startswith("#,"):
            entry["flags"] += line
        elif line.startswith("#"):
            continue
        elif line.startswith('"'):
            if isinstance(last, tuple):
                entry["msgstr"][last[1]] += unquote(line)
            else:
                entry[last] += unquote(line)
        else:
            key, _, value = line.partition(" ")
            if key.startswith("msgstr"):
                index = int(key[7:-1]) if "[" in key else 0
                entry["msgstr"][index] = unquote(value)
                last = ("msgstr", index)
            else:
                entry[key] = unquote(value)
                last = key
    return [e for e in entries if e["msgid"]]  # the header has an empty msgid


def test_the_italian_catalogue_is_complete():
    entries = parse_po(PO)
    assert len(entries) > 300
    fuzzy = [e["msgid"] for e in entries if "fuzzy" in e["flags"]]
    missing = [e["msgid"] for e in entries if not all(e["msgstr"].values())]
    assert not fuzzy, f"fuzzy translations: {fuzzy[:10]}"
    assert not missing, f"untranslated: {missing[:10]}"


def test_the_compiled_catalogue_matches_the_source():
    compiled = gettext.GNUTranslations(MO.open("rb"))
    for entry in parse_po(PO):
        msgid = entry["msgid"]
        if "msgctxt" in entry:
            msgid = f"{entry['msgctxt']}\x04{msgid}"
        if "msgid_plural" in entry:
            assert compiled.ngettext(msgid, entry["msgid_plural"], 1) == entry["msgstr"][0]
        else:
            assert compiled.gettext(msgid) == entry["msgstr"][0], msgid


def test_every_string_in_the_code_is_in_the_catalogue(tmp_path):
    """Extract the strings again into a copy of the tree: nothing new may appear."""
    if not shutil.which("xgettext"):
        pytest.fail("gettext is not installed: run `make test` as root to install it")
    for name in ["crm", "mailsync", "templates", "locale", "manage.py"]:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, tmp_path / name)
    result = subprocess.run(
        [sys.executable, "manage.py", "makemessages", "-l", "it", "--no-obsolete", "--no-location"],
        cwd=tmp_path,
        env={
            "PATH": "/usr/bin:/bin",
            "DEBUG": "true",
            "DJANGO_SETTINGS_MODULE": "crm.settings",
            "VAR_DIR": str(tmp_path / "var"),
        },
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    fresh = {
        (e.get("msgctxt"), e["msgid"])
        for e in parse_po(tmp_path / "locale/it/LC_MESSAGES/django.po")
    }
    known = {(e.get("msgctxt"), e["msgid"]) for e in parse_po(PO)}
    assert not fresh - known, f"run `make messages` and translate: {sorted(fresh - known)[:10]}"


@pytest.mark.django_db
def test_labels_dates_and_numbers_follow_the_language(alice_client):
    import datetime

    from django.utils.formats import date_format, number_format

    with translation.override("it"):
        assert translation.gettext("Contacts") == "Contatti"
        assert date_format(datetime.date(2026, 3, 1)) == "01 Marzo 2026"
        assert number_format(1234.5, 2, use_l10n=True, force_grouping=True) == "1.234,50"
    response = alice_client.get("/contacts/", HTTP_ACCEPT_LANGUAGE="it")
    assert "Nuovo contatto" in response.content.decode()
