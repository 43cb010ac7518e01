"""Pairwise features of a (seeker, posting) pair, each in [0, 1] or None when unknown.

A feature is None when one side lacks the data to compare. The scorers treat None as 0: missing
data is never a match (a salary nobody stated does not "fit"). Protected attributes are not part
of `SeekerProfile`, so they cannot enter a feature.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass

from matching.normalise import OccupationSimilarity, soft_occupation_fit
from matching.profiles import (
    InferredSkill,
    Location,
    Occupation,
    PostingProfile,
    Salary,
    SeekerProfile,
    Skill,
)

FEATURE_NAMES: tuple[str, ...] = (
    "semantic",
    "lexical",
    "occupation",
    "required_skills",
    "preferred_skills",
    "distance",
    "salary",
    "employment_type",
    "experience",
    "education",
    "languages",
)

# Hours a period stands for, to compare salaries given per hour, day, week, month or year.
_HOURS_PER_PERIOD = {"HOUR": 1.0, "DAY": 8.0, "WEEK": 40.0, "MONTH": 173.33, "YEAR": 2080.0}
# A salary offer this far below what the seeker asks scores 0; between, it falls linearly.
_SALARY_TOLERANCE = 0.3
_EARTH_RADIUS_KM = 6371.0088
_WORD = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True, slots=True)
class SkillMatch:
    """Which of a posting's skills the seeker has; names are the posting's wording."""

    matched_required: tuple[str, ...]
    missing_required: tuple[str, ...]
    matched_preferred: tuple[str, ...]
    missing_preferred: tuple[str, ...]
    # The posting states no skills: "required" are the ones its text mentions (read by text
    # understanding), which explanations must not present as the employer's requirements.
    from_text: bool = False


@dataclass(frozen=True, slots=True)
class PairFeatures:
    values: dict[str, float | None]
    distance_km: float | None
    skills: SkillMatch


def haversine_km(a: Location, b: Location) -> float:
    """Great-circle distance in kilometres."""
    lat1, lon1, lat2, lon2 = map(math.radians, (a.lat, a.lon, b.lat, b.lon))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * _EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


# Skill labels repeat across thousands of postings (ESCO's preferred labels), so their
# normal forms are cached rather than recomputed for every pair scored.
@functools.lru_cache(maxsize=1 << 16)
def _normal_label(name: str) -> str:
    return " ".join(_WORD.findall(name.lower()))


def _stem(word: str) -> str:
    # A light suffix strip, enough for "operating"/"operate" or "forklifts"/"forklift".
    for suffix in ("ing", "ion", "es", "ed", "s", "e"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


@functools.lru_cache(maxsize=1 << 16)
def _tokens(name: str) -> frozenset[str]:
    return frozenset(_stem(w) for w in _WORD.findall(name.lower()) if len(w) > 2)


def _words_match(a: frozenset[str], b: frozenset[str], min_overlap: float) -> bool:
    """The word-overlap rule of skill matching (Jaccard of the stemmed words)."""
    return len(a & b) / len(a | b) >= min_overlap


def _skill_match(
    required: list[tuple[str, bool]], preferred: list[tuple[str, bool]], *, from_text: bool
) -> SkillMatch:
    """(name, matched) per required and preferred skill, split into matched and missing."""
    return SkillMatch(
        matched_required=tuple(n for n, ok in required if ok),
        missing_required=tuple(n for n, ok in required if not ok),
        matched_preferred=tuple(n for n, ok in preferred if ok),
        missing_preferred=tuple(n for n, ok in preferred if not ok),
        from_text=from_text,
    )


class SkillIndex:
    """A seeker's skills, indexed for matching by ESCO URI, exact label, or word overlap."""

    def __init__(self, skills: tuple[Skill, ...], *, min_overlap: float = 0.6) -> None:
        self.uris = {s.esco_uri for s in skills if s.esco_uri}
        self.labels = {_normal_label(s.name) for s in skills}
        self.token_sets = [t for t in (_tokens(s.name) for s in skills) if t]
        self.by_token: dict[str, list[frozenset[str]]] = {}  # only sets sharing a word can match
        for tokens in self.token_sets:
            for token in tokens:
                self.by_token.setdefault(token, []).append(tokens)
        self.min_overlap = min_overlap
        # One seeker meets the same skills in hundreds of postings: decide each once.
        self._seen: dict[Skill, bool] = {}

    def has(self, skill: Skill) -> bool:
        found = self._seen.get(skill)
        if found is None:
            found = self._seen[skill] = self._has(skill)
        return found

    def _has(self, skill: Skill) -> bool:
        if skill.esco_uri and skill.esco_uri in self.uris:
            return True
        if _normal_label(skill.name) in self.labels:
            return True
        wanted = _tokens(skill.name)
        if not wanted:
            return False
        for token in wanted:
            for have in self.by_token.get(token, ()):
                if _words_match(wanted, have, self.min_overlap):
                    return True
        return False


def _as_skills(inferred: tuple[InferredSkill, ...]) -> tuple[Skill, ...]:
    return tuple(Skill(s.name, s.esco_uri) for s in inferred if not s.implied)


def seeker_skills_of(seeker: SeekerProfile) -> tuple[Skill, ...]:
    """Stated skills, then the ones the seeker's text mentions (never the merely implied)."""
    return seeker.skills + _as_skills(seeker.inferred_skills)


def posting_skills_of(posting: PostingProfile) -> tuple[tuple[Skill, ...], tuple[Skill, ...]]:
    """(required, preferred): the stated ones; a posting that states none is taken to require
    the skills its own text mentions."""
    if _states_skills(posting):
        return posting.skills_required, posting.skills_preferred
    return _as_skills(posting.inferred_skills), ()


def _states_skills(posting: PostingProfile) -> bool:
    return bool(posting.skills_required or posting.skills_preferred)


class PostingSkillIndex:
    """One posting's skills, indexed to find which of them a seeker's skills cover.

    The same rule as `SkillIndex` (same ESCO URI, same label, or word overlap >= 0.6), applied
    from the posting's side; the rule is symmetric, so the result is the same. Ranking the
    seekers for one posting builds this once, instead of one `SkillIndex` per seeker, and each
    distinct seeker skill is looked up once per request.
    """

    def __init__(self, posting: PostingProfile, *, min_overlap: float = 0.6) -> None:
        self.required, self.preferred = posting_skills_of(posting)
        self.from_text = not _states_skills(posting)
        skills = self.required + self.preferred
        self.by_uri: dict[str, list[int]] = {}
        self.by_label: dict[str, list[int]] = {}
        self.by_token: dict[str, list[tuple[int, frozenset[str]]]] = {}
        for i, skill in enumerate(skills):
            if skill.esco_uri:
                self.by_uri.setdefault(skill.esco_uri, []).append(i)
            self.by_label.setdefault(_normal_label(skill.name), []).append(i)
            tokens = _tokens(skill.name)
            for token in tokens:
                self.by_token.setdefault(token, []).append((i, tokens))
        self.min_overlap = min_overlap
        self._covers: dict[Skill, frozenset[int]] = {}
        # The answer for a seeker with none of the skills (most candidates, for most postings).
        self._none_covered = _skill_match(
            [(s.name, False) for s in self.required],
            [(s.name, False) for s in self.preferred],
            from_text=self.from_text,
        )

    def covered(self, skill: Skill) -> frozenset[int]:
        """Positions (required, then preferred) of the posting's skills that `skill` covers."""
        hits = set(self.by_uri.get(skill.esco_uri, ())) if skill.esco_uri else set()
        hits.update(self.by_label.get(_normal_label(skill.name), ()))
        have = _tokens(skill.name)
        for token in have:
            for i, wanted in self.by_token.get(token, ()):
                if _words_match(wanted, have, self.min_overlap):
                    hits.add(i)
        return frozenset(hits)

    def match(self, seeker_skills: tuple[Skill, ...]) -> SkillMatch:
        """The same answer as `match_skills(SkillIndex(seeker_skills), posting)`."""
        covers = self._covers  # each distinct skill decided once per posting
        covered: set[int] = set()
        for skill in seeker_skills:
            found = covers.get(skill)
            if found is None:
                found = covers[skill] = self.covered(skill)
            if found:
                covered |= found
        if not covered:
            return self._none_covered
        n = len(self.required)
        return _skill_match(
            [(s.name, i in covered) for i, s in enumerate(self.required)],
            [(s.name, n + i in covered) for i, s in enumerate(self.preferred)],
            from_text=self.from_text,
        )


def seeker_skill_index(seeker: SeekerProfile) -> SkillIndex:
    return SkillIndex(seeker_skills_of(seeker))


def match_skills(seeker_skills: SkillIndex, posting: PostingProfile) -> SkillMatch:
    required, preferred = posting_skills_of(posting)
    return _skill_match(
        [(s.name, seeker_skills.has(s)) for s in required],
        [(s.name, seeker_skills.has(s)) for s in preferred],
        from_text=not _states_skills(posting),
    )


def _coverage(matched: tuple[str, ...], missing: tuple[str, ...]) -> float | None:
    total = len(matched) + len(missing)
    return len(matched) / total if total else None


def occupation_fit(desired: tuple[Occupation, ...], offered: Occupation | None) -> float | None:
    """1 for the same ESCO occupation, else by the longest shared ISCO-08 code prefix."""
    if offered is None or not desired:
        return None
    best: float | None = None
    for occ in desired:
        if occ.esco_uri and offered.esco_uri and occ.esco_uri == offered.esco_uri:
            return 1.0
        if occ.isco08 and offered.isco08:
            shared = 0
            for x, y in zip(occ.isco08, offered.isco08, strict=False):
                if x != y:
                    break
                shared += 1
            # unit group (4 digits) 0.8, minor group 0.5, sub-major 0.25, major 0.1
            fit = (0.0, 0.1, 0.25, 0.5, 0.8)[min(shared, 4)]
            best = fit if best is None else max(best, fit)
        elif _normal_label(occ.title) == _normal_label(offered.title):
            return 1.0
    return best


def occupation_match(
    seeker: SeekerProfile,
    posting: PostingProfile,
    similarity: OccupationSimilarity | None = None,
) -> float | None:
    """Occupation fit from stated codes when both sides state them (`occupation_fit`), else
    soft matching that lets inferred occupations stand in for a side that states none
    (`matching.normalise.soft_occupation_fit`: same occupation, same ISCO group, shared
    essential skills, weighted by confidence)."""
    stated = occupation_fit(seeker.desired_occupations, posting.occupation)
    if stated is not None:
        return stated
    return soft_occupation_fit(
        seeker.desired_occupations,
        seeker.inferred_occupations,
        () if posting.occupation is None else (posting.occupation,),
        posting.inferred_occupations,
        similarity,
    )


# The semantic factor is a logistic map of the embedding cosine: monotone and never flat, so
# scores do not tie the way a clipped band made them. Midpoint and slope were fitted by logistic
# regression of "same ISCO-08 unit group" on the cosine of seeker and posting texts, on the
# quality benchmark's tuning split (bench/quality, bench/README.md "Match quality"); the value
# reads as a probability that the two texts are about the same kind of work.
SEMANTIC_MIDPOINT = 0.64
SEMANTIC_SLOPE = 19.0


def semantic_fit(cosine: float) -> float:
    return 1.0 / (1.0 + math.exp(-SEMANTIC_SLOPE * (cosine - SEMANTIC_MIDPOINT)))


def distance_fit(distance_km: float | None, radius_km: float | None, remote: bool) -> float | None:
    """1 at the seeker's door, falling linearly to 0 at the edge of their radius; 1 if remote."""
    if remote:
        return 1.0
    if distance_km is None or radius_km is None or radius_km <= 0:
        return None
    return max(0.0, 1.0 - distance_km / radius_km)


def _hourly(amount: float, period: str) -> float | None:
    hours = _HOURS_PER_PERIOD.get(period.upper())
    return amount / hours if hours else None


def monthly_amount(amount: float, period: str) -> float | None:
    """A pay amount given per hour, day, week, month or year, expressed per month."""
    hourly = _hourly(amount, period)
    return None if hourly is None else hourly * _HOURS_PER_PERIOD["MONTH"]


def salary_fit(desired: Salary | None, offered: Salary | None) -> float | None:
    """1 when the offer's top reaches the seeker's minimum; linear to 0 at 30 % below it."""
    if desired is None or offered is None or desired.min is None:
        return None
    if desired.currency.upper() != offered.currency.upper():
        return None
    top = offered.max if offered.max is not None else offered.min
    if top is None:
        return None
    want = _hourly(desired.min, desired.period)
    have = _hourly(top, offered.period)
    if want is None or have is None or want <= 0:
        return None
    if have >= want:
        return 1.0
    shortfall = (want - have) / want
    return max(0.0, 1.0 - shortfall / _SALARY_TOLERANCE)


def employment_type_fit(wanted: tuple[str, ...], offered: tuple[str, ...]) -> float | None:
    if not wanted or not offered:
        return None
    return 1.0 if {w.upper() for w in wanted} & {o.upper() for o in offered} else 0.0


def experience_fit(years: float | None, minimum: float | None) -> float | None:
    if minimum is None or years is None:
        return None
    if minimum <= 0 or years >= minimum:
        return 1.0
    return max(0.0, years / minimum)


def education_fit(level: int | None, minimum: int | None) -> float | None:
    """ISCED levels; each level short of the minimum costs a third."""
    if minimum is None or level is None:
        return None
    if level >= minimum:
        return 1.0
    return max(0.0, 1.0 - (minimum - level) / 3.0)


def language_fit(spoken: tuple[str, ...], required: tuple[str, ...]) -> float | None:
    if not required or not spoken:
        return None
    have = {s.lower() for s in spoken}
    return sum(1 for r in required if r.lower() in have) / len(required)


def with_lexical(pair: PairFeatures, lexical: float | None) -> PairFeatures:
    """The same pair with its lexical relevance set (`pair_features`'s `lexical`); a new
    values dict, since scored pairs share theirs."""
    return PairFeatures({**pair.values, "lexical": lexical}, pair.distance_km, pair.skills)


def pair_features(
    seeker: SeekerProfile,
    posting: PostingProfile,
    *,
    cosine: float | None,
    seeker_skills: SkillIndex | None = None,
    posting_skills: PostingSkillIndex | None = None,
    radius_km: float | None = None,
    lexical: float | None = None,
    occupations: OccupationSimilarity | None = None,
) -> PairFeatures:
    """All features of one pair. `cosine` is the embedding similarity, None when not used;
    `lexical` the word-level relevance of the two texts (`matching.lexical.LexicalModel`),
    None when not computed; `occupations` the taxonomy-aware occupation similarity used when
    a side's occupation is inferred (ISCO codes alone without it).

    Skills are matched with whichever index the caller built once for many pairs: the
    seeker's (`seeker_skills`) or the posting's (`posting_skills`).
    `radius_km` overrides the seeker's own radius (when the radius was widened for this list).
    """
    if posting_skills is not None:
        skills = posting_skills.match(seeker_skills_of(seeker))
    else:
        index = seeker_skills if seeker_skills is not None else seeker_skill_index(seeker)
        skills = match_skills(index, posting)
    distance = (
        haversine_km(seeker.location, posting.job_location)
        if seeker.location is not None and posting.job_location is not None
        else None
    )
    radius = radius_km if radius_km is not None else seeker.max_distance_km
    values: dict[str, float | None] = {
        "semantic": None if cosine is None else semantic_fit(cosine),
        "lexical": lexical,
        "occupation": occupation_match(seeker, posting, occupations),
        "required_skills": _coverage(skills.matched_required, skills.missing_required),
        "preferred_skills": _coverage(skills.matched_preferred, skills.missing_preferred),
        "distance": distance_fit(distance, radius, posting.remote_allowed),
        "salary": salary_fit(seeker.desired_salary, posting.base_salary),
        "employment_type": employment_type_fit(seeker.employment_types, posting.employment_type),
        "experience": experience_fit(seeker.experience_years, posting.experience_years_min),
        "education": education_fit(seeker.education_level, posting.education_level_min),
        "languages": language_fit(seeker.languages, posting.languages_required),
    }
    return PairFeatures(values=values, distance_km=distance, skills=skills)
