"""Routers for seekers and postings: CRUD, listing, bulk import (one factory, two kinds)."""

from typing import Annotated, Any
from uuid import UUID

import orjson
from fastapi import APIRouter, Depends, Header, Query, Request, Response, status
from pydantic import BaseModel

from service.auth.dependencies import (
    BEARER_SECURITY,
    KeyCheck,
    State,
    authorize,
    authorize_in_query,
    parse_id,
)
from service.auth.permissions import Principal
from service.background_jobs.schemas import JobStatus
from service.kit import idempotency
from service.kit.http import API_V1, Cursor, Limit, component, problems
from service.kit.idempotency import Idempotent
from service.kit.problems import FieldError, ProblemError, validation_problem
from service.kit.schemas import NOT_BLANK, STORED, Page
from service.records import bulk, jsonld, paging, preparation, representation
from service.records import service as records
from service.records.repository import Kind
from service.records.schemas import (
    PostingIn,
    PostingOut,
    PostingWritten,
    SeekerIn,
    SeekerOut,
    SeekerWritten,
    WriteWarning,
)

_MERGE_PATCH = "application/merge-patch+json"
# RFC 9110 §13.1.1: `*` or a list of entity tags (weak ones allowed in the syntax, though they
# never match); a bare version number is tolerated as the strong ETag of that version.
_ETAG = r'(W/)?"[\x21\x23-\x7e]{0,64}"|[0-9]{1,18}'
IfMatch = Annotated[
    str | None,
    Header(
        max_length=2000,
        pattern=rf"^[ \t]*(\*|({_ETAG})([ \t]*,[ \t]*({_ETAG}))*)[ \t]*$",
        description="The ETag(s) you read (or `*`): 412, and nothing changes, unless the "
        "record's current ETag is one of them (strong comparison: a weak `W/` tag never "
        "matches). Without If-Match, PUT and PATCH are last-writer-wins.",
    ),
]


def merge_patch_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The schema of an RFC 7396 merge patch of `model`: every field optional, null removes an
    optional one, nested objects merge into the stored ones."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    schema.pop("$defs", None)
    required = set(schema.pop("required", []))
    for name, prop in schema["properties"].items():
        nullable = any(option.get("type") == "null" for option in prop.get("anyOf", []))
        if name not in required and not nullable:
            schema["properties"][name] = {"anyOf": [prop, {"type": "null"}]}
    schema["title"] = f"{model.__name__} merge patch"
    schema["description"] = (
        "Given fields change, null removes one, nested objects merge (RFC 7396); the result "
        f"must be a valid {model.__name__}."
    )
    return schema


_JSONLD = "application/ld+json"
_NDJSON = "application/x-ndjson"


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise validation_problem(
            [FieldError(field="body", message=f"not valid JSON: {exc}")]
        ) from None


def make_router(kind: Kind) -> APIRouter:
    plural = f"{kind}s"
    In: type[SeekerIn] | type[PostingIn] = SeekerIn if kind == "seeker" else PostingIn
    Out: type[SeekerOut] | type[PostingOut] = SeekerOut if kind == "seeker" else PostingOut
    read_op, write_op, delete_op = f"{plural}:read", f"{plural}:write", f"{plural}:delete"
    Reader = Annotated[Principal, Depends(authorize(read_op))]
    # Reading one record looks the key up in the record's own query (one round trip).
    ReaderKey = Annotated[KeyCheck, Depends(authorize_in_query(read_op))]
    Writer = Annotated[Principal, Depends(authorize(write_op))]
    Deleter = Annotated[Principal, Depends(authorize(delete_op))]
    router = APIRouter(prefix=f"{API_V1}/{plural}", tags=[plural])

    Written: type[SeekerWritten] | type[PostingWritten] = (
        SeekerWritten if kind == "seeker" else PostingWritten
    )

    def out(
        written: tuple[Any, Any, list[WriteWarning]], principal: Principal, response: Response
    ) -> Any:
        row, prot, warnings = written
        response.headers["ETag"] = records.etag(row)
        shown = representation.represent(kind, row, protected=prot, principal=principal)
        return Written.model_validate({**dict(shown), "warnings": warnings}, context=STORED)

    create_extra: dict[str, Any] = {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{In.__name__}"}},
                **(
                    {_JSONLD: {"schema": component("JobPostingJsonLd", jsonld.JOB_POSTING_SCHEMA)}}
                    if kind == "posting"
                    else {}
                ),
            },
        }
    }

    @router.post(
        "",
        response_model=Written,
        status_code=status.HTTP_201_CREATED,
        responses=problems(409, 413, 415, 422),
        openapi_extra=create_extra,
        summary=f"Create a {kind}",
        operation_id=f"create_{kind}",
    )
    async def create(
        request: Request, response: Response, state: State, principal: Writer, _: Idempotent
    ) -> Any:
        """Store a record and its embedding; a duplicate external_id answers 409."""
        content_type = request.headers.get("content-type", "application/json").split(";")[0]
        data = await _json_body(request)
        if content_type == _JSONLD and kind == "posting":
            data = jsonld.from_jsonld(data)
        elif kind == "posting" and isinstance(data, dict) and jsonld.looks_like_jsonld(data):
            raise validation_problem(
                [FieldError(field="body.@type", message="JSON-LD sent as application/json")],
                detail="This is a schema.org JSON-LD document: send it with "
                f"Content-Type: {_JSONLD} (application/json takes the API's own fields).",
            )
        elif content_type not in ("application/json", ""):
            raise ProblemError(
                415,
                "Unsupported media type",
                f"Send application/json{' or ' + _JSONLD if kind == 'posting' else ''}.",
            )
        body = preparation.parse_body(kind, data)
        written = await records.create(state, principal, kind, body)
        response.headers["Location"] = f"/v1/{plural}/{written[0].id}"
        return out(written, principal, response)

    @router.get(
        "",
        response_model=Page[Out],  # type: ignore[valid-type]
        responses=problems(422),
        summary=f"List {plural}",
        operation_id=f"list_{plural}",
    )
    async def list_(
        state: State,
        principal: Reader,
        limit: Limit = 50,
        cursor: Cursor = None,
        external_id: Annotated[
            str | None, Query(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f]+$")
        ] = None,
    ) -> Any:
        """Your agency's records in creation order, a page at a time."""
        rows, prot, next_cursor = await paging.page(
            state, principal, kind, limit=limit, cursor=cursor, external_id=external_id
        )
        items = [
            representation.represent(kind, r, protected=prot.get(r.id), principal=principal)
            for r in rows
        ]
        return {"items": items, "next_cursor": next_cursor}

    @router.get(
        "/{record_id}",
        response_model=Out,
        responses=problems(404),
        summary=f"Read a {kind}",
        operation_id=f"get_{kind}",
        openapi_extra=BEARER_SECURITY,
    )
    async def read(record_id: str, check: ReaderKey) -> Response:
        """One record; the ETag header is for If-Match on updates."""
        principal, row, prot = await records.read_with_key(check, kind, record_id)
        # The body as FastAPI would serialise `Out` (records.represent_json), sent as it is:
        # no second validation and serialisation by the framework.
        return Response(
            representation.represent_json(kind, row, protected=prot, principal=principal),
            media_type="application/json",
            headers={"ETag": records.etag(row)},
        )

    @router.put(
        "/{record_id}",
        response_model=Written,
        responses=problems(404, 409, 412, 413, 422),
        summary=f"Replace a {kind}",
        operation_id=f"replace_{kind}",
    )
    async def replace(
        record_id: str,
        body: In,  # type: ignore[valid-type]
        response: Response,
        state: State,
        principal: Writer,
        if_match: IfMatch = None,
    ) -> Any:
        """Replace the whole record (fields left out are cleared) and re-embed it."""
        written = await records.replace(
            state, principal, kind, parse_id(record_id, kind), body, if_match=if_match
        )
        return out(written, principal, response)

    # One named component for both content types (one model in a generated client).
    patch_ref = component(f"{In.__name__}MergePatch", merge_patch_schema(In))

    @router.patch(
        "/{record_id}",
        response_model=Written,
        responses=problems(404, 409, 412, 413, 422),
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    _MERGE_PATCH: {"schema": patch_ref},
                    "application/json": {"schema": patch_ref},
                },
            }
        },
        summary=f"Update part of a {kind} (JSON merge patch)",
        operation_id=f"patch_{kind}",
    )
    async def patch(
        record_id: str,
        request: Request,
        response: Response,
        state: State,
        principal: Writer,
        if_match: IfMatch = None,
    ) -> Any:
        """RFC 7396 merge patch: given fields change, null removes, the rest stays."""
        changes = await _json_body(request)
        if not isinstance(changes, dict):
            raise validation_problem([FieldError(field="body", message="expected a JSON object")])
        written = await records.patch(
            state, principal, kind, parse_id(record_id, kind), changes, if_match=if_match
        )
        return out(written, principal, response)

    @router.delete(
        "/{record_id}",
        status_code=status.HTTP_204_NO_CONTENT,
        responses=problems(404),
        summary=f"Delete a {kind}" + (" (erasure)" if kind == "seeker" else ""),
        operation_id=f"delete_{kind}",
    )
    async def delete(record_id: str, state: State, principal: Deleter) -> Response:
        """Delete the record with its embedding and match items."""
        await records.remove(state, principal, kind, parse_id(record_id, kind))
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    return router


def make_bulk_router(kind: Kind) -> APIRouter:
    plural = f"{kind}s"
    Writer = Annotated[Principal, Depends(authorize(f"{plural}:write"))]
    router = APIRouter(prefix=API_V1, tags=[plural])

    @router.post(
        f"/{plural}:bulk",
        response_model=JobStatus,
        responses={
            202: {"model": JobStatus, "description": "Still importing: poll GET /v1/jobs/{id}"},
            **problems(413, 422),
        },
        openapi_extra={
            "requestBody": {
                "required": True,
                "description": "A JSON array of records, or NDJSON (`Content-Type: "
                f"{_NDJSON}`, one JSON object per line; see `x-alternative-content`).",
                "content": {
                    "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
                },
                # Client generators refuse a body content type they do not know (NDJSON is
                # none of JSON, form or bytes) with a warning; an `x-` field they ignore.
                "x-alternative-content": {
                    _NDJSON: {
                        "schema": {
                            "type": "string",
                            "pattern": NOT_BLANK,
                            "description": "One JSON object per line",
                        }
                    },
                },
            }
        },
        summary=f"Import many {plural} (NDJSON or JSON array)",
        operation_id=f"bulk_import_{plural}",
    )
    async def bulk_import(
        request: Request, response: Response, state: State, principal: Writer, _: Idempotent
    ) -> JobStatus:
        """Validates every record at once, then imports the valid ones as a background job
        (batched embedding). Answers 200 with the finished job when it completes within
        `bulk_wait_seconds`, else 202 with the job to poll; bad records are reported by position."""
        queued = idempotency.pending_location(request)
        if queued is not None:  # a retry of a request whose import was queued: that job
            job, finished = await bulk.existing_job(state, principal, queued)
        else:
            items = bulk.parse_upload(await request.body(), request.headers.get("content-type", ""))

            async def note(job_id: UUID) -> None:
                await idempotency.note_location(request, f"/v1/jobs/{job_id}")

            job, finished = await bulk.import_records(state, principal, kind, items, note)
        if not finished:
            response.status_code = status.HTTP_202_ACCEPTED
            response.headers["Location"] = f"/v1/jobs/{job.id}"
        return job

    return router
