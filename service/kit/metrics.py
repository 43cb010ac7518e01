"""Prometheus metrics for operators (`GET /metrics`).

Each process counts what it serves. Under several uvicorn workers, `jobmatch serve` gives them
one directory (`PROMETHEUS_MULTIPROC_DIR`, set before the workers start) where each writes its
figures, and a scrape of any worker adds them up (prometheus-client's multiprocess mode). What
lives in the database (job queue, the model each agency uses) is read at scrape time by the
health capability and added to the same page.

No label carries personal data: routes are templates (`/v1/seekers/{record_id}`), never paths.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as prometheus_multiprocess
from prometheus_client.core import GaugeMetricFamily
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST

REQUESTS = Counter(
    "jobmatch_http_requests",
    "HTTP requests answered, by route template and status",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    "jobmatch_http_request_duration_seconds",
    "Time from the request's arrival to the end of its answer",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
IN_FLIGHT = Gauge(
    "jobmatch_http_requests_in_flight",
    "Requests being served now",
    multiprocess_mode="livesum",
)
SHED = Counter(
    "jobmatch_http_requests_shed",
    "Requests answered 503 at once because the process was at capacity",
    ["limit"],
)
POOL_SIZE = Gauge(
    "jobmatch_db_pool_connections",
    "Database connections open in the pools",
    multiprocess_mode="livesum",
)
POOL_IN_USE = Gauge(
    "jobmatch_db_pool_connections_in_use",
    "Database connections lent out by the pools",
    multiprocess_mode="livesum",
)
POOL_MAX = Gauge(
    "jobmatch_db_pool_connections_max",
    "Largest size the pools may grow to",
    multiprocess_mode="livesum",
)
RETRIEVALS = Counter(
    "jobmatch_retrievals",
    "Candidate retrievals by the path that served them: memory (the process's posting "
    "vectors), index (HNSW), exact (the postings in reach, sorted), index_then_exact",
    ["path"],
)
LIST_ITEMS = Histogram(
    "jobmatch_match_list_items",
    "Items in the match lists produced",
    ["kind"],
    buckets=(0, 1, 5, 10, 20, 50, 100, 200, 500),
)
TEXTS_EMBEDDED = Counter(
    "jobmatch_texts_embedded",
    "Texts turned into vectors, by model",
    ["model"],
)
EMBEDDING_SECONDS = Counter(
    "jobmatch_embedding_seconds",
    "Time spent embedding, by model (throughput = rate of texts / rate of seconds)",
    ["model"],
)


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


def exposition(extra: Iterable[GaugeMetricFamily] = ()) -> bytes:
    """The metrics page: this process's (or every worker's, in multiprocess mode) figures,
    then `extra` families read at scrape time."""
    if multiprocess_dir():
        registry = CollectorRegistry()
        prometheus_multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        page = generate_latest(registry)
    else:
        page = generate_latest(REGISTRY)
    snapshot = CollectorRegistry()
    families = list(extra)
    if families:
        snapshot.register(_Fixed(families))
        page += generate_latest(snapshot)
    return page


class _Fixed:
    """A collector that yields families already built (read from the database)."""

    def __init__(self, families: list[GaugeMetricFamily]) -> None:
        self.families = families

    def collect(self) -> Iterable[GaugeMetricFamily]:
        return self.families


def process_exited(pid: int | None = None) -> None:
    """A worker stops (this process, or the child `pid` that a supervisor saw exit): its live
    gauges leave the sums (multiprocess mode only)."""
    if multiprocess_dir():
        prometheus_multiprocess.mark_process_dead(pid or os.getpid())  # type: ignore[no-untyped-call]


def multiprocess_values() -> bool:
    """Whether the metrics of this process are written to the shared directory (prometheus_client
    chooses when it is first imported, by PROMETHEUS_MULTIPROC_DIR at that time)."""
    from prometheus_client import values

    return bool(values.ValueClass.__name__ == "MmapedValue")


def observe_pool(pool: Any) -> None:
    size, idle = pool.get_size(), pool.get_idle_size()
    POOL_SIZE.set(size)
    POOL_IN_USE.set(size - idle)
    POOL_MAX.set(pool.get_max_size())


class RequestMetrics:
    """Counts every HTTP request by route template and status, times it, and tracks requests
    in flight. Outermost, so that shed and failed requests count too."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] == "/metrics":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        IN_FLIGHT.inc()
        try:
            await self.app(scope, receive, capture)
        finally:
            IN_FLIGHT.dec()
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            method = scope["method"]
            REQUESTS.labels(method, route, str(status)).inc()
            LATENCY.labels(method, route).observe(time.perf_counter() - start)
            pool = getattr(scope.get("app"), "state", None)
            state = getattr(pool, "jobmatch", None)
            if state is not None:
                observe_pool(state.pool)


class MeteredEmbedder:
    """The serving embedder, counting texts and time (embedding throughput per model)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name: str = inner.name
        self.dimension: int = inner.dimension
        self._texts = TEXTS_EMBEDDED.labels(self.name)
        self._seconds = EMBEDDING_SECONDS.labels(self.name)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        start = time.perf_counter()
        vectors: np.ndarray = self.inner.encode(texts)
        self._seconds.inc(time.perf_counter() - start)
        self._texts.inc(len(texts))
        return vectors

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)
