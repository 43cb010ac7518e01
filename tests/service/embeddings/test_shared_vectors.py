"""Posting vectors held once per machine (service/embeddings/shared_vectors.py): the workers map
one snapshot, and a write or delete made through any of them is in (or out of) the next list
of every one."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import numpy as np
import pytest
from prometheus_client.mmap_dict import MmapedDict

from matching import vector_index
from matching.vector_index import FrozenGeoVectorIndex
from service.embeddings import posting_vectors
from service.match_lists import candidates_repository as candidates_db
from service.records import convert
from tests.factories import TEST_CACHE_DIR, Agency, posting_body, seeker_body
from tests.servers import (
    free_port,
    portal_key,
    serve,
    server_data_dir,
    stop,
    wait_for,
    workers_of,
)
from tests.service.embeddings.apps import posting_ids, second_process


def _mapped_file(vectors: Any) -> str:
    base = vectors.index.base
    assert isinstance(base, FrozenGeoVectorIndex)
    column = base._table.vectors
    assert isinstance(column, np.memmap) and not column.flags.writeable
    return str(column.filename)


async def _seeker_and_postings(agency: Agency, prefix: str, n: int) -> tuple[str, list[str]]:
    """A seeker and `n` postings written through the session app: their ids."""
    c, h = agency.client, agency.auth("portal")
    sid = (await c.post("/v1/seekers", json=seeker_body(), headers=h)).json()["id"]
    ids = [
        (await c.post("/v1/postings", json=posting_body(f"{prefix}-{i}"), headers=h)).json()["id"]
        for i in range(n)
    ]
    return sid, ids


async def test_two_processes_map_one_snapshot_and_see_each_write_and_delete(
    settings: Any, embedder: Any, agency: Agency, monkeypatch: Any, tmp_path: Path
) -> None:
    """Process A (the first) writes the snapshot, B maps it; postings written and deleted
    through the session app afterwards are in and out of B's next list, held in B's private
    delta; a new snapshot published by A replaces it in both, with the same lists."""
    c, h = agency.client, agency.auth("portal")
    sid, before = await _seeker_and_postings(agency, "S", 3)
    shared = {"workers": 2, "data_dir": tmp_path, "cache_dir": TEST_CACHE_DIR}
    async with (
        second_process(settings, embedder, **shared) as (a, _),
        second_process(settings, embedder, **shared) as (b, client_b),
    ):
        va, vb = a.posting_vectors, b.posting_vectors
        assert va.ready and vb.ready
        assert va.store.writing and not vb.store.writing  # one writer
        assert va.generation == vb.generation == "gen-00000001"
        assert _mapped_file(va) == _mapped_file(vb)
        assert _mapped_file(vb).startswith(str(tmp_path / "posting-vectors"))
        assert set(await posting_ids(client_b, sid, h)) == set(before)

        new = (await c.post("/v1/postings", json=posting_body("S-new"), headers=h)).json()["id"]
        assert (await c.delete(f"/v1/postings/{before[0]}", headers=h)).status_code == 204
        expected = {*before[1:], new}
        assert set(await posting_ids(client_b, sid, h)) == expected
        assert UUID(new) in vb.index.delta and UUID(before[0]) not in vb.index
        assert vb.index.changed() == 2  # one written, one removed from the base

        # Any change is due: the writer publishes at its next read, both map the new one.
        monkeypatch.setattr(posting_vectors, "PUBLISH_MIN_CHANGES", 0)
        monkeypatch.setattr(posting_vectors, "PUBLISH_SHARE", 0.0)
        async with a.pool.acquire() as conn:
            assert await va.sync(conn)
        assert va.publishing is not None
        await va.publishing
        assert set(await posting_ids(client_b, sid, h)) == expected
        assert vb.generation == "gen-00000002" and vb.index.changed() == 0
        assert UUID(new) in vb.index.base and _mapped_file(vb).endswith("gen-00000002/vectors.npy")
        for i in range(2):  # two more: the oldest generations are removed
            async with a.pool.acquire() as conn:
                await va.sync(conn)  # maps the last one
                await c.post("/v1/postings", json=posting_body(f"S-more-{i}"), headers=h)
                assert await va.sync(conn)
            await va.publishing
        kept = sorted(p.name for p in va.store.root.glob("gen-*"))
        assert kept == ["gen-00000003", "gen-00000004"]
        assert set(await posting_ids(client_b, sid, h)) >= expected
        assert vb.generation == "gen-00000004"


async def test_workers_score_the_snapshot_s_postings_and_read_only_newer_ones(
    settings: Any, embedder: Any, agency: Agency, monkeypatch: Any, tmp_path: Path
) -> None:
    """The snapshot holds every row's posting as converted for scoring, equal to converting
    the stored profile (text understanding's inferred occupations and skills included); a
    worker answers from those records without keeping any posting of its own; a posting
    changed since is read from the database (its new version, kept privately) until the next
    snapshot holds it."""
    c, h = agency.client, agency.auth("portal")
    sid, ids = await _seeker_and_postings(agency, "R", 3)
    shared = {"workers": 2, "data_dir": tmp_path, "cache_dir": TEST_CACHE_DIR}
    async with (
        second_process(settings, embedder, **shared) as (a, _),
        second_process(settings, embedder, **shared) as (b, client_b),
    ):
        va, vb = a.posting_vectors, b.posting_vectors
        assert vb.postings is not None and vb.postings.generation == vb.generation
        async with a.pool.acquire() as conn:
            stored = await candidates_db.profiles_of(
                conn, "posting", agency_id=UUID(agency.id), ids=[UUID(i) for i in ids]
            )
        records = vb.postings.found([(key, version) for key, version, _ in stored])
        assert len(records) == 3
        for key, version, profile in stored:
            converted = convert.posting_for_matching(profile)
            assert converted.inferred_occupations and converted.inferred_skills
            assert records[key] == (version, converted)
        assert set(await posting_ids(client_b, sid, h)) == set(ids)
        assert len(b.posting_profiles) == 0  # scored from the mapped records only

        changed = posting_body("R-0", title="Reach truck driver")
        assert (await c.put(f"/v1/postings/{ids[0]}", json=changed, headers=h)).status_code == 200
        assert set(await posting_ids(client_b, sid, h)) == set(ids)
        assert len(b.posting_profiles) == 1  # the new version, read from the database
        assert vb.postings.found([(UUID(ids[0]), 2)]) == {}  # the snapshot's is older
        assert b.posting_profiles.get(UUID(ids[0]), 2).title == "Reach truck driver"

        monkeypatch.setattr(posting_vectors, "PUBLISH_MIN_CHANGES", 0)
        monkeypatch.setattr(posting_vectors, "PUBLISH_SHARE", 0.0)
        async with a.pool.acquire() as conn:
            assert await va.sync(conn)
        await va.publishing
        assert set(await posting_ids(client_b, sid, h)) == set(ids)
        assert vb.generation == "gen-00000002" and len(b.posting_profiles) == 0
        ((version, profile),) = vb.postings.found([(UUID(ids[0]), 2)]).values()
        assert version == 2 and profile.title == "Reach truck driver"

        # Records in a layout this code does not read (another version wrote them): the
        # generation is not mapped, so the writer reads everything again and publishes anew.
        manifest = vb.store.root / vb.generation / "manifest.json"
        written = json.loads(manifest.read_text())
        manifest.write_text(json.dumps({**written, "posting_codec": "posting-codec-0"}))
        assert vb.store.open(vb.generation) is None


async def test_a_snapshot_with_inverted_lists_is_mapped_and_searched_by_its_lists(
    settings: Any, embedder: Any, agency: Agency, monkeypatch: Any, tmp_path: Path
) -> None:
    """From `posting_vector_lists_from` postings the snapshot carries its inverted lists (the
    rows grouped by list, mapped read-only like the vectors); searches read the lists (here
    every list, LIST_CANDIDATES being 0) and still see a write and a delete made since."""
    c, h = agency.client, agency.auth("portal")
    sid, before = await _seeker_and_postings(agency, "L", 4)
    shared = {
        "workers": 2,
        "data_dir": tmp_path,
        "cache_dir": TEST_CACHE_DIR,
        "posting_vector_lists_from": 2,
    }
    listed: list[bool] = []
    from_lists = FrozenGeoVectorIndex._from_lists

    def counted(self: Any, *args: Any) -> Any:
        rows = from_lists(self, *args)
        listed.append(rows is not None)
        return rows

    monkeypatch.setattr(vector_index, "LIST_CANDIDATES", 0)
    monkeypatch.setattr(FrozenGeoVectorIndex, "_from_lists", counted)
    async with (
        second_process(settings, embedder, **shared) as (_writer, _),
        second_process(settings, embedder, **shared) as (b, client_b),
    ):
        vb = b.posting_vectors
        assert vb.ready and not vb.store.writing
        lists = vb.index.base._table.lists
        assert lists is not None and isinstance(lists.rows, np.memmap)
        assert lists.starts[-1] == len(vb.index.base) >= 4
        assert set(before) <= set(await posting_ids(client_b, sid, h))
        new = (await c.post("/v1/postings", json=posting_body("L-new"), headers=h)).json()["id"]
        assert (await c.delete(f"/v1/postings/{before[0]}", headers=h)).status_code == 204
        found = set(await posting_ids(client_b, sid, h))
        assert new in found and before[0] not in found and set(before[1:]) <= found
        assert listed and all(listed)


def _snapshot_maps(pid: int) -> set[str]:
    """The snapshot files a process maps."""
    lines = Path(f"/proc/{pid}/maps").read_text().splitlines()
    return {line.split()[-1] for line in lines if "/posting-vectors/" in line}


def _memory_retrievals(metrics_dir: Path) -> dict[int, float]:
    """Lists answered from memory, per worker process (prometheus_client's files, one per
    process and kind: counter_<pid>.db)."""
    counts: dict[int, float] = {}
    for path in metrics_dir.glob("counter_*.db"):
        pid = int(path.stem.removeprefix("counter_"))
        for key, value, *_ in MmapedDict.read_all_values_from_file(str(path)):
            _, name, labels, *_ = json.loads(key)
            if name == "jobmatch_retrievals_total" and labels.get("path") == "memory":
                counts[pid] = counts.get(pid, 0.0) + value
    return counts


@pytest.fixture
def server_dir() -> Iterator[Path]:
    with server_data_dir("jobmatch-shared-test-") as path:
        yield path


def test_two_workers_map_one_snapshot_and_every_answer_sees_a_write_and_a_delete(
    server_dir: Path,
) -> None:
    """`jobmatch serve` with two workers: both map the same snapshot file; a posting written
    through the API is in every list that either worker answers next, and once deleted in
    none."""
    port = free_port()
    metrics_dir = server_dir / "metrics"
    metrics_dir.mkdir()
    proc = serve(
        server_dir,
        port,
        JOBMATCH_WORKERS="2",
        JOBMATCH_POSTING_VECTORS_IN_MEMORY="150000",
        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
        JOBMATCH_MATCH_LIST_REUSE_SECONDS="0",  # every answer a new list, retrieved anew
    )
    try:
        url = f"http://127.0.0.1:{port}"
        h = portal_key(server_dir, port)
        sid = httpx.post(f"{url}/v1/seekers", json=seeker_body(), headers=h, timeout=60).json()
        first = httpx.post(
            f"{url}/v1/postings", json=posting_body("W-1"), headers=h, timeout=60
        ).json()["id"]
        workers = workers_of(proc.pid)
        assert len(workers) == 2, workers

        def both_mapped() -> bool:
            maps = [_snapshot_maps(w) for w in workers]
            return all(any(m.endswith("/vectors.npy") for m in each) for each in maps)

        wait_for(both_mapped, 120, "both workers to map the snapshot")
        mapped = [{m for m in _snapshot_maps(w) if m.endswith("/vectors.npy")} for w in workers]
        assert len(set.union(*mapped)) == 1, mapped  # one file, mapped by both

        def lists(want_in: str | None, want_out: str | None) -> None:
            """Match requests, several at once, until both workers have answered some since
            the change: every answer holds the change."""
            start = _memory_retrievals(metrics_dir)

            def one(_: int) -> list[str]:
                with httpx.Client(base_url=url, timeout=120) as client:  # a new connection
                    r = client.get(f"/v1/seekers/{sid['id']}/matches?limit=50", headers=h)
                    assert r.status_code == 200, r.text
                    return [i["posting_id"] for i in r.json()["items"]]

            for _ in range(10):
                with ThreadPoolExecutor(4) as pool:
                    for ids in pool.map(one, range(8)):
                        assert want_in is None or want_in in ids
                        assert want_out is None or want_out not in ids
                now = _memory_retrievals(metrics_dir)
                if all(now.get(w, 0) > start.get(w, 0) for w in workers):
                    return
            raise AssertionError(f"not every worker answered from memory: {start} -> {now}")

        lists(first, None)
        second = httpx.post(
            f"{url}/v1/postings", json=posting_body("W-2"), headers=h, timeout=60
        ).json()["id"]
        lists(second, None)
        assert httpx.delete(f"{url}/v1/postings/{first}", headers=h, timeout=60).status_code == 204
        lists(second, first)
    finally:
        assert stop(proc) == 0


async def test_when_the_writer_stops_another_process_writes_the_next_snapshot(
    settings: Any, embedder: Any, agency: Agency, monkeypatch: Any, tmp_path: Path
) -> None:
    c, h = agency.client, agency.auth("portal")
    sid = (await c.post("/v1/seekers", json=seeker_body(), headers=h)).json()["id"]
    shared = {"workers": 2, "data_dir": tmp_path, "cache_dir": TEST_CACHE_DIR}
    async with contextlib.AsyncExitStack() as stack:
        a, _ = await stack.enter_async_context(second_process(settings, embedder, **shared))
        async with second_process(settings, embedder, **shared) as (b, client_b):
            await stack.aclose()  # A stops, releasing the lock
            vb = b.posting_vectors
            assert a.posting_vectors.store is not None and not a.posting_vectors.store.writing
            assert not vb.store.writing and vb.generation == "gen-00000001"
            new = (await c.post("/v1/postings", json=posting_body("T-1"), headers=h)).json()
            monkeypatch.setattr(posting_vectors, "PUBLISH_MIN_CHANGES", 0)
            monkeypatch.setattr(posting_vectors, "PUBLISH_SHARE", 0.0)
            assert await posting_ids(client_b, sid, h) == [new["id"]]  # B reads it, publishes
            assert vb.store.writing and vb.publishing is not None
            await vb.publishing
            assert await posting_ids(client_b, sid, h) == [new["id"]]
            assert vb.generation == "gen-00000002" and UUID(new["id"]) in vb.index.base
