"""The dashboard's message catalog: every label of the pages, in English and Russian.

Messages live in ``messages/LANG.json`` (one flat object per language, the same keys in
each; a test checks). The language is chosen by ``?lang=`` (remembered in a cookie), else
the cookie, else the browser's Accept-Language, else English. Numbers and dates are
formatted in the browser with ``Intl`` for the same locale.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

LANGUAGES = ("en", "ru")
DEFAULT = "en"
LOCALES = {"en": "en-GB", "ru": "ru-RU"}
"""The Intl locale of each language (en-GB: 24-hour times, day-month dates)."""


@cache
def messages(lang: str) -> dict[str, str]:
    text = resources.files("callkpi.server.web").joinpath(f"messages/{lang}.json").read_text(
        "utf-8")
    data: dict[str, str] = json.loads(text)
    return data


def choose(query: str | None, cookie: str | None, accept_language: str | None) -> str:
    for candidate in (query, cookie):
        if candidate in LANGUAGES:
            return candidate
    for part in (accept_language or "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGUAGES:
            return code
    return DEFAULT
