"""Writing and reading seekers and postings: validation, embedding, storage, representation."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg
import numpy as np
import orjson
from pydantic import ValidationError

from matching.text import posting_text, seeker_text
from service.audit import service as auditing
from service.auth import repository as agencies_db
from service.auth.dependencies import KeyCheck
from service.auth.permissions import Principal
from service.kit import idempotency_repository as idempotency_db
from service.kit.pagination import decode_cursor, encode_key
from service.kit.problems import ProblemError, conflict, field_errors_from_pydantic, not_found
from service.privacy import repository as privacy_db
from service.records import convert
from service.records import protected_repository as protected_db
from service.records import repository as db
from service.records.geocode import geocode
from service.records.repository import Kind, NewRecord, Row
from service.records.representation import PROTECTED_READERS
from service.records.schemas import Place, PostingIn, SeekerIn, WriteWarning
from service.state import AppState

# What a retry with the Idempotency-Key of an erased seeker's create answers.
ERASED_RESPONSE = {
    "type": "https://jobmatch.dev/problems/gone",
    "title": "Gone",
    "status": 410,
    "detail": "The record this request created has been erased.",
}
Body = SeekerIn | PostingIn


def canonical_text(kind: Kind, body: Body) -> str:
    if isinstance(body, SeekerIn):
        profile = convert.seeker_profile(body.model_dump(mode="json"))
        # Opted out of profiling: no embedding of their free text (PIPL Art. 24).
        return seeker_text(profile, include_free_text=body.personalised_ranking)
    return posting_text(convert.posting_profile(body.model_dump(mode="json")))


def to_record(body: Body) -> NewRecord:
    return (
        convert.seeker_record(body) if isinstance(body, SeekerIn) else convert.posting_record(body)
    )


def parse_body(kind: Kind, data: Any, *, loc: tuple[str | int, ...] = ("body",)) -> Body:
    model = SeekerIn if kind == "seeker" else PostingIn
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        from service.kit.problems import validation_problem

        raise validation_problem(
            field_errors_from_pydantic(list(exc.errors()), prefix=loc)
        ) from None


def etag(row: Row) -> str:
    return f'"{row.version}"'


def _unresolved(place: Place | None) -> bool:
    return (
        place is not None
        and place.lat is None
        and geocode(place.city, place.region, place.country) is None
    )


def write_warnings(body: Body) -> list[WriteWarning]:
    """What a write stored as sent but its author probably wants to know (the write succeeds).
    Looks places up in the gazetteer, which is read on first use: call it off the event loop."""
    if not isinstance(body, PostingIn):
        return []
    out: list[WriteWarning] = []
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
                    "kept as sent and the posting is matched with its distance unknown.",
                )
            )
    if body.other_locations:
        out.append(
            WriteWarning(
                field="body.other_locations",
                code="distance_to_first_place",
                message="All places are kept; distance is measured to job_location only.",
            )
        )
    return out


def _duplicate(kind: Kind, external_id: str) -> ProblemError:
    return conflict(f"A {kind} with external_id {external_id!r} already exists in your agency.")


async def create(
    state: AppState, principal: Principal, kind: Kind, body: Body
) -> tuple[Row, dict[str, Any] | None, list[WriteWarning]]:
    warnings = await asyncio.to_thread(write_warnings, body)
    [vector] = await state.embed([canonical_text(kind, body)])
    async with state.pool.acquire() as conn, conn.transaction():
        try:
            row = await db.insert(conn, kind, agency_id=principal.agency_id, record=to_record(body))
        except asyncpg.UniqueViolationError:
            raise _duplicate(kind, body.external_id) from None
        await db.upsert_embeddings(
            conn,
            kind,
            agency_id=principal.agency_id,
            model=state.embedder.name,
            record_ids=[row.id],
            vectors=vector[None, :],
        )
        stored = await _write_protected(conn, principal, row.id, body)
        if kind == "seeker":
            await auditing.log(
                conn, principal, "seeker.create", subject_type="seeker", subject_id=row.id
            )
    return row, stored, warnings


async def _write_protected(
    conn: asyncpg.Connection, principal: Principal, seeker_id: UUID, body: Body
) -> dict[str, Any] | None:
    """Store the body's protected data. A role that is never shown protected data (a portal)
    reads `protected: null` and sends it back so: its omitted or null `protected` keeps what
    is stored (to withdraw consent it sends `{"consent": false}`). For the roles that see it,
    a replacement without it removes it, like any field left out."""
    if not isinstance(body, SeekerIn):
        return None
    data = body.protected.model_dump(mode="json") if body.protected else None
    if data is not None or principal.role in PROTECTED_READERS:
        await protected_db.put(conn, agency_id=principal.agency_id, seeker_id=seeker_id, data=data)
    return await protected_db.get(conn, seeker_id=seeker_id)


async def read(
    state: AppState, principal: Principal, kind: Kind, record_id: UUID
) -> tuple[Row, dict[str, Any] | None]:
    async with state.pool.acquire() as conn:
        row = await db.get(conn, kind, agency_id=principal.agency_id, record_id=record_id)
        if row is None:
            raise not_found(kind)
        return row, await _after_read(conn, principal, kind, row)


async def read_with_key(
    check: KeyCheck, kind: Kind, record_id: str
) -> tuple[Principal, Row, dict[str, Any] | None]:
    """`read`, with the caller's key looked up in the same query as the record (one round trip
    instead of two); the key is checked (401, 429, 403, 422, as `authorize` does) before the
    record is used, and a malformed id is as unknown as a missing one (404) after that."""
    try:
        wanted: UUID | None = UUID(record_id)
    except ValueError:
        wanted = None
    async with check.state.pool.acquire() as conn:
        found, row = await agencies_db.principal_and_record(
            conn, secret=check.secret, kind=kind, record_id=wanted
        )
        principal = check.principal(found)
        if row is None:
            raise not_found(kind)
        return principal, row, await _after_read(conn, principal, kind, row)


async def _after_read(
    conn: asyncpg.Connection, principal: Principal, kind: Kind, row: Row
) -> dict[str, Any] | None:
    """A seeker read is audited, and so is a read of their protected data (which only some
    roles get); a posting read needs nothing more."""
    if kind != "seeker":
        return None
    prot = None
    async with conn.transaction():
        await auditing.log(conn, principal, "seeker.read", subject_type="seeker", subject_id=row.id)
        if principal.role in PROTECTED_READERS:
            prot = await protected_db.get(conn, seeker_id=row.id)
            if prot is not None:
                await auditing.log(
                    conn,
                    principal,
                    "seeker.protected.read",
                    subject_type="seeker",
                    subject_id=row.id,
                )
    return prot


def _parse_version(if_match: str | None) -> int | None:
    if if_match is None or if_match.strip() == "*":
        return None
    try:
        return int(if_match.strip().removeprefix("W/").strip('"'))
    except ValueError:
        raise ProblemError(
            412, "Precondition failed", "If-Match is not an ETag of this API."
        ) from None


async def replace(
    state: AppState,
    principal: Principal,
    kind: Kind,
    record_id: UUID,
    body: Body,
    *,
    if_match: str | None = None,
) -> tuple[Row, dict[str, Any] | None, list[WriteWarning]]:
    expected = _parse_version(if_match)
    warnings = await asyncio.to_thread(write_warnings, body)
    [vector] = await state.embed([canonical_text(kind, body)])
    async with state.pool.acquire() as conn, conn.transaction():
        current = await db.get(
            conn, kind, agency_id=principal.agency_id, record_id=record_id, lock=True
        )
        if current is None:
            raise not_found(kind)
        if expected is not None and current.version != expected:
            raise ProblemError(
                412, "Precondition failed", "The record changed since you read it; read it again."
            )
        try:
            row = await db.replace(
                conn,
                kind,
                agency_id=principal.agency_id,
                record_id=record_id,
                record=to_record(body),
            )
        except asyncpg.UniqueViolationError:
            raise _duplicate(kind, body.external_id) from None
        assert row is not None  # locked above
        await db.upsert_embeddings(
            conn,
            kind,
            agency_id=principal.agency_id,
            model=state.embedder.name,
            record_ids=[row.id],
            vectors=vector[None, :],
        )
        stored = await _write_protected(conn, principal, row.id, body)
        if kind == "seeker":
            await auditing.log(
                conn, principal, "seeker.update", subject_type="seeker", subject_id=row.id
            )
    return row, stored, warnings


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON merge patch."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


async def patch(
    state: AppState,
    principal: Principal,
    kind: Kind,
    record_id: UUID,
    changes: dict[str, Any],
    *,
    if_match: str | None = None,
) -> tuple[Row, dict[str, Any] | None, list[WriteWarning]]:
    async with state.pool.acquire() as conn:
        row = await db.get(conn, kind, agency_id=principal.agency_id, record_id=record_id)
        if row is None:
            raise not_found(kind)
        current: dict[str, Any] = {**row.profile, "external_id": row.external_id}
        if kind == "seeker":
            prot = await protected_db.get(conn, seeker_id=row.id)
            if prot is not None:
                current["protected"] = prot
    body = parse_body(kind, merge_patch(current, changes))
    return await replace(
        state, principal, kind, record_id, body, if_match=if_match or f'"{row.version}"'
    )


async def remove(state: AppState, principal: Principal, kind: Kind, record_id: UUID) -> None:
    async with state.pool.acquire() as conn, conn.transaction():
        row = await db.get(conn, kind, agency_id=principal.agency_id, record_id=record_id)
        if row is None or not await db.delete(
            conn, kind, agency_id=principal.agency_id, record_id=record_id
        ):
            raise not_found(kind)
        if kind == "seeker":
            # Foreign keys cascade to protected data, embeddings, match items, the seeker's own
            # lists, decisions and outcomes; what only mentions them by value is scrubbed here.
            await privacy_db.scrub_import_errors(
                conn, agency_id=principal.agency_id, external_id=row.external_id
            )
            await idempotency_db.forget_responses_mentioning(
                conn,
                agency_id=principal.agency_id,
                needles=[str(record_id), orjson.dumps(row.external_id).decode()],
                gone=ERASED_RESPONSE,
            )
            # The fact of erasure stays in the audit log; nothing personal goes with it.
            await auditing.log(
                conn, principal, "seeker.erase", subject_type="seeker", subject_id=record_id
            )


def encode_cursor(row: Row) -> str:
    return encode_key(row.created_at, row.id)


async def page(
    state: AppState,
    principal: Principal,
    kind: Kind,
    *,
    limit: int,
    cursor: str | None,
    external_id: str | None,
) -> tuple[list[Row], dict[UUID, dict[str, Any]], str | None]:
    after = decode_cursor(cursor) if cursor else None
    async with state.pool.acquire() as conn:
        rows = await db.page(
            conn,
            kind,
            agency_id=principal.agency_id,
            limit=limit,
            after=after,
            external_id=external_id,
        )
        more = len(rows) > limit
        rows = rows[:limit]
        prot: dict[UUID, dict[str, Any]] = {}
        if kind == "seeker":
            ids = [r.id for r in rows]
            async with conn.transaction():
                await auditing.log_many(
                    conn, principal, "seeker.read", subject_type="seeker", subject_ids=ids
                )
                if principal.role in PROTECTED_READERS:
                    prot = await protected_db.get_all(
                        conn, agency_id=principal.agency_id, seeker_ids=ids
                    )
                    await auditing.log_many(
                        conn,
                        principal,
                        "seeker.protected.read",
                        subject_type="seeker",
                        subject_ids=list(prot),
                    )
    return rows, prot, encode_cursor(rows[-1]) if more and rows else None


async def store_batch(
    state: AppState,
    principal: Principal,
    kind: Kind,
    bodies: Sequence[Body],
    vectors: np.ndarray | None = None,
) -> list[UUID]:
    """Store validated, non-conflicting records with one batched embedding call (none when the
    caller embedded them already: `vectors`, one row per body, from the serving model)."""
    if vectors is None:
        vectors = await state.embed([canonical_text(kind, b) for b in bodies])
    ids: list[UUID] = []
    async with state.pool.acquire() as conn, conn.transaction():
        for body in bodies:
            row = await db.insert(conn, kind, agency_id=principal.agency_id, record=to_record(body))
            await _write_protected(conn, principal, row.id, body)
            ids.append(row.id)
        await db.upsert_embeddings(
            conn,
            kind,
            agency_id=principal.agency_id,
            model=state.embedder.name,
            record_ids=ids,
            vectors=vectors,
        )
        if kind == "seeker":
            await auditing.log_many(
                conn, principal, "seeker.create", subject_type="seeker", subject_ids=ids
            )
    return ids
