"""Score and order candidates for one seeker or one posting.

Retrieval (which candidates to look at) is the caller's job; here candidates are scored by the
given scorer and ordered best first, ties broken by the caller's candidate order (nearest vector).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from matching.explain import explanation
from matching.features import PairFeatures, SkillIndex, pair_features
from matching.profiles import PostingProfile, SeekerProfile
from matching.score import Scorer, total


@dataclass(frozen=True, slots=True)
class ScoredPair:
    candidate: int  # index into the caller's candidate list
    score: float
    factors: dict[str, float]
    features: dict[str, float | None]
    explanation: dict[str, Any]


def _scored(
    index: int,
    pair: PairFeatures,
    scorer: Scorer,
    *,
    radius_km: float | None,
    remote: bool,
    language: str,
) -> ScoredPair:
    factors = scorer.contributions(pair.values)
    return ScoredPair(
        candidate=index,
        score=total(factors),
        factors=factors,
        features=dict(pair.values),
        explanation=explanation(pair, radius_km=radius_km, remote=remote, language=language),
    )


def _order(items: list[ScoredPair]) -> list[ScoredPair]:
    return sorted(items, key=lambda item: (-item.score, item.candidate))


def score_postings_for_seeker(
    seeker: SeekerProfile,
    postings: Sequence[PostingProfile],
    cosines: Sequence[float | None],
    scorer: Scorer,
    *,
    radius_km: float | None = None,
    language: str = "en",
) -> list[ScoredPair]:
    """All candidate postings scored for one seeker, best first."""
    index = SkillIndex(seeker.skills)
    radius = radius_km if radius_km is not None else seeker.max_distance_km
    items = [
        _scored(
            i,
            pair_features(seeker, p, cosine=c, seeker_skills=index, radius_km=radius),
            scorer,
            radius_km=radius,
            remote=p.remote_allowed,
            language=language,
        )
        for i, (p, c) in enumerate(zip(postings, cosines, strict=True))
    ]
    return _order(items)


def score_seekers_for_posting(
    posting: PostingProfile,
    seekers: Sequence[SeekerProfile],
    cosines: Sequence[float | None],
    scorer: Scorer,
    *,
    language: str = "en",
) -> list[ScoredPair]:
    """All candidate seekers scored for one posting, best first."""
    items = [
        _scored(
            i,
            pair_features(s, posting, cosine=c),
            scorer,
            radius_km=s.max_distance_km,
            remote=posting.remote_allowed,
            language=language,
        )
        for i, (s, c) in enumerate(zip(seekers, cosines, strict=True))
    ]
    return _order(items)
