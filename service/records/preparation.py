"""What a write of a seeker or posting becomes before it is stored: the parsed body, the text
that is embedded, its vector and ESCO understanding, the record's columns, and the warnings the
author gets back."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
from pydantic import ValidationError

from matching.text import posting_text, seeker_text
from service.kit.problems import field_errors_from_pydantic, validation_problem
from service.records import convert
from service.records.geocode import geocode
from service.records.repository import Kind, NewRecord
from service.records.schemas import Inferred, Place, PostingIn, SeekerIn, WriteWarning
from service.state import AppState

Body = SeekerIn | PostingIn


def canonical_text(kind: Kind, body: Body) -> str:
    if isinstance(body, SeekerIn):
        profile = convert.seeker_profile(body.model_dump(mode="json"))
        # Opted out of profiling: no embedding of their free text (PIPL Art. 24).
        return seeker_text(profile, include_free_text=body.personalised_ranking)
    return posting_text(convert.posting_profile(body.model_dump(mode="json")))


def understand(state: AppState, kind: Kind, bodies: Sequence[Body], vectors: np.ndarray) -> None:
    """Set each body's `inferred` block to what its free text says (ESCO occupations and skills,
    `service.embeddings.understanding`), replacing whatever the client sent in that read-only
    field. CPU-bound: called on the understanding thread, with the vectors just made."""
    blocks: list[dict[str, Any] | None] = [None] * len(bodies)
    if state.understanding is not None and bodies:
        profiles = [_read_fields(b) for b in bodies]
        blocks = state.understanding.infer(kind, profiles, vectors)
    for body, block in zip(bodies, blocks, strict=True):
        body.inferred = None if block is None else Inferred.model_validate(block)


def _read_fields(body: Body) -> dict[str, Any]:
    """The fields text understanding reads (`understanding._title_and_text`), as in the stored
    profile: a whole `model_dump` per record would cost more and hold the GIL, which a bulk
    import's encoder thread needs."""
    if isinstance(body, SeekerIn):
        return {
            "personalised_ranking": body.personalised_ranking,
            "headline": body.headline,
            "summary": body.summary,
            "desired_occupations": [{"title": o.title} for o in body.desired_occupations],
            "skills": [{"name": s.name} for s in body.skills],
        }
    return {
        "title": body.title,
        "description": body.description,
        "skills_required": [{"name": s.name} for s in body.skills_required],
        "skills_preferred": [{"name": s.name} for s in body.skills_preferred],
    }


async def embed_and_understand(state: AppState, kind: Kind, bodies: Sequence[Body]) -> np.ndarray:
    """The bodies' vectors, with their `inferred` blocks set, off the event loop: encoded on
    the model thread, then read on the understanding thread."""
    loop = asyncio.get_running_loop()
    vectors: np.ndarray = await loop.run_in_executor(
        state.model_executor,
        lambda: state.embedder.encode([canonical_text(kind, b) for b in bodies]),
    )
    await loop.run_in_executor(
        state.understanding_executor, understand, state, kind, bodies, vectors
    )
    return vectors


def to_record(body: Body) -> NewRecord:
    return (
        convert.seeker_record(body) if isinstance(body, SeekerIn) else convert.posting_record(body)
    )


def parse_body(kind: Kind, data: Any, *, loc: tuple[str | int, ...] = ("body",)) -> Body:
    model = SeekerIn if kind == "seeker" else PostingIn
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_problem(
            field_errors_from_pydantic(list(exc.errors()), prefix=loc)
        ) from None


def _unresolved(place: Place | None) -> bool:
    return (
        place is not None
        and place.lat is None
        and geocode(place.city, place.region, place.country) is None
    )


# What an unknown place means for matching, said in its `place_not_found` warning.
_UNKNOWN_PLACE = {
    "seeker": "postings are matched without a distance limit",
    "posting": "the posting is matched with its distance unknown",
}


def write_warnings(body: Body) -> list[WriteWarning]:
    """What a write stored as sent but its author probably wants to know (the write succeeds).
    Looks places up in the gazetteer, which is read on first use: call it off the event loop."""
    out: list[WriteWarning] = []
    if isinstance(body, SeekerIn):
        kind, places = "seeker", [("body.location", body.location)]
    else:
        kind = "posting"
        if body.valid_through is not None and body.valid_through <= datetime.now(UTC):
            out.append(
                WriteWarning(
                    field="body.valid_through",
                    code="already_expired",
                    message="valid_through has passed: the posting is stored but never matched.",
                )
            )
        places = [("body.job_location", body.job_location)] + [
            (f"body.other_locations.{i}", p) for i, p in enumerate(body.other_locations)
        ]
    for field, place in places:
        if _unresolved(place):
            out.append(
                WriteWarning(
                    field=field,
                    code="place_not_found",
                    message="No coordinates, and the city is not in the gazetteer: the place is "
                    f"kept as sent and {_UNKNOWN_PLACE[kind]}.",
                )
            )
    if isinstance(body, PostingIn) and body.other_locations:
        out.append(
            WriteWarning(
                field="body.other_locations",
                code="distance_to_first_place",
                message="All places are kept; distance is measured to job_location only.",
            )
        )
    return out
