"""Explanations: the factors that carry a score come first, in plain words, in both languages."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from matching.explain import (
    _FACTOR_WORDS,
    _TEMPLATES,
    explanation,
    factor_notes,
    inferred_skill_notes,
    pick_language,
)
from matching.features import FEATURE_NAMES, pair_features
from matching.profiles import (
    InferredSkill,
    Location,
    Occupation,
    PostingProfile,
    SeekerProfile,
    Skill,
)
from matching.score import DEFAULT_WEIGHTS, WeightedSumScorer

NAMES = [*DEFAULT_WEIGHTS, "baseline"]
contributions = st.dictionaries(
    st.sampled_from(NAMES), st.floats(-3, 3, allow_nan=False), min_size=1
)


@given(contributions, st.sampled_from(["en", "zh"]))
def test_the_largest_contribution_is_always_named_first(
    factors: dict[str, float], language: str
) -> None:
    notes = factor_notes(factors)
    real = {k: v for k, v in factors.items() if k != "baseline"}
    if not real or max(real.values()) <= 0:
        assert notes[0].code == "factor_none"
        return
    best = max(real.values())
    assert notes[0].code == "factor_strongest"
    assert real[notes[0].params["factor"]] == best
    named = [n.params["factor"] for n in notes if n.code in ("factor_strongest", "factor_also")]
    assert [real[n] for n in named] == sorted((real[n] for n in named), reverse=True)
    assert len(named) == min(3, sum(1 for v in real.values() if v > 0))
    rendered = notes[0].render(language)
    assert "{" not in rendered and rendered
    if len(real) > len(named):
        assert notes[-1].code == "factor_weakest"
        assert real[notes[-1].params["factor"]] == min(real.values())


def test_the_nurse_reads_why_the_model_ranked_the_job_first() -> None:
    """The case of the issue: semantic and occupation carry the score while no required skill
    matches; the notes say so first, before the missing skills."""
    seeker = SeekerProfile(
        headline="Registered nurse",
        skills=(Skill("patient care"),),
        desired_occupations=(Occupation("nurse", "2221"),),
        location=Location(52.09, 5.12),
    )
    posting = PostingProfile(
        title="Ward nurse",
        occupation=Occupation("nurse", "2221"),
        skills_required=tuple(Skill(f"skill {i}") for i in range(7)),
        job_location=Location(52.10, 5.13),
    )
    pair = pair_features(seeker, posting, cosine=0.7, radius_km=30)
    factors = WeightedSumScorer().contributions(pair.values)
    for language, phrase in (
        ("en", "your profile text is close to this job's description"),
        ("zh", "您的简历文本与该职位描述相近"),
    ):
        block = explanation(pair, radius_km=30, remote=False, language=language, factors=factors)
        first_two = [c["params"]["factor"] for c in block["note_codes"][:2]]
        assert sorted(first_two) == ["occupation", "semantic"], block["notes"]
        assert first_two[0] == max(("occupation", "semantic"), key=lambda f: factors[f])
        assert any(phrase in n for n in block["notes"][:2]), block["notes"]
        assert any(c["code"] == "factor_weakest" for c in block["note_codes"])


def test_every_note_has_both_languages() -> None:
    assert set(_TEMPLATES["en"]) == set(_TEMPLATES["zh"])


def test_accept_language_q_values_decide() -> None:
    assert pick_language("zh;q=0.3, en") == "en"
    assert pick_language("en;q=0.2, zh;q=0.8") == "zh"
    assert pick_language("en;q=0, *") == "zh"
    assert pick_language("zh-CN,zh;q=0.9,en;q=0.8") == "zh"
    assert pick_language("fr") == "en"
    assert pick_language("zh;q=oops") == "en"


def test_skills_read_from_free_text_are_named_with_their_words() -> None:
    """A posting that lists no skills is matched on the skills read from its ad, and a seeker
    on skills read from the profile: the explanation says which, and from which words, while a
    stated skill is never reported as read."""
    seeker = SeekerProfile(
        summary="I drove forklifts and kept the stock records for six years.",
        skills=(Skill("stock control"),),
        inferred_skills=(
            InferredSkill(
                "esco:forklift", "operate forklift", 0.8, "summary", quote="drove forklifts"
            ),
            InferredSkill("esco:stock", "stock control", 0.7, "summary", quote="stock records"),
            InferredSkill("esco:lift", "operate lift", 0.2, "occupation", implied=True),
        ),
    )
    posting = PostingProfile(
        title="Warehouse operative",
        description="You operate a forklift and keep stock control in our depot.",
        inferred_skills=(
            InferredSkill(
                "esco:forklift", "operate forklift", 0.9, "description", quote="operate a forklift"
            ),
            InferredSkill("esco:stock", "stock control", 0.9, "description", quote="stock control"),
        ),
    )
    pair = pair_features(seeker, posting, cosine=0.6, radius_km=None)
    assert pair.skills.matched_required == ("operate forklift", "stock control")
    notes = {n.code: n.params for n in inferred_skill_notes(seeker, posting, pair.skills)}
    assert notes["skills_inferred_posting"] == {
        "skills": "operate forklift, stock control",
        "span": "operate a forklift",
    }
    # stock control is stated by the seeker, so only the forklift skill was read
    assert notes["skills_inferred_seeker"] == {
        "skills": "operate forklift",
        "span": "drove forklifts",
    }

    stating = PostingProfile(title="Driver", skills_required=(Skill("operate forklift"),))
    pair = pair_features(seeker, stating, cosine=0.6, radius_km=None)
    codes = [n.code for n in inferred_skill_notes(seeker, stating, pair.skills)]
    assert codes == ["skills_inferred_seeker"]


def test_skills_read_from_an_ads_text_are_not_called_its_requirements() -> None:
    """An ad that states no skills is matched on the skills its text mentions; the notes say
    "mentioned in the job ad", never that the employer requires them."""
    seeker = SeekerProfile(headline="Order picker", skills=(Skill("operate forklift"),))
    read = (
        InferredSkill("esco:forklift", "operate forklift", 0.95, "text", quote="forklift"),
        InferredSkill("esco:packaging", "packaging engineering", 0.7, "text", quote="packing"),
    )
    from_text = PostingProfile(title="Warehouse operative", inferred_skills=read)
    stated = PostingProfile(
        title="Warehouse operative",
        skills_required=(Skill("operate forklift"), Skill("packaging engineering")),
        inferred_skills=read,
    )
    for posting, phrases in (
        (
            from_text,
            (
                "Has 1 of the 2 skills the job ad's text mentions.",
                "Mentioned in the job ad, not in the profile: packaging engineering.",
            ),
        ),
        (
            stated,
            ("Has 1 of the 2 required skills.", "Missing required skills: packaging engineering."),
        ),
    ):
        pair = pair_features(seeker, posting, cosine=0.6, radius_km=None)
        assert pair.skills.missing_required == ("packaging engineering",)  # scored alike
        block = explanation(pair, radius_km=None, remote=False, language="en", factors={})
        for phrase in phrases:
            assert phrase in block["notes"], block["notes"]
        if posting is from_text:
            assert not any("required skills" in n for n in block["notes"]), block["notes"]
        zh = explanation(pair, radius_km=None, remote=False, language="zh", factors={})
        assert all("{" not in n for n in zh["notes"])


def test_every_scoring_factor_is_said_in_plain_words_in_every_language() -> None:
    """A factor without words was shown by its internal name ("Also counts: lexical")."""
    for language, words in _FACTOR_WORDS.items():
        missing = [name for name in FEATURE_NAMES if name not in words]
        assert not missing, (language, missing)
