"""Score and order candidates for one seeker or one posting.

Retrieval (which candidates to look at) is the caller's job; here candidates are scored by the
given scorer and ordered best first, ties broken by the caller's candidate order (nearest vector).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from matching.explain import (
    Note,
    explanation,
    inferred_occupation_notes,
    inferred_skill_notes,
)
from matching.features import (
    PairFeatures,
    PostingSkillIndex,
    SkillIndex,
    distance_fit,
    pair_features,
    seeker_skill_index,
    with_lexical,
)
from matching.normalise import OccupationSimilarity
from matching.profiles import PostingProfile, SeekerProfile
from matching.score import Scorer, total


@dataclass(frozen=True)
class ScoredPair:
    candidate: int  # index into the caller's candidate list
    score: float
    factors: dict[str, float]
    features: dict[str, float | None]
    pair: PairFeatures = field(repr=False)
    radius_km: float | None
    remote: bool
    language: str
    # the two sides, to say what was read from their free text
    seeker: SeekerProfile | None = field(default=None, repr=False)
    posting: PostingProfile | None = field(default=None, repr=False)

    @cached_property
    def explanation(self) -> dict[str, Any]:
        """Rendered on first use: a list shows only its top items, out of hundreds scored."""
        inferred: tuple[Note, ...] = ()
        if self.seeker is not None and self.posting is not None:
            inferred = inferred_occupation_notes(self.seeker, self.posting)
            inferred += inferred_skill_notes(self.seeker, self.posting, self.pair.skills)
        return explanation(
            self.pair,
            radius_km=self.radius_km,
            remote=self.remote,
            language=self.language,
            factors=self.factors,
            inferred=inferred,
        )


def unit_score(scorer: Scorer, raw: float) -> float:
    """A score on the one scale every list shows, 0 to 1. The default weighted sum is on it
    already; a learned model with a logistic link (``link = "logit"``) scores log-odds, which
    go through the logistic function: its modelled chance of a good outcome. The mapping is
    increasing, so the order is the scorer's own; the factors stay in the scorer's units and
    sum to ``raw``."""
    if getattr(scorer, "link", None) != "logit":
        return raw
    if raw >= 0:
        return 1.0 / (1.0 + math.exp(-raw))
    e = math.exp(raw)
    return e / (1.0 + e)


def _scored(
    index: int,
    pair: PairFeatures,
    scorer: Scorer,
    *,
    radius_km: float | None,
    remote: bool,
    language: str,
    seeker: SeekerProfile | None = None,
    posting: PostingProfile | None = None,
) -> ScoredPair:
    factors = scorer.contributions(pair.values)
    return ScoredPair(
        candidate=index,
        score=unit_score(scorer, total(factors)),
        factors=factors,
        features=pair.values,  # shared, never changed after pair_features built it
        pair=pair,
        radius_km=radius_km,
        remote=remote,
        language=language,
        seeker=seeker,
        posting=posting,
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
    lexicals: Sequence[float | None] | None = None,
    occupations: OccupationSimilarity | None = None,
) -> list[ScoredPair]:
    """All candidate postings scored for one seeker, best first. `lexicals`, when given, is
    the lexical relevance of each posting (aligned with `postings`); `occupations` the
    taxonomy-aware similarity for inferred occupations."""
    pairs = seeker_pair_features(
        seeker, postings, cosines, radius_km=radius_km, occupations=occupations
    )
    return score_seeker_pairs(
        seeker,
        postings,
        pairs,
        scorer,
        radius_km=radius_km,
        language=language,
        lexicals=lexicals,
    )


def seeker_pair_features(
    seeker: SeekerProfile,
    postings: Sequence[PostingProfile],
    cosines: Sequence[float | None],
    *,
    radius_km: float | None = None,
    occupations: OccupationSimilarity | None = None,
) -> list[PairFeatures]:
    """The features of one seeker with each posting, the lexical relevance left out: the
    caller may compute these while the lexical relevance is still being read, then give it
    to `score_seeker_pairs`."""
    index = seeker_skill_index(seeker)
    radius = radius_km if radius_km is not None else seeker.max_distance_km
    return [
        pair_features(
            seeker,
            p,
            cosine=c,
            seeker_skills=index,
            radius_km=radius,
            occupations=occupations,
        )
        for p, c in zip(postings, cosines, strict=True)
    ]


def score_seeker_pairs(
    seeker: SeekerProfile,
    postings: Sequence[PostingProfile],
    pairs: Sequence[PairFeatures],
    scorer: Scorer,
    *,
    radius_km: float | None = None,
    language: str = "en",
    lexicals: Sequence[float | None] | None = None,
) -> list[ScoredPair]:
    """The pairs of `seeker_pair_features` (aligned with `postings`) scored, best first, with
    each posting's lexical relevance from `lexicals` when given."""
    radius = radius_km if radius_km is not None else seeker.max_distance_km
    if lexicals is not None:
        pairs = [with_lexical(pair, x) for pair, x in zip(pairs, lexicals, strict=True)]
    items = [
        _scored(
            i,
            pair,
            scorer,
            radius_km=radius,
            remote=p.remote_allowed,
            language=language,
            seeker=seeker,
            posting=p,
        )
        for i, (p, pair) in enumerate(zip(postings, pairs, strict=True))
    ]
    return _order(items)


def score_seekers_for_posting(
    posting: PostingProfile,
    seekers: Sequence[SeekerProfile],
    cosines: Sequence[float | None],
    scorer: Scorer,
    *,
    default_radius_km: float | None = None,
    language: str = "en",
    lexicals: Sequence[float | None] | None = None,
    occupations: OccupationSimilarity | None = None,
) -> list[ScoredPair]:
    """All candidate seekers scored for one posting, best first; seekers who state no radius
    get `default_radius_km` (the same radius the retrieval filter assumed). `lexicals` and
    `occupations` as for `score_postings_for_seeker`."""
    index = PostingSkillIndex(posting)
    lex = [None] * len(seekers) if lexicals is None else lexicals
    items = [
        _scored(
            i,
            pair_features(
                s,
                posting,
                cosine=c,
                posting_skills=index,
                radius_km=s.max_distance_km or default_radius_km,
                lexical=x,
                occupations=occupations,
            ),
            scorer,
            radius_km=s.max_distance_km or default_radius_km,
            remote=posting.remote_allowed,
            language=language,
            seeker=s,
            posting=posting,
        )
        for i, (s, c, x) in enumerate(zip(seekers, cosines, lex, strict=True))
    ]
    return _order(items)


NON_PERSONALISED_VERSION = "non-personalised-v1"
# The documented order for seekers who opted out of profiling (PIPL Art. 24): after the hard
# filters, nearer and newer postings first. No embedding, no learned weights, nothing inferred.
NON_PERSONALISED_WEIGHTS = {"distance": 0.7, "recency": 0.3}
RECENCY_DAYS = 60.0


def recency_fit(posted: datetime | None, now: datetime) -> float | None:
    """1 for a posting published today, falling linearly to 0 after 60 days."""
    if posted is None:
        return None
    age_days = (now - posted).total_seconds() / 86400
    return min(1.0, max(0.0, 1.0 - age_days / RECENCY_DAYS))


def non_personalised_order(
    seeker: SeekerProfile,
    postings: Sequence[PostingProfile],
    *,
    radius_km: float | None,
    now: datetime,
    language: str = "en",
) -> list[ScoredPair]:
    """Postings for a seeker who opted out: 0.7 × distance fit + 0.3 × recency. Nothing
    inferred from their text is used (stated skills only)."""
    index = SkillIndex(seeker.skills)
    items = []
    for i, posting in enumerate(postings):
        pair = pair_features(seeker, posting, cosine=None, seeker_skills=index, radius_km=radius_km)
        values: dict[str, float | None] = {
            "distance": distance_fit(pair.distance_km, radius_km, posting.remote_allowed),
            "recency": recency_fit(posting.date_posted, now),
        }
        factors = {k: w * (values[k] or 0.0) for k, w in NON_PERSONALISED_WEIGHTS.items()}
        items.append(
            ScoredPair(
                candidate=i,
                score=total(factors),
                factors=factors,
                features=values,
                pair=pair,
                radius_km=radius_km,
                remote=posting.remote_allowed,
                language=language,
            )
        )
    return _order(items)


def non_personalised_candidates(
    posting: PostingProfile,
    seekers: Sequence[SeekerProfile],
    *,
    default_radius_km: float | None = None,
    language: str = "en",
) -> list[ScoredPair]:
    """Seekers for a posting while automated ranking is stopped for it (EU AI Act Art. 14(4)(e),
    human oversight): nearest first, by distance fit alone. No embedding, no learned weights,
    nothing inferred; stated skills are still shown in the explanation."""
    items = []
    for i, seeker in enumerate(seekers):
        radius = seeker.max_distance_km or default_radius_km
        pair = pair_features(seeker, posting, cosine=None, radius_km=radius)
        values: dict[str, float | None] = {
            "distance": distance_fit(pair.distance_km, radius, posting.remote_allowed)
        }
        factors = {"distance": values["distance"] or 0.0}
        items.append(
            ScoredPair(
                candidate=i,
                score=total(factors),
                factors=factors,
                features=values,
                pair=pair,
                radius_km=radius,
                remote=posting.remote_allowed,
                language=language,
            )
        )
    return _order(items)
