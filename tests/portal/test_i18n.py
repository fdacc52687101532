"""Every visible text through the catalogue; English on request; no inline script."""

from __future__ import annotations

import re

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from starlette.testclient import TestClient

from tests.support import ROOT
from tests.support.form import enter_form, join

EN_CATALOGUE = ROOT / "portal" / "locale" / "en" / "LC_MESSAGES" / "messages.po"


def extracted_messages() -> set[str]:
    method_map = [("portal/**.py", "python"), ("portal/templates/**.html", "jinja2")]
    options = {"portal/templates/**.html": {"extensions": "jinja2.ext.i18n", "trim_blocks": "true",
                                     "lstrip_blocks": "true"}}
    found = extract_from_dir(
        str(ROOT), method_map, options, keywords={"_": None, "gettext": None, "N_": None},
        comment_tags=(), strip_comment_tags=True,
    )
    found_list = list(found)  # the generator reads lazily
    return {message if isinstance(message, str) else message[0]
            for _file, _line, message, _comments, _context in found_list}


def test_every_marked_text_has_an_english_translation() -> None:
    import jinja2.ext  # noqa: F401  (the extractor is jinja2.ext.babel_extract)

    with open(EN_CATALOGUE, "rb") as handle:
        catalogue = read_po(handle)
    translated = {m.id for m in catalogue if m.id and m.string}
    missing = sorted(extracted_messages() - translated)
    assert not missing, "run `make messages` and translate: " + "; ".join(missing[:10])


def test_pages_switch_to_english_and_remember_it(app) -> None:
    with TestClient(app) as client:
        english = client.get("/?lang=en")
        again = client.get("/")
        indonesian = client.get("/?lang=id")
    assert 'lang="en"' in english.text and "Take a queue number now" in english.text
    assert "Take a queue number now" in again.text  # the choice is kept in a cookie
    assert "Ambil nomor antrean sekarang" in indonesian.text


def test_validation_messages_are_translated_too(app) -> None:
    with TestClient(app) as client:
        form = enter_form(client)
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', form)
        key = re.search(r'name="submit_key" value="([^"]+)"', form)
        assert csrf and key
        response = client.post("/formulir?lang=en", data={
            "csrf_token": csrf.group(1), "submit_key": key.group(1), "jenis_kelamin": "X"})
    assert "Choose one of the options." in response.text
    assert "This document is required." in response.text


def test_security_headers_and_no_inline_script(app) -> None:
    with TestClient(app) as client:
        landing = client.get("/")
        waiting = join(client)
        form = enter_form(client)
    csp = landing.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert landing.headers["x-frame-options"] == "DENY"
    assert landing.headers["cache-control"] == "no-store"
    for html in (landing.text, waiting, form):
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline script"
        assert " onclick=" not in html and " style=" not in html
    cookies = landing.headers.get_list("set-cookie")
    assert cookies and all("httponly" in c.lower() and "samesite=lax" in c.lower()
                           for c in cookies)


def test_numbers_are_written_as_the_page_language_writes_them() -> None:
    from portal.i18n import format_number

    assert format_number(1234567, "id") == "1.234.567"
    assert format_number(0.9, "id") == "0,9"
    assert format_number(1234567, "en") == "1,234,567"
    assert format_number(None, "id") == "" and format_number("–", "id") == "–"
