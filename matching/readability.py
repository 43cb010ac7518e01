"""When a list is not a ranking: text the embedding model cannot read, no semantic signal, ties.

An English model (all-MiniLM-L6-v2) embeds a profile in Chinese near nothing it knows, and no
model reads a profile made of emoji only: every posting's semantic similarity is noise or falls
below the floor, and the list's order is whatever broke the ties. These checks say so instead of
presenting that order as a ranking. They look only at the texts and the scores, so they hold
whatever model or text normalisation produced them.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

# A text is readable by a Latin-script model when at least this share of its letters is Latin.
MIN_LATIN_SHARE = 0.5
# Semantic fits (0..1) all at or below this: the model saw no similarity in any candidate.
SEMANTIC_SIGNAL_MIN = 0.01
# Scores closer than this are the same score (they are shown with three decimals).
SAME_SCORE = 5e-4
# Sentence-transformers models whose names say they read many languages.
_MULTILINGUAL_HINTS = ("multilingual", "labse", "xlm", "bge-m3")

_TEMPLATES: dict[str, dict[str, str]] = {
    "en": {
        "text_unreadable": "The profile text is mostly not in Latin script (or has no words), "
        "which the matching model ({model}) cannot read: text similarity did not count, and "
        "this order says little.",
        "no_semantic_signal": "The matching model found no similarity between this text and "
        "any candidate: the order rests on the other factors only.",
        "scores_tied": "All {n} results have the same score ({score:.3f}): their order is "
        "arbitrary, not a ranking.",
    },
    "zh": {
        "text_unreadable": "档案文本大多不是拉丁字母（或没有文字），匹配模型（{model}）无法读取："
        "文本相似度未计入，此排序参考意义不大。",
        "no_semantic_signal": "匹配模型未发现此文本与任何候选项之间的相似性：排序仅依据其他因素。",
        "scores_tied": "全部 {n} 个结果得分相同（{score:.3f}）：其顺序是任意的，并非排名。",
    },
}


@dataclass(frozen=True, slots=True)
class ListWarning:
    code: str
    params: dict[str, Any]

    def render(self, language: str = "en") -> str:
        return _TEMPLATES.get(language, _TEMPLATES["en"])[self.code].format(**self.params)

    def as_json(self, language: str = "en") -> dict[str, Any]:
        return {"code": self.code, "message": self.render(language)}


def reads_any_script(model_name: str) -> bool:
    name = model_name.lower()
    return any(hint in name for hint in _MULTILINGUAL_HINTS)


def has_letters(texts: Sequence[str]) -> bool:
    """Whether any text holds a letter of any script (emoji, digits and marks are not words)."""
    return any(unicodedata.category(ch).startswith("L") for text in texts for ch in text)


def latin_share(texts: Sequence[str]) -> float:
    """The share of letters (Unicode category L*) that are Latin; 0 when there are none."""
    letters = latin = 0
    for text in texts:
        for ch in text:
            if unicodedata.category(ch).startswith("L"):
                letters += 1
                if ord(ch) < 0x250 or "LATIN" in unicodedata.name(ch, ""):
                    latin += 1
    return latin / letters if letters else 0.0


def list_warnings(
    texts: Sequence[str] | None,
    semantic: Sequence[float | None],
    scores: Sequence[float],
    *,
    model_name: str,
) -> list[ListWarning]:
    """What makes a list's order unreliable, most fundamental first.

    `texts`: what the query side wrote (a seeker's headline, summary, skills, occupations, or
    a posting's), None when the model did not read it (a non-personalised list);
    `semantic`: each scored candidate's semantic fit (None when not used);
    `scores`: the listed items' scores, best first.
    """
    found: list[ListWarning] = []
    if texts is not None and (
        not has_letters(texts)
        or (not reads_any_script(model_name) and latin_share(texts) < MIN_LATIN_SHARE)
    ):
        found.append(ListWarning("text_unreadable", {"model": model_name}))
    used = [s for s in semantic if s is not None]
    if used and max(used) <= SEMANTIC_SIGNAL_MIN and not found:
        found.append(ListWarning("no_semantic_signal", {}))
    if len(scores) > 1 and max(scores) - min(scores) < SAME_SCORE:
        found.append(ListWarning("scores_tied", {"n": len(scores), "score": scores[0]}))
    return found
