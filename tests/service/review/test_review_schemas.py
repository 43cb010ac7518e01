"""The typed what-would-change answer reads both shapes `review.whatif` makes and sends them
back as the same JSON (issue 15, item 4): typing changed the spec, not the answer."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from service.review.schemas import CurrentForPosting, CurrentForSeeker, WhatIf

FOR_POSTING: dict[str, Any] = {
    "target": "top 10 for this posting",
    "current": {"score": 0.412345, "rank": 14},
    "suggestions": [
        {
            "change": {"type": "add_skill", "value": "forklift operation"},
            "score": 0.5,
            "rank": 3,
            "reaches_target": True,
        },
        {
            "change": {"type": "widen_radius", "value": 30},
            "score": 0.45,
            "rank": 12,
            "reaches_target": False,
        },
    ],
    "best": {
        "change": {"type": "add_skill", "value": "forklift operation"},
        "score": 0.5,
        "rank": 3,
        "reaches_target": True,
    },
}
FOR_SEEKER: dict[str, Any] = {
    "target": "more postings in the top 20",
    "current": {"postings_in_top": 20},
    "suggestions": [
        {
            "change": {"type": "widen_radius", "value": 42.5},
            "new_postings_in_top": 0,
            "reaches_target": False,
        },
    ],
    "best": None,
}


@pytest.mark.parametrize("answer", [FOR_POSTING, FOR_SEEKER], ids=["posting", "seeker"])
def test_what_if_answers_the_json_it_was_given(answer: dict[str, Any]) -> None:
    typed = WhatIf.model_validate(answer)
    assert typed.model_dump(mode="json") == answer
    expected = CurrentForPosting if answer is FOR_POSTING else CurrentForSeeker
    assert isinstance(typed.current, expected)


def test_a_suggestion_of_the_other_shape_is_refused() -> None:
    mixed = {
        **FOR_SEEKER,
        "suggestions": [FOR_POSTING["suggestions"][0], *FOR_SEEKER["suggestions"]],
    }
    with pytest.raises(ValidationError):
        WhatIf.model_validate(mixed)
