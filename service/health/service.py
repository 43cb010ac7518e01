"""Readiness: the database answers and the embedding model is loaded."""

from __future__ import annotations

import asyncio

from service.health import repository
from service.state import AppState


async def readiness(state: AppState) -> dict[str, str]:
    """Each check's outcome: "ok", or what went wrong."""
    checks = {"model": "ok" if state.embedder is not None else "missing"}
    try:
        async with asyncio.timeout(2):
            async with state.pool.acquire() as conn:
                await repository.ping(conn)
        checks["database"] = "ok"
    except Exception as exc:  # any failure means "not ready"
        checks["database"] = type(exc).__name__
    return checks
