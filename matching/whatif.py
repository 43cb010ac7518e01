""" "What would change the result": small, concrete changes to a seeker's profile.

Three kinds of change are tried, cheapest first: adding one missing required skill, widening the
search radius to reach the posting, accepting another employment type. The caller re-scores
each variant (re-embedding it where the canonical text changes) and keeps those that reach the
target. Only the seeker's own circumstances change; protected attributes play no part.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from matching.features import (
    haversine_km,
    match_skills,
    posting_skills_of,
    seeker_skill_index,
)
from matching.profiles import PostingProfile, SeekerProfile, Skill


@dataclass(frozen=True, slots=True)
class Change:
    kind: str  # add_skill | widen_radius | accept_employment_type
    value: Any
    cost: float  # for ordering: smaller is an easier change
    seeker: SeekerProfile  # the profile with the change applied
    text_changes: bool  # whether the canonical text (and so the embedding) changes

    def describe(self) -> dict[str, Any]:
        return {"type": self.kind, "value": self.value}


def _add_skill(seeker: SeekerProfile, skill: Skill) -> Change:
    return Change(
        "add_skill",
        skill.name,
        1.0,
        dataclasses.replace(seeker, skills=(*seeker.skills, skill)),
        text_changes=True,
    )


def _widen_to(seeker: SeekerProfile, km: float) -> Change:
    current = seeker.max_distance_km or 0.0
    # cost grows with the extra distance: 20 km more costs about as much as one skill
    return Change(
        "widen_radius",
        km,
        (km - current) / 20.0,
        dataclasses.replace(seeker, max_distance_km=km),
        text_changes=False,
    )


def _accept(seeker: SeekerProfile, employment_type: str) -> Change:
    return Change(
        "accept_employment_type",
        employment_type,
        1.0,
        dataclasses.replace(seeker, employment_types=(*seeker.employment_types, employment_type)),
        text_changes=False,
    )


def changes_for_posting(seeker: SeekerProfile, posting: PostingProfile) -> list[Change]:
    """Changes that could raise this seeker's score for this one posting. Skills as scoring
    reads them: the posting's stated ones (or those its text mentions, if it states none), the
    seeker's stated ones and those their text mentions."""
    required, _ = posting_skills_of(posting)
    missing = set(match_skills(seeker_skill_index(seeker), posting).missing_required)
    out = [_add_skill(seeker, s) for s in required if s.name in missing]
    if (
        not posting.remote_allowed
        and seeker.location is not None
        and posting.job_location is not None
    ):
        distance = haversine_km(seeker.location, posting.job_location)
        radius = seeker.max_distance_km or 0.0
        # distance fit falls to 0 at the radius: reach it with room to spare, in 5 km steps
        target = math.ceil(max(distance * 2, radius + 5) / 5) * 5
        if target > radius:
            out.append(_widen_to(seeker, float(target)))
    wanted = {e.upper() for e in seeker.employment_types}
    # accepting another type helps only when none of the posting's types is wanted already
    if wanted and not any(e.upper() in wanted for e in posting.employment_type):
        out += [_accept(seeker, e) for e in posting.employment_type]
    return sorted(out, key=lambda c: c.cost)


def changes_for_seeker(
    seeker: SeekerProfile,
    postings: Sequence[PostingProfile],
    *,
    radius_step_km: float = 20.0,
    max_skills: int = 3,
) -> list[Change]:
    """Changes that could bring more postings into a seeker's list: the required skills most
    often missing among the given postings, one radius step, other employment types offered."""
    index = seeker_skill_index(seeker)
    missing: Counter[str] = Counter()
    by_name: dict[str, Skill] = {}
    offered: Counter[str] = Counter()
    for posting in postings:
        # a posting that states no skills is matched on those its text mentions
        required = {s.name: s for s in posting_skills_of(posting)[0]}
        for name in match_skills(index, posting).missing_required:
            missing[name] += 1
            by_name.setdefault(name, required[name])
        offered.update(e.upper() for e in posting.employment_type)
    out = [_add_skill(seeker, by_name[name]) for name, _ in missing.most_common(max_skills)]
    if seeker.location is not None:
        out.append(_widen_to(seeker, (seeker.max_distance_km or 0.0) + radius_step_km))
    wanted = {e.upper() for e in seeker.employment_types}
    if wanted:
        out += [_accept(seeker, e) for e, _ in offered.most_common() if e not in wanted]
    return sorted(out, key=lambda c: c.cost)
