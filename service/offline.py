"""The service's state without a server, for commands that run in their own process
(`jobmatch worker`, `jobmatch retrain`): settings, the migrated database, pool and model."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from service.config import get_settings
from service.state import AppState


@asynccontextmanager
async def offline_state() -> AsyncIterator[AppState]:
    """Settings, migrated database, pool and model for commands that run without the server."""
    from matching.score import WeightedSumScorer
    from service.app import configure_logging, load_embedder, load_understanding
    from service.kit import migrate
    from service.kit.pool import create_pool, resolve_database_url
    from service.state import AppState

    settings = get_settings()
    configure_logging(settings)
    url = resolve_database_url(settings)
    await asyncio.to_thread(migrate.upgrade, url)
    pool = await create_pool(url, settings)
    try:
        state = AppState(
            settings=settings,
            pool=pool,
            embedder=load_embedder(settings),
            scorer=WeightedSumScorer(),
        )
        await load_understanding(state)
        yield state
    finally:
        await pool.close()
