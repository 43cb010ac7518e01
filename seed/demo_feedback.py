"""Simulated caseworker feedback for the demo: decisions and outcomes on stored lists, drawn
from the hidden preference in `seed.feedback` (which the default weights do not know)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from uuid import UUID

from seed.feedback import FUNNEL, simulate_labels
from service.audit import service as auditing
from service.auth.permissions import Principal
from service.match_lists import repository as matches_db
from service.review import repository as reviews_db
from service.state import AppState

DECISIONS = {"shortlist", "reject", "contact"}


async def record_simulated_feedback(
    state: AppState,
    principal: Principal,
    list_ids: Sequence[UUID],
    *,
    seed: int = 5,
    bias: Mapping[str, Mapping[str, float]] | None = None,
) -> int:
    """Decisions and outcomes for every item of the given lists; returns the events written."""
    written = 0
    async with state.pool.acquire() as conn, conn.transaction():
        for n, list_id in enumerate(list_ids):
            found = await matches_db.get_list(conn, agency_id=principal.agency_id, list_id=list_id)
            if found is None:
                continue
            _, items = found
            # three simulated caseworkers share the lists, so oversight figures have people
            person = principal.acting_person or f"demo-caseworker-{n % 3 + 1}"
            outcomes = simulate_labels([{"features": it.features} for it in items], seed=seed + n)
            for item, outcome in zip(items, outcomes, strict=True):
                for event in FUNNEL[outcome]:
                    if event in DECISIONS:
                        await reviews_db.insert_decision(
                            conn,
                            agency_id=principal.agency_id,
                            match_list_id=list_id,
                            rank=item.rank,
                            seeker_id=item.seeker_id,
                            posting_id=item.posting_id,
                            action=event,
                            reason_code="other" if event == "reject" else None,
                            note=None,
                            new_rank=None,
                            created_by=principal.key_id,
                            acted_by=person,
                        )
                    else:
                        await reviews_db.insert_outcome(
                            conn,
                            agency_id=principal.agency_id,
                            seeker_id=item.seeker_id,
                            posting_id=item.posting_id,
                            outcome=event,
                            created_by=principal.key_id,
                            acted_by=person,
                        )
                    written += 1
        await auditing.log(
            conn, principal, "feedback.simulated", lists=len(list_ids), events=written
        )
    return written
