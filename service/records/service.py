"""Writing and reading seekers and postings: validation, embedding, storage, representation."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from uuid import UUID

import asyncpg
import numpy as np
import orjson

from service.audit import service as auditing
from service.auth import repository as agencies_db
from service.auth.dependencies import KeyCheck
from service.auth.permissions import Principal, Role
from service.kit import idempotency_repository as idempotency_db
from service.kit.problems import ProblemError, conflict, not_found
from service.kit.replicas import ReadSource
from service.privacy import repository as privacy_db
from service.records import protected_repository as protected_db
from service.records import repository as records_db
from service.records.preparation import (
    Body,
    embed_and_understand,
    parse_body,
    to_record,
    write_warnings,
)
from service.records.repository import Kind, Row
from service.records.representation import PROTECTED_READERS
from service.records.schemas import SeekerIn, WriteWarning
from service.state import AppState

# What a retry with the Idempotency-Key of an erased seeker's create answers.
ERASED_RESPONSE = {
    "type": "https://jobmatch.dev/problems/gone",
    "title": "Gone",
    "status": 410,
    "detail": "The record this request created has been erased.",
}


def etag(row: Row) -> str:
    return f'"{row.version}"'


def _duplicate(kind: Kind, external_id: str) -> ProblemError:
    return conflict(f"A {kind} with external_id {external_id!r} already exists in your agency.")


async def create(
    state: AppState, principal: Principal, kind: Kind, body: Body
) -> tuple[Row, dict[str, Any] | None, list[WriteWarning]]:
    warnings = await asyncio.to_thread(write_warnings, body)
    [vector] = await embed_and_understand(state, kind, [body])
    async with state.pool.acquire() as conn, conn.transaction():
        row = await records_db.insert(
            conn, kind, agency_id=principal.agency_id, record=to_record(body)
        )
        if row is None:
            raise _duplicate(kind, body.external_id)
        await records_db.upsert_embeddings(
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
    await _put_protected(conn, principal, seeker_id, body)
    return await protected_db.get(conn, agency_id=principal.agency_id, seeker_id=seeker_id)


async def _put_protected(
    conn: asyncpg.Connection, principal: Principal, seeker_id: UUID, body: SeekerIn
) -> None:
    """The writing half of `_write_protected` (a bulk import does not read it back)."""
    data = body.protected.model_dump(mode="json") if body.protected else None
    if data is not None or principal.role in PROTECTED_READERS:
        await protected_db.put(conn, agency_id=principal.agency_id, seeker_id=seeker_id, data=data)


async def read(
    state: AppState, principal: Principal, kind: Kind, record_id: UUID
) -> tuple[Row, dict[str, Any] | None]:
    async with state.pool.acquire() as conn:
        row = await records_db.get(conn, kind, agency_id=principal.agency_id, record_id=record_id)
        if row is None:
            raise not_found(kind)
        return row, await _after_read(conn, principal, kind, row)


async def read_with_key(
    check: KeyCheck, kind: Kind, record_id: str
) -> tuple[Principal, Row, dict[str, Any] | None]:
    """`read`, with the caller's key looked up in the same query as the record (one round trip
    instead of two), on a read replica when one has the key's own writes; the key is checked
    (401, 429, 403, 422, as `authorize` does) before the record is used, and a malformed id is
    as unknown as a missing one (404) after that. An unknown key or record is confirmed by the
    primary (a key or record created a moment ago)."""
    try:
        wanted: UUID | None = UUID(record_id)
    except ValueError:
        wanted = None

    async def look_up(source: ReadSource) -> tuple[Principal | None, Row | None, bool]:
        async with source.acquire() as conn:
            found, row = await agencies_db.principal_and_record(
                conn, secret=check.secret, kind=kind, record_id=wanted
            )
            source.confirm(found is not None and row is not None)
            granted = False
            if found is not None:
                await source.ensure_caught_up(conn, found.key_id)
                if found.role == Role.auditor:  # may the agency's auditors read?
                    granted = await agencies_db.auditor_reads_profiles(
                        conn, agency_id=found.agency_id
                    )
        return found, row, granted

    found, row, granted = await check.state.replicas.read(look_up)
    principal = check.principal(found, granted=granted)
    if row is None:
        raise not_found(kind)
    if kind != "seeker":
        return principal, row, None
    async with check.state.pool.acquire() as conn:  # the audited part, on the primary
        return principal, row, await _after_read(conn, principal, kind, row)


async def _after_read(
    conn: asyncpg.Connection, principal: Principal, kind: Kind, row: Row
) -> dict[str, Any] | None:
    """A seeker read is audited, in one event: `seeker.protected.read` when it included their
    protected data (which only some roles get), else `seeker.read`; a posting read needs
    nothing more."""
    if kind != "seeker":
        return None
    prot = None
    async with conn.transaction():
        if principal.role in PROTECTED_READERS:
            prot = await protected_db.get(conn, agency_id=principal.agency_id, seeker_id=row.id)
        action = "seeker.read" if prot is None else "seeker.protected.read"
        await auditing.log(conn, principal, action, subject_type="seeker", subject_id=row.id)
    return prot


def if_match_versions(if_match: str | None) -> frozenset[int] | None:
    """The versions an `If-Match` header accepts (RFC 9110 §13.1.1): None for no header or `*`
    (any current version), else the strong ETags listed; a weak one (`W/"1"`) or one that is
    not ours matches nothing. The header's syntax is checked by the route (422)."""
    if if_match is None or if_match.strip() == "*":
        return None
    versions = set()
    for tag in (t.strip() for t in if_match.split(",")):
        if tag.startswith("W/"):
            continue  # If-Match uses the strong comparison
        value = tag.strip('"') if tag.startswith('"') else tag
        if value.isdigit():
            versions.add(int(value))
    return frozenset(versions)


def _check_precondition(expected: frozenset[int] | None, current: Row) -> None:
    if expected is not None and current.version not in expected:
        raise ProblemError(
            412, "Precondition failed", "The record changed since you read it; read it again."
        )


async def replace(
    state: AppState,
    principal: Principal,
    kind: Kind,
    record_id: UUID,
    body: Body,
    *,
    if_match: str | None = None,
) -> tuple[Row, dict[str, Any] | None, list[WriteWarning]]:
    expected = if_match_versions(if_match)
    warnings = await asyncio.to_thread(write_warnings, body)
    [vector] = await embed_and_understand(state, kind, [body])
    async with state.pool.acquire() as conn, conn.transaction():
        current = await records_db.get(
            conn, kind, agency_id=principal.agency_id, record_id=record_id, lock=True
        )
        if current is None:
            raise not_found(kind)
        _check_precondition(expected, current)
        row, stored = await _write(state, conn, principal, kind, current, body, vector)
    return row, stored, warnings


async def _write(
    state: AppState,
    conn: asyncpg.Connection,
    principal: Principal,
    kind: Kind,
    current: Row,
    body: Body,
    vector: np.ndarray,
) -> tuple[Row, dict[str, Any] | None]:
    """Overwrite the locked record `current` with `body` and its vector (in the caller's
    transaction)."""
    record_id = current.id
    if body.external_id != current.external_id and await records_db.external_id_taken(
        conn,
        kind,
        agency_id=principal.agency_id,
        external_id=body.external_id,
        other_than=record_id,
    ):
        raise _duplicate(kind, body.external_id)
    try:
        row = await records_db.replace(
            conn,
            kind,
            agency_id=principal.agency_id,
            record_id=record_id,
            record=to_record(body),
        )
    except asyncpg.UniqueViolationError:  # taken by a concurrent write since the check
        raise _duplicate(kind, body.external_id) from None
    assert row is not None  # locked by the caller
    await records_db.upsert_embeddings(
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
    return row, stored


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
    """Merge `changes` into the stored record. Concurrent patches are serialised on the row:
    each merges into what the previous one wrote (last writer wins field by field, nothing is
    lost, no 412 without If-Match). The merge is embedded before the row is locked; only when
    the row changed meanwhile is it merged and embedded again under the lock."""
    expected = if_match_versions(if_match)
    async with state.pool.acquire() as conn:
        seen = await _merged(conn, principal, kind, record_id, changes)
    _check_precondition(expected, seen[0])
    [vector] = await embed_and_understand(state, kind, [seen[1]])
    async with state.pool.acquire() as conn, conn.transaction():
        current = await records_db.get(
            conn, kind, agency_id=principal.agency_id, record_id=record_id, lock=True
        )
        if current is None:
            raise not_found(kind)
        _check_precondition(expected, current)
        body = seen[1]
        if current.version != seen[0].version:  # written meanwhile: merge into that
            _, body = await _merged(conn, principal, kind, record_id, changes, row=current)
            [vector] = await embed_and_understand(state, kind, [body])
        row, stored = await _write(state, conn, principal, kind, current, body, vector)
    return row, stored, await asyncio.to_thread(write_warnings, body)


async def _merged(
    conn: asyncpg.Connection,
    principal: Principal,
    kind: Kind,
    record_id: UUID,
    changes: dict[str, Any],
    *,
    row: Row | None = None,
) -> tuple[Row, Body]:
    """The stored record (`row`, or read now) and the body the merge patch makes of it."""
    if row is None:
        row = await records_db.get(conn, kind, agency_id=principal.agency_id, record_id=record_id)
        if row is None:
            raise not_found(kind)
    current: dict[str, Any] = {**row.profile, "external_id": row.external_id}
    if kind == "seeker":
        prot = await protected_db.get(conn, agency_id=principal.agency_id, seeker_id=row.id)
        if prot is not None:
            current["protected"] = prot
    return row, parse_body(kind, _moved(kind, merge_patch(current, changes), changes))


# A record's place: coordinates, or an address whose coordinates were looked up on writing.
_PLACES = {"seeker": "location", "posting": "job_location"}


def _moved(kind: Kind, merged: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """A patch that sets a place's address without giving coordinates moves the place: the
    coordinates kept from before (looked up for the old address, or given with it) are
    dropped, so the new address is looked up."""
    key = _PLACES[kind]
    patched, place = changes.get(key), merged.get(key)
    if (
        isinstance(patched, dict)
        and isinstance(place, dict)
        and any(patched.get(part) is not None for part in ("city", "region", "country"))
        and not {"lat", "lon"} & patched.keys()
    ):
        merged[key] = {k: v for k, v in place.items() if k not in ("lat", "lon")}
    return merged


async def remove(state: AppState, principal: Principal, kind: Kind, record_id: UUID) -> None:
    async with state.pool.acquire() as conn, conn.transaction():
        row = await records_db.get(conn, kind, agency_id=principal.agency_id, record_id=record_id)
        if row is None or not await records_db.delete(
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


async def store_batch(
    state: AppState,
    principal: Principal,
    kind: Kind,
    bodies: Sequence[Body],
    vectors: np.ndarray | None = None,
    *,
    before: Callable[[asyncpg.Connection], Awaitable[bool]] | None = None,
    after: Callable[[asyncpg.Connection, list[UUID | None]], Awaitable[None]] | None = None,
) -> list[UUID | None] | None:
    """Store validated records with one batched embedding call (none when the caller embedded
    them already: `vectors`, one row per body, from the serving model), in one transaction.

    The vectors are stored outside the HNSW index, which the job worker fills when it has
    nothing else to do (`service.embeddings.service.index_waiting_vectors`): the graph inserts
    would otherwise cost PostgreSQL more than the rest of an imported record; searches find
    the waiting vectors all the same.

    Returns each body's new id, or None where the agency already had its external_id (nothing
    stored for it). `before` runs first in the transaction (False: store nothing, return None),
    `after` last, with the ids: a bulk import records its progress atomically with what it stored.
    """
    if vectors is None:
        vectors = await embed_and_understand(state, kind, bodies)
    async with state.pool.acquire() as conn, conn.transaction():
        if before is not None and not await before(conn):
            return None
        ids = await records_db.insert_many(
            conn, kind, agency_id=principal.agency_id, records=[to_record(b) for b in bodies]
        )
        for body, rid in zip(bodies, ids, strict=True):
            if rid is not None and isinstance(body, SeekerIn):
                await _put_protected(conn, principal, rid, body)
        stored = [(rid, vec) for rid, vec in zip(ids, vectors, strict=True) if rid is not None]
        if stored:
            await records_db.upsert_embeddings(
                conn,
                kind,
                agency_id=principal.agency_id,
                model=state.embedder.name,
                record_ids=[rid for rid, _ in stored],
                vectors=np.stack([vec for _, vec in stored]),
                indexed=False,
            )
        if kind == "seeker":
            await auditing.log_many(
                conn,
                principal,
                "seeker.create",
                subject_type="seeker",
                subject_ids=[rid for rid, _ in stored],
            )
        if after is not None:
            await after(conn, ids)
    return ids
