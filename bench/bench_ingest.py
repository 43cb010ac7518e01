"""Bulk import end to end versus the raw encode rate of the same texts, in the same run.

Run from the repository root (takes a few minutes on two cores):

    .venv/bin/python bench/bench_ingest.py                 # 10,000 postings, 3 rounds
    .venv/bin/python bench/bench_ingest.py --postings 2000 --rounds 1

It generates postings with the seed generator, starts `jobmatch serve` (one worker, embedded
PostgreSQL in a temporary directory), and in each round

1. encodes the postings' canonical texts (`service.records.preparation.canonical_text`, what
   the service embeds) with the service's model (`--model`, the service's default unless
   given; `matching.embed.make_embedder`) in this process: the baseline;
2. sends the same postings to `POST /v1/postings:bulk` as NDJSON, in uploads of
   `--upload-size`, each after the previous import has finished (or, `--back-to-back`, all
   at once: they queue), and waits until every import job has finished (parse, validate, embed,
   understand, store); the posting tables are emptied first, so every round starts alike. It
   then waits until the job worker has added the imported vectors to the HNSW index too, which
   it does after the import (migration 0020), and reports that rate as well;
3. encodes the texts again: the ratio is taken against the mean of the encode rates before and
   after the import, so that load from other processes on a shared machine weighs on both.

It prints the rates, the ratio, and the medians over the rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import _harness as H  # noqa: E402


def posting_texts(postings: list[dict[str, Any]]) -> list[str]:
    from service.records import preparation

    parse, text = preparation.parse_body, preparation.canonical_text
    return [text("posting", parse("posting", p)) for p in postings]


def encode_rate(embedder: Any, texts: list[str]) -> float:
    started = time.perf_counter()
    embedder.encode(texts)
    return len(texts) / (time.perf_counter() - started)


def import_rate(
    base: str, key: str, postings: list[dict[str, Any]], upload_size: int, back_to_back: bool
) -> float:
    """Postings imported per second, from the first upload until every job has finished. Each
    upload waits for the previous import to finish, or (`back_to_back`) all are sent at once
    and queue, as a portal's feed that does not wait would."""
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/x-ndjson"}
    started = time.perf_counter()
    with httpx.Client(base_url=base, headers=headers, timeout=3600) as client:
        pending: list[tuple[dict[str, Any], int]] = []
        for start in range(0, len(postings), upload_size):
            part = postings[start : start + upload_size]
            body = b"\n".join(orjson.dumps(p) for p in part)
            r = client.post("/v1/postings:bulk", content=body)
            if r.status_code not in (200, 202):
                raise RuntimeError(f"{r.status_code}: {r.text[:300]}")
            pending.append((r.json(), len(part)))
            if not back_to_back:
                _finished(client, *pending.pop())
        for job, size in pending:
            _finished(client, job, size)
    return len(postings) / (time.perf_counter() - started)


def _finished(client: httpx.Client, job: dict[str, Any], size: int) -> None:
    while job["status"] in ("queued", "running"):
        time.sleep(0.1)
        job = client.get(f"/v1/jobs/{job['id']}").json()
    if job["status"] != "succeeded" or job["created"] != size:
        raise RuntimeError(f"import {job['status']}: {job['created']} of {size}")


async def wait_until_indexed(url: str) -> None:
    """Until the job worker has added every imported vector to the HNSW index (migration
    0020: an import stores them outside it and the worker adds them afterwards)."""
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        waiting = "SELECT count(*) FROM posting_embedding WHERE NOT indexed"
        while True:
            if not await conn.fetchval(waiting):
                return
            await asyncio.sleep(0.05)
    finally:
        await conn.close()


async def empty_postings(url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await conn.execute("TRUNCATE posting, job CASCADE")
        await conn.execute("VACUUM ANALYZE posting_embedding")
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postings", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--upload-size", type=int, default=5_000, help="records per upload")
    parser.add_argument("--model", default=None, help="JOBMATCH_EMBEDDING_MODEL (default: its)")
    parser.add_argument(
        "--back-to-back",
        action="store_true",
        help="send every upload at once (they queue) instead of each after the previous import",
    )
    args = parser.parse_args()

    from matching.embed import make_embedder
    from seed.generate import generate_postings
    from service.config import Settings
    from service.kit.embedded_db import start_embedded

    model_name = args.model or Settings.model_fields["embedding_model"].default

    postings = generate_postings(args.postings, seed=2026)
    texts = posting_texts(postings)
    mean_chars = statistics.mean(len(t) for t in texts)
    model = make_embedder(model_name)
    model.encode(texts[:128])  # warm-up

    data_dir = H.make_data_dir()
    env = H.server_env(
        data_dir,
        H.free_port(),
        bulk_max_records=args.upload_size,
        bulk_wait_seconds=0,  # answer 202 at once; the script polls the job like a client
        max_body_bytes=64 * 2**20,
        embedding_model=model_name,
    )
    print(f"machine: {H.machine()}")
    print(f"data: {args.postings} postings, canonical text {mean_chars:.0f} chars on average")
    print(f"model: {model_name} ({model.name})")
    rows = []
    try:
        with H.Server(env) as server:
            db_url = start_embedded(data_dir)  # attach to the server's PostgreSQL
            admin = H.create_agency(env, "Bench agency")
            key = H.create_key(server.base, admin, "portal")
            for round_no in range(1, args.rounds + 1):
                asyncio.run(empty_postings(db_url))
                raw_before = encode_rate(model, texts)
                tagged = [{**p, "external_id": f"{p['external_id']}-r{round_no}"} for p in postings]
                started = time.perf_counter()
                e2e = import_rate(server.base, key, tagged, args.upload_size, args.back_to_back)
                asyncio.run(wait_until_indexed(db_url))
                indexed = len(tagged) / (time.perf_counter() - started)
                raw_after = encode_rate(model, texts)
                raw = (raw_before + raw_after) / 2
                rows.append((raw, e2e))
                print(
                    f"round {round_no}: raw encode {raw_before:.1f}/s before, {raw_after:.1f}/s "
                    f"after; bulk import {e2e:.1f}/s; ratio {e2e / raw:.1%}; every vector in "
                    f"the HNSW index too: {indexed:.1f}/s ({indexed / raw:.1%})",
                    flush=True,
                )
    finally:
        H.remove_data_dir(data_dir)
    raw_med = statistics.median(r for r, _ in rows)
    e2e_med = statistics.median(e for _, e in rows)
    ratio_med = statistics.median(e / r for r, e in rows)
    print(
        f"\nmedian over {len(rows)} rounds: raw encode {raw_med:.1f} postings/s, bulk import "
        f"{e2e_med:.1f} postings/s, end-to-end / raw {ratio_med:.1%} (target >= 85%)"
    )


if __name__ == "__main__":
    main()
