"""What makes a list's order unreliable (text the model cannot read, no semantic signal, tied
scores), said in every item's explanation and as the list's `warnings`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from matching.profiles import PostingProfile, SeekerProfile
from matching.rank import (
    ScoredPair,
)
from matching.readability import list_warnings


def seeker_texts(seeker: SeekerProfile) -> list[str]:
    """What a seeker wrote (not the canonical text's English connecting words)."""
    return [
        seeker.headline or "",
        seeker.summary or "",
        *(s.name for s in seeker.skills),
        *(o.title for o in seeker.desired_occupations),
    ]


def posting_texts(posting: PostingProfile) -> list[str]:
    return [
        posting.title,
        posting.description or "",
        *(s.name for s in (*posting.skills_required, *posting.skills_preferred)),
    ]


def warned_explanations(
    ranked: list[ScoredPair],
    limit: int,
    *,
    texts: list[str] | None,
    model: str,
    language: str,
    top: list[ScoredPair] | None = None,
) -> Callable[[ScoredPair], dict[str, Any]]:
    """Each item's explanation, with what makes the list's order unreliable (the same for every
    item; the list shows it as `warnings`): said in the notes too."""
    shown = top if top is not None else ranked[:limit]
    found = list_warnings(
        texts,
        [p.features.get("semantic") for p in ranked],
        [p.score for p in shown],
        model_name=model,
    )
    if not found:
        return lambda p: p.explanation
    block = [w.as_json(language) for w in found]

    def explained(p: ScoredPair) -> dict[str, Any]:
        e = p.explanation
        return {**e, "notes": [*e["notes"], *(w["message"] for w in block)], "warnings": block}

    return explained
