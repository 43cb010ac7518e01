"""Periodic jobs: kinds the worker loop puts on the queue by itself, per agency.

A periodic kind is queued for an agency when no job of that kind is queued or running for it
and the last one finished longer ago than its interval (or none ever ran). The check and the
insert run in one transaction under a PostgreSQL advisory lock per kind, so any number of
workers, in any number of processes, restarted at any time, queue each job once: the guard is
the job table itself, never a worker's memory. A job queued by hand (e.g.
`POST /v1/capacity-policy:rebalance`) counts as the last run too.

To add one: a `Periodic` in `service.tasks.PERIODIC` with its interval read from a documented
setting (0 turns it off) and, when it concerns only some agencies, a function that says which.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from uuid import UUID

import asyncpg

from service.background_jobs import repository as jobs_db
from service.config import Settings

log = logging.getLogger("jobmatch.jobs")

# How often a worker asks whether a periodic job is due (each check is one short transaction
# per kind); a job becomes due at most this much later than its interval says.
CHECK_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class Periodic:
    """A job kind queued every `every(settings)` seconds per agency (≤ 0: never). `agencies`,
    when given, names the agencies it concerns (otherwise every agency)."""

    kind: str
    every: Callable[[Settings], float]
    agencies: Callable[[asyncpg.Connection], Awaitable[list[UUID]]] | None = None
    max_attempts: int = 2


async def enqueue_due(
    pool: asyncpg.Pool, settings: Settings, periodic: Sequence[Periodic]
) -> list[tuple[UUID, str]]:
    """Queue every periodic job that is due; (agency, kind) of each queued."""
    queued: list[tuple[UUID, str]] = []
    for p in periodic:
        every = p.every(settings)
        if every <= 0:
            continue
        async with pool.acquire() as conn, conn.transaction():
            await jobs_db.lock_kind(conn, kind=p.kind)
            agency_ids = await p.agencies(conn) if p.agencies is not None else None
            if agency_ids is not None and not agency_ids:
                continue
            for agency_id in await jobs_db.enqueue_periodic(
                conn,
                kind=p.kind,
                every_seconds=every,
                agency_ids=agency_ids,
                max_attempts=p.max_attempts,
            ):
                queued.append((agency_id, p.kind))
    if queued:
        log.info("queued %d periodic job(s)", len(queued))
    return queued
