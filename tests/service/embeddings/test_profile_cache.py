"""The in-memory cache of converted postings: versions decide, size is bounded."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

from service.embeddings.profile_cache import ProfileCache


def _title(profile: dict[str, Any]) -> str:
    return str(profile["title"])


def test_an_entry_serves_only_its_version_or_older_requests() -> None:
    cache = ProfileCache(_title, max_size=10)
    rid = uuid4()
    assert cache.get(rid, 1) is None
    assert cache.put(rid, 2, {"title": "v2"}) == "v2"
    assert cache.get(rid, 2) == "v2"
    assert cache.get(rid, 1) == "v2"  # read newer than retrieval saw: still current
    assert cache.get(rid, 3) is None  # edited since it was cached
    cache.put(rid, 3, {"title": "v3"})
    assert cache.get(rid, 3) == "v3"
    assert (cache.hits, cache.misses) == (3, 2)


def test_least_recently_used_entries_leave_first() -> None:
    cache = ProfileCache(_title, max_size=2)
    a, b, c = uuid4(), uuid4(), uuid4()
    cache.put(a, 1, {"title": "a"})
    cache.put(b, 1, {"title": "b"})
    assert cache.get(a, 1) == "a"  # a is now the most recent
    cache.put(c, 1, {"title": "c"})
    assert len(cache) == 2
    assert cache.get(b, 1) is None and cache.get(a, 1) == "a" and cache.get(c, 1) == "c"
    cache.discard([a])
    assert cache.get(a, 1) is None


def test_size_zero_converts_but_keeps_nothing() -> None:
    cache = ProfileCache(_title, max_size=0)
    rid = uuid4()
    assert cache.put(rid, 1, {"title": "x"}) == "x"
    assert len(cache) == 0 and cache.get(rid, 1) is None


def test_warming_offers_never_evict_or_replace_a_current_entry() -> None:
    cache = ProfileCache(_title, max_size=2)
    a, b, c = uuid4(), uuid4(), uuid4()
    cache.put(a, 2, {"title": "a2"})
    assert not cache.offer(a, 1, {"title": "a1"})  # older than what a request put there
    assert cache.offer(b, 1, {"title": "b"})
    assert cache.room() == 0 and not cache.offer(c, 1, {"title": "c"})  # full: c waits
    assert cache.get(a, 2) == "a2" and cache.get(b, 1) == "b" and cache.get(c, 1) is None
    assert cache.offer(b, 2, {"title": "b2"}) and cache.get(b, 2) == "b2"  # newer replaces
