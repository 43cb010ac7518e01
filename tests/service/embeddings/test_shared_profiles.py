"""The snapshot's posting records (service/embeddings/shared_profiles.py): taken over from the
previous generation when current, read from the database otherwise, and none (rather than no
snapshot) when the database cannot be reached."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID, uuid4

import numpy as np
import pytest

from matching.posting_codec import EncodedPostings, PostingEncoder
from matching.profiles import PostingProfile
from matching.vector_index import TableSnapshot
from service.embeddings.shared_profiles import SharedPostingProfiles, encoded_for_snapshot


def _records(rows: list[tuple[UUID, int, PostingProfile]]) -> SharedPostingProfiles:
    encoder = PostingEncoder()
    for _, version, profile in rows:
        encoder.add(profile, version)
    keys = np.array([key.bytes for key, _, _ in rows], "S16")
    order = np.argsort(keys, kind="stable")
    return SharedPostingProfiles(
        "gen-1", keys[order], order.astype(np.int64), EncodedPostings(**encoder.arrays())
    )


def _snapshot(agency: UUID, rows: list[tuple[UUID, int]]) -> TableSnapshot:
    return TableSnapshot(
        columns={"cell": np.zeros(len(rows), np.int64), "group": np.zeros(len(rows), np.int32)},
        keys=[key for key, _ in rows],
        payloads=[("external", version) for _, version in rows],
        groups=[agency],
    )


class _Unreachable:
    """A pool whose database is down: every acquire fails as asyncpg's does."""

    def __init__(self) -> None:
        self.tries = 0

    @contextlib.asynccontextmanager
    async def acquire(self) -> AsyncIterator[Any]:
        self.tries += 1
        raise ConnectionRefusedError("connection refused")
        yield


def test_a_record_serves_its_version_and_older_requests_only() -> None:
    key, other = uuid4(), uuid4()
    records = _records([(key, 3, PostingProfile(title="Welder"))])
    assert records.found([(key, 3), (key, 2)]) == {key: (3, PostingProfile(title="Welder"))}
    assert records.found([(key, 4), (other, 1)]) == {}
    assert records.hits == 1  # counted for benchmarks: the one found current


async def test_current_records_are_taken_over_and_the_rest_left_out_when_the_database_is_down(
    caplog: pytest.LogCaptureFixture,
) -> None:
    kept, changed, new = uuid4(), uuid4(), uuid4()
    previous = _records(
        [(kept, 5, PostingProfile(title="Welder")), (changed, 1, PostingProfile(title="Old"))]
    )
    pool = _Unreachable()
    snapshot = _snapshot(uuid4(), [(kept, 4), (changed, 2), (new, 1)])
    with caplog.at_level(logging.WARNING):
        arrays = await encoded_for_snapshot(pool, snapshot, previous)
    records = EncodedPostings(**arrays)
    assert records.profile(0) == PostingProfile(title="Welder") and records.version(0) == 5
    assert records.profile(1) is None and records.profile(2) is None  # read, not stale
    assert pool.tries == 1  # given up after the first failure, not once per agency or slice
    assert "database unavailable (ConnectionRefusedError)" in caplog.text
