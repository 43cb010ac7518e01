"""What the app holds for its lifetime: settings, pools, embedder, scorer."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from uuid import UUID

import asyncpg
import numpy as np

from matching.embed import Embedder
from matching.profiles import PostingProfile
from matching.score import Scorer
from service.config import Settings
from service.embeddings.posting_vectors import PostingVectors
from service.embeddings.profile_cache import ProfileCache
from service.embeddings.understanding import TextUnderstanding
from service.kit.ratelimit import RateLimiter
from service.kit.replicas import Replicas
from service.match_lists.lexeme_statistics import CommonLexemes
from service.records import convert

if TYPE_CHECKING:
    from service.records.bulk import ValidatedUpload


@dataclass
class AppState:
    settings: Settings
    pool: asyncpg.Pool
    embedder: Embedder
    scorer: Scorer
    # One thread for the model: torch already uses every core for one batch, and a single queue
    # keeps concurrent requests from thrashing each other.
    # Parsed learned scorers by model id (artifacts never change once stored).
    model_cache: dict[UUID, Scorer] = field(default_factory=dict)
    # agency → (embedding model whose vectors matching uses, when that was checked)
    serving_models: dict[UUID, tuple[str, float]] = field(default_factory=dict)
    refreshing: set[UUID] = field(default_factory=set)  # agencies whose serving model is
    # being re-decided in the background
    background: set[asyncio.Task[None]] = field(default_factory=set)  # referenced until done
    model_executor: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=1, thread_name_prefix="embed")
    )
    # Text understanding (records.preparation.understand) has a thread of its own: a bulk
    # import reads chunk n's text there while the model thread encodes chunk n+1. One thread,
    # so the normaliser's remembered titles are only ever touched by it.
    understanding_executor: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=1, thread_name_prefix="understand")
    )
    # Per-key token buckets (service/ratelimit.py); the default one limits nothing.
    rate_limiter: RateLimiter = field(default_factory=lambda: RateLimiter(0, 1))
    posting_profiles: ProfileCache[PostingProfile] = field(init=False)
    # The read replicas (none unless JOBMATCH_READ_DATABASE_URL): reads that may use one go
    # through `replicas.read`; `pool` is always the primary.
    replicas: Replicas = field(init=False)
    posting_vectors: PostingVectors | None = None  # the embedder's model, when held in memory
    warming: asyncio.Task[None] | None = None  # filling posting_vectors and _profiles
    # ESCO occupations and skills read from free text (None: nothing is inferred)
    understanding: TextUnderstanding | None = None
    # How common the postings' words are, for hybrid retrieval (re-read every few minutes)
    common_lexemes: CommonLexemes = field(default_factory=CommonLexemes)
    # Set when this process queues a job, so that its job worker starts it at once instead of
    # at its next poll (other processes' workers still find it by polling).
    job_queued: asyncio.Event = field(default_factory=asyncio.Event)
    # The records a bulk import request of this process validated, by job id, until this
    # process's worker takes the job (records.bulk): rebuilding them from the job's stored
    # parameters costs nearly as much Python as validating them, beside the encoder. A job
    # taken by another process, or resumed, is rebuilt from those parameters.
    validated_uploads: dict[UUID, ValidatedUpload] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.replicas = Replicas(
            primary=self.pool, max_lag_s=self.settings.read_replica_max_lag_seconds
        )
        self.posting_profiles = ProfileCache(
            convert.posting_for_matching, self.settings.posting_profile_cache
        )

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Encode off the event loop."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.model_executor, self.embedder.encode, list(texts))
