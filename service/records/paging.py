"""Paging through an agency's seekers or postings: one audit event per page, naming every
seeker read and those whose protected data were read with it."""

from __future__ import annotations

import unicodedata
from typing import Any
from uuid import UUID

from service.audit import service as auditing
from service.auth.permissions import Principal
from service.kit.pagination import decode_cursor, encode_key
from service.kit.replicas import ReadSource
from service.records import protected_repository as protected_db
from service.records import repository as records_db
from service.records.repository import Kind, Row
from service.records.representation import PROTECTED_READERS
from service.state import AppState


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
    if external_id is not None:  # stored in NFC: found whichever form is asked for
        external_id = unicodedata.normalize("NFC", external_id)

    async def read_page(source: ReadSource) -> list[Row]:
        async with source.acquire() as conn:
            return await records_db.page(
                conn,
                kind,
                agency_id=principal.agency_id,
                limit=limit,
                after=after,
                external_id=external_id,
            )

    # The page from a read replica when one has the key's own writes; the audited part (a
    # seeker page's protected data and its audit event) on the primary.
    rows = await state.replicas.read(read_page, key_id=principal.key_id)
    more = len(rows) > limit
    rows = rows[:limit]
    prot: dict[UUID, dict[str, Any]] = {}
    if kind == "seeker":
        ids = [r.id for r in rows]
        async with state.pool.acquire() as conn, conn.transaction():
            if principal.role in PROTECTED_READERS:
                prot = await protected_db.get_all(
                    conn, agency_id=principal.agency_id, seeker_ids=ids
                )
            # One event for the page, naming every seeker read and those whose protected
            # data were read with it.
            await auditing.log_many(
                conn,
                principal,
                "seeker.read",
                subject_type="seeker",
                subject_ids=ids,
                protected_read=[str(i) for i in prot],
            )
    return rows, prot, encode_cursor(rows[-1]) if more and rows else None
