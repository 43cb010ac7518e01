"""Readiness: the database answers and the embedding model is loaded; how the read replicas
are (shown, not required)."""

from __future__ import annotations

import asyncio

from prometheus_client.core import GaugeMetricFamily

from service.embeddings import repository as embeddings_db
from service.health import repository
from service.kit import embedded_db, metrics
from service.kit.replicas import REPLICA_CHECK
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
    # Shown, never failing readiness: without a replica, reads go to the primary.
    checks.update(state.replicas.status())
    return checks


def is_ready(checks: dict[str, str]) -> bool:
    """Ready when every check but the replicas' is ok."""
    return all(v == "ok" for k, v in checks.items() if not k.startswith(REPLICA_CHECK))


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


async def metrics_page(state: AppState) -> bytes:
    """Every process's request, pool, retrieval and embedding figures, and from the database
    the job queue and the model each agency ranks with. A database that does not answer
    leaves those out (`jobmatch_metrics_database_up` 0) rather than failing the scrape."""
    families: list[GaugeMetricFamily] = []
    up = GaugeMetricFamily(
        "jobmatch_metrics_database_up", "Whether the database answered this scrape"
    )
    try:
        async with asyncio.timeout(2):
            async with state.pool.acquire() as conn:
                queue = await repository.queue_by_kind(conn)
                models = await repository.live_models(conn)
                waiting = await embeddings_db.vectors_waiting_for_index(conn)
        up.add_metric([], 1)
    except Exception:  # the scrape still shows the process's own figures
        up.add_metric([], 0)
        return metrics.exposition([up])
    jobs = GaugeMetricFamily("jobmatch_jobs", "Jobs queued or running", labels=["kind", "status"])
    oldest = GaugeMetricFamily(
        "jobmatch_job_oldest_age_seconds",
        "Age of the oldest job queued or running",
        labels=["kind", "status"],
    )
    for row in queue:
        jobs.add_metric([row["kind"], row["status"]], row["jobs"])
        oldest.add_metric([row["kind"], row["status"]], row["oldest_s"])
    live = GaugeMetricFamily(
        "jobmatch_scoring_model_live",
        "1 for the scoring model version each agency ranks with",
        labels=["agency_id", "version"],
    )
    for row in models:
        live.add_metric([str(row["agency_id"]), row["version"] or state.scorer.version], 1)
    unindexed = GaugeMetricFamily(
        "jobmatch_vectors_waiting_for_index",
        "Vectors a bulk import stored that the job worker has yet to add to the HNSW index",
        labels=["kind"],
    )
    for kind, count in waiting.items():
        unindexed.add_metric([kind], count)
    families += [up, jobs, oldest, live, unindexed]
    return metrics.exposition(families)
