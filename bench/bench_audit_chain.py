"""The audit hash chain's cost: audited write transactions per second of one agency with the
chain (per-agency lock held to commit, hash computed in the insert trigger) against the same
inserts with the chain trigger disabled, at 1 and 8 concurrent writers; then how fast
`verify` recomputes the chain. Baseline and chain are measured in the same run, alternating.

    python bench/bench_audit_chain.py [--events 2000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from uuid import UUID, uuid4

import asyncpg

from service.audit import service as auditing
from service.kit import migrate
from service.kit.embedded_db import start_embedded, stop_embedded

INSERT = (
    "INSERT INTO audit_event (id, agency_id, actor_role, action, subject_type, subject_id, "
    "subject_ids, details) VALUES ($1, $2, 'caseworker', 'seeker.read', 'seeker', $3, "
    "ARRAY[$3::uuid], '{\"count\": 1}')"
)


async def _writers(pool: asyncpg.Pool, agency: UUID, events: int, concurrency: int) -> float:
    """Audited transactions per second: `events` single-event transactions over `concurrency`
    connections."""

    async def one_writer(n: int) -> None:
        async with pool.acquire() as conn:
            for _ in range(n):
                async with conn.transaction():
                    await conn.execute(INSERT, uuid4(), agency, uuid4())

    start = time.perf_counter()
    await asyncio.gather(*(one_writer(events // concurrency) for _ in range(concurrency)))
    return (events // concurrency * concurrency) / (time.perf_counter() - start)


async def run(server: str, events: int, rounds: int) -> None:
    admin = await asyncpg.connect(server)
    await admin.execute("CREATE DATABASE bench_audit")
    await admin.close()
    url = server.replace("/postgres?", "/bench_audit?")
    await asyncio.to_thread(migrate.upgrade, url)
    pool = await asyncpg.create_pool(url, min_size=8, max_size=8)
    agency = uuid4()
    async with pool.acquire() as conn:
        await conn.execute("INSERT INTO agency (id, name) VALUES ($1, 'bench')", agency)
    results: dict[tuple[str, int], list[float]] = {}
    for _ in range(rounds):
        for concurrency in (1, 8):
            for mode in ("no chain", "chain"):
                async with pool.acquire() as conn:
                    state = "DISABLE" if mode == "no chain" else "ENABLE"
                    await conn.execute(f"ALTER TABLE audit_event {state} TRIGGER audit_event_chain")
                rate = await _writers(pool, agency, events, concurrency)
                results.setdefault((mode, concurrency), []).append(rate)
    async with pool.acquire() as conn:
        await conn.execute("ALTER TABLE audit_event ENABLE TRIGGER audit_event_chain")
        # verification covers the chained events only: start a fresh agency's chain
        fresh = uuid4()
        await conn.execute("INSERT INTO agency (id, name) VALUES ($1, 'bench-verify')", fresh)
    for _ in range(4):
        await _writers(pool, fresh, 5000, 8)
    start = time.perf_counter()
    v = await auditing.verify(pool, agency_id=fresh)
    verify_rate = v.events_checked / (time.perf_counter() - start)
    await pool.close()
    print(f"| writers | no chain (tx/s) | chain (tx/s) | chain / no chain |  ({rounds} rounds)")
    print("|---|---|---|---|")
    for concurrency in (1, 8):
        base = statistics.median(results[("no chain", concurrency)])
        chained = statistics.median(results[("chain", concurrency)])
        print(f"| {concurrency} | {base:,.0f} | {chained:,.0f} | {chained / base:.2f} |")
    print(f"\nverify: {v.events_checked:,} events, {verify_rate:,.0f} events/s, ok={v.verified}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    data = Path(tempfile.mkdtemp(prefix="jobmatch-bench-audit-"))
    data.chmod(0o755)
    try:
        asyncio.run(run(start_embedded(data), args.events, args.rounds))
    finally:
        stop_embedded(data)
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
