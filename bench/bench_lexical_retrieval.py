"""Hybrid retrieval's full-text query alone, timed on the matching benchmark's database.

The seeker route's p50 is too noisy on a shared 2-core machine to show one query's share, so
this times the query itself: for the same seekers, interleaved, the query the service runs
(`lexical_posting_candidates`: found by the rarest words, ranked by all) against the query it
replaced (found and ranked by every word ORed), and the vector search beside them as the yard
stick. Run `bench/bench_matching.py` once first: it builds `bench_<N>` in the work directory.

    HF_HUB_OFFLINE=1 python bench/bench_lexical_retrieval.py --n 100000 --workdir /tmp/jm-bench
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from service.kit.embedded_db import start_embedded
from service.kit.pool import init_connection
from service.match_lists import candidates_repository as candidates_db
from service.match_lists.retrieval import lexical_query_text
from service.records.convert import seeker_profile

# The query before the rarest-words change (commit ee2da52's parent), kept as the baseline.
EVERY_WORD_QUERY = (
    "WITH q AS (SELECT to_tsquery('simple', string_agg(quote_literal(lex), ' | ')) AS q "
    "FROM unnest(tsvector_to_array(to_tsvector("
    "(SELECT a.text_search_config FROM agency a WHERE a.id = $1), $3))) AS lex), "
    "m AS (SELECT r.id, $5::float8 * ts_rank(r.search_vector, q.q, 1) AS x FROM posting r, q "
    "WHERE r.agency_id = $1 AND r.search_vector @@ q.q "
    "AND (r.valid_through IS NULL OR r.valid_through > now()) "
    "ORDER BY x DESC, r.id LIMIT $4) "
    "SELECT m.id, 1 - (e.embedding <=> $6::vector) AS cosine FROM m "
    "JOIN posting_embedding e ON e.posting_id = m.id AND e.model = $2"
)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--workdir", default="/tmp/jm-bench")
    parser.add_argument("--seekers", type=int, default=200)
    parser.add_argument("--pool", type=int, default=50, help="postings found by words")
    args = parser.parse_args()
    server = start_embedded(Path(args.workdir))
    head, _, options = server.partition("?")
    url = head.rsplit("/", 1)[0] + f"/bench_{args.n}" + (f"?{options}" if options else "")
    conn = await asyncpg.connect(url)
    await init_connection(conn)
    rows = await conn.fetch(
        "SELECT s.agency_id, s.profile, e.model, e.embedding FROM seeker s "
        "JOIN seeker_embedding e ON e.seeker_id = s.id ORDER BY s.id LIMIT $1",
        args.seekers,
    )
    common = await candidates_db.common_lexemes(conn)
    timings: dict[str, list[float]] = {"vector (HNSW)": [], "every word": [], "rarest words": []}
    found: dict[str, list[int]] = {"every word": [], "rarest words": []}
    for row in rows:
        agency_id: UUID = row["agency_id"]
        query = np.asarray(row["embedding"].to_numpy(), dtype=np.float32)
        text = lexical_query_text(seeker_profile(row["profile"]))
        where: dict[str, Any] = dict(agency_id=agency_id, model=row["model"], query=query)
        started = time.perf_counter()
        await candidates_db.posting_candidates(
            conn, lat=None, lon=None, radius_km=None, limit=100, **where
        )
        timings["vector (HNSW)"].append(time.perf_counter() - started)
        started = time.perf_counter()
        old = await conn.fetch(
            EVERY_WORD_QUERY,
            agency_id,
            row["model"],
            text,
            args.pool,
            candidates_db.LEXICAL_RANK_SCALE,
            query,
        )
        timings["every word"].append(time.perf_counter() - started)
        found["every word"].append(len(old))
        started = time.perf_counter()
        new, _ = await candidates_db.lexical_posting_candidates(
            conn,
            text=text,
            lat=None,
            lon=None,
            radius_km=None,
            limit=args.pool,
            common=common,
            **where,
        )
        timings["rarest words"].append(time.perf_counter() - started)
        found["rarest words"].append(len(new))
    await conn.close()
    base = statistics.median(timings["vector (HNSW)"])
    print(f"N={args.n}, {len(rows)} seekers, pool {args.pool}, interleaved per seeker")
    print("| query | p50 ms | p90 ms | p50 ÷ vector search | postings found (mean) |")
    print("|---|---|---|---|---|")
    for name, values in timings.items():
        ordered = sorted(values)
        p90 = ordered[int(0.9 * (len(ordered) - 1))]
        mean_found = statistics.mean(found[name]) if name in found else float("nan")
        print(
            f"| {name} | {statistics.median(values) * 1000:.1f} | {p90 * 1000:.1f} | "
            f"{statistics.median(values) / base:.2f} | {mean_found:.0f} |"
        )


if __name__ == "__main__":
    asyncio.run(main())
