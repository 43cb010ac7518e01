"""Shared pieces of the routers: documented error responses, paging parameters, language."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Header, Query

from matching.explain import pick_language
from service.errors import PROBLEM_JSON, Problem


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` entries for the problem documents a route can answer with."""
    text = {
        401: "No or unknown API key",
        403: "The key's role may not do this",
        404: "No such record in your agency",
        409: "Conflicts with stored data",
        412: "The If-Match ETag is stale",
        413: "Body or upload too large",
        415: "Unsupported content type",
        422: "Invalid input; `errors` names each bad field",
        429: "Too many requests from this key; retry after `Retry-After` seconds",
        503: "The database is unavailable or too slow; retry after `Retry-After` seconds",
    }
    out: dict[int | str, dict[str, Any]] = {}
    for status in sorted({401, 403, *statuses, 429, 503}):
        out[status] = {
            "model": Problem,
            "description": text.get(status, "Error"),
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        if status in (429, 503):
            out[status]["headers"] = {
                "Retry-After": {
                    "description": "Seconds to wait before retrying",
                    "schema": {"type": "integer", "minimum": 1},
                }
            }
    return out


Limit = Annotated[int, Query(ge=1, le=200, description="Page size (max 200)")]
Cursor = Annotated[str | None, Query(max_length=200, description="next_cursor of the last page")]
AcceptLanguage = Annotated[
    str | None,
    Header(description="Language of explanation notes: en or zh (Simplified Chinese)"),
]


def language(accept_language: str | None) -> str:
    return pick_language(accept_language)
