"""Shared pieces of the routers: documented error responses, paging parameters, language."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import Header, Query
from pydantic import BeforeValidator

from matching.explain import pick_language
from service.kit.problems import PROBLEM_JSON, FieldError, Problem, validation_problem


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


# RFC 3339 date-times only (what `format: date-time` promises): Pydantic alone would also take
# numbers as Unix times and dates without a time.
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def _rfc3339(value: Any) -> Any:
    if not (isinstance(value, str) and _RFC3339.match(value)):
        raise ValueError("expected an RFC 3339 date-time with offset, e.g. 2026-01-31T00:00:00Z")
    return value


Timestamp = Annotated[datetime, BeforeValidator(_rfc3339)]
# The version prefix of every API route: each capability's router is made with it (a prefix
# given when including a router would not show in `route.path`, which the query-parameter check
# and the access log read).
API_V1 = "/v1"

Limit = Annotated[int, Query(ge=1, le=200, description="Page size (max 200)")]
Cursor = Annotated[str | None, Query(max_length=200, description="next_cursor of the last page")]
AcceptLanguage = Annotated[
    str | None,
    Header(
        description="Language of explanation notes: en or zh (Simplified Chinese), by q-value; "
        "the answer's Content-Language says which was used"
    ),
]


def language(accept_language: str | None) -> str:
    return pick_language(accept_language)


# Schemas that routes write by hand (in `openapi_extra`) and name, so that every content type of
# a body can `$ref` one component: a client generator then makes one model of it, not one per
# content type under the same name. Filled when the routers are made; the spec adds them.
_COMPONENTS: dict[str, dict[str, Any]] = {}


def component(name: str, schema: dict[str, Any]) -> dict[str, str]:
    """Name `schema` as the component `name` of the spec; answers the `$ref` to it."""
    if _COMPONENTS.get(name, schema) != schema:
        raise ValueError(f"two different schemas named {name}")
    _COMPONENTS[name] = schema
    return {"$ref": f"#/components/schemas/{name}"}


def tidy_spec(spec: dict[str, Any]) -> None:
    """Corrections to the spec FastAPI generates (see the functions below)."""
    validation_errors_as_problems(spec)
    parameters_are_never_null(spec)
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    for name, schema in sorted(_COMPONENTS.items()):
        schemas.setdefault(name, schema)


def parameters_are_never_null(spec: dict[str, Any]) -> None:
    """An optional query, header or path parameter is absent or a string, never JSON null:
    FastAPI writes `anyOf: [{...}, {"type": "null"}]` for `str | None`; keep the `{...}`."""
    for item in spec.get("paths", {}).values():
        for op in item.values():
            for param in op.get("parameters", []):
                schema = param.get("schema", {})
                options = [o for o in schema.get("anyOf", []) if o.get("type") != "null"]
                if len(options) == 1 and len(schema["anyOf"]) == 2:
                    rest = {k: v for k, v in schema.items() if k != "anyOf"}
                    param["schema"] = {**options[0], **rest}


def validation_errors_as_problems(spec: dict[str, Any]) -> None:
    """FastAPI documents a route's 422 as its own `HTTPValidationError` unless the route names
    422 itself; every 422 of this API is a problem document, so document it as one."""
    problem = {
        "description": "Invalid input; `errors` names each bad field",
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    for item in spec.get("paths", {}).values():
        for op in item.values():
            response = op.get("responses", {}).get("422", {})
            if "HTTPValidationError" in str(response):
                op["responses"]["422"] = problem
    schemas = spec.get("components", {}).get("schemas", {})
    if "HTTPValidationError" not in str(spec.get("paths")):
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)


def report_period(since: datetime | None, until: datetime | None) -> tuple[datetime, datetime]:
    """A report's period [from, to): default the last 30 days; a time without offset is UTC.
    422 naming `query.from` when it is not before `to`."""
    until = until or datetime.now(UTC)
    since = since or until - timedelta(days=30)
    since = since if since.tzinfo else since.replace(tzinfo=UTC)
    until = until if until.tzinfo else until.replace(tzinfo=UTC)
    if since >= until:
        raise validation_problem([FieldError(field="query.from", message="must be before 'to'")])
    return since, until
