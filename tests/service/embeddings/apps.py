"""Apps for the posting-vector tests: another app on the session's database, as another
worker process would be, and the posting ids of a seeker's list."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
from asgi_lifespan import LifespanManager


async def posting_ids(client: httpx.AsyncClient, sid: str, headers: dict[str, str]) -> list[str]:
    r = await client.get(f"/v1/seekers/{sid}/matches?limit=50", headers=headers)
    assert r.status_code == 200, r.text
    return [i["posting_id"] for i in r.json()["items"]]


@contextlib.asynccontextmanager
async def second_process(
    settings: Any, embedder: Any, **update: Any
) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    """Another app on the same database (as another worker would be), its memory loaded, and
    a client for it."""
    from service.app import create_app

    changed = settings.model_copy(update={"run_worker": False, **update})
    other = create_app(changed, embedder=embedder)
    async with LifespanManager(other):
        await other.state.jobmatch.warming
        transport = httpx.ASGITransport(app=other)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield other.state.jobmatch, client
