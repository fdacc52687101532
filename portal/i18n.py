"""Languages: Bahasa Indonesia first, English from a Babel catalogue."""

from __future__ import annotations

import datetime
import gettext
import hashlib
import io
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

import jinja2
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import Translations
from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from portal.agency import Agency
from portal.state import state_of
from portal.times import zone_label
from scheduler.text import translated

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
LANGUAGES = ("id", "en")
LANG_COOKIE = "antrean_lang"


@cache
def N_(text: str) -> str:
    """Mark text for the translation catalogue; it is translated when shown."""
    return text


@cache
def translations(lang: str) -> gettext.NullTranslations:
    """The catalogue of a language (Indonesian is the source text: no catalogue).

    Read and compiled once per process: parsing the ``.po`` costs about 50 ms, and
    the upload and settings handlers ask for it on every request.
    """
    po = LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po"
    if lang == "id" or not po.exists():
        return gettext.NullTranslations()
    with open(po, "rb") as handle:
        catalog = read_po(handle, locale=lang)
    # Compiled in memory at start: the repository holds only the readable .po.
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(fp=compiled)


def static_version(static_dir: Path) -> str:
    """A short hash of the static files, so browsers may cache them for long."""
    digest = hashlib.sha256()
    for path in sorted(static_dir.rglob("*")):
        if path.is_file():
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


def format_number(value: object, lang: str) -> str:
    """A count or a decimal as readers of ``lang`` write it (text passes through as it is)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "" if value is None else str(value)
    return format_decimal(value, locale=lang)


def create_templates(directory: Path, static_dir: Path, agency: Agency | None = None,
                     timezone: str = "Asia/Jakarta") -> dict[str, Jinja2Templates]:
    """One Jinja environment per language: autoescape on, text through gettext."""
    version = static_version(static_dir)
    result: dict[str, Jinja2Templates] = {}
    for lang in LANGUAGES:
        env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(directory),
            autoescape=True,
            extensions=["jinja2.ext.i18n"],
            trim_blocks=True,
            lstrip_blocks=True,
        )
        catalogue = translations(lang)
        env.install_gettext_translations(catalogue, newstyle=True)  # type: ignore[attr-defined]
        # Messages built at run time (validation errors may quote what was typed)
        # go through this filter: a catalogue look-up that stays plain, escaped text.
        env.filters["tr"] = lambda message, _c=catalogue: translated(message, _c.gettext)
        # Numbers as the page's language writes them: 12.345 and 0,9 in Indonesian.
        env.filters["number"] = lambda value, _lang=lang: format_number(value, _lang)
        env.globals["static_version"] = version
        env.globals["lang"] = lang
        env.globals["agency"] = agency or Agency()
        # For scripts that draw times (the console's charts): the zone and its label.
        zone = ZoneInfo(timezone)
        offset = zone.utcoffset(datetime.datetime.now(datetime.UTC)) or datetime.timedelta(0)
        env.globals["zone"] = {"name": timezone, "label": zone_label(zone),
                               "offset_minutes": int(offset.total_seconds() // 60)}
        result[lang] = Jinja2Templates(env=env)
    return result


def language_of(request: Request) -> str:
    """The page language: ``?lang=``, then the cookie, then the configured default."""
    asked = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE)
    if asked in LANGUAGES:
        return asked
    default: str = state_of(request).settings.language
    return default


def templates_for(request: Request) -> Jinja2Templates:
    """The templates in this request's language."""
    templates: dict[str, Jinja2Templates] = state_of(request).templates
    return templates[language_of(request)]


def remember_language(request: Request, response: Response) -> None:
    """Keep a language chosen with ``?lang=`` for the next pages."""
    asked = request.query_params.get("lang")
    if asked in LANGUAGES and request.cookies.get(LANG_COOKIE) != asked:
        response.set_cookie(LANG_COOKIE, asked, max_age=365 * 86400, httponly=True,
                            samesite="lax", path="/")
