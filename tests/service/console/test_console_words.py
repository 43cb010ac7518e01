"""The console's words: every key a page uses exists, in both languages, with the same
placeholders (a missing Chinese key would silently show English; a missing placeholder would
fail at render time)."""

from __future__ import annotations

import re
import string
from pathlib import Path

from service.console.i18n import LANGUAGES, MESSAGES, Translator

TEMPLATES = Path(__file__).resolve().parents[3] / "service" / "console" / "templates"


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_both_languages_have_the_same_keys_and_placeholders() -> None:
    assert set(MESSAGES) == set(LANGUAGES)
    assert set(MESSAGES["en"]) == set(MESSAGES["zh"])
    for key, english in MESSAGES["en"].items():
        assert _placeholders(english) == _placeholders(MESSAGES["zh"][key]), key


def test_every_key_the_templates_use_exists() -> None:
    used = {
        key
        for page in TEMPLATES.glob("*.html")
        for key in re.findall(r"""\bt\(['"]([a-z_.0-9]+)['"]""", page.read_text())
    }
    assert len(used) > 100  # the pattern finds the templates' keys
    known = set(MESSAGES["en"])
    # a key ending in "." is a prefix the page completes (t("action." ~ d.action))
    prefixes = {k for k in used if k.endswith(".")}
    assert sorted(used - prefixes - known) == []
    assert all(any(k.startswith(p) for k in known) for p in prefixes), prefixes
    assert Translator("zh")("skip") != Translator("en")("skip")
