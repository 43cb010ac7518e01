"""Converted postings held once per machine, in the posting vectors' snapshot files.

With several workers each used to keep every active posting converted for scoring in its own
memory (service/embeddings/profile_cache.py, about 1.3 KB per posting per worker). Now the
process that writes the vectors' snapshot (service/embeddings/shared_vectors.py) also writes
each snapshot row's posting as a compact record (matching/posting_codec.py), and every worker
maps those files read-only: the pages are held once by the kernel. A record is used only when
its version is at least the one a search found, as with the private cache, so nothing is
served stale; what is newer than the snapshot (and what has no record) is read from the
database and kept in the worker's private cache until the next snapshot holds it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Sequence
from typing import Any, cast
from uuid import UUID

import numpy as np

from matching.posting_codec import NO_RECORD, EncodedPostings, PostingEncoder
from matching.profiles import PostingProfile
from matching.vector_index import TableSnapshot
from service.kit.pool import DATABASE_UNAVAILABLE
from service.match_lists import candidates_repository as candidates_db
from service.records import convert

log = logging.getLogger(__name__)
# Rows encoded between two turns of the event loop, and read from the database per query.
ENCODE_SLICE = 500


class SharedPostingProfiles:
    """The records of one snapshot generation, found by posting id."""

    def __init__(
        self,
        generation: str,
        sorted_keys: np.ndarray,
        key_rows: np.ndarray,
        encoded: EncodedPostings,
    ) -> None:
        self.generation = generation
        self._sorted_keys = sorted_keys  # posting ids as 16 bytes, sorted
        self._key_rows = key_rows  # the row of each
        self._encoded = encoded
        self.hits = 0  # postings found current here, for benchmarks

    def __len__(self) -> int:
        return len(self._encoded)

    def _rows(self, ids: Sequence[UUID]) -> np.ndarray:
        """The row of each id, -1 where it has none (one binary search for all)."""
        if not len(self._sorted_keys) or not ids:
            return np.full(len(ids), -1, np.int64)
        probe = np.array([i.bytes for i in ids], self._sorted_keys.dtype)
        at = np.minimum(np.searchsorted(self._sorted_keys, probe), len(self._sorted_keys) - 1)
        return np.where(self._sorted_keys[at] == probe, self._key_rows[at], -1)

    def found(self, wanted: Sequence[tuple[UUID, int]]) -> dict[UUID, tuple[int, PostingProfile]]:
        """(version, profile) for each (id, version) pair whose record is of that version or
        newer."""
        rows = self._rows([key for key, _ in wanted])
        out: dict[UUID, tuple[int, PostingProfile]] = {}
        for (key, version), row in zip(wanted, rows.tolist(), strict=True):
            if row >= 0 and (held := self._encoded.version(row)) >= version:
                profile = self._encoded.profile(row)
                if profile is not None:
                    out[key] = (held, profile)
        self.hits += len(out)
        return out


async def encoded_for_snapshot(
    pool: Any, snapshot: TableSnapshot, previous: SharedPostingProfiles | None
) -> dict[str, np.ndarray]:
    """A record for each row of `snapshot`: taken over from the previous generation where it
    is of the row's version or newer, else read from the database and converted. A posting the
    database no longer has, or whose stored profile cannot be read, gets no record (a request
    that meets it reads it, and reports it); so do the rest when the database becomes
    unreachable meanwhile: the snapshot's vectors are still published."""
    encoder = PostingEncoder()
    keys = cast(Sequence[UUID], snapshot.keys)
    groups = snapshot.columns["group"]
    fresh = unreadable = 0
    reachable = True
    for start in range(0, len(snapshot), ENCODE_SLICE):
        rows = range(start, min(start + ENCODE_SLICE, len(snapshot)))
        wanted = [(keys[row], int(snapshot.payloads[row][1])) for row in rows]
        found = previous.found(wanted) if previous is not None else {}
        missing: dict[UUID, list[UUID]] = defaultdict(list)
        for row, (key, _) in zip(rows, wanted, strict=True):
            if key not in found:
                missing[cast(UUID, snapshot.groups[int(groups[row])])].append(key)
        for agency_id, ids in missing.items():
            if not reachable:
                break
            try:
                async with pool.acquire() as conn:
                    stored = await candidates_db.profiles_of(
                        conn, "posting", agency_id=agency_id, ids=ids
                    )
            except DATABASE_UNAVAILABLE as exc:
                log.warning("posting records: database unavailable (%s)", type(exc).__name__)
                reachable = False
                break
            for key, version, stored_profile in stored:
                try:
                    found[key] = (version, convert.posting_for_matching(stored_profile))
                except (KeyError, TypeError, ValueError):
                    unreadable += 1
                    continue
                fresh += 1
        for key, _ in wanted:
            if key in found:
                version, profile = found[key]
                encoder.add(profile, version)
            else:
                encoder.add(None, NO_RECORD)
        await asyncio.sleep(0)
    log.info(
        "posting records for the snapshot: %d rows, %d read from the database, %d unreadable",
        len(encoder),
        fresh,
        unreadable,
    )
    return encoder.arrays()
