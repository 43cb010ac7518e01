"""Between API bodies (validated by the records schemas) and matching's plain dataclasses."""

from __future__ import annotations

import functools
import html
import re
import sys
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any

from matching.explain import QUOTED_CHARACTERS
from matching.fairness.policy import FairnessPolicy
from matching.profiles import (
    InferredOccupation,
    InferredSkill,
    Location,
    Occupation,
    PostingProfile,
    Salary,
    SeekerProfile,
    Skill,
)
from service.records.geocode import geocode
from service.records.repository import NewRecord
from service.records.schemas import PostingIn, SeekerIn


def _shared(text: str | None) -> str | None:
    """One copy of a short text that recurs across profiles (a city, a currency, a contract
    type): converted postings stay in memory by the hundred thousand (service/profile_cache)."""
    return None if text is None else sys.intern(text)


def _loc(d: dict[str, Any] | None) -> Location | None:
    if not d or d.get("lat") is None or d.get("lon") is None:
        return None  # an address the gazetteer did not know: distance unknown
    return Location(d["lat"], d["lon"], _shared(d.get("city")), _shared(d.get("region")))


def _sal(d: dict[str, Any] | None) -> Salary | None:
    if not d:
        return None
    return Salary(sys.intern(d["currency"]), sys.intern(d["period"]), d.get("min"), d.get("max"))


# Skills are immutable and the same few thousand ESCO skills recur in every profile: share one
# object per skill instead of building hundreds per match request.
_skill = functools.lru_cache(maxsize=1 << 16)(Skill)


# Likewise a skill read from text: the same skill, read from the same words with the same
# confidence, recurs in posting after posting (a tenth as many distinct ones as mentions).
_inferred_skill = functools.lru_cache(maxsize=1 << 16)(InferredSkill)


def _skills(items: list[dict[str, Any]] | None) -> tuple[Skill, ...]:
    return tuple(_skill(s["name"], s.get("esco_uri")) for s in items or ())


def _occ(d: dict[str, Any] | None) -> Occupation | None:
    if not d:
        return None
    return Occupation(sys.intern(d["title"]), _shared(d.get("isco08")), _shared(d.get("esco_uri")))


def _inferred(
    block: dict[str, Any] | None,
) -> tuple[tuple[InferredOccupation, ...], tuple[InferredSkill, ...]]:
    """The stored `inferred` block (records.schemas.Inferred) as matching's dataclasses."""
    if not block:
        return (), ()
    occupations = tuple(
        InferredOccupation(
            _shared(o["esco_uri"]) or "",
            sys.intern(o["title"]),
            _shared(o.get("isco08")),
            float(o["confidence"]),
            sys.intern(o.get("source") or "text"),
            # only the words an explanation quotes: converted postings are kept by the 100k
            (o.get("span") or "")[:QUOTED_CHARACTERS],
        )
        for o in block.get("occupations") or ()
    )
    skills = tuple(
        _inferred_skill(
            _shared(s["esco_uri"]) or "",
            sys.intern(s["name"]),
            float(s["confidence"]),
            sys.intern(s.get("source") or "text"),
            quote=(s.get("span") or "")[:QUOTED_CHARACTERS],
        )
        for s in block.get("skills") or ()
    )
    return occupations, skills


def seeker_profile(p: dict[str, Any]) -> SeekerProfile:
    """A stored seeker profile as matching sees it (no protected attributes exist here)."""
    occupations, skills = _inferred(p.get("inferred"))
    return SeekerProfile(
        headline=p.get("headline"),
        summary=p.get("summary"),
        skills=_skills(p.get("skills")),
        desired_occupations=tuple(
            o for o in (_occ(x) for x in p.get("desired_occupations") or ()) if o
        ),
        experience_years=p.get("experience_years"),
        education_level=p.get("education_level"),
        languages=tuple(p.get("languages") or ()),
        location=_loc(p.get("location")),
        max_distance_km=p.get("max_distance_km"),
        desired_salary=_sal(p.get("desired_salary")),
        employment_types=tuple(p.get("employment_types") or ()),
        inferred_occupations=occupations,
        inferred_skills=skills,
    )


def _dt(v: str | None) -> datetime | None:
    if not v:
        return None
    d = datetime.fromisoformat(v)
    return d if d.tzinfo else d.replace(tzinfo=UTC)


_BLOCKS = frozenset(
    [
        "address",
        "article",
        "br",
        "dd",
        "div",
        "dl",
        "dt",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "hr",
        "li",
        "ol",
        "p",
        "pre",
        "section",
        "table",
        "td",
        "th",
        "tr",
        "ul",
    ]
)
_MARKUP = re.compile(r"<[A-Za-z!/]|&[#A-Za-z0-9]+;")


class _TextOnly(HTMLParser):
    """The text of an HTML fragment: tags dropped (blocks become line breaks), entities read,
    scripts and styles left out."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip = max(0, self._skip - 1)
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def html_to_text(text: str | None) -> str | None:
    """Descriptions often come as HTML (job boards, JSON-LD): what is embedded is their text,
    not their markup. Plain text is returned as it is."""
    if not text or not _MARKUP.search(text):
        return text
    parser = _TextOnly()
    parser.feed(text)
    parser.close()
    lines = (" ".join(line.split()) for line in html.unescape("".join(parser.parts)).split("\n"))
    return "\n".join(line for line in lines if line)


def posting_profile(p: dict[str, Any]) -> PostingProfile:
    org = p.get("hiring_organization") or {}
    occupations, skills = _inferred(p.get("inferred"))
    return PostingProfile(
        title=p["title"],
        description=html_to_text(p.get("description")),
        occupation=_occ(p.get("occupation")),
        skills_required=_skills(p.get("skills_required")),
        skills_preferred=_skills(p.get("skills_preferred")),
        experience_years_min=p.get("experience_years_min"),
        education_level_min=p.get("education_level_min"),
        languages_required=tuple(sys.intern(x) for x in p.get("languages_required") or ()),
        employment_type=tuple(sys.intern(x) for x in p.get("employment_type") or ()),
        base_salary=_sal(p.get("base_salary")),
        job_location=_loc(p.get("job_location")),
        remote_allowed=bool(p.get("remote_allowed")),
        date_posted=_dt(p.get("date_posted")),
        valid_through=_dt(p.get("valid_through")),
        hiring_organization=_shared(org.get("name")),
        inferred_occupations=occupations,
        inferred_skills=skills,
        openings=int(p.get("openings") or 1),
    )


def posting_for_matching(p: dict[str, Any]) -> PostingProfile:
    """A posting as matching scores it: without its description (scoring never reads it, and
    it is most of the bytes a profile kept in memory would hold)."""
    return posting_profile({**p, "description": None})


def seeker_record(body: SeekerIn) -> NewRecord:
    profile = body.model_dump(mode="json", exclude={"external_id", "protected"})
    profile["location"] = located(profile.get("location"))
    loc = profile.get("location") or {}
    return NewRecord(
        external_id=body.external_id,
        profile=profile,
        columns={
            "lat": loc.get("lat"),
            "lon": loc.get("lon"),
            "max_distance_km": body.max_distance_km,
            "personalised_ranking": body.personalised_ranking,
        },
    )


def located(place: dict[str, Any] | None) -> dict[str, Any] | None:
    """A place with coordinates looked up from its address when it has none (and the
    gazetteer knows the city); otherwise as it is."""
    if not place or place.get("lat") is not None:
        return place
    found = geocode(place.get("city"), place.get("region"), place.get("country"))
    return place if found is None else {**place, "lat": found.lat, "lon": found.lon}


def posting_record(body: PostingIn) -> NewRecord:
    profile = body.model_dump(mode="json", exclude={"external_id"})
    profile["job_location"] = located(profile.get("job_location"))
    profile["other_locations"] = [located(p) for p in profile.get("other_locations") or ()]
    loc = profile.get("job_location") or {}
    return NewRecord(
        external_id=body.external_id,
        profile=profile,
        columns={
            "lat": loc.get("lat"),
            "lon": loc.get("lon"),
            "remote_allowed": body.remote_allowed,
            "valid_through": body.valid_through,
        },
    )


def fairness_policy(stored: dict[str, Any] | None) -> FairnessPolicy:
    if not stored:
        return FairnessPolicy()
    return FairnessPolicy(
        method=stored.get("method", "none"),
        attributes=tuple(stored.get("attributes") or ("gender",)),
        protected_groups=tuple(stored.get("protected_groups") or ()),
        target_source=stored.get("target_source", "explicit"),
        p=stored.get("p"),
        targets=dict(stored.get("targets") or {}),
        alpha=float(stored.get("alpha", 0.1)),
    )
