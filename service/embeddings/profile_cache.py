"""Converted posting profiles kept between match requests, keyed by posting id and version.

Matching reads the same postings for seeker after seeker: decoding a stored profile and
converting it for `matching` cost more than scoring it (bench/README.md). A posting's `version`
grows on every change, so an entry is used only while the stored version is the one cached;
nothing is ever served stale. Postings only: seeker profiles are personal data and are read
afresh for every request.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar
from uuid import UUID

P = TypeVar("P")


class ProfileCache(Generic[P]):
    """A bounded LRU map from record id to (version, converted profile)."""

    def __init__(self, convert: Callable[[dict[str, Any]], P], max_size: int) -> None:
        self._convert = convert
        self._max_size = max_size
        self._entries: OrderedDict[UUID, tuple[int, P]] = OrderedDict()
        self.hits = 0
        self.misses = 0
        # The shared snapshot whose postings the entries complement (service/embeddings/
        # shared_profiles.py), None without one.
        self.generation: str | None = None

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, record_id: UUID, version: int) -> P | None:
        """The profile if the cached copy is at least `version` (versions only grow)."""
        entry = self._entries.get(record_id)
        if entry is None or entry[0] < version:
            self.misses += 1
            return None
        self._entries.move_to_end(record_id)
        self.hits += 1
        return entry[1]

    def put(self, record_id: UUID, version: int, profile: dict[str, Any]) -> P:
        converted = self._convert(profile)
        if self._max_size > 0:
            self._entries[record_id] = (version, converted)
            self._entries.move_to_end(record_id)
            while len(self._entries) > self._max_size:
                self._entries.popitem(last=False)
        return converted

    def room(self) -> int:
        return max(0, self._max_size - len(self._entries))

    def offer(self, record_id: UUID, version: int, profile: dict[str, Any]) -> bool:
        """Keep a profile read ahead of need (warming), unless a current copy is already in
        or the cache is full: nothing a request put there is evicted for it."""
        entry = self._entries.get(record_id)
        if (entry is not None and entry[0] >= version) or (entry is None and not self.room()):
            return False
        self._entries[record_id] = (version, self._convert(profile))
        return True

    def clear(self, generation: str | None) -> None:
        """Empty, to complement the snapshot `generation` from now on."""
        self._entries.clear()
        self.generation = generation

    def discard(self, record_ids: Iterable[UUID]) -> None:
        for record_id in record_ids:
            self._entries.pop(record_id, None)
