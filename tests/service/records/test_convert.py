"""Converted postings, kept in memory by the hundred thousand per worker (service/embeddings/
profile_cache.py): what recurs across postings is held once, and only what matching reads."""

from __future__ import annotations

from typing import Any

from matching.explain import QUOTED_CHARACTERS
from service.records import convert


def _stored(external_id: str, span: str) -> dict[str, Any]:
    """A posting's profile as stored: with the `inferred` block read from its text."""
    return {
        "title": f"Forklift driver {external_id}",
        "description": "Move pallets with a forklift truck. " * 20,
        "skills_required": [{"name": "operate forklift", "esco_uri": None}],
        "inferred": {
            "occupations": [
                {
                    "esco_uri": "http://data.europa.eu/esco/occupation/forklift",
                    "title": "forklift operator",
                    "isco08": "8344",
                    "confidence": 0.91,
                    "source": "text",
                    "span": span,
                }
            ],
            "skills": [
                {
                    "esco_uri": "http://data.europa.eu/esco/skill/load-cargo",
                    "name": "load cargo",
                    "confidence": 0.95,
                    "source": "text",
                    "span": "load cargo",
                }
            ],
        },
    }


def test_postings_share_their_inferred_skills_and_keep_only_the_quoted_words() -> None:
    long_span = "Move pallets with a forklift truck, " * 10
    first = convert.posting_for_matching(_stored("A", long_span))
    second = convert.posting_for_matching(_stored("B", long_span))
    assert first.description is None  # scoring never reads it
    # the same skill read from the same words: one object for both postings
    assert first.inferred_skills[0] is second.inferred_skills[0]
    assert first.inferred_skills[0].quote == "load cargo"
    assert first.skills_required[0] is second.skills_required[0]
    # an occupation's words are kept up to what an explanation quotes, no more
    span = first.inferred_occupations[0].span
    assert span == long_span[:QUOTED_CHARACTERS] and len(long_span) > QUOTED_CHARACTERS
    # a posting whose words differ keeps its own
    other = convert.posting_for_matching(_stored("C", "forklift"))
    assert other.inferred_occupations[0].span == "forklift"
