"""The stop switch for automated ranking (human oversight): for the agency or one posting."""

from __future__ import annotations

from uuid import UUID

from service.audit import service as auditing
from service.auth.permissions import Principal
from service.kit.problems import not_found
from service.match_lists import repository as lists_db
from service.records import repository as records_db
from service.state import AppState


async def ranking_switch(state: AppState, principal: Principal) -> lists_db.RankingStops:
    """Where automated ranking is stopped in the agency."""
    async with state.pool.acquire() as conn:
        return await lists_db.ranking_stops(conn, agency_id=principal.agency_id)


async def set_ranking(
    state: AppState, principal: Principal, *, posting_id: UUID | None, stopped: bool
) -> lists_db.RankingStops:
    """Stop or resume automated ranking for the agency (`posting_id` None) or one posting;
    audited when it changes. Lists made before keep their order; new ones show the change."""
    async with state.pool.acquire() as conn, conn.transaction():
        if posting_id is not None:
            row = await records_db.get(
                conn, "posting", agency_id=principal.agency_id, record_id=posting_id
            )
            if row is None:
                raise not_found("posting")
        if stopped:
            changed = await lists_db.stop_ranking(
                conn,
                agency_id=principal.agency_id,
                posting_id=posting_id,
                stopped_by=principal.key_id,
            )
        else:
            changed = await lists_db.resume_ranking(
                conn, agency_id=principal.agency_id, posting_id=posting_id
            )
        if changed:
            await auditing.log(
                conn,
                principal,
                "ranking.stop" if stopped else "ranking.resume",
                subject_type="posting" if posting_id else "agency",
                subject_id=posting_id or principal.agency_id,
            )
        return await lists_db.ranking_stops(conn, agency_id=principal.agency_id)
