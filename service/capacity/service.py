"""The agency's capacity policy, the congestion-price computation (a background job), and the
capacity step of the seeker match route."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import numpy as np

from matching.capacity import (
    Market,
    capacities_from_openings,
    capacity_rerank,
    congestion_prices,
    gini,
    spread_prices,
)
from matching.explain import capacity_note
from matching.rank import ScoredPair
from service.audit import service as auditing
from service.auth.permissions import Principal
from service.background_jobs import repository as jobs_db
from service.background_jobs.repository import Job
from service.background_jobs.worker import Progress
from service.capacity import repository as capacity_db
from service.capacity.repository import ServingContext, StoredPolicy, StoredPriceSet
from service.capacity.schemas import CapacityPolicyIn
from service.state import AppState

log = logging.getLogger(__name__)

REBALANCE_KIND = "capacity_rebalance"
# How many of a seeker's raw candidates a stored list keeps as the demand the next prices see
# (the scores before capacity, so that prices do not chase their own effect).
DEMAND_CANDIDATES = 30
DAYS_PER_WEEK = 7.0
# The list length whose rank-discounted exposure the spread prices even out (the @10 of the
# market report's Congestion@10 and Coverage@10).
SPREAD_LIST_LENGTH = 10


def policy_of(stored: StoredPolicy | None) -> CapacityPolicyIn:
    """The policy in force as a model (method none when never set)."""
    return CapacityPolicyIn() if stored is None else CapacityPolicyIn.model_validate(stored.policy)


async def current(
    pool: asyncpg.Pool, *, agency_id: UUID
) -> tuple[StoredPolicy | None, StoredPriceSet | None]:
    async with pool.acquire() as conn:
        policy = await capacity_db.current(conn, agency_id=agency_id)
        prices = await capacity_db.latest_price_set(conn, agency_id=agency_id)
    return policy, prices


async def put(
    pool: asyncpg.Pool, principal: Principal, *, policy: CapacityPolicyIn
) -> StoredPolicy:
    """A new version, audited in the same transaction; earlier versions stay in the history."""
    async with pool.acquire() as conn, conn.transaction():
        stored = await capacity_db.put(
            conn,
            agency_id=principal.agency_id,
            policy=policy.model_dump(mode="json"),
            created_by=principal.key_id,
        )
        await auditing.log(
            conn,
            principal,
            "capacity_policy.update",
            subject_type="capacity_policy",
            version=stored.version,
            method=policy.method,
        )
    return stored


async def history(pool: asyncpg.Pool, *, agency_id: UUID) -> list[StoredPolicy]:
    async with pool.acquire() as conn:
        return await capacity_db.history(conn, agency_id=agency_id)


async def queue_rebalance(pool: asyncpg.Pool, principal: Principal) -> Job:
    """Queue the congestion-price computation now (audited); poll the job."""
    async with pool.acquire() as conn, conn.transaction():
        job = await jobs_db.create(
            conn,
            agency_id=principal.agency_id,
            kind=REBALANCE_KIND,
            created_by=principal.key_id,
            created_by_role=principal.role.value,
            total=3,
            max_attempts=2,
        )
        await auditing.log(
            conn, principal, "capacity_policy.rebalance", subject_type="job", subject_id=job.id
        )
    return job


@dataclass(frozen=True)
class _MarketSnapshot:
    posting_ids: list[UUID]
    openings: list[int]
    market: Market | None  # None when no seeker list names an active posting
    initial: np.ndarray | None


def _build_market(
    postings: list[capacity_db.MarketPosting],
    demand: list[capacity_db.DemandList],
    items: list[tuple[UUID, UUID, float]],
    previous: dict[UUID, float],
) -> _MarketSnapshot:
    index = {p.id: i for i, p in enumerate(postings)}
    by_list: dict[UUID, list[tuple[int, float]]] = {}
    for list_id, posting_id, score in items:
        if posting_id in index:
            by_list.setdefault(list_id, []).append((index[posting_id], float(score)))
    candidate_sets: list[list[tuple[int, float]]] = []
    for d in demand:
        if d.candidates is not None:
            seen = [
                (index[UUID(str(pid))], float(score))
                for pid, score in d.candidates
                if UUID(str(pid)) in index
            ]
        else:
            seen = by_list.get(d.list_id, [])
        if seen:
            candidate_sets.append(seen)
    market = Market.from_lists(candidate_sets, len(postings)) if candidate_sets else None
    initial = (
        np.array([previous.get(p.id, 0.0) for p in postings], dtype=np.float64)
        if previous
        else None
    )
    return _MarketSnapshot(
        [p.id for p in postings], [p.openings for p in postings], market, initial
    )


async def rebalance(state: AppState, job: Job, progress: Progress) -> dict[str, Any]:
    """The job: congestion prices for the agency's active postings from each seeker's newest
    job list in the window (its raw candidates), capacities from openings; stored as a new
    price set with exposure and applications per posting."""
    agency_id = job.agency_id
    window = state.settings.capacity_window_days
    since = datetime.now(UTC) - timedelta(days=window)
    await progress(0, 3, "reading the market")
    async with state.pool.acquire() as conn:
        stored_policy = await capacity_db.current(conn, agency_id=agency_id)
        postings = await capacity_db.market_postings(conn, agency_id=agency_id)
        demand = await capacity_db.demand(conn, agency_id=agency_id, since=since)
        without = [d.list_id for d in demand if d.candidates is None]
        items = (
            await capacity_db.list_items(conn, agency_id=agency_id, list_ids=without)
            if without
            else []
        )
        previous_set = await capacity_db.latest_price_set(conn, agency_id=agency_id)
        previous = (
            await capacity_db.prices(conn, agency_id=agency_id, version=previous_set.version)
            if previous_set
            else {}
        )
        exposure = await capacity_db.exposure(conn, agency_id=agency_id, since=since)
        applied = await capacity_db.applications(conn, agency_id=agency_id, since=since)
    policy = policy_of(stored_policy)
    snapshot = _build_market(postings, demand, items, previous)
    await progress(1, 3, "computing prices")
    summary: dict[str, Any] = {
        "postings": len(postings),
        "seekers": snapshot.market.n_seekers if snapshot.market else 0,
        "window_days": window,
        "headroom": policy.headroom,
    }
    prices = np.zeros(len(postings), dtype=np.float64)
    if snapshot.market is not None:
        market = snapshot.market
        caps = capacities_from_openings(
            snapshot.openings, float(market.n_seekers), headroom=policy.headroom
        )
        result = await asyncio.to_thread(congestion_prices, market, caps, initial=snapshot.initial)
        prices = result.prices
        unpriced = await asyncio.to_thread(congestion_prices, market, caps, max_iterations=0)
        summary.update(
            iterations=result.iterations,
            converged=result.converged,
            max_overload=round(result.max_overload, 6),
            gini_load_before=round(gini(unpriced.load), 6),
            gini_load_after=round(gini(result.load), 6),
        )
        if policy.method == "balanced":
            # spread what the lists show, within the floor; capacity prices as a lower bound
            spread = await asyncio.to_thread(
                spread_prices,
                market,
                scale=policy.relevance_floor,
                list_length=SPREAD_LIST_LENGTH,
                floor_prices=prices,
            )
            prices = spread.prices
            summary.update(
                spread_rounds=spread.rounds,
                gini_exposure_before=round(spread.gini_plain, 6),
                gini_exposure_after=round(spread.gini, 6),
            )
        summary.update(
            priced_postings=int(np.count_nonzero(prices > 0)),
            max_price=round(float(prices.max()), 6),
        )
    await progress(2, 3, "storing")
    rows = [
        (pid, float(prices[i]), float(exposure.get(pid, 0.0)), applied.get(pid, 0), openings)
        for i, (pid, openings) in enumerate(
            zip(snapshot.posting_ids, snapshot.openings, strict=True)
        )
    ]
    async with state.pool.acquire() as conn, conn.transaction():
        stored = await capacity_db.store_prices(
            conn,
            agency_id=agency_id,
            policy_version=stored_policy.version if stored_policy else 0,
            job_id=job.id,
            summary=summary,
            rows=rows,
        )
    await progress(3, 3, "done")
    log.info("capacity prices v%s stored for %s postings", stored.version, len(rows))
    return {"price_version": stored.version, **summary}


def input_part(ctx: ServingContext) -> list[Any] | None:
    """What of the capacity state a stored job list was made from (its input hash)."""
    policy = policy_of(ctx.policy)
    if policy.method == "none":
        return None
    return [
        ctx.policy.version if ctx.policy else 0,
        ctx.price_version,  # prices, and the exposure the exposure cap reads
        ctx.last_applied_at.isoformat() if ctx.last_applied_at else None,
    ]


@dataclass(frozen=True)
class CapacityOrder:
    """A seeker's list after the capacity step: the items shown (best first), each item's
    capacity block for its explanation, and the list's capacity block."""

    shown: list[ScoredPair]
    item_blocks: dict[int, dict[str, Any]]  # candidate index → block (lowered items only)
    list_block: dict[str, Any]


async def apply_to_seeker_list(
    state: AppState,
    ctx: ServingContext,
    *,
    agency_id: UUID,
    ranked: list[ScoredPair],
    posting_ids: list[UUID],
    openings: list[int],
    limit: int,
) -> CapacityOrder | None:
    """Exclude postings past a hard cap, subtract prices within the relevance floor
    (`balanced`), ties toward fewer applications. None when the policy is `none`.
    `posting_ids` and `openings` are aligned with the candidate indices of `ranked`."""
    policy = policy_of(ctx.policy)
    if policy.method == "none":
        return None
    window = state.settings.capacity_window_days
    price_version = ctx.price_version  # exposure (cap) and prices (balanced) of the newest set
    async with state.pool.acquire() as conn:
        found = await capacity_db.candidate_capacity(
            conn,
            agency_id=agency_id,
            price_version=price_version,
            posting_ids=[posting_ids[p.candidate] for p in ranked],
            window_days=window,
        )
    weeks = window / DAYS_PER_WEEK
    prices, applications, excluded = [], [], []
    for p in ranked:
        c = found[posting_ids[p.candidate]]
        opened = max(openings[p.candidate], 1)
        over_applications = (
            policy.max_applications_per_opening is not None
            and c.applications >= policy.max_applications_per_opening * opened
        )
        over_exposure = (
            policy.max_exposure_per_opening_per_week is not None
            and c.exposure is not None
            and c.exposure / weeks >= policy.max_exposure_per_opening_per_week * opened
        )
        prices.append(c.price if policy.method == "balanced" else 0.0)
        applications.append(c.applications)
        excluded.append(over_applications or over_exposure)
    out = capacity_rerank(
        [p.score for p in ranked],
        prices=prices,
        applications=applications,
        excluded=excluded,
        relevance_floor=policy.relevance_floor,
        k=limit,
    )
    shown = [ranked[i] for i in out.order[:limit]]
    blocks: dict[int, dict[str, Any]] = {}
    lowered = set(out.lowered)  # moved down by their price: the explanation says why
    for i in out.order[:limit]:
        p = ranked[i]
        if i in lowered:
            blocks[p.candidate] = {
                "price": round(prices[i], 6),
                "penalty": round(out.penalties[i], 6),
                "adjusted_score": round(p.score - out.penalties[i], 6),
                "applications": applications[i],
                "openings": openings[p.candidate],
            }
    list_block = {
        "method": policy.method,
        "policy_version": ctx.policy.version if ctx.policy else 0,
        "price_version": price_version,
        "relevance_floor": policy.relevance_floor,
        "excluded": len(out.excluded),
        "lowered": len(blocks),
        "relevance_given_up": round(out.relevance_given_up, 6),
    }
    return CapacityOrder(shown, blocks, list_block)


def demand_candidates(ranked: list[ScoredPair], posting_ids: list[UUID]) -> list[list[Any]]:
    """The seeker's raw candidates (before capacity), best first: the demand prices see."""
    return [[str(posting_ids[p.candidate]), round(p.score, 6)] for p in ranked[:DEMAND_CANDIDATES]]


def explained(
    explanation: dict[str, Any], block: dict[str, Any] | None, language: str
) -> dict[str, Any]:
    """An item's explanation with its capacity note, when its score was lowered."""
    if block is None:
        return explanation
    note = capacity_note(block["penalty"], block["applications"], block["openings"])
    return {
        **explanation,
        "notes": [*explanation["notes"], note.render(language)],
        "note_codes": [*explanation["note_codes"], {"code": note.code, "params": note.params}],
        "capacity": block,
    }
