"""Canonical text of a seeker or a posting: what the embedding model reads.

The text is built from the fields that describe the work (titles, occupations, skills, free text),
in a fixed order, so the same profile always gives the same vector. Location, salary and contract
are left out: they are compared exactly by the features, and would only blur the semantics.
"""

from __future__ import annotations

import functools
import re

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


_WORD_SPAN = re.compile(r"[^\W_]+", re.UNICODE)
# Function words: they carry no meaning of their own, in a label or in a text.
STOP_WORDS: frozenset[str] = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "for",
        "from",
        "has",
        "have",
        "in",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "that",
        "the",
        "their",
        "they",
        "this",
        "to",
        "was",
        "we",
        "were",
        "will",
        "with",
        "you",
        "your",
        "our",
        "i",
        "my",
        "me",
        "he",
        "she",
        "his",
        "her",
        "who",
        "which",
        "what",
        "when",
        "where",
        "how",
        "all",
        "any",
        "can",
        "may",
        "also",
        "other",
        "such",
        "than",
        "then",
        "into",
        "about",
        "over",
        "under",
        "per",
        "via",
        "etc",
    ]
)


@functools.lru_cache(maxsize=1 << 16)
def stem(word: str) -> str:
    """A light English suffix strip ("operating"/"operate", "forklifts"/"forklift"): enough for
    matching labels against free text without a stemming library."""
    for suffix in ("ing", "ion", "ies", "es", "ed", "er", "s", "e", "y"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def word_spans(text: str) -> list[tuple[str, int, int]]:
    """(stemmed lower-case word, start, end) for every word of `text`, positions in `text`."""
    return [(stem(m.group().lower()), m.start(), m.end()) for m in _WORD_SPAN.finditer(text)]


def normal_words(text: str) -> tuple[str, ...]:
    """Stemmed lower-case words, stop words dropped: the form labels are looked up by."""
    return tuple(w for w, _, _ in word_spans(text) if w not in STOP_WORDS)


_SENTENCE = re.compile(r"(?<=[.!?;])\s+|\n+")


def sentences(text: str, *, min_chars: int = 12) -> list[str]:
    """Sentences (and lines) of a text, dropping fragments too short to mean anything."""
    return [s.strip() for s in _SENTENCE.split(text) if len(s.strip()) >= min_chars]
