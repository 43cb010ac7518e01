"""Caseworker review: reading stored lists, recording decisions and outcomes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

import asyncpg

from service.audit import service as auditing
from service.auth import repository as agencies_db
from service.auth.permissions import Principal, Role
from service.kit.pagination import decode_cursor, encode_key, split_page
from service.kit.problems import FieldError, not_found, validation_problem
from service.kit.replicas import Acquirer
from service.match_lists import repository as matches_db
from service.match_lists.repository import StoredItem, StoredList
from service.records import repository as records_db
from service.review import repository as reviews_db
from service.review.repository import Decision
from service.review.schemas import DecisionIn, DecisionOut, OutcomeIn, OutcomeOut
from service.state import AppState


def decision_out(d: Decision) -> DecisionOut:
    return DecisionOut(
        id=d.id,
        match_list_id=d.match_list_id,
        rank=d.rank,
        seeker_id=d.seeker_id,
        posting_id=d.posting_id,
        action=d.action,
        reason_code=d.reason_code,
        note=d.note,
        new_rank=d.new_rank,
        created_at=d.created_at,
        created_by=str(d.created_by),
        acted_by=d.acted_by,
    )


def final_ranks(n: int, decisions: dict[int, list[Decision]]) -> dict[int, int]:
    """Stored rank → rank after the overrides, applied in the order they were made.

    Only each item's current decision counts: an override later superseded by another action
    no longer moves the item.
    """
    current = [ds[0] for ds in decisions.values() if ds and ds[0].action == "override"]
    order = list(range(1, n + 1))
    for d in sorted(current, key=lambda d: (d.created_at, str(d.id))):
        assert d.new_rank is not None
        order.remove(d.rank)
        order.insert(min(d.new_rank, n) - 1, d.rank)
    return {rank: pos for pos, rank in enumerate(order, start=1)}


def by_item(decisions: Sequence[Decision]) -> dict[int, list[Decision]]:
    out: dict[int, list[Decision]] = {}
    for d in sorted(decisions, key=lambda d: (d.created_at, str(d.id)), reverse=True):
        out.setdefault(d.rank, []).append(d)
    return out


async def record_decisions(
    state: AppState, principal: Principal, list_id: UUID, decisions: Sequence[DecisionIn]
) -> list[DecisionOut]:
    """All or nothing: one transaction, with one audit event naming every seeker decided on
    (action `decision.<action>`, or `decision.batch` when the actions differ)."""
    async with state.pool.acquire() as conn, conn.transaction():
        found = await matches_db.get_list(conn, agency_id=principal.agency_id, list_id=list_id)
        if found is None:
            raise not_found("match list")
        _, items = found
        by_rank = {it.rank: it for it in items}
        errors = [
            FieldError(field=f"body.decisions.{i}.rank", message=f"the list has no rank {d.rank}")
            for i, d in enumerate(decisions)
            if d.rank not in by_rank
        ] + [
            FieldError(
                field=f"body.decisions.{i}.new_rank",
                message=f"the list has only {len(items)} items",
            )
            for i, d in enumerate(decisions)
            if d.new_rank is not None and d.new_rank > len(items)
        ]
        if errors:
            raise validation_problem(errors)
        out = []
        for d in decisions:
            item = by_rank[d.rank]
            stored = await reviews_db.insert_decision(
                conn,
                agency_id=principal.agency_id,
                match_list_id=list_id,
                rank=d.rank,
                seeker_id=item.seeker_id,
                posting_id=item.posting_id,
                action=d.action,
                reason_code=d.reason_code.value if d.reason_code else None,
                note=d.note,
                new_rank=d.new_rank,
                created_by=principal.key_id,
                acted_by=principal.acting_person,
            )
            out.append(decision_out(stored))
        # No free text in the audit event: ids, actions and reason codes only.
        actions = {d.action for d in out}
        await auditing.log_many(
            conn,
            principal,
            f"decision.{actions.pop()}" if len(actions) == 1 else "decision.batch",
            subject_type="seeker",
            subject_ids=list(dict.fromkeys(d.seeker_id for d in out)),
            match_list_id=str(list_id),
            decisions=[
                {
                    "decision_id": str(d.id),
                    "action": d.action,
                    "rank": d.rank,
                    "new_rank": d.new_rank,
                    "reason_code": d.reason_code,
                    "posting_id": str(d.posting_id),
                }
                for d in out
            ],
        )
    return out


async def record_outcome(state: AppState, principal: Principal, body: OutcomeIn) -> OutcomeOut:
    try:
        seeker_id, posting_id = UUID(body.seeker_id), UUID(body.posting_id)
    except ValueError:
        raise not_found("seeker or posting") from None
    async with state.pool.acquire() as conn, conn.transaction():
        for kind, rid in (("seeker", seeker_id), ("posting", posting_id)):
            row = await records_db.get(conn, kind, agency_id=principal.agency_id, record_id=rid)  # type: ignore[arg-type]
            if row is None:
                raise not_found(kind)
        stored = await reviews_db.insert_outcome(
            conn,
            agency_id=principal.agency_id,
            seeker_id=seeker_id,
            posting_id=posting_id,
            outcome=body.outcome,
            created_by=principal.key_id,
            acted_by=principal.acting_person,
        )
        await auditing.log(
            conn,
            principal,
            f"outcome.{body.outcome}",
            subject_type="seeker",
            subject_id=seeker_id,
            posting_id=str(posting_id),
            outcome_id=str(stored.id),
        )
    return OutcomeOut(
        id=stored.id,
        seeker_id=stored.seeker_id,
        posting_id=stored.posting_id,
        outcome=stored.outcome,
        created_at=stored.created_at,
        created_by=str(stored.created_by),
        acted_by=stored.acted_by,
    )


async def list_summaries(
    pool: Acquirer,
    *,
    agency_id: UUID,
    seeker_id: UUID | None,
    posting_id: UUID | None,
    since: datetime | None,
    until: datetime | None,
    unreviewed: bool,
    cursor: str | None,
    limit: int,
    latest_per_subject: bool = False,
) -> tuple[list[reviews_db.ListSummary], str | None]:
    """The agency's lists, newest first, and the cursor to the next page (`latest_per_subject`:
    only each seeker's or posting's newest list, as the console's review queue shows them).
    Only reads: `pool` may be a read replica's source."""
    async with pool.acquire() as conn:
        rows = await reviews_db.list_summaries(
            conn,
            agency_id=agency_id,
            seeker_id=seeker_id,
            posting_id=posting_id,
            since=since,
            until=until,
            unreviewed=unreviewed,
            after=decode_cursor(cursor) if cursor else None,
            limit=limit,
            latest_per_subject=latest_per_subject,
        )
    return split_page(rows, limit, lambda r: encode_key(r.created_at, r.id))


async def profiles_visible(pool: asyncpg.Pool, principal: Principal) -> bool:
    """Whether the caller may see profile details (external ids, headlines, notes) in lists:
    every reviewing role; an auditor only when the agency grants it."""
    if principal.role != Role.auditor:
        return True
    async with pool.acquire() as conn:
        return await agencies_db.auditor_reads_profiles(conn, agency_id=principal.agency_id)


async def read_list(
    pool: asyncpg.Pool, principal: Principal, list_id: UUID
) -> tuple[StoredList, list[StoredItem], dict[int, list[Decision]], bool]:
    """A stored list as produced, with its decisions per rank, and whether the caller may see
    profile details in it (an auditor only when the agency grants it); the read is audited."""
    async with pool.acquire() as conn, conn.transaction():
        profiles = principal.role != Role.auditor or await agencies_db.auditor_reads_profiles(
            conn, agency_id=principal.agency_id
        )
        found = await matches_db.get_list(conn, agency_id=principal.agency_id, list_id=list_id)
        if found is None:
            raise not_found("match list")
        stored, items = found
        decisions = await reviews_db.decisions_for_list(
            conn, agency_id=principal.agency_id, match_list_id=list_id
        )
        await auditing.log(
            conn, principal, "match_list.read", subject_type="match_list", subject_id=list_id
        )
    return stored, items, by_item(decisions), profiles
