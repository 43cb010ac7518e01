"""Candidates for a posting while automated ranking is stopped: nearest first, by distance
alone, whatever their skills or texts say."""

from __future__ import annotations

from matching.profiles import Location, PostingProfile, SeekerProfile, Skill
from matching.rank import non_personalised_candidates

POSTING = PostingProfile(
    title="Forklift driver",
    skills_required=(Skill("operate forklift"),),
    job_location=Location(51.95, 4.45),
)


def _seeker(lat: float | None, skills: tuple[str, ...] = ()) -> SeekerProfile:
    return SeekerProfile(
        headline="Forklift operator",
        skills=tuple(Skill(s) for s in skills),
        location=None if lat is None else Location(lat, 4.45),
        max_distance_km=40,
    )


def test_nearest_first_and_skills_do_not_count() -> None:
    seekers = [
        _seeker(52.20, ("operate forklift",)),  # ~28 km, has the skill
        _seeker(51.96),  # ~1 km, no skill
        _seeker(None, ("operate forklift",)),  # no location: unknown distance, not a fit
        _seeker(52.05),  # ~11 km
    ]
    ranked = non_personalised_candidates(POSTING, seekers)
    assert [p.candidate for p in ranked] == [1, 3, 0, 2]
    assert all(set(p.factors) == {"distance"} for p in ranked)
    assert ranked[-1].score == 0.0
    assert ranked[0].score > ranked[1].score > ranked[2].score > 0
    assert ranked[0].explanation["distance_km"] < 2
