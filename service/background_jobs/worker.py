"""Background jobs: a worker loop that drains the PostgreSQL queue.

Any number of workers (inside API processes, or `jobmatch worker`) share the queue: a job is
claimed with FOR UPDATE SKIP LOCKED, beats a heartbeat as it reports progress, and a job whose
worker died is put back on the queue (or failed after its last attempt) by any other worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import traceback
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from service.background_jobs import repository as jobs_db
from service.background_jobs.repository import Job
from service.background_jobs.schedule import CHECK_SECONDS, Periodic, enqueue_due
from service.kit.pool import DATABASE_UNAVAILABLE, replace_connections_after
from service.state import AppState

log = logging.getLogger("jobmatch.jobs")


class JobCancelled(Exception):
    """Raised inside a handler when its job was cancelled; `result` is what it did before
    (kept on the job, so that its counts say what was stored)."""

    def __init__(self, result: dict[str, Any] | None = None) -> None:
        super().__init__("cancelled")
        self.result = result or {}


class JobFailed(Exception):
    """Raised by a handler to fail its job with a message meant for the user."""


@dataclass
class Progress:
    """Handed to a job handler: report progress; raises JobCancelled once cancel is asked."""

    state: AppState
    job: Job

    async def __call__(self, done: int, total: int | None = None, phase: str | None = None) -> None:
        async with self.state.pool.acquire() as conn:
            cancel = await jobs_db.progress(
                conn,
                agency_id=self.job.agency_id,
                job_id=self.job.id,
                done=done,
                total=total,
                phase=phase,
            )
        if cancel:
            raise JobCancelled


# A job kind's handler. Every handler is listed in `service/tasks.py`, and the worker is handed
# that list, so a worker can never run without a handler because an import happened not to run.
Handler = Callable[[AppState, Job, Progress], Awaitable[dict[str, Any]]]
# Work a worker does when the queue is empty, one small step per call (True: it did some, so
# call again once the queue has been looked at; False: nothing to do). Listed in
# `service/tasks.py` too.
IdleStep = Callable[[AppState], Awaitable[bool]]


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{id(asyncio.current_task())}"


async def run_one(state: AppState, worker: str, *, handlers: Mapping[str, Handler]) -> bool:
    """Claim and run one job of a kind in `handlers`; False when the queue is empty."""
    async with state.pool.acquire() as conn:
        job = await jobs_db.claim(
            conn, worker=worker, kinds=list(handlers), model=state.embedder.name
        )
    if job is None:
        return False
    progress = Progress(state, job)
    error: str | None
    try:
        result = await handlers[job.kind](state, job, progress)
    except JobCancelled as exc:
        status, result, error = "cancelled", exc.result, "cancelled on request"
    except JobFailed as exc:
        status, result, error = "failed", {}, str(exc)
    except Exception as exc:  # a bug must not kill the worker; the job says what happened
        log.exception("job %s (%s) crashed", job.id, job.kind)
        status, result, error = "failed", {}, f"internal error ({type(exc).__name__})"
    else:
        status, error = "succeeded", None
    async with state.pool.acquire() as conn:
        await jobs_db.finish(
            conn,
            agency_id=job.agency_id,
            job_id=job.id,
            status=status,
            result=result,
            error=error,
        )
    return True


async def run_worker(
    state: AppState,
    *,
    handlers: Mapping[str, Handler],
    stop: asyncio.Event,
    poll_seconds: float = 1.0,
    stale_seconds: float = 120.0,
    name: str | None = None,
    schedule: Sequence[Periodic] = (),
    schedule_check_seconds: float = CHECK_SECONDS,
    idle: Sequence[IdleStep] = (),
) -> None:
    """Drain the queue until `stop` is set; also re-queue jobs of workers that died, queue
    the `schedule`'s periodic jobs that are due (checked every `schedule_check_seconds`), and
    take `idle` steps while no job is queued (a job queued meanwhile goes first)."""
    worker = name or worker_name()
    checked_at = -float("inf")
    while not stop.is_set():
        state.job_queued.clear()  # what is queued from here on wakes the wait below
        try:
            async with state.pool.acquire() as conn:
                for job_id in await jobs_db.reap_stale(conn, stale_seconds=stale_seconds):
                    log.warning("job %s lost its worker; re-queued or failed", job_id)
            if schedule and time.monotonic() - checked_at >= schedule_check_seconds:
                checked_at = time.monotonic()  # only paces the checks; the guard is the table
                await enqueue_due(state.pool, state.settings, schedule)
            while not stop.is_set() and (
                await run_one(state, worker, handlers=handlers) or await _idle_step(state, idle)
            ):
                pass
        except DATABASE_UNAVAILABLE as exc:  # database away: wait and try again
            log.warning("worker %s: database unavailable (%s)", worker, type(exc).__name__)
            await replace_connections_after(state.pool, exc)
        except Exception as exc:  # a bug must not stop the queue for good; the stack says where
            stack = "".join(traceback.format_tb(exc.__traceback__))  # the text may quote data
            failure = type(exc).__name__
            log.error("worker %s: step failed (%s), trying again\n%s", worker, failure, stack)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(poll_seconds):
                await _first_of(stop, state.job_queued)


async def _idle_step(state: AppState, idle: Sequence[IdleStep]) -> bool:
    """Take the first idle step that finds something to do; False when none did."""
    for step in idle:
        if await step(state):
            return True
    return False


async def _first_of(*events: asyncio.Event) -> None:
    """Wait until one of `events` is set."""
    waits = [asyncio.create_task(e.wait()) for e in events]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()
