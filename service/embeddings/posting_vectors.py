"""Posting vectors held in memory and searched there (matching.vector_index), kept current.

The database stays the record: before each search a process reads the vector rows written
since its last read (a new vector, a move, a new version of the posting) and those deleted
since: index probes, usually no rows (migrations 0009-0011). So a posting written or deleted by
any process is seen by the next search of every process, and a search answers from memory
alone, with the postings' versions and external ids as of that read and cosines computed here
(equal to the database's to float precision). Postings only: they are public; seeker vectors
stay in the database.

One copy per process: about 2.7 KiB per posting (a 384-d float32 vector, 64 principal
components, its place, id, version and external id), so
the setting `posting_vectors_in_memory` bounds it; above it, matching uses the HNSW index.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from typing import Any, cast
from uuid import UUID

import numpy as np
from threadpoolctl import threadpool_limits

from matching.vector_index import Entry, GeoVectorIndex
from service.embeddings import repository as vectors_db
from service.kit.background import logged
from service.match_lists import candidates_repository as candidates_db

log = logging.getLogger(__name__)
LOAD_PAGE = 5000
# Deletions are kept as rows for a day (migration 0010): a process that has not read for half
# that reads everything again rather than risk missing one.
DELETIONS_KEPT_S = 86_400.0
TIES_AT_THE_CUT = 16


def one_blas_thread() -> None:
    """Run numpy's BLAS on one thread in this process. A search multiplies a few slices of the
    table, one matrix-vector product each; waking OpenBLAS's second thread for each costs more
    than it saves, several times more when the cores are busy (the database shares them):
    nine slices of 49k rows in all took 57 ms with two threads, 16-23 ms with one, on the
    loaded 2-core machine (bench/README.md, round 5). Torch keeps its own threads."""
    threadpool_limits(1, user_api="blas")


def _entry(v: vectors_db.PostingVector) -> Entry:
    return Entry(
        key=v.posting_id,
        group=v.agency_id,
        vector=v.embedding,
        lat=v.lat,
        lon=v.lon,
        # No coordinates (an address not in the gazetteer): in reach of all, distance unknown.
        everywhere=v.remote_allowed or v.lat is None or v.lon is None,
        valid_until=v.valid_through.timestamp() if v.valid_through else math.inf,
        payload=(v.external_id, v.version),
    )


class PostingVectors:
    """The active postings' vectors of one embedding model (every agency), in memory."""

    def __init__(self, model: str, dimension: int, max_size: int) -> None:
        self.model = model
        self.max_size = max_size
        self.index = GeoVectorIndex(dimension)
        self.ready = False  # loaded in full; until then matching uses the database
        self._seen: vectors_db.VectorSnapshot | None = None
        self._seen_at = -math.inf  # time.monotonic() when _seen was read
        self._lock = asyncio.Lock()
        self._last_read_started = -math.inf
        self._pool: Any = None
        self.reloading: asyncio.Task[bool | None] | None = None

    async def load(self, pool: Any) -> bool:
        """Read every active posting's vector, a page at a time; False (and nothing held)
        when there are more than max_size."""
        started = time.perf_counter()
        self._pool = pool
        after = UUID(int=0)
        while True:
            async with pool.acquire() as conn:
                seen, page = await vectors_db.active_posting_vectors(
                    conn, model=self.model, after=after, limit=LOAD_PAGE
                )
            if self._seen is None:  # changes after the first page's snapshot: the first sync
                self._seen, self._seen_at = seen, time.monotonic()
            self.index.upsert((_entry(v) for v in page), resort=False)
            if len(self.index) > self.max_size:
                self._give_up()
                return False
            if len(page) < LOAD_PAGE:
                break
            after = page[-1].posting_id
            await asyncio.sleep(0)
        self.index.resort(now=time.time())
        self.ready = True
        log.info(
            "posting vectors in memory: %d (%s) in %.1f s",
            len(self.index),
            self.model,
            time.perf_counter() - started,
        )
        return True

    def _give_up(self) -> None:
        log.warning(
            "more than %d postings with %s vectors: matching searches the database index "
            "(raise JOBMATCH_POSTING_VECTORS_IN_MEMORY to hold them in memory)",
            self.max_size,
            self.model,
        )
        self._drop()

    def _drop(self) -> None:
        """Nothing held, nothing searched: matching uses the database."""
        self.ready = False
        self._seen = None
        self.index = GeoVectorIndex(self.index.dimension)

    def _reload(self, why: str) -> None:
        """Everything is read again, in the background, when changes can no longer be read
        one by one; the database serves meanwhile."""
        log.warning("posting vectors: %s; reloading", why)
        self._drop()
        # A failed reload leaves the database serving until the next start.
        self.reloading = asyncio.create_task(
            logged("posting vectors not reloaded", self.load(self._pool))
        )

    async def sync(self, conn: Any) -> bool:
        """Read what changed since the last read; True while the vectors can be searched.
        A read that started after this call began (one that another request awaited) is as
        good as a new one, so requests arriving together share one read."""
        arrived = time.monotonic()
        async with self._lock:
            if not self.ready or self._seen is None:
                return False
            if self._last_read_started >= arrived:
                return True
            if arrived - self._seen_at > DELETIONS_KEPT_S / 2:
                self._reload("no read for half the time deletions are kept")
                return False
            started = time.monotonic()
            seen, written, deleted = await vectors_db.posting_vectors_changed(
                conn, model=self.model, since=self._seen
            )
            if seen.next_xid < self._seen.next_xid:
                # A restore, or a failover to a replica that lagged: changes can no longer
                # be told apart by transaction id.
                self._reload("the database's transaction ids went back")
                return False
            # Deletions first: a vector deleted and written again in this read is there now.
            self.index.discard(deleted)
            self.index.upsert((_entry(v) for v in written), now=time.time())
            self._seen, self._seen_at, self._last_read_started = seen, started, started
            if len(self.index) > self.max_size:
                self._give_up()
                return False
            return True

    def count_within(
        self, *, agency_id: UUID, lat: float, lon: float, radius_km: float, at_least: int
    ) -> int:
        """As `candidates_db.count_postings_within`: the agency's active located postings within the
        radius (remote ones not counted), counting stops at `at_least`."""
        return self.index.count_within(
            group=agency_id,
            lat=lat,
            lon=lon,
            radius_km=radius_km,
            now=time.time(),
            at_least=at_least,
        )

    def nearest(
        self,
        query: np.ndarray,
        *,
        agency_id: UUID,
        lat: float | None,
        lon: float | None,
        radius_km: float | None,
        limit: int,
    ) -> list[candidates_db.Candidate]:
        """Up to `limit` active postings of the agency nearest in meaning to `query` and in
        reach, in the order of the database's search: nearest first, ties by id (a few more
        are asked of the index, which breaks ties by its own order, so that copies of one
        posting tied at the cut are cut by id too)."""
        index = self.index
        found = index.nearest(
            query,
            group=agency_id,
            lat=lat,
            lon=lon,
            radius_km=radius_km,
            now=time.time(),
            limit=limit + TIES_AT_THE_CUT,
        )
        candidates = []
        for key, cosine in found:
            external_id, version = index.payload(key)
            candidates.append(
                candidates_db.Candidate(cast(UUID, key), external_id, version, cosine)
            )
        return sorted(candidates, key=lambda c: (-c.cosine, c.id))[:limit]
