"""Posting vectors held in memory and searched there (matching.vector_index), kept current.

The database stays the record: before each search a process reads the vector rows written
since its last read (a new vector, a move, a new version of the posting) and those deleted
since: index probes, usually no rows (migrations 0009-0011). So a posting written or deleted by
any process is seen by the next search of every process, and a search answers from memory
alone, with the postings' versions and external ids as of that read and cosines computed here
(equal to the database's to float precision). Postings only: they are public; seeker vectors
stay in the database.

About 2.7 KiB per posting (a 384-d float32 vector, 64 principal components, its place, its
inverted list, id, version and external id), so the setting `posting_vectors_in_memory` bounds
it; above it, matching uses the HNSW index. From `posting_vector_lists_from` postings the
vectors are also grouped into inverted lists, so that a search reads the lists nearest the
seeker rather than every posting in reach (matching/vector_index.py). One copy per process,
or, with several workers (`share_posting_vectors`), one per machine: a snapshot in
memory-mapped files that every worker maps, with the changes read since it was taken held
privately on top (service/embeddings/shared_vectors.py); the snapshot also holds its rows'
postings converted for scoring (`postings`, service/embeddings/shared_profiles.py).
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

from matching.vector_index import Entry, GeoVectorIndex, LayeredIndex
from service.embeddings import repository as vectors_db
from service.embeddings.shared_profiles import SharedPostingProfiles, encoded_for_snapshot
from service.embeddings.shared_vectors import SnapshotStore
from service.kit.background import logged
from service.kit.memory import release_free_heap
from service.match_lists import candidates_repository as candidates_db

log = logging.getLogger(__name__)
LOAD_PAGE = 5000
# Deletions are kept as rows for a day (migration 0010): a process that has not read for half
# that reads everything again rather than risk missing one.
DELETIONS_KEPT_S = 86_400.0
TIES_AT_THE_CUT = 16
# A worker without a snapshot to map waits this long for the writer's first, then loads a
# private copy (the writer may have failed, or hold more postings than allowed).
SNAPSHOT_WAIT_S = 300.0
# The writer publishes a new snapshot when its private changes pass a share of the snapshot
# (every worker holds and searches those whole), when some are older than this, and
# in any case well within the time deletions are kept (a worker starting maps the snapshot
# and must still be able to read every deletion since).
PUBLISH_SHARE = 1 / 16
PUBLISH_MIN_CHANGES = 1024
PUBLISH_CHANGES_AFTER_S = 600.0
PUBLISH_AFTER_S = DELETIONS_KEPT_S / 4


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

    def __init__(
        self,
        model: str,
        dimension: int,
        max_size: int,
        store: SnapshotStore | None = None,
        *,
        lists_from: int = 0,
    ) -> None:
        self.model = model
        self.dimension = dimension
        self.max_size = max_size
        self.lists_from = lists_from  # inverted lists from this many vectors (vector_index)
        # Without a store: an empty base and every vector in the private part.
        self.index = self._empty()
        self.store = store  # shared snapshots, with several workers
        self.generation: str | None = None  # the snapshot mapped
        self.postings: SharedPostingProfiles | None = None  # its rows' postings, converted
        self._snapshot_read_at = math.inf  # time.time() of its watermark's read
        self._rejected: set[str] = set()  # snapshots read before the database's ids went back
        self.publishing: asyncio.Task[None] | None = None
        self.ready = False  # loaded in full; until then matching uses the database
        self._seen: vectors_db.VectorSnapshot | None = None
        self._seen_at = -math.inf  # time.monotonic() when _seen was read
        self._lock = asyncio.Lock()
        self._last_read_started = -math.inf
        self._pool: Any = None
        self.reloading: asyncio.Task[bool | None] | None = None

    async def load(self, pool: Any) -> bool:
        """Every active posting's vector: mapped from the newest snapshot, or read from the
        database (and published, by the writer); False (and nothing held) when there are more
        than max_size."""
        self._pool = pool
        if self.store is None:
            return await self._read_all(pool)
        waiting_since = time.monotonic()
        while True:
            if self._map_current():
                log.info(
                    "posting vectors mapped: %d (%s) from %s",
                    len(self.index),
                    self.model,
                    self.generation,
                )
                self.ready = True
                return True
            if self.store.try_to_write():
                if not await self._read_all(pool):
                    return False
                self.ready = False  # until the snapshot written replaces the private copy
                await self._publish()
                if not self._map_current():
                    log.warning("posting vectors: the snapshot written cannot be mapped")
                self.ready = True
                return True
            if time.monotonic() - waiting_since > SNAPSHOT_WAIT_S:
                log.warning("posting vectors: no snapshot to map; reading a private copy")
                return await self._read_all(pool)
            await asyncio.sleep(0.5)

    def _map_current(self) -> bool:
        """Map the newest snapshot (in place of what is held) if it is usable: not one
        rejected, and its watermark recent enough that every deletion since can be read."""
        assert self.store is not None
        name = self.store.current()
        if name is None or name in self._rejected:
            return False
        mapped = self.store.open(name, lists_from=self.lists_from)
        if mapped is None or time.time() - mapped.read_at > DELETIONS_KEPT_S / 2:
            return False
        self.index, self.generation, self.postings = mapped.index, name, mapped.postings
        self._seen, self._snapshot_read_at = mapped.seen, mapped.read_at
        self._seen_at = time.monotonic() - (time.time() - mapped.read_at)
        self._last_read_started = -math.inf  # the changes since are read at the next search
        return True

    def _publish_due(self) -> bool:
        changed = self.index.changed()
        base = len(self.index.base)
        age = time.time() - self._snapshot_read_at
        return (
            changed > max(PUBLISH_MIN_CHANGES, base * PUBLISH_SHARE)
            or (changed > 0 and age > PUBLISH_CHANGES_AFTER_S)
            or age > PUBLISH_AFTER_S
        )

    async def _publish(self) -> None:
        """Write what is held as the next snapshot. Taken under the lock, so that it is the
        vectors as of `_seen` exactly; written to files off the event loop, without it.
        Every process (this one too) maps it at its next search."""
        assert self.store is not None
        async with self._lock:
            if self._seen is None:
                return
            seen, read_at = self._seen, time.time() - (time.monotonic() - self._seen_at)
            snapshot = await asyncio.to_thread(self.index.snapshot, time.time())
        started = time.perf_counter()
        postings = await encoded_for_snapshot(self._pool, snapshot, self.postings)
        name = await asyncio.to_thread(self.store.publish, snapshot, seen, read_at, postings)
        rows = len(snapshot)
        del snapshot, postings
        release_free_heap()  # the records just written: the files hold them now
        log.info(
            "posting vectors: %s published, %d rows in %.1f s",
            name,
            rows,
            time.perf_counter() - started,
        )

    async def _read_all(self, pool: Any) -> bool:
        """Read every active posting's vector into private memory, a page at a time."""
        started = time.perf_counter()
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
        self.generation = None
        self.postings = None
        self._snapshot_read_at = math.inf
        self.index = self._empty()

    def _empty(self) -> LayeredIndex:
        return LayeredIndex(GeoVectorIndex(self.dimension, lists_from=self.lists_from))

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
            if self.store is not None and self.store.current() != self.generation:
                self._map_current()  # a newer snapshot: its watermark, then the changes since
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
                if self.generation is not None:
                    self._rejected.add(self.generation)
                self._reload("the database's transaction ids went back")
                return False
            # Deletions first: a vector deleted and written again in this read is there now.
            self.index.discard(deleted)
            self.index.upsert((_entry(v) for v in written), now=time.time())
            self._seen, self._seen_at, self._last_read_started = seen, started, started
            if len(self.index) > self.max_size:
                self._give_up()
                return False
            if (
                self.store is not None
                and (self.publishing is None or self.publishing.done())
                and self._publish_due()
                and self.store.try_to_write()
            ):
                self.publishing = asyncio.create_task(
                    logged("posting vectors not published", self._publish())
                )
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
