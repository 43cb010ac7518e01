"""The FastAPI application: create_app(settings) and its lifespan."""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import swagger_ui_bundle
from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from matching.embed import Embedder, SentenceTransformerEmbedder, make_embedder
from matching.score import WeightedSumScorer
from service.api import UNVERSIONED_ROUTERS, V1_ROUTERS
from service.background_jobs.worker import run_worker
from service.config import Settings, get_settings
from service.console.pages import STATIC_DIR as CONSOLE_STATIC_DIR
from service.embeddings import service as embeddings
from service.embeddings import understanding
from service.embeddings.posting_vectors import PostingVectors, one_blas_thread
from service.embeddings.shared_vectors import SnapshotStore
from service.embeddings.understanding import TextUnderstanding
from service.kit import idempotency, logs, metrics
from service.kit.background import logged
from service.kit.http import tidy_spec
from service.kit.memory import release_free_heap
from service.kit.middleware import AccessLog, BodySizeLimit, InFlightLimit, JsonBodies
from service.kit.pool import create_pool, resolve_database_url
from service.kit.problems import Problem, install_error_handlers
from service.kit.ratelimit import RateLimiter
from service.kit.replicas import ReadYourWrites, Replica, replica_name
from service.match_lists import retrieval
from service.records import geocode
from service.state import AppState
from service.tasks import HANDLERS, IDLE, PERIODIC

log = logging.getLogger(__name__)
CPU_BOUND_PATHS = ("/matches", "/what-would-change")  # ends of the routes that score lists
# The vector widths the database has a nearest-neighbour index for (migration 0019).
INDEXED_WIDTHS = (384, 512)

DESCRIPTION = """
Job matching for public employment services: seekers and postings are embedded, scored by a
transparent model, and ranked under the agency's fairness policy. Every list is stored and can be
reviewed by caseworkers.

Authenticate with `Authorization: Bearer <api key>`. Errors are RFC 9457 problem documents.

This service uses the ESCO classification of the European Commission.
"""


def load_embedder(settings: Settings) -> Embedder:
    embedder = (
        SentenceTransformerEmbedder(settings.model_path)
        if settings.model_path
        else make_embedder(settings.embedding_model)
    )
    if embedder.dimension not in INDEXED_WIDTHS:
        raise RuntimeError(
            f"model {embedder.name} makes {embedder.dimension}-d vectors; the database indexes "
            f"{', '.join(map(str, INDEXED_WIDTHS))}-d. Add a migration with an index for the "
            "new width first."
        )
    return embedder


def read_reference_data(
    settings: Settings, embedder: Embedder, *, may_encode: bool = True
) -> TextUnderstanding | None:
    """What start-up reads once per process, off the event loop: the gazetteer (postings by
    address), and the ESCO text understanding for the model (JOBMATCH_UNDERSTAND_TEXT; the
    first start with a model encodes every ESCO label, kept on disk for the next starts,
    unless `may_encode` is False: then understanding.LabelVectorsNotCached is raised)."""
    geocode.load()
    if not settings.understand_text:
        return None
    return understanding.load(
        embedder,
        taxonomy_path=settings.taxonomy_path,
        cache_dir=settings.cache_dir or settings.data_dir / "cache",
        may_encode=may_encode,
    )


async def load_understanding(state: AppState) -> None:
    state.understanding = await asyncio.to_thread(
        read_reference_data, state.settings, state.embedder
    )


# How long a thread may hold the GIL while another waits for it (sys.setswitchinterval).
GIL_SWITCH_INTERVAL_S = 0.0005


@dataclass(frozen=True)
class ReferenceData:
    """What `read_reference_data` returned, read before the app was made (the parent of
    pre-forked workers reads it once for all of them: service/prefork.py)."""

    understanding: TextUnderstanding | None


def create_app(
    settings: Settings | None = None,
    *,
    embedder: Embedder | None = None,
    reference: ReferenceData | None = None,
) -> FastAPI:
    """The app; its lifespan loads the model and the reference data unless given them."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        url = resolve_database_url(settings)
        pool = await create_pool(url, settings)
        serving = embedder or load_embedder(settings)
        state = AppState(
            settings=settings,
            pool=pool,
            embedder=serving
            if isinstance(serving, metrics.MeteredEmbedder)
            else metrics.MeteredEmbedder(serving),
            scorer=WeightedSumScorer(),
            rate_limiter=RateLimiter(settings.rate_limit_per_minute, settings.rate_limit_burst),
        )
        app.state.jobmatch = state
        await open_replicas(state)
        if reference is None:
            await load_understanding(state)
        else:
            state.understanding = reference.understanding
        # The model and the libraries loaded at start-up are about half a million objects that
        # live as long as the process; each full collection of the cyclic garbage collector
        # walked all of them (0.35 s on the 2-core machine, a pause of every request in
        # flight). Collect once, then leave them out of later collections.
        gc.collect()
        gc.freeze()
        # What lives on (converted postings kept for matching, up to ~400k objects) would
        # still be walked by every full collection: 100+ ms pauses, a few per 300 match
        # requests with CPython's thresholds (700, 10, 10), which suit small heaps. Young
        # objects are still collected often; full collections become rare.
        gc.set_threshold(10_000, 50, 100)
        # The model thread releases the GIL around each of its numpy calls and must take it
        # back after each; while the event loop or the understanding thread runs Python, it
        # waits up to the switch interval for that (CPython's default, 5 ms, is longer than
        # many of its calls). A shorter interval keeps the encoder near its speed alone.
        switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
        stop = asyncio.Event()
        worker = (
            asyncio.create_task(
                run_worker(
                    state,
                    handlers=HANDLERS,
                    stop=stop,
                    poll_seconds=settings.job_poll_seconds,
                    stale_seconds=settings.job_stale_seconds,
                    schedule=PERIODIC,
                    idle=IDLE,
                )
            )
            if settings.run_worker
            else None
        )
        if settings.posting_vectors_in_memory > 0:
            one_blas_thread()
            name, dimension = state.embedder.name, state.embedder.dimension
            state.posting_vectors = PostingVectors(
                name,
                dimension,
                settings.posting_vectors_in_memory,
                SnapshotStore.for_settings(settings, model=name, dimension=dimension)
                if settings.share_posting_vectors and settings.workers > 1
                else None,
                lists_from=settings.posting_vector_lists_from,
            )
        if state.posting_vectors is not None or settings.warm_posting_profiles:
            state.warming = asyncio.create_task(_warm_then_freeze(state))
        # Vectors missing for the configured model (a new model, or a restore) are filled in the
        # background; matching serves the old ones meanwhile.
        reembed = asyncio.create_task(embeddings.enqueue_reembedding(state))
        try:
            yield
        finally:
            vectors = state.posting_vectors
            for task in (
                state.warming,
                vectors.reloading if vectors else None,
                vectors.publishing if vectors else None,
            ):
                if task is not None:
                    task.cancel()
                    await asyncio.gather(task, return_exceptions=True)
            if vectors is not None and vectors.store is not None:
                vectors.store.close()  # another worker may write the snapshots now
            await reembed
            stop.set()
            if worker is not None:
                await worker
            await asyncio.gather(*state.background, return_exceptions=True)
            await state.replicas.close()
            await pool.close()
            state.model_executor.shutdown(wait=False)
            state.understanding_executor.shutdown(wait=False)
            metrics.process_exited()
            sys.setswitchinterval(switch_interval)

    app = FastAPI(
        title="jobmatch",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        license_info={"name": "Apache-2.0"},
        docs_url=None,  # served below from the installed package, not a CDN
        redoc_url=None,  # ReDoc comes only from a CDN: an offline network would get a blank page
    )
    install_offline_docs(app)
    # The console's styles, from the package (no CDN, no build step).
    app.mount("/console/static", StaticFiles(directory=CONSOLE_STATIC_DIR), name="console-static")
    install_error_handlers(app)
    for router in (*UNVERSIONED_ROUTERS, *V1_ROUTERS):
        app.include_router(router)
    idempotency.install(app)  # innermost: stores the first response of a keyed create
    # Read-your-writes with read replicas: the key's WAL floor, taken before each answer.
    app.add_middleware(ReadYourWrites, replicas=lambda: _replicas_of(app))
    app.add_middleware(JsonBodies)  # 415 for bodies that are not JSON, 422 for repeated keys
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    # Load shedding, before any work. Match lists are CPU-bound: a few at once keep each turn
    # of the event loop short, so that what is shed is answered fast.
    app.add_middleware(
        InFlightLimit,
        max_in_flight=settings.max_matches_in_flight,
        max_wait_s=settings.max_queue_wait_s,
        max_waiting=settings.max_queue_length,
        paths=CPU_BOUND_PATHS,
        name="scoring",
    )
    app.add_middleware(
        InFlightLimit,
        max_in_flight=in_flight_limit(settings),
        max_wait_s=settings.max_queue_wait_s,
        max_waiting=settings.max_queue_length,
    )
    app.add_middleware(AccessLog)
    app.add_middleware(metrics.RequestMetrics)  # outermost: shed and failed requests count
    _register_problem_schema(app)
    return app


async def open_replicas(state: AppState) -> None:
    """A pool per read replica (connecting on first use) and the monitor that checks them; the
    first check runs before the app serves, so replicas that are well are used at once."""
    settings = state.settings
    for number, url in enumerate(settings.read_database_urls, start=1):
        pool = await create_pool(url, settings, replica=True)
        state.replicas.replicas.append(Replica(number, replica_name(url, number), pool))
    if state.replicas.enabled:
        try:
            await state.replicas.poll()
        except Exception as exc:  # the monitor keeps trying; reads use the primary meanwhile
            log.warning("first replica check failed: %s", type(exc).__name__)
        state.replicas.start()


def _replicas_of(app: FastAPI) -> Any:
    state = getattr(app.state, "jobmatch", None)
    return state.replicas if state is not None else None


async def _warm_then_freeze(state: AppState) -> None:
    """Posting vectors, then converted postings, read into memory after start-up."""
    if state.posting_vectors is not None:
        await logged("posting vectors not loaded", state.posting_vectors.load(state.pool))
    # With a snapshot mapped, every worker reads the converted postings from its files
    # (service/embeddings/shared_profiles.py): none are read into the process's own cache.
    shared = state.posting_vectors is not None and state.posting_vectors.postings is not None
    if state.settings.warm_posting_profiles and not shared:
        await logged("posting cache not warmed", retrieval.warm_posting_profiles(state))
    # What was read now holds most long-lived objects of the process: leave them out of
    # collections, as for what start-up loaded (see the lifespan). The young generations are
    # collected first, so that no garbage of requests in flight is frozen with it.
    gc.collect(1)
    gc.freeze()
    release_free_heap()  # what the reads allocated and freed meanwhile


def in_flight_limit(settings: Settings) -> int:
    """JOBMATCH_MAX_IN_FLIGHT, or by default twice the pool: a request beyond that would only
    wait for a connection (or for the event loop) while its client waits for an answer."""
    if settings.max_in_flight is not None:
        return settings.max_in_flight
    return 2 * settings.pool_max_size


DOCS_ASSETS = "/docs/assets"


def install_offline_docs(app: FastAPI) -> None:
    """Swagger UI at /docs with its scripts and styles from the `swagger-ui-bundle` package,
    so the docs work on a network without outside access (FastAPI's default loads them from
    a public CDN)."""
    app.mount(
        DOCS_ASSETS,
        StaticFiles(directory=swagger_ui_bundle.swagger_ui_path),
        name="swagger-ui-assets",
    )

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} - docs",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon-32x32.png",
            oauth2_redirect_url="/docs/oauth2-redirect",
        )

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    async def oauth2_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()


def _register_problem_schema(app: FastAPI) -> None:
    """Make sure the Problem schema is in the spec even before a route references it."""
    original = app.openapi

    def openapi() -> dict[str, object]:
        if app.openapi_schema:
            return app.openapi_schema
        spec = original()
        tidy_spec(spec)
        schemas = spec.setdefault("components", {}).setdefault("schemas", {})
        schemas.setdefault(
            "Problem", Problem.model_json_schema(ref_template="#/components/schemas/{model}")
        )
        return spec

    app.openapi = openapi  # type: ignore[method-assign]


def configure_logging(settings: Settings) -> None:
    logs.configure(settings.log_level, settings.log_format)


def worker_app() -> FastAPI:
    """The app of each uvicorn worker process (`JOBMATCH_WORKERS` > 1): a worker is a fresh
    interpreter, so it sets up its own logging, or its access and INFO logs would be lost."""
    settings = get_settings()
    configure_logging(settings)
    return create_app(settings)
