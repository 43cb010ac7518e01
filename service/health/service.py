"""Readiness: the database answers and the embedding model is loaded."""

from __future__ import annotations

import asyncio

from service.health import repository
from service.kit import embedded_db
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
    if not state.settings.database_url:
        checks["embedded_database"] = _embedded(state)
    return checks


def _embedded(state: AppState) -> str:
    """The embedded server as its supervisor (the process that started it) last saw it."""
    seen = embedded_db.status(state.settings.data_dir)
    if seen is None or seen.get("state") == "running":
        # Unsupervised (tests, `jobmatch worker`) or running: the database check says the rest.
        return "ok"
    detail = f"restarting (attempt {seen.get('attempt', '?')}"
    if seen.get("error"):
        detail += f", last start failed: {seen['error']}"
    return detail + ")"
