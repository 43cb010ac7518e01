"""The checks that say when a list's order is not a ranking."""

from __future__ import annotations

from matching.readability import latin_share, list_warnings

MINILM = "all-MiniLM-L6-v2"


def test_latin_share_counts_letters_only() -> None:
    assert latin_share(["Forklift driver, 5 years!"]) == 1.0
    assert latin_share(["Gabelstaplerfahrer für Lagerlogistik"]) == 1.0
    assert latin_share(["叉车司机"]) == 0.0
    assert latin_share(["🚜📦 💪"]) == 0.0  # no letters at all
    assert 0.3 < latin_share(["nurse 护士护士"]) < 0.7


def test_warnings() -> None:
    codes = lambda ws: [w.code for w in ws]  # noqa: E731
    assert list_warnings(["forklift"], [0.4, 0.1], [0.7, 0.5], model_name=MINILM) == []
    assert codes(list_warnings(["叉车司机"], [0.0, 0.0], [0.2, 0.1], model_name=MINILM)) == [
        "text_unreadable"
    ]
    # a multilingual model reads it
    assert list_warnings(["叉车司机"], [0.3], [0.4], model_name="paraphrase-multilingual") == []
    # but no model reads a text without words
    assert codes(list_warnings(["🚜📦", "💪 42"], [0.3], [0.4], model_name="x-multilingual")) == [
        "text_unreadable"
    ]
    assert codes(list_warnings(["Fahrer"], [0.0, 0.005], [0.3, 0.2], model_name=MINILM)) == [
        "no_semantic_signal"
    ]
    tied = list_warnings(None, [None, None], [0.25, 0.25, 0.2502], model_name=MINILM)
    assert codes(tied) == ["scores_tied"]
    assert "3" in tied[0].render() and "0.250" in tied[0].render("zh")
    assert list_warnings(None, [], [0.3], model_name=MINILM) == []  # one item is no tie
