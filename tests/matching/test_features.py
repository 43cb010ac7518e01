"""Pairwise features and the default scorer, without a database or the real model."""

from __future__ import annotations

import math

import pytest

from matching.embed import HashingEmbedder
from matching.features import (
    FEATURE_NAMES,
    SEMANTIC_MIDPOINT,
    SkillIndex,
    distance_fit,
    education_fit,
    employment_type_fit,
    experience_fit,
    haversine_km,
    language_fit,
    occupation_fit,
    pair_features,
    salary_fit,
    semantic_fit,
)
from matching.profiles import Location, Occupation, PostingProfile, Salary, SeekerProfile, Skill
from matching.rank import score_postings_for_seeker
from matching.score import DEFAULT_WEIGHTS, WeightedSumScorer, total
from matching.text import posting_text, seeker_text

ROTTERDAM = Location(51.9225, 4.4792)
UTRECHT = Location(52.0907, 5.1214)


def test_default_weights_cover_every_feature_and_sum_to_one() -> None:
    assert set(DEFAULT_WEIGHTS) == set(FEATURE_NAMES)
    assert math.isclose(sum(DEFAULT_WEIGHTS.values()), 1.0)


def test_haversine_matches_known_distance() -> None:
    # Rotterdam - Utrecht is about 48 km as the crow flies
    assert 45 < haversine_km(ROTTERDAM, UTRECHT) < 50
    assert haversine_km(ROTTERDAM, ROTTERDAM) == 0


def test_unknown_values_never_fit() -> None:
    assert salary_fit(None, Salary("EUR", "MONTH", 2000, 2500)) is None
    assert salary_fit(Salary("EUR", "MONTH", 2000), None) is None
    assert salary_fit(Salary("EUR", "MONTH", 2000), Salary("USD", "MONTH", 5000, 6000)) is None
    assert distance_fit(None, 20, remote=False) is None
    assert employment_type_fit((), ("FULL_TIME",)) is None
    assert experience_fit(None, 3) is None
    assert education_fit(None, 3) is None
    assert language_fit((), ("nl",)) is None
    assert occupation_fit((), Occupation("cook", "5120")) is None
    # an empty profile scores zero against anything: no "45 % match" for missing data
    empty = pair_features(SeekerProfile(), PostingProfile(title="Cook"), cosine=None)
    assert total(WeightedSumScorer().contributions(empty.values)) == 0


def test_salary_compares_across_periods() -> None:
    wanted = Salary("EUR", "MONTH", 2600)
    assert salary_fit(wanted, Salary("EUR", "HOUR", 14, 16)) == 1.0  # 16 × 173 ≈ 2773
    below = salary_fit(wanted, Salary("EUR", "HOUR", 12, 13))  # ≈ 2253: 13 % short
    assert below is not None and 0.4 < below < 0.7
    assert salary_fit(wanted, Salary("EUR", "MONTH", 1000, 1200)) == 0.0


def test_distance_fit_falls_to_zero_at_the_radius_and_remote_is_one() -> None:
    assert distance_fit(0, 20, remote=False) == 1.0
    assert distance_fit(10, 20, remote=False) == pytest.approx(0.5)
    assert distance_fit(25, 20, remote=False) == 0.0
    assert distance_fit(500, 20, remote=True) == 1.0


def test_occupation_fit_by_esco_uri_and_isco_prefix() -> None:
    cook = Occupation("cook", "5120", "http://data.europa.eu/esco/occupation/cook")
    assert occupation_fit((cook,), cook) == 1.0
    assert occupation_fit((Occupation("cook", "5120"),), Occupation("chef", "5120")) == 0.8
    assert occupation_fit((Occupation("cook", "5120"),), Occupation("waiter", "5131")) == 0.25
    assert occupation_fit((Occupation("cook", "5120"),), Occupation("welder", "7212")) == 0.0


def test_skill_matching_by_uri_label_and_wording() -> None:
    index = SkillIndex(
        (Skill("Operate forklifts"), Skill("x", "http://esco/skill/1"), Skill("stock control"))
    )
    assert index.has(Skill("operate forklift"))
    assert index.has(Skill("something else", "http://esco/skill/1"))
    assert index.has(Skill("Stock Control"))
    assert not index.has(Skill("weld metal"))


def test_requirement_fits() -> None:
    assert experience_fit(2, 4) == 0.5 and experience_fit(5, 4) == 1.0
    assert education_fit(2, 3) == pytest.approx(2 / 3) and education_fit(4, 3) == 1.0
    assert language_fit(("nl", "en"), ("nl", "de")) == 0.5
    assert employment_type_fit(("PART_TIME",), ("FULL_TIME",)) == 0.0
    assert (
        0.0 < semantic_fit(0.1) < semantic_fit(SEMANTIC_MIDPOINT) == 0.5 < semantic_fit(0.95) < 1.0
    )


def _seeker(**over: object) -> SeekerProfile:
    base: dict[str, object] = {
        "headline": "forklift operator",
        "skills": (Skill("operate forklift"), Skill("stock control")),
        "desired_occupations": (Occupation("forklift operator", "8344"),),
        "experience_years": 4,
        "location": ROTTERDAM,
        "max_distance_km": 30,
        "desired_salary": Salary("EUR", "MONTH", 2500),
        "employment_types": ("FULL_TIME",),
    }
    base.update(over)
    return SeekerProfile(**base)  # type: ignore[arg-type]


def _posting(title: str, **over: object) -> PostingProfile:
    base: dict[str, object] = {
        "title": title,
        "skills_required": (Skill("operate forklift"), Skill("load cargo")),
        "occupation": Occupation(title, "8344"),
        "job_location": Location(51.95, 4.45),
        "base_salary": Salary("EUR", "MONTH", 2400, 2800),
        "employment_type": ("FULL_TIME",),
    }
    base.update(over)
    return PostingProfile(**base)  # type: ignore[arg-type]


def test_ranking_prefers_the_better_fit_and_contributions_sum_to_score() -> None:
    embedder = HashingEmbedder()
    seeker = _seeker()
    good = _posting("forklift operator")
    far = _posting("forklift operator", job_location=UTRECHT)
    other = _posting(
        "cook", occupation=Occupation("cook", "5120"), skills_required=(Skill("cook"),)
    )
    postings = [other, far, good]
    vs = embedder.encode([seeker_text(seeker)])[0]
    vp = embedder.encode([posting_text(p) for p in postings])
    ranked = score_postings_for_seeker(
        seeker, postings, [float(v @ vs) for v in vp], WeightedSumScorer()
    )
    assert [r.candidate for r in ranked] == [2, 1, 0]
    for r in ranked:
        assert abs(sum(r.factors.values()) - r.score) < 1e-12
    top = ranked[0].explanation
    assert top["matched_required_skills"] == ["operate forklift"]
    assert top["missing_required_skills"] == ["load cargo"]


def test_features_first_lexical_later_ranks_as_all_at_once() -> None:
    """The seeker route computes the features while the full-text query runs and adds the
    lexical relevance afterwards; that must score exactly as giving it up front, and leave
    the pairs computed before untouched."""
    from matching.rank import score_seeker_pairs, seeker_pair_features

    embedder = HashingEmbedder()
    seeker = _seeker()
    postings = [
        _posting("forklift operator"),
        _posting("warehouse worker", occupation=Occupation("warehouse worker", "9333")),
        _posting("cook", occupation=Occupation("cook", "5120"), skills_required=(Skill("cook"),)),
    ]
    vs = embedder.encode([seeker_text(seeker)])[0]
    cosines = [float(v @ vs) for v in embedder.encode([posting_text(p) for p in postings])]
    lexicals = [0.1, 0.9, 0.0]  # the word match favours the second posting
    at_once = score_postings_for_seeker(
        seeker, postings, cosines, WeightedSumScorer(), lexicals=lexicals
    )
    pairs = seeker_pair_features(seeker, postings, cosines)
    later = score_seeker_pairs(seeker, postings, pairs, WeightedSumScorer(), lexicals=lexicals)
    assert [(r.candidate, r.score) for r in later] == [(r.candidate, r.score) for r in at_once]
    assert [r.features["lexical"] for r in sorted(later, key=lambda r: r.candidate)] == lexicals
    assert all(pair.values["lexical"] is None for pair in pairs)
    without = score_seeker_pairs(seeker, postings, pairs, WeightedSumScorer())
    assert sorted(r.score for r in without) != sorted(r.score for r in later)


def test_opted_out_text_leaves_out_free_text() -> None:
    seeker = _seeker(summary="I was ill for two years", headline="Back to work")
    assert "ill for" not in seeker_text(seeker, include_free_text=False)
    assert "ill for two years" in seeker_text(seeker)


def test_posting_side_skill_index_agrees_with_the_seeker_side() -> None:
    """Ranking seekers for a posting indexes the posting's skills instead of each seeker's; the
    matching rule is symmetric, so every pair must get the same skill match either way."""
    from matching.features import PostingSkillIndex, SkillIndex, match_skills
    from seed.generate import generate_postings, generate_seekers
    from service.records.convert import posting_profile, seeker_profile

    postings = [posting_profile(p) for p in generate_postings(40, seed=3)]
    seekers = [seeker_profile(s) for s in generate_seekers(60, seed=4)]
    # and a few hand-made edge cases: shared URI, same label in other words, word overlap
    forklift = Skill("operate forklift", "http://data.europa.eu/esco/skill/forklift")
    postings.append(
        PostingProfile(
            title="x",
            skills_required=(forklift, Skill("Load  CARGO"), Skill("heavy goods vehicle")),
            skills_preferred=(Skill("forklift operating"),),
        )
    )
    seekers.append(SeekerProfile(skills=(Skill("driving", forklift.esco_uri), Skill("load cargo"))))
    seekers.append(SeekerProfile(skills=(Skill("forklifts operate"),)))
    seekers.append(SeekerProfile(skills=()))
    matched = 0
    for posting in postings:
        index = PostingSkillIndex(posting)
        for seeker in seekers:
            expected = match_skills(SkillIndex(seeker.skills), posting)
            assert index.match(seeker.skills) == expected
            matched += len(expected.matched_required) + len(expected.matched_preferred)
    assert matched > 50  # the data exercises matches, not only misses
