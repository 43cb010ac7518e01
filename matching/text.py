"""Canonical text of a seeker or a posting: what the embedding model reads.

The text is built from the fields that describe the work (titles, occupations, skills, free text),
in a fixed order, so the same profile always gives the same vector. Location, salary and contract
are left out: they are compared exactly by the features, and would only blur the semantics.
"""

from __future__ import annotations

from matching.profiles import PostingProfile, SeekerProfile

_MAX_FREE_TEXT = 1200  # characters; the model reads 256 word pieces, the rest would be cut anyway


def _join(parts: list[str]) -> str:
    return ". ".join(p.strip().rstrip(".") for p in parts if p and p.strip())


def seeker_text(seeker: SeekerProfile, *, include_free_text: bool = True) -> str:
    """Canonical text of a seeker; without free text for seekers who opted out of profiling."""
    parts: list[str] = []
    if seeker.desired_occupations:
        parts.append("Wants to work as " + ", ".join(o.title for o in seeker.desired_occupations))
    if include_free_text and seeker.headline:
        parts.append(seeker.headline)
    if seeker.skills:
        parts.append("Skills: " + ", ".join(s.name for s in seeker.skills))
    if include_free_text and seeker.summary:
        parts.append(seeker.summary[:_MAX_FREE_TEXT])
    return _join(parts)


def posting_text(posting: PostingProfile) -> str:
    """Canonical text of a posting."""
    parts: list[str] = [posting.title]
    if posting.occupation and posting.occupation.title.lower() != posting.title.lower():
        parts.append("Occupation: " + posting.occupation.title)
    if posting.skills_required:
        parts.append("Required skills: " + ", ".join(s.name for s in posting.skills_required))
    if posting.skills_preferred:
        parts.append("Preferred skills: " + ", ".join(s.name for s in posting.skills_preferred))
    if posting.description:
        parts.append(posting.description[:_MAX_FREE_TEXT])
    return _join(parts)
