"""Plain data the matching module works on: seekers and postings, free of web or database types."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple


class Skill(NamedTuple):
    """A named tuple, not a dataclass: skills are dictionary keys for every pair scored
    (features.SkillIndex, PostingSkillIndex), and a tuple hashes in C, a dataclass in Python."""

    name: str
    esco_uri: str | None = None


@dataclass(frozen=True, slots=True)
class Occupation:
    title: str
    isco08: str | None = None
    esco_uri: str | None = None


@dataclass(frozen=True, slots=True)
class InferredOccupation:
    """An ESCO occupation inferred from free text, never a stated one (`matching.normalise`).

    `confidence` is the normaliser's probability that this is the occupation meant (0-1);
    `source` is the field it was read from ("title" or "text") and `span` the words there that
    gave it, so an explanation can say "inferred from your profile: ...".
    """

    esco_uri: str
    title: str
    isco08: str | None
    confidence: float
    source: str
    span: str


@dataclass(frozen=True, slots=True)
class InferredSkill:
    """An ESCO skill found in free text (`implied` False, with the characters it came from) or
    implied by an inferred occupation (`implied` True, no span, lower confidence)."""

    esco_uri: str
    name: str
    confidence: float
    source: str
    span: tuple[int, int] | None = None
    implied: bool = False
    quote: str = ""  # the words it was read from, as stored, for explanations


@dataclass(frozen=True, slots=True)
class Location:
    lat: float
    lon: float
    city: str | None = None
    region: str | None = None


@dataclass(frozen=True, slots=True)
class Salary:
    currency: str
    period: str
    min: float | None = None
    max: float | None = None


@dataclass(frozen=True, slots=True)
class SeekerProfile:
    """What matching may know about a seeker. Protected attributes are deliberately absent."""

    headline: str | None = None
    summary: str | None = None
    skills: tuple[Skill, ...] = ()
    desired_occupations: tuple[Occupation, ...] = ()
    experience_years: float | None = None
    education_level: int | None = None
    languages: tuple[str, ...] = ()
    location: Location | None = None
    max_distance_km: float | None = None
    desired_salary: Salary | None = None
    employment_types: tuple[str, ...] = ()
    # Read from the free text by matching.normalise; stated fields above are never overwritten.
    inferred_occupations: tuple[InferredOccupation, ...] = ()
    inferred_skills: tuple[InferredSkill, ...] = ()


@dataclass(frozen=True, slots=True)
class PostingProfile:
    title: str
    description: str | None = None
    occupation: Occupation | None = None
    skills_required: tuple[Skill, ...] = ()
    skills_preferred: tuple[Skill, ...] = ()
    experience_years_min: float | None = None
    education_level_min: int | None = None
    languages_required: tuple[str, ...] = ()
    employment_type: tuple[str, ...] = ()
    base_salary: Salary | None = None
    job_location: Location | None = None
    remote_allowed: bool = False
    date_posted: datetime | None = None
    valid_through: datetime | None = None
    hiring_organization: str | None = None
    inferred_occupations: tuple[InferredOccupation, ...] = ()
    inferred_skills: tuple[InferredSkill, ...] = ()
    openings: int = 1  # people hired for it: its capacity
