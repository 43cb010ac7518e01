"""GeoVectorIndex gives the answer of comparing every entry (exact search within a radius)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from matching import vector_index
from matching.features import haversine_km
from matching.profiles import Location
from matching.vector_index import FIT_MIN_ROWS, Entry, GeoVectorIndex

NOW = 1_000_000.0


def _entries(rng: np.random.Generator, n: int, start: int = 0) -> list[Entry]:
    vectors = rng.normal(size=(n, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    out = []
    for i in range(n):
        kind = rng.random()
        located = kind > 0.05
        out.append(
            Entry(
                key=start + i,
                group="a" if rng.random() < 0.8 else "b",
                vector=vectors[i],
                # a dense region, a band across the date line, and the far north
                lat=float(
                    rng.normal(52, 0.4)
                    if kind < 0.8
                    else rng.uniform(-60, 60)
                    if kind < 0.9
                    else rng.uniform(84, 90)
                )
                if located
                else None,
                lon=float(
                    rng.normal(5, 0.5)
                    if kind < 0.8
                    else (rng.uniform(170, 180) if rng.random() < 0.5 else rng.uniform(-180, -170))
                    if kind < 0.9
                    else rng.uniform(-180, 180)
                )
                if located
                else None,
                everywhere=bool(rng.random() < 0.08),
                valid_until=NOW - 1 if rng.random() < 0.05 else math.inf,
            )
        )
    return out


def _brute(
    entries: dict[int, Entry],
    q: np.ndarray,
    group: str,
    lat: float | None,
    lon: float | None,
    radius: float | None,
    limit: int,
) -> list[int]:
    scored = []
    for e in entries.values():
        if e.group != group or e.valid_until <= NOW:
            continue
        if radius is not None and not e.everywhere:
            if lat is None or lon is None or e.lat is None or e.lon is None:
                continue
            if haversine_km(Location(lat, lon), Location(e.lat, e.lon)) > radius:
                continue
        scored.append((-float(e.vector @ q), e.key))
    return [k for _, k in sorted(scored)[:limit]]


def _keys(found: list[tuple[object, float]]) -> list[object]:
    return [k for k, _ in found]


@pytest.mark.parametrize("seed", [1, 2])
def test_nearest_is_the_exact_answer_within_the_radius(seed: int) -> None:
    rng = np.random.default_rng(seed)
    entries = {e.key: e for e in _entries(rng, 3000)}
    index = GeoVectorIndex(16)
    index.upsert(entries.values())
    queries = rng.normal(size=(30, 16)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    places: list[tuple[float | None, float | None, float | None]] = [
        (52.1, 5.1, 10.0),
        (52.0, 4.8, 30.0),
        (51.0, 6.0, 130.0),
        (20.0, 179.9, 800.0),  # across the date line
        (89.0, 0.0, 300.0),  # near the pole
        (52.0, 5.0, None),  # no radius: everything of the group
        (None, None, 30.0),  # a radius around no place: only what is everywhere
    ]
    for i, q in enumerate(queries):
        lat, lon, radius = places[i % len(places)]
        for group in ("a", "b"):
            found = index.nearest(
                q, group=group, lat=lat, lon=lon, radius_km=radius, now=NOW, limit=50
            )
            assert _keys(found) == _brute(entries, q, group, lat, lon, radius, 50)
            cosines = [c for _, c in found]
            assert cosines == sorted(cosines, reverse=True)
            assert all(abs(c - float(entries[k].vector @ q)) < 1e-5 for k, c in found)  # type: ignore[index]


def test_updates_replace_entries_and_survive_re_sorting() -> None:
    rng = np.random.default_rng(3)
    first = _entries(rng, 2000)
    index = GeoVectorIndex(16, resort_share=0.05)
    index.upsert(first)
    entries = {e.key: e for e in first}
    # Move, re-embed and add entries in small batches: the tail grows and is re-sorted.
    for step in range(12):
        moved = _entries(rng, 100, start=step * 150)  # same keys as existing entries: updates
        added = _entries(rng, 50, start=10_000 + step * 50)
        index.upsert(moved + added)
        entries.update({e.key: e for e in moved + added})
    gone = list(entries)[::7]
    index.discard(gone)
    for key in gone:
        del entries[key]
    assert len(index) == len(entries)
    assert gone[0] not in index and next(iter(entries)) in index
    for q in rng.normal(size=(10, 16)).astype(np.float32):
        q /= np.linalg.norm(q)
        found = index.nearest(q, group="a", lat=52.0, lon=5.0, radius_km=25.0, now=NOW, limit=40)
        assert _keys(found) == _brute(entries, q, "a", 52.0, 5.0, 25.0, 40)


@pytest.mark.parametrize("size", [2000, 500])  # re-sorted, and all in the unsorted tail
def test_count_within_counts_valid_located_entries_of_the_group_only(size: int) -> None:
    rng = np.random.default_rng(4)
    entries = _entries(rng, size)
    # Remote entries are never counted, even with a place of their own, sorted or not.
    entries += [Entry(f"r{i}", "a", entries[0].vector, 52.0, 5.0, True, math.inf) for i in range(5)]
    index = GeoVectorIndex(16)
    index.upsert(entries)
    for lat, lon, radius in ((52.0, 5.0, 5.0), (52.3, 4.9, 20.0), (0.0, 0.0, 50.0)):
        expected = sum(
            1
            for e in entries
            if e.group == "a"
            and e.valid_until > NOW
            and not e.everywhere
            and e.lat is not None
            and e.lon is not None
            and haversine_km(Location(lat, lon), Location(e.lat, e.lon)) <= radius
        )
        count = index.count_within(
            group="a", lat=lat, lon=lon, radius_km=radius, now=NOW, at_least=10**9
        )
        assert count == expected
        if expected > 3:
            stopped = index.count_within(
                group="a", lat=lat, lon=lon, radius_km=radius, now=NOW, at_least=3
            )
            assert 3 <= stopped <= expected


def test_an_unknown_group_finds_nothing() -> None:
    index = GeoVectorIndex(16)
    index.upsert(_entries(np.random.default_rng(5), 10))
    q = np.ones(16, np.float32) / 4
    assert index.nearest(q, group="z", lat=None, lon=None, radius_km=None, now=NOW, limit=5) == []


def test_a_large_table_is_searched_in_a_reduced_space_first_and_gives_the_same_answer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Above FIT_MIN_ROWS entries a first pass ranks them by their top principal components
    and only a shortlist is compared in full. On vectors whose differences lie in fewer
    dimensions than are kept (as sentence embeddings of job texts mostly do), the answer is
    still that of comparing every entry."""
    rng = np.random.default_rng(7)
    dim, n = 384, FIT_MIN_ROWS + 2000
    mixing = rng.normal(size=(40, dim))
    vectors = rng.normal(size=(n, 40)) @ mixing + rng.normal(scale=0.05, size=(n, dim))
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    lat = rng.normal(52, 0.3, n)
    lon = rng.normal(5, 0.4, n)
    entries = {
        i: Entry(i, "a", vectors[i], float(lat[i]), float(lon[i]), i % 13 == 0, math.inf)
        for i in range(n)
    }
    index = GeoVectorIndex(dim)
    index.upsert(entries.values())
    assert index._table.projection is not None  # fitted when the table was sorted
    first_pass: list[int] = []
    products = vector_index._products

    def counted(matrix: np.ndarray, *args: object) -> object:
        first_pass.append(matrix.shape[1])
        return products(matrix, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(vector_index, "_products", counted)
    for q in vectors[rng.choice(n, 20)] + rng.normal(scale=0.02, size=(20, dim)):
        q = (q / np.linalg.norm(q)).astype(np.float32)
        found = index.nearest(q, group="a", lat=52.0, lon=5.0, radius_km=40.0, now=NOW, limit=100)
        assert _keys(found) == _brute(entries, q, "a", 52.0, 5.0, 40.0, 100)
    assert first_pass and set(first_pass) == {vector_index.REDUCED_DIMENSIONS}


def _frozen(snapshot: vector_index.TableSnapshot) -> vector_index.FrozenGeoVectorIndex:
    """The snapshot's arrays made read-only (as a memory map of another process's file is)."""
    for column in snapshot.columns.values():
        column.flags.writeable = False
    keys = np.array([int(k).to_bytes(8, "big") for k in snapshot.keys], "S8")  # type: ignore[call-overload]
    order = np.argsort(keys, kind="stable")
    rows = vector_index.SortedKeyRows(keys[order], order, lambda k: int(k).to_bytes(8, "big"))  # type: ignore[call-overload]
    return vector_index.FrozenGeoVectorIndex(16, snapshot, rows)


def test_a_frozen_base_with_a_private_delta_answers_as_one_index() -> None:
    """A snapshot mapped read-only plus the changes since (written, moved, deleted, and a key
    ending in a zero byte) gives the exact answers of comparing every entry, and its own
    snapshot is the next base with the same answers."""
    rng = np.random.default_rng(7)
    first = _entries(rng, 3000)
    entries = {e.key: e for e in first}
    layered = vector_index.LayeredIndex(GeoVectorIndex(16))
    layered.upsert(first, resort=False)
    layered.resort(NOW)
    base = _frozen(layered.snapshot(NOW))
    assert len(base) == len([e for e in first if e.valid_until > NOW])
    index = vector_index.LayeredIndex(base)
    for e in first:  # the snapshot dropped the expired entries
        if e.valid_until <= NOW:
            del entries[e.key]
    moved = _entries(rng, 300, start=256)  # keys 256..: includes keys whose last byte is 0
    added = _entries(rng, 200, start=50_000)
    index.upsert(moved + added, now=NOW)
    entries.update({e.key: e for e in moved + added})
    gone = [1, 512, 768, 50_001, 2999, 99_999]  # in the base, moved, added, unknown
    index.discard(gone)
    for key in gone:
        entries.pop(key, None)
    live = {k: e for k, e in entries.items() if e.valid_until > NOW}
    assert len(index) == len(entries)
    assert 512 not in index and 256 in index and 50_000 in index
    assert index.changed() >= 500
    again = vector_index.LayeredIndex(_frozen(index.snapshot(NOW)))
    assert len(again) == len(live) and again.changed() == 0
    for q in rng.normal(size=(12, 16)).astype(np.float32):
        q /= np.linalg.norm(q)
        for lat, lon, radius in [(52.0, 5.0, 25.0), (20.0, 179.9, 800.0), (52.0, 5.0, None)]:
            expected = _brute(entries, q, "a", lat, lon, radius, 40)
            for each in (index, again):
                found = each.nearest(
                    q, group="a", lat=lat, lon=lon, radius_km=radius, now=NOW, limit=40
                )
                assert _keys(found) == expected
        near = dict(group="b", lat=52.0, lon=5.0, radius_km=30.0, now=NOW)
        assert index.count_within(**near, at_least=10**6) == again.count_within(
            **near, at_least=10**6
        )  # type: ignore[arg-type]
    assert index.payload(50_000) is None and index.payload(3) is None


# ------------------------------------------------------------------ inverted lists


def _clustered(
    rng: np.random.Generator, n: int, dim: int = 32, clusters: int = 60, start: int = 0
) -> list[Entry]:
    """Near-copies of a few texts (as the benchmark's and templated postings are), spread over
    a dense region; a few remote, a few of another group, a few expired."""
    centres = rng.normal(size=(clusters, dim))
    which = rng.integers(0, clusters, n)
    vectors = centres[which] + rng.normal(scale=0.3, size=(n, dim))
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    return [
        Entry(
            key=start + i,
            group="a" if i % 10 else "b",
            vector=vectors[i],
            lat=float(rng.normal(52, 0.5)),
            lon=float(rng.normal(5, 0.6)),
            everywhere=bool(i % 17 == 0),
            valid_until=NOW - 1 if i % 31 == 0 else math.inf,
        )
        for i in range(n)
    ]


def _queries(rng: np.random.Generator, entries: list[Entry], count: int) -> np.ndarray:
    picked = np.stack([entries[i].vector for i in rng.choice(len(entries), count)])
    q = picked + rng.normal(scale=0.2, size=picked.shape)
    return (q / np.linalg.norm(q, axis=1, keepdims=True)).astype(np.float32)


def _listed_index(entries: list[Entry], lists_from: int) -> GeoVectorIndex:
    index = GeoVectorIndex(entries[0].vector.shape[0], lists_from=lists_from)
    index.upsert(entries, resort=False)
    index.resort(NOW)
    return index


def _recall(found: list[object], expected: list[int]) -> float:
    return len(set(found) & set(expected)) / max(1, len(expected))


def _counting_lists(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Record whether each search was answered from the lists (True) or the slices."""
    answered: list[bool] = []
    original = GeoVectorIndex._from_lists

    def counted(self: GeoVectorIndex, *args: object) -> object:
        rows = original(self, *args)  # type: ignore[arg-type]
        answered.append(rows is not None)
        return rows

    monkeypatch.setattr(GeoVectorIndex, "_from_lists", counted)
    return answered


def test_lists_are_made_from_the_size_set_and_not_below() -> None:
    rng = np.random.default_rng(1)
    entries = _clustered(rng, 3000)
    assert _listed_index(entries, lists_from=4000)._table.lists is None
    assert GeoVectorIndex(32)._table.lists is None  # lists_from 0: never
    lists = _listed_index(entries, lists_from=2000)._table.lists
    assert lists is not None
    # every live row valid now in exactly one list, about sqrt(rows) lists
    live = len([e for e in entries if e.valid_until > NOW])
    assert lists.starts[-1] == live and sorted(lists.rows.tolist()) == list(range(live))
    assert abs(len(lists.centroids) - math.sqrt(live)) <= 1


def test_lists_find_the_nearest_in_reach_as_comparing_every_entry_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Recall@100 against comparing every entry, on clustered data, with the filters (group,
    validity, radius, remote) applied: at least 0.95 on average, and every find in reach."""
    rng = np.random.default_rng(3)
    entries = _clustered(rng, 40_000)
    by_key = {e.key: e for e in entries}
    index = _listed_index(entries, lists_from=10_000)
    answered = _counting_lists(monkeypatch)
    recalls = []
    for q in _queries(rng, entries, 30):
        for lat, lon, radius in [(52.0, 5.0, 60.0), (52.3, 4.8, 120.0), (52.0, 5.0, None)]:
            found = index.nearest(
                q, group="a", lat=lat, lon=lon, radius_km=radius, now=NOW, limit=100
            )
            keys = _keys(found)
            expected = _brute(by_key, q, "a", lat, lon, radius, 100)
            recalls.append(_recall(keys, expected))
            for key in keys:
                e = by_key[key]  # type: ignore[index]
                assert e.group == "a" and e.valid_until > NOW
                if radius is not None and not e.everywhere:
                    assert e.lat is not None and e.lon is not None
                    assert haversine_km(Location(lat, lon), Location(e.lat, e.lon)) <= radius + 1e-6
            assert [c for _, c in found] == sorted((c for _, c in found), reverse=True)
    assert all(answered), "these searches have many rows in reach: the lists answer them"
    assert np.mean(recalls) >= 0.95


def test_a_small_circle_is_searched_in_the_slices_and_a_small_group_found_in_full(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """When the circle holds few rows, the lists give way to the slices, whose answer is exact;
    a group of a tenth of the rows is found in full either way."""
    rng = np.random.default_rng(4)
    entries = _clustered(rng, 20_000)
    by_key = {e.key: e for e in entries}
    index = _listed_index(entries, lists_from=5000)
    answered = _counting_lists(monkeypatch)
    for q in _queries(rng, entries, 10):
        found = index.nearest(q, group="a", lat=52.0, lon=5.0, radius_km=3.0, now=NOW, limit=50)
        assert _keys(found) == _brute(by_key, q, "a", 52.0, 5.0, 3.0, 50)
        found = index.nearest(q, group="b", lat=None, lon=None, radius_km=None, now=NOW, limit=50)
        assert _recall(_keys(found), _brute(by_key, q, "b", None, None, None, 50)) >= 0.9
    assert answered[::2] and not any(answered[::2])


def test_lists_see_writes_removals_and_replacements_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A written entry (in the tail, before any re-sort) is found by the next search, a removed
    or expired one never is, a replaced one only in its new form; and after a re-sort too."""
    rng = np.random.default_rng(5)
    entries = _clustered(rng, 20_000)
    index = _listed_index(entries, lists_from=5000)
    answered = _counting_lists(monkeypatch)
    q = _queries(rng, entries, 1)[0]
    where = dict(group="a", lat=52.0, lon=5.0, radius_km=200.0, now=NOW)
    before = _keys(index.nearest(q, **where, limit=20))  # type: ignore[arg-type]
    new = [Entry(10**6 + i, "a", q, 52.0, 5.0, False, math.inf) for i in range(3)]
    moved = Entry(before[0], "a", -q, 52.0, 5.0, False, math.inf)  # now the farthest
    index.upsert([*new, moved], now=NOW, resort=False)
    index.discard([before[1], before[2]])
    for resort in (False, True):
        if resort:
            index.resort(NOW)
        found = _keys(index.nearest(q, **where, limit=20))  # type: ignore[arg-type]
        assert found[:3] == [10**6, 10**6 + 1, 10**6 + 2]
        assert not {before[0], before[1], before[2]} & set(found)
        assert set(before[3:20]) <= set(found)
    assert all(answered)
    expired = Entry(10**6 + 9, "a", q, 52.0, 5.0, False, NOW - 1)
    index.upsert([expired], now=NOW, resort=False)
    assert 10**6 + 9 not in _keys(index.nearest(q, **where, limit=20))  # type: ignore[arg-type]


def test_emptied_and_empty_lists_are_harmless() -> None:
    """Many identical vectors (k-means restarts emptied centroids) and lists whose every row was
    removed: searches still answer as comparing every entry does."""
    rng = np.random.default_rng(6)
    entries = _clustered(rng, 12_000)
    same = np.ones(32, np.float32) / math.sqrt(32)
    entries += [Entry(50_000 + i, "a", same, 52.0, 5.0, False, math.inf) for i in range(3000)]
    index = _listed_index(entries, lists_from=5000)
    lists = index._table.lists
    assert lists is not None and len(lists.centroids) > 100
    sizes = np.diff(lists.starts)
    emptied = [int(i) for i in np.argsort(-sizes)[:3]]
    gone = {
        index._table.keys[int(r)]
        for i in emptied
        for r in lists.rows[lists.starts[i] : lists.starts[i + 1]]
    }
    index.discard(gone)
    live = {e.key: e for e in entries if e.key not in gone}
    for q in _queries(rng, entries, 10):
        found = index.nearest(q, group="a", lat=52.0, lon=5.0, radius_km=None, now=NOW, limit=50)
        assert not gone & set(_keys(found))
        assert _recall(_keys(found), _brute(live, q, "a", 52.0, 5.0, None, 50)) >= 0.9


def test_a_frozen_snapshot_keeps_its_lists_and_its_delta_is_searched_with_it() -> None:
    rng = np.random.default_rng(8)
    entries = _clustered(rng, 20_000)
    layered = vector_index.LayeredIndex(GeoVectorIndex(32, lists_from=5000))
    layered.upsert(entries, resort=False)
    layered.resort(NOW)
    snapshot = layered.snapshot(NOW)
    assert snapshot.lists is not None and "list_of" in snapshot.columns
    for column in snapshot.columns.values():
        column.flags.writeable = False
    keys = np.array([int(k).to_bytes(8, "big") for k in snapshot.keys], "S8")  # type: ignore[call-overload]
    order = np.argsort(keys, kind="stable")
    rows = vector_index.SortedKeyRows(keys[order], order, lambda k: int(k).to_bytes(8, "big"))  # type: ignore[call-overload]
    base = vector_index.FrozenGeoVectorIndex(32, snapshot, rows, lists_from=5000)
    index = vector_index.LayeredIndex(base)
    assert base._table.lists is not None
    q = _queries(rng, entries, 1)[0]
    near = Entry(10**6, "a", q, 52.0, 5.0, False, math.inf)
    index.upsert([near], now=NOW)
    index.discard([entries[1].key])
    live = {e.key: e for e in entries if e.valid_until > NOW and e.key != entries[1].key}
    live[near.key] = near
    found = _keys(
        index.nearest(q, group="a", lat=52.0, lon=5.0, radius_km=150.0, now=NOW, limit=100)
    )
    assert found[0] == 10**6 and entries[1].key not in found
    assert _recall(found, _brute(live, q, "a", 52.0, 5.0, 150.0, 100)) >= 0.9
    again = index.snapshot(NOW)  # the next generation: the same lists, the delta's row in one
    assert again.lists is not None and len(again.lists.centroids) == len(snapshot.lists.centroids)
    assert again.lists.starts[-1] == len(again)
