"""The console's words in English and Chinese, the language of a request, and dates and
numbers written the way each language writes them."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

LANGUAGES = ("en", "zh")
LANGUAGE_NAMES = {"en": "English", "zh": "中文"}
HTML_LANG = {"en": "en", "zh": "zh-Hans"}

# The words of every page, per language (a JSON file, so translators need not touch Python).
MESSAGES: dict[str, dict[str, str]] = json.loads(
    (Path(__file__).parent / "messages.json").read_text(encoding="utf-8")
)


def negotiate(cookie: str | None, accept_language: str | None) -> str:
    """The switch's choice (cookie) first, then the browser's preference, else English."""
    if cookie in LANGUAGES:
        return cookie
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        base = tag.strip().lower().split("-")[0]
        if base in LANGUAGES and q > 0:
            ranked.append((-q, i, base))
    return min(ranked)[2] if ranked else "en"


class Translator:
    """`t(key, **values)` in templates; dates and numbers in the language's own style."""

    def __init__(self, lang: str) -> None:
        self.lang = lang if lang in LANGUAGES else "en"
        self.html_lang = HTML_LANG[self.lang]

    def __call__(self, key: str, **values: Any) -> str:
        text = MESSAGES[self.lang].get(key) or MESSAGES["en"].get(key) or key
        return text.format(**values) if values else text

    def number(self, value: float | int | None, digits: int = 2) -> str:
        if value is None:
            return "–"
        if isinstance(value, int):
            return f"{value:,}"
        return f"{value:,.{digits}f}"

    def percent(self, value: float | None) -> str:
        return "–" if value is None else f"{value * 100:.0f}%"

    def datetime(self, value: dt.datetime | str | None) -> str:
        if value is None:
            return "–"
        if isinstance(value, str):
            value = dt.datetime.fromisoformat(value)
        v = value.astimezone(dt.UTC)
        if self.lang == "zh":
            return f"{v.year}年{v.month}月{v.day}日 {v:%H:%M} UTC"
        return f"{v.day} {v:%b} {v.year}, {v:%H:%M} UTC"

    def date(self, value: dt.datetime | str | None) -> str:
        if value is None:
            return "–"
        if isinstance(value, str):
            value = dt.datetime.fromisoformat(value)
        if self.lang == "zh":
            return f"{value.year}年{value.month}月{value.day}日"
        return f"{value.day} {value:%b} {value.year}"
