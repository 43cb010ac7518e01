"""Shared fixtures: one embedded PostgreSQL per test session, migrated with alembic; the real
embedding model; an app with its lifespan; a fresh agency (with a key per role) per test."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from asgi_lifespan import LifespanManager

from tests.factories import TEST_DATA_DIR, Agency, make_agency

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The embedded PostgreSQL server's URL (fresh data directory per session)."""
    from service.kit.embedded_db import start_embedded

    # Not under pytest's private tmp dir: as root, PostgreSQL runs as another user that must
    # reach its data directory.
    data_dir = Path(tempfile.mkdtemp(prefix="jobmatch-test-"))
    data_dir.chmod(0o755)
    yield start_embedded(data_dir)
    shutil.rmtree(data_dir, ignore_errors=True)


async def _create_database(server_url: str, name: str) -> str:
    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return server_url.replace("/postgres?", f"/{name}?")


@pytest.fixture(scope="session")
def database_url(pg_server: str) -> str:
    """A database migrated to head with alembic, shared by the session."""
    from service.kit import migrate

    url = asyncio.run(_create_database(pg_server, "jobmatch_test"))
    migrate.upgrade(url)
    return url


@pytest.fixture(scope="session")
def fresh_database(pg_server: str) -> Iterator[object]:
    """A factory of empty databases (for migration tests)."""

    def make(name: str) -> str:
        return asyncio.run(_create_database(pg_server, name))

    yield make


@pytest.fixture(scope="session")
def embedder() -> object:
    """The real embedding model the service runs by default, loaded once."""
    from matching.embed import make_embedder
    from service.config import Settings

    return make_embedder(Settings.model_fields["embedding_model"].default)


@pytest.fixture(scope="session")
def settings(database_url: str, embedder: object) -> object:
    from service.app import read_reference_data
    from service.config import Settings

    settings = Settings(
        database_url=database_url,
        # Kept between sessions: the ESCO label vectors (encoded once per model) live under it.
        data_dir=TEST_DATA_DIR,
        min_nearby_postings=3,
        bulk_max_records=500,
        max_body_bytes=2_000_000,
        # far above what any test sends; tests of the limiter swap in a strict one
        rate_limit_per_minute=1_000_000,
        rate_limit_burst=100_000,
        job_poll_seconds=0.1,  # the in-app worker picks up queued imports quickly
        # tests read an import's outcome from its answer: wait for it even on a loaded machine
        # (test_bulk_import_runs_on_the_job_queue sets this to 0 to see the 202 path)
        bulk_wait_seconds=600.0,
        bulk_sync_max_records=100_000,  # likewise for large uploads (one test sets it low)
        # no retention job appears in the agencies' job lists unasked (tests of the schedule
        # queue it themselves)
        retention_interval_seconds=0,
    )
    # ESCO text understanding and the gazetteer are read once per process and shared by every
    # app the tests start: read them here, before any app's start-up (which waits at most 5 s
    # in tests).
    read_reference_data(settings, embedder)  # type: ignore[arg-type]
    return settings


@pytest.fixture(scope="session")
async def app(settings: object, embedder: object) -> AsyncIterator[object]:
    from service.app import create_app

    application = create_app(settings, embedder=embedder)  # type: ignore[arg-type]
    async with LifespanManager(application):
        yield application


@pytest.fixture(scope="session")
async def pool(app: object) -> object:
    return app.state.jobmatch.pool  # type: ignore[attr-defined]


@pytest.fixture
async def client(app: object) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


@pytest.fixture
async def agency(app: object, pool: asyncpg.Pool, client: httpx.AsyncClient) -> Agency:
    return await make_agency(app, pool, client)


@pytest.fixture
async def other_agency(app: object, pool: asyncpg.Pool, client: httpx.AsyncClient) -> Agency:
    return await make_agency(app, pool, client)
