"""Match quality of the service itself, through its HTTP API, against plain MiniLM cosine and
TF-IDF on the same texts, in the same run.

    python -m bench.quality.through_api --esco ../shared/data/esco [--groups 40] [--per-query 50]

Builds the benchmark tasks of `bench.quality.data` (report split; the plain and the paraphrased
slice), starts an embedded PostgreSQL and the app in process, loads each slice into its own
agency through `POST /v1/{postings,seekers}:bulk` exactly as a portal would (titles and free text
only: no codes), and reads `GET /v1/seekers/{id}/matches`. The service runs with the taxonomy
the benchmark holds the paraphrased titles out of, so that slice rewards understanding, not
label lookup. Graded relevance: same ESCO occupation 2, same ISCO-08 unit group 1.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import platform
import random
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from asgi_lifespan import LifespanManager
from sklearn.feature_extraction.text import TfidfVectorizer

from bench.quality import data
from matching.embed import EMBEDDING_MODELS, SentenceTransformerEmbedder, make_embedder
from matching.taxonomy import DEFAULT_TAXONOMY_PATH, Taxonomy
from service.config import Settings

HERE = {"lat": 52.37, "lon": 4.89, "city": "Amsterdam"}


class _RememberingEmbedder:
    """The real model, answering texts it has seen from memory: the service's taxonomy (without
    the held-out labels) is new to the label cache, but its texts are not."""

    def __init__(self, inner: Any, texts: Sequence[str], vectors: np.ndarray) -> None:
        self.inner = inner
        self.name = inner.name
        self.dimension = inner.dimension
        self.memo = dict(zip(texts, vectors, strict=True))

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if t not in self.memo))
        if missing:
            self.memo.update(zip(missing, self.inner.encode(missing), strict=True))
        return np.stack([self.memo[t] for t in texts]).astype(np.float32)


def grade(seeker: data.Seeker, posting: data.Posting) -> int:
    if seeker.occupation == posting.occupation:
        return 2
    return 1 if seeker.isco08[:4] == posting.isco08[:4] else 0


def ranking_metrics(rankings: Sequence[Sequence[int]], grades: np.ndarray) -> dict[str, float]:
    """nDCG@10 (gain 2^g - 1), R@50 and MRR of ranked candidate indices per query, as
    `bench.quality.run.metrics` defines them, for lists that need not hold every candidate."""
    discounts = 1.0 / np.log2(np.arange(2, 12))
    ndcg, r50, mrr = [], [], []
    for q, ranked in enumerate(rankings):
        g = grades[q]
        got = np.array([g[i] for i in ranked], dtype=float)
        ideal = np.sort(g)[::-1][:10]
        idcg = ((2.0**ideal - 1) * discounts[: len(ideal)]).sum()
        if idcg > 0:
            top = got[:10]
            ndcg.append(((2.0**top - 1) * discounts[: len(top)]).sum() / idcg)
        relevant = int((g >= 1).sum())
        if relevant:
            r50.append(float((got[:50] >= 1).sum()) / relevant)
        if (g == 2).any():
            hits = np.flatnonzero(got == 2)
            mrr.append(1.0 / (hits[0] + 1) if len(hits) else 0.0)
    return {"ndcg10": float(np.mean(ndcg)), "r50": float(np.mean(r50)), "mrr": float(np.mean(mrr))}


def _by_score(scores: np.ndarray, k: int) -> list[list[int]]:
    return [list(np.argsort(-row, kind="stable")[:k]) for row in scores]


def _write_taxonomy(taxonomy: Taxonomy, held_out: list[tuple[str, str]], path: Path) -> None:
    """The bundled taxonomy file without the held-out labels (what the service reads)."""
    raw = DEFAULT_TAXONOMY_PATH.read_bytes()
    doc = json.loads(gzip.decompress(raw))
    drop: dict[str, set[str]] = {}
    for uri, label in held_out:
        drop.setdefault(uri, set()).add(label.lower())
    for occ in doc["occupations"]:
        gone = drop.get(occ["uri"], set())
        occ["alt"] = [a for a in occ.get("alt", ()) if a.lower() not in gone]
    path.write_bytes(gzip.compress(json.dumps(doc).encode()))


async def _run_slice(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    seekers: list[data.Seeker],
    postings: list[data.Posting],
    *,
    name: str,
    per_query: int,
) -> list[list[int]]:
    bodies = [
        {
            "external_id": f"{name}-P{i}",
            "title": p.title,
            "description": p.description,
            "job_location": HERE,
        }
        for i, p in enumerate(postings)
    ]
    for lo in range(0, len(bodies), 500):
        r = await client.post("/v1/postings:bulk", json=bodies[lo : lo + 500], headers=auth)
        assert r.status_code == 200 and r.json()["failed"] == 0, r.text[:500]
    people = [
        {
            "external_id": f"{name}-S{i}",
            "headline": s.headline,
            "summary": s.summary,
            "location": HERE,
            "max_distance_km": 50,
        }
        for i, s in enumerate(seekers)
    ]
    r = await client.post("/v1/seekers:bulk", json=people, headers=auth)
    assert r.status_code == 200 and r.json()["failed"] == 0, r.text[:500]
    ids: dict[str, int] = {}
    cursor = None
    while True:
        url = "/v1/seekers?limit=200" + (f"&cursor={cursor}" if cursor else "")
        page = (await client.get(url, headers=auth)).json()
        ids.update({s["id"]: int(s["external_id"].split("-S")[1]) for s in page["items"]})
        cursor = page["next_cursor"]
        if not cursor:
            break
    rankings: list[list[int]] = [[] for _ in seekers]
    for sid, index in ids.items():
        r = await client.get(f"/v1/seekers/{sid}/matches?limit={per_query}", headers=auth)
        assert r.status_code == 200, r.text[:300]
        rankings[index] = [int(item["external_id"].split("-P")[1]) for item in r.json()["items"]]
    return rankings


async def main_async(
    args: argparse.Namespace, split: data.Split, url: str, taxonomy_path: Path
) -> None:
    from matching.normalise import OccupationNormaliser
    from service.app import create_app
    from service.auth import repository as agencies
    from service.auth.permissions import Role
    from service.config import Settings

    raw = make_embedder(args.model)
    # The yard stick stays plain MiniLM cosine whatever model the service runs.
    minilm = raw if args.model == "minilm" else SentenceTransformerEmbedder()
    labels = OccupationNormaliser(Taxonomy.load(), raw, cache_dir=args.cache / "cache")
    embedder = _RememberingEmbedder(raw, *labels.encoded())
    del labels
    settings = Settings(
        database_url=url,
        data_dir=args.cache,
        taxonomy_path=taxonomy_path,
        embedding_model=args.model,
        understand_text=not args.no_understanding,
        lexical_candidate_pool=args.lexical_pool,
        rate_limit_per_minute=0,
        bulk_wait_seconds=3600,
        bulk_max_records=5000,
        bulk_sync_max_records=5000,  # each upload answers when it is stored
        max_in_flight=0,
    )
    app = create_app(settings, embedder=embedder)
    async with LifespanManager(app, startup_timeout=1800):
        pool = app.state.jobmatch.pool
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://bench", timeout=3600
        ) as client:
            rng = random.Random(args.seed)
            every = {
                "plain": (split.seekers, split.postings),
                "paraphrased": (split.paraphrased_seekers, split.paraphrased_postings),
                "long-ads": (split.seekers, [data.long_ad(p, rng) for p in split.postings]),
            }
            slices = [(name, *every[name]) for name in args.slices]
            print(
                f"# Match quality through the API, seed {args.seed}, {platform.node()}, "
                f"{os.cpu_count()} cpus; understanding "
                f"{'off' if args.no_understanding else 'on'}, lexical pool "
                f"{args.lexical_pool}; model {args.model}"
            )
            for name, seekers, postings in slices:
                async with pool.acquire() as conn:
                    agency = await agencies.create_agency(conn, name=f"bench {name}")
                    key = await agencies.create_api_key(
                        conn, agency_id=agency.id, role=Role.portal, name="bench"
                    )
                auth = {"Authorization": f"Bearer {key.secret}"}
                t = time.perf_counter()
                service = await _run_slice(
                    client, auth, seekers, postings, name=name, per_query=args.per_query
                )
                seconds = time.perf_counter() - t
                grades = np.array([[grade(s, p) for p in postings] for s in seekers], dtype=float)
                s_text = [f"{s.headline or ''}. {s.summary}" for s in seekers]
                p_text = [f"{p.title}. {p.description}" for p in postings]
                sv, pv = minilm.encode(s_text), minilm.encode(p_text)
                cosine = _by_score(sv @ pv.T, args.per_query)
                own = {}
                if minilm is not raw:
                    sv, pv = embedder.encode(s_text), embedder.encode(p_text)
                    own[f"{args.model} cosine"] = ranking_metrics(
                        _by_score(sv @ pv.T, args.per_query), grades
                    )
                tfidf = TfidfVectorizer(sublinear_tf=True, stop_words="english")
                m = tfidf.fit_transform(p_text + s_text)
                lexical = (m[len(p_text) :] @ m[: len(p_text)].T).toarray()
                systems = {
                    "MiniLM cosine": ranking_metrics(cosine, grades),
                    **own,
                    "TF-IDF": ranking_metrics(_by_score(lexical, args.per_query), grades),
                    "service (API)": ranking_metrics(service, grades),
                }
                base = systems["MiniLM cosine"]["ndcg10"]
                print(
                    f"\n## {name}: {len(seekers)} seekers × {len(postings)} postings "
                    f"(load and {len(seekers)} match lists: {seconds:.0f} s)"
                )
                print("| system | nDCG@10 | R@50 | MRR | nDCG@10 ÷ cosine |")
                print("|---|---|---|---|---|")
                for system, v in systems.items():
                    print(
                        f"| {system} | {v['ndcg10']:.3f} | {v['r50']:.3f} | {v['mrr']:.3f} "
                        f"| {v['ndcg10'] / base:.2f} |"
                    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--esco", type=Path, required=True, help="folder with the ESCO zips")
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--groups", type=int, default=40, help="ISCO unit groups (0: all)")
    parser.add_argument("--per-query", type=int, default=50, help="items per match list")
    parser.add_argument("--lexical-pool", type=int, default=50)
    parser.add_argument("--no-understanding", action="store_true")
    parser.add_argument(
        "--slices",
        type=lambda text: text.split(","),
        default=["plain", "paraphrased"],
        help="comma-separated: plain, paraphrased, long-ads (the plain slice's postings "
        "written as real ads: employer paragraphs before the job, offers and how to apply "
        "after it)",
    )
    parser.add_argument(
        "--model",
        choices=sorted(EMBEDDING_MODELS),
        default=Settings.model_fields["embedding_model"].default,
        help="the service's model (the service's default unless given)",
    )
    parser.add_argument(
        "--cache", type=Path, default=Path(__file__).parent / ".cache", help="label vectors"
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from service.kit import migrate
    from service.kit.embedded_db import start_embedded, stop_embedded

    started = time.perf_counter()
    full = Taxonomy.load()
    bench = data.build(args.esco, full, seed=args.seed, groups_per_split=args.groups or None)
    work = Path(tempfile.mkdtemp(prefix="jobmatch-quality-"))
    work.chmod(0o755)  # the embedded server runs as another user when started as root
    taxonomy_path = work / "taxonomy.json.gz"
    _write_taxonomy(full, bench.held_out, taxonomy_path)
    url = start_embedded(work / "pg")
    try:
        migrate.upgrade(url)
        asyncio.run(main_async(args, bench.report, url, taxonomy_path))
    finally:
        stop_embedded(work / "pg")
        shutil.rmtree(work, ignore_errors=True)
    print(f"\ntotal {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
