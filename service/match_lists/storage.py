"""Storing match lists, and answering a repeated request with the list already stored when
nothing it was made from changed."""

from __future__ import annotations

import hashlib
from typing import Any
from uuid import UUID

import orjson

from service.audit import service as auditing
from service.auth.permissions import Principal
from service.kit import replicas
from service.kit.metrics import LIST_ITEMS
from service.match_lists import repository as lists_db
from service.match_lists.presentation import to_response
from service.match_lists.repository import StoredItem, StoredList
from service.match_lists.schemas import MatchList
from service.state import AppState

ROUTES = {
    "postings_for_seeker": "GET /v1/seekers/{id}/matches",
    "seekers_for_posting": "GET /v1/postings/{id}/matches",
}


def input_hash(*parts: Any) -> str:
    return hashlib.sha256(orjson.dumps(parts, option=orjson.OPT_SORT_KEYS)).hexdigest()


async def reusable(
    state: AppState,
    conn: Any,
    principal: Principal,
    *,
    kind: str,
    seeker_id: UUID | None,
    posting_id: UUID | None,
    input_hash: str,
    limit: int,
) -> UUID | None:
    """The newest stored list made from the same input within the freshness window, when
    nothing it was made from changed since (match_lists/repository.reusable_list): answered
    again (`reuse`) instead of storing an identical list (which would flood the review queue).
    Only reads: `conn` may be a read replica's."""
    fresh = state.settings.match_list_reuse_seconds
    if fresh <= 0:
        return None
    list_id: UUID | None = await lists_db.reusable_list(
        conn,
        agency_id=principal.agency_id,
        kind=kind,
        seeker_id=seeker_id,
        posting_id=posting_id,
        input_hash=input_hash,
        fresh_seconds=fresh,
        limit=limit,
    )
    return list_id


async def reuse(
    state: AppState, principal: Principal, list_id: UUID, *, kind: str
) -> MatchList | None:
    """The list found by `reusable`, read from the primary with its audit row (None when it
    was erased in between)."""
    async with state.pool.acquire() as conn, conn.transaction():
        found = await lists_db.get_list(conn, agency_id=principal.agency_id, list_id=list_id)
        if found is None:  # erased in between
            return None
        await auditing.log(
            conn,
            principal,
            "match_list.reuse",
            subject_type="match_list",
            subject_id=list_id,
            route=ROUTES[kind],
        )
    replicas.mark_written()
    stored, items = found
    return to_response(stored, items)


async def persist(
    state: AppState,
    principal: Principal,
    *,
    kind: str,
    seeker_id: UUID | None,
    posting_id: UUID | None,
    personalised: bool,
    model_version: str,
    embedding_model: str,
    radius_km: float | None,
    radius_widened_km: float,
    considered: int,
    items: list[StoredItem],
    input_hash: str,
    fairness_policy: dict[str, Any] | None = None,
    policy_version: int | None = None,
    fairness: dict[str, Any] | None = None,
    capacity: dict[str, Any] | None = None,
) -> StoredList:
    fields: dict[str, Any] = {
        "agency_id": principal.agency_id,
        "kind": kind,
        "seeker_id": seeker_id,
        "posting_id": posting_id,
        "model_version": model_version,
        "embedding_model": embedding_model if personalised else "none",
        "personalised": personalised,
        "radius_km": radius_km,
        "radius_widened_km": radius_widened_km,
        "candidates_considered": considered,
        "fairness_policy": fairness_policy,
        "policy_version": policy_version,
        "fairness": fairness,
        "input_hash": input_hash,
    }
    audit = lists_db.AuditEntry(
        actor_key_id=principal.key_id,
        actor_role=principal.role.value,
        acted_by=principal.acting_person,
        action="match_list.create",
        route=ROUTES[kind],
        details={
            "kind": kind,
            "seeker_id": str(seeker_id) if seeker_id else None,
            "posting_id": str(posting_id) if posting_id else None,
            "input_hash": input_hash,
            "model_version": model_version,
            "policy_version": policy_version,
            "items": len(items),
        },
    )
    async with state.pool.acquire() as conn:
        list_id, created_at = await lists_db.insert_list(
            conn,
            created_by=principal.key_id,
            items=items,
            audit=audit,
            capacity=capacity,
            **fields,
        )
    replicas.mark_written()
    LIST_ITEMS.labels(kind).observe(len(items))
    return StoredList(id=list_id, created_at=created_at, capacity=capacity, **fields)
