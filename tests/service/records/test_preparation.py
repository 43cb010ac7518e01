"""What text understanding is given of a record on a write: only the fields it reads, the same
title and text as the whole stored profile gives."""

from __future__ import annotations

from typing import Any

import pytest

from service.embeddings.understanding import _title_and_text
from service.records import preparation
from tests.factories import posting_body, seeker_body


@pytest.mark.parametrize(
    ("kind", "body"),
    [
        ("posting", posting_body("P-1")),
        ("posting", posting_body("P-2", description=None, skills_preferred=[])),
        ("seeker", seeker_body("S-1")),
        ("seeker", seeker_body("S-2", headline=None, personalised_ranking=False)),
        ("seeker", seeker_body("S-3", desired_occupations=[{"title": "Welder"}], skills=[])),
    ],
)
def test_understanding_reads_the_same_from_its_fields_as_from_the_whole_profile(
    kind: str, body: dict[str, Any]
) -> None:
    parsed = preparation.parse_body(kind, body)  # type: ignore[arg-type]
    whole = parsed.model_dump(mode="json", exclude={"inferred"})
    read = preparation._read_fields(parsed)
    assert _title_and_text(kind, read) == _title_and_text(kind, whole)
    assert read.get("personalised_ranking", True) == whole.get("personalised_ranking", True)
