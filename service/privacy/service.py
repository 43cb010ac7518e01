"""Data subject access (GDPR Art. 15, PIPL Art. 45): everything stored about one seeker."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from service.audit import service as auditing
from service.auth.permissions import Principal
from service.kit.problems import not_found
from service.privacy import repository as privacy_db
from service.records import protected_repository as protected_db
from service.records import repository as records_db
from service.records import representation
from service.state import AppState


async def export_seeker(state: AppState, principal: Principal, seeker_id: UUID) -> dict[str, Any]:
    """One consistent snapshot (repeatable read) of the seeker's data; the export is audited."""
    async with (
        state.pool.acquire() as conn,
        conn.transaction(isolation="repeatable_read"),
    ):
        row = await records_db.get(
            conn, "seeker", agency_id=principal.agency_id, record_id=seeker_id
        )
        if row is None:
            raise not_found("seeker")
        protected = await protected_db.get(conn, agency_id=principal.agency_id, seeker_id=seeker_id)
        ids = {"agency_id": principal.agency_id, "seeker_id": seeker_id}
        out = {
            "exported_at": datetime.now(UTC),
            "seeker": representation.represent(
                "seeker", row, protected=protected, principal=principal
            ),
            "record_version": row.version,
            "embeddings": await privacy_db.embedding_models(conn, **ids),
            "match_items": await privacy_db.match_items(conn, **ids),
            "decisions": await privacy_db.decisions(conn, **ids),
            "outcomes": await privacy_db.outcomes(conn, **ids),
            "audit_trail": await privacy_db.audit_trail(conn, **ids),
        }
        await auditing.log(
            conn, principal, "seeker.export", subject_type="seeker", subject_id=seeker_id
        )
    return out
