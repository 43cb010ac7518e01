"""The embedded PostgreSQL starts with jobmatch's own settings, and keeps them on restart."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path

import asyncpg

from service.kit.embedded_db import start_embedded, stop_embedded


async def test_shared_buffers_are_sized_for_the_vector_indexes(pool: asyncpg.Pool) -> None:
    # The session's server was started with the default (initdb alone would give 128MB).
    assert await pool.fetchval("SHOW shared_buffers") == "1GB"


def test_a_changed_setting_applies_at_the_next_start() -> None:
    """A server of its own (the session's must keep running), started twice."""

    async def shared_buffers(url: str) -> str:
        conn = await asyncpg.connect(url)
        try:
            return str(await conn.fetchval("SHOW shared_buffers"))
        finally:
            await conn.close()

    data_dir = Path(tempfile.mkdtemp(prefix="jobmatch-conf-"))
    data_dir.chmod(0o755)
    try:
        for size, expected in ((64, "64MB"), (96, "96MB")):
            url = start_embedded(data_dir, shared_buffers_mb=size)
            try:
                assert asyncio.run(shared_buffers(url)) == expected
            finally:
                stop_embedded(data_dir)
        conf = (data_dir / "pgdata" / "postgresql.conf").read_text()
        assert conf.count("include_if_exists = 'jobmatch.conf'") == 1  # added once
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
