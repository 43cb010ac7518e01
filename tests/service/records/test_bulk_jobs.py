"""Bulk imports as jobs: counts equal what is stored (after a cancel, after a crash), large
uploads answer 202 at once with progress that moves, the job list, and PostgreSQL's own log
keeps no external ids."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from uuid import UUID

import numpy as np
import pytest

from service.background_jobs import repository as jobs_db
from service.records import bulk, preparation
from service.tasks import HANDLERS
from tests.factories import Agency, posting_body, seeker_body


@contextlib.contextmanager
def _settings(app: Any, **values: Any) -> Iterator[None]:
    settings = app.state.jobmatch.settings
    old = {k: getattr(settings, k) for k in values}
    for k, v in values.items():
        object.__setattr__(settings, k, v)
    try:
        yield
    finally:
        for k, v in old.items():
            object.__setattr__(settings, k, v)


def _rows(prefix: str, n: int) -> list[dict[str, Any]]:
    return [seeker_body(f"{prefix}-{i}", protected=None) for i in range(n)]


async def _stored(pool: Any, agency: Agency) -> int:
    return int(
        await pool.fetchval("SELECT count(*) FROM seeker WHERE agency_id = $1", UUID(agency.id))
    )


async def _until_stored(pool: Any, agency: Agency) -> None:
    for _ in range(30_000):
        if await _stored(pool, agency) > 0:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("nothing stored")


async def _until_finished(agency: Agency, job_id: str, within: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        job = (await agency.client.get(f"/v1/jobs/{job_id}", headers=agency.auth("portal"))).json()
        if job["status"] not in ("queued", "running"):
            return job
        assert time.monotonic() < deadline, job
        await asyncio.sleep(0.05)


@pytest.mark.slow
async def test_a_large_upload_answers_202_at_once_and_its_progress_moves(
    app: Any, agency: Agency
) -> None:
    with _settings(app, bulk_sync_max_records=10, bulk_max_records=1000):
        start = time.monotonic()
        r = await agency.client.post(
            "/v1/seekers:bulk", json=_rows("G", 700), headers=agency.auth("portal")
        )
        answered = time.monotonic() - start
    assert r.status_code == 202 and answered < 5, (r.status_code, answered)
    seen: set[int] = set()
    while True:
        job = (await agency.client.get(r.headers["location"], headers=agency.auth("portal"))).json()
        seen.add(job["done"])
        if job["status"] not in ("queued", "running"):
            break
        await asyncio.sleep(0.02)
    assert job["status"] == "succeeded" and job["created"] == job["done"] == 700
    assert {256, 512} <= seen, sorted(seen)  # a step per stored chunk
    # a small one still answers with the finished job
    with _settings(app, bulk_sync_max_records=10, bulk_max_records=1000):
        r = await agency.client.post(
            "/v1/seekers:bulk", json=_rows("g", 3), headers=agency.auth("portal")
        )
    assert r.status_code == 200 and r.json()["created"] == 3


@pytest.mark.slow
async def test_a_cancelled_import_reports_what_it_stored(
    app: Any, pool: Any, agency: Agency
) -> None:
    n = 1000
    with _settings(app, bulk_sync_max_records=0, bulk_max_records=1000):
        r = await agency.client.post(
            "/v1/seekers:bulk", json=_rows("C", n), headers=agency.auth("portal")
        )
    assert r.status_code == 202
    job_id = r.json()["id"]
    await _until_stored(pool, agency)  # the first chunk is in
    r = await agency.client.post(f"/v1/jobs/{job_id}:cancel", headers=agency.auth("portal"))
    assert r.status_code == 200
    job = await _until_finished(agency, job_id)
    stored = await _stored(pool, agency)
    assert job["status"] == "cancelled" and 0 < stored < n, (job["status"], stored)
    assert job["created"] == stored and job["failed"] == 0
    assert job["done"] == stored and job["result"]["not_imported"] == n - stored
    await asyncio.sleep(1)  # and nothing is stored after the cancel
    assert await _stored(pool, agency) == stored


async def test_an_import_resumed_after_a_crash_counts_only_what_it_stored(
    app: Any, pool: Any, agency: Agency
) -> None:
    """The worker is cut off after its first chunk (its task dies, as a process killed with -9
    would); the job is re-queued and run again: it continues after what it stored."""
    from service.auth.permissions import Principal, Role

    state = app.state.jobmatch
    key_id = await pool.fetchval(
        "SELECT id FROM api_key WHERE agency_id = $1 AND role = 'portal'", UUID(agency.id)
    )
    principal = Principal(key_id=key_id, agency_id=UUID(agency.id), role=Role.portal)
    valid, _ = bulk.validate_upload(state, "seeker", _rows("R", 500))
    async with pool.acquire() as conn:
        job = await jobs_db.create(
            conn,
            agency_id=principal.agency_id,
            kind="seeker_import",
            created_by=principal.key_id,
            created_by_role=principal.role.value,
            total=500,
            status="running",
            params={
                "records": [(i, b.model_dump(mode="json")) for i, b in valid],
                "errors": [],
            },
        )
        job = await conn.fetchrow("SELECT * FROM job WHERE id = $1", job.id)
    first = asyncio.create_task(HANDLERS["seeker_import"](state, jobs_db.Job(**dict(job)), None))
    await _until_stored(pool, agency)
    first.cancel()  # the crash
    with contextlib.suppress(asyncio.CancelledError):
        await first
    cut = await _stored(pool, agency)
    assert 0 < cut < 500
    async with pool.acquire() as conn:
        resumed = jobs_db.Job(
            **dict(await conn.fetchrow("SELECT * FROM job WHERE id = $1", job["id"]))
        )
    assert resumed.result["created"] == cut
    result = await HANDLERS["seeker_import"](state, resumed, None)
    assert await _stored(pool, agency) == 500
    assert (result["created"], result["failed"]) == (500, 0), result["errors"][:3]


async def test_the_job_list_filters_and_shows_each_role_its_own(
    app: Any, agency: Agency, other_agency: Agency
) -> None:
    c = agency.client
    a = (await c.post("/v1/seekers:bulk", json=_rows("L", 2), headers=agency.auth("portal"))).json()
    b = (await c.post("/v1/postings:bulk", json=[{"x": 1}], headers=agency.auth("portal"))).json()
    await other_agency.client.post(
        "/v1/seekers:bulk", json=_rows("O", 1), headers=other_agency.auth("portal")
    )
    r = await c.get("/v1/jobs", headers=agency.auth("portal"))
    assert r.status_code == 200
    assert [j["id"] for j in r.json()["items"]] == [b["id"], a["id"]]  # newest first
    r = await c.get("/v1/jobs", params={"kind": "seeker_import"}, headers=agency.auth("portal"))
    assert [j["id"] for j in r.json()["items"]] == [a["id"]]
    r = await c.get("/v1/jobs", params={"status": "queued"}, headers=agency.auth("portal"))
    assert r.json()["items"] == []
    page = (await c.get("/v1/jobs", params={"limit": 1}, headers=agency.auth("portal"))).json()
    assert [j["id"] for j in page["items"]] == [b["id"]] and page["next_cursor"]
    page = (
        await c.get(
            "/v1/jobs",
            params={"limit": 1, "cursor": page["next_cursor"]},
            headers=agency.auth("portal"),
        )
    ).json()
    assert [j["id"] for j in page["items"]] == [a["id"]] and page["next_cursor"] is None
    future = "2999-01-01T00:00:00Z"
    r = await c.get("/v1/jobs", params={"from": future}, headers=agency.auth("portal"))
    assert r.json()["items"] == []
    r = await c.get("/v1/jobs", params={"to": future}, headers=agency.auth("portal"))
    assert len(r.json()["items"]) == 2
    # another role sees none of the portal's jobs; the admin sees all of the agency's
    assert (await c.get("/v1/jobs", headers=agency.auth("caseworker"))).json()["items"] == []
    assert len((await c.get("/v1/jobs", headers=agency.auth("admin"))).json()["items"]) == 2
    r = await c.get("/v1/jobs", params={"status": "bogus"}, headers=agency.auth("portal"))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "query.status"
    r = await c.get("/v1/jobs", params={"created_by": "x"}, headers=agency.auth("portal"))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "query.created_by"


def _server_log(database_url: str) -> Path:
    socket_dir = parse_qs(urlsplit(database_url).query)["host"][0]
    return Path(socket_dir) / "log"


async def test_duplicate_external_ids_stay_out_of_the_database_log(
    agency: Agency, database_url: str
) -> None:
    log = _server_log(database_url)
    assert log.exists()
    ident = f"PERSONAL-{agency.id[:8]}"
    c, h = agency.client, agency.auth("portal")
    assert (await c.post("/v1/seekers", json=seeker_body(ident), headers=h)).status_code == 201
    assert (await c.post("/v1/seekers", json=seeker_body(ident), headers=h)).status_code == 409
    r = await c.post("/v1/seekers:bulk", json=[seeker_body(ident)], headers=h)
    assert r.json()["failed"] == 1
    other = (await c.post("/v1/seekers", json=seeker_body(f"{ident}-2"), headers=h)).json()
    r = await c.put(f"/v1/seekers/{other['id']}", json=seeker_body(ident), headers=h)
    assert r.status_code == 409
    await asyncio.sleep(0.5)  # the server's log is written asynchronously
    assert ident not in log.read_text(errors="replace")


async def test_each_chunk_of_an_import_keeps_its_own_vectors_and_understanding(
    app: Any, pool: Any, agency: Agency, embedder: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An import is encoded, understood and stored in a pipeline of chunks (encoding chunk n+2
    while chunk n+1 is read and chunk n stored): no record may get another's vector or
    inferred occupation on the way."""
    from service.records.preparation import canonical_text, parse_body

    jobs = [
        ("Forklift driver", "Load and unload lorries and move pallets with a forklift."),
        ("Registered nurse", "Care for patients on a ward and give their medication."),
        ("Line cook", "Prepare hot dishes in a restaurant kitchen."),
        ("Bricklayer", "Lay bricks and blocks to build walls on building sites."),
        ("Bookkeeper", "Keep the ledgers and process supplier invoices."),
        ("Welder", "Weld steel parts in a workshop from technical drawings."),
        ("Bus driver", "Drive a city bus on scheduled routes and help passengers."),
    ]
    rows = [
        posting_body(
            f"PIPE-{i}",
            title=title,
            description=text,
            occupation=None,
            skills_required=[],
            skills_preferred=[],
        )
        for i, (title, text) in enumerate(jobs)
    ]
    monkeypatch.setattr(bulk, "_CHUNK", 2)  # four chunks
    r = await agency.client.post("/v1/postings:bulk", json=rows, headers=agency.auth("portal"))
    assert r.status_code == 200 and r.json()["created"] == len(jobs), r.text
    stored = await pool.fetch(
        "SELECT p.external_id, p.profile, e.embedding FROM posting p "
        "JOIN posting_embedding e ON e.posting_id = p.id WHERE p.agency_id = $1",
        UUID(agency.id),
    )
    assert len(stored) == len(jobs)
    for row in stored:
        i = int(row["external_id"].split("-")[1])
        own = embedder.encode([canonical_text("posting", parse_body("posting", rows[i]))])[0]
        vector = np.asarray(row["embedding"].to_numpy(), dtype=np.float32)
        assert float(vector @ own) > 0.999, (row["external_id"], float(vector @ own))
        inferred = row["profile"]["inferred"]["occupations"]
        body = parse_body("posting", rows[i]).model_dump(mode="json", exclude={"inferred"})
        [alone] = app.state.jobmatch.understanding.infer("posting", [body], own[None])
        assert inferred and [o["esco_uri"] for o in inferred] == [
            o["esco_uri"] for o in alone["occupations"]
        ], (jobs[i][0], inferred[0])


def test_an_import_ends_in_small_chunks_and_keeps_every_record_once() -> None:
    for n in (0, 1, 64, 255, 256, 257, 700, 1000, 2000):
        records: list[Any] = [(i, None) for i in range(n)]
        chunks = bulk._chunks(records)
        assert [i for chunk in chunks for i, _ in chunk] == list(range(n))
        sizes = [len(c) for c in chunks]
        assert all(size <= bulk._CHUNK for size in sizes)
        # full chunks until at most one chunk's worth is left; that goes in small ones
        tail = [s for s in sizes if s <= bulk._LAST_CHUNK]
        assert sum(tail) == (n - 1) % bulk._CHUNK + 1 if n else tail == []
        assert all(s == bulk._CHUNK for s in sizes[: len(sizes) - len(tail)])


async def test_a_job_read_shows_its_stored_errors_and_warnings_as_the_job_list_does(
    app: Any, agency: Agency
) -> None:
    """The status a portal polls copies the import's per-record errors and warnings as stored
    (not validated again): it must say exactly what the validated job list says."""
    rows: list[dict[str, Any]] = [
        posting_body(f"W-{i}", valid_through="2020-01-31T00:00:00Z") for i in range(12)
    ]
    rows += [posting_body(f"OK-{i}") for i in range(8)]
    rows.append({**posting_body("BAD-1"), "title": ""})
    with _settings(app, bulk_sync_max_records=10, bulk_max_records=1000):
        r = await agency.client.post("/v1/postings:bulk", json=rows, headers=agency.auth("portal"))
    assert r.status_code == 202, r.text
    job = await _until_finished(agency, r.json()["id"])
    assert job["status"] == "succeeded" and job["created"] == 20 and job["failed"] == 1
    assert [e["external_id"] for e in job["errors"]] == ["BAD-1"]
    assert [e["errors"][0]["field"] for e in job["errors"]] == ["title"], job["errors"]
    assert [w["external_id"] for w in job["warnings"]] == [f"W-{i}" for i in range(12)]
    assert {c["code"] for w in job["warnings"] for c in w["warnings"]} == {"already_expired"}
    listed = (
        await agency.client.get("/v1/jobs", params={"limit": 1}, headers=agency.auth("portal"))
    ).json()["items"]
    assert listed == [job]


async def test_an_import_taken_by_the_process_that_validated_it_stores_what_a_rebuild_would(
    app: Any, pool: Any, agency: Agency, monkeypatch: Any
) -> None:
    """The process whose request validated an upload hands its worker those records; a job
    taken elsewhere rebuilds them from its stored parameters. Both store the same profiles."""
    rebuilt: list[str] = []
    original = bulk._body

    def watched(kind: Any, item: Any) -> Any:
        if isinstance(item, dict):
            rebuilt.append(item["external_id"])
        return original(kind, item)

    monkeypatch.setattr(bulk, "_body", watched)
    state = app.state.jobmatch
    profiles: dict[str, dict[str, Any]] = {}
    for prefix, keeps in (("KEPT", True), ("REBUILT", False)):
        rows = _rows(prefix, 40)
        # A process that runs no worker keeps nothing: as if another process took the job.
        with _settings(app, bulk_sync_max_records=10, bulk_max_records=1000, run_worker=keeps):
            r = await agency.client.post(
                "/v1/seekers:bulk", json=rows, headers=agency.auth("portal")
            )
        assert r.status_code == 202, r.text
        job = await _until_finished(agency, r.json()["id"])
        assert job["status"] == "succeeded" and job["created"] == 40, job
        assert UUID(job["id"]) not in state.validated_uploads
        rows_stored = await pool.fetch(
            "SELECT external_id, profile FROM seeker WHERE agency_id = $1 AND external_id LIKE $2",
            UUID(agency.id),
            f"{prefix}-%",
        )
        for row in rows_stored:
            profile = dict(row["profile"])
            profile.pop("external_id", None)
            profiles[row["external_id"]] = profile
    assert not [x for x in rebuilt if x.startswith("KEPT-")]
    assert sorted(rebuilt) == sorted(f"REBUILT-{i}" for i in range(40))
    for i in range(40):
        assert profiles[f"KEPT-{i}"] == profiles[f"REBUILT-{i}"]
        assert profiles[f"KEPT-{i}"].get("inferred")  # understood on both paths


async def test_a_process_keeps_at_most_a_few_validated_uploads() -> None:
    """Uploads whose jobs another process took are let go, oldest first, and the model's work
    on their first chunk is called off."""
    from uuid import uuid4

    kept: dict[UUID, Any] = {}
    jobs_ = [uuid4() for _ in range(bulk._UPLOADS_KEPT + 3)]
    uploads = [bulk.ValidatedUpload([], asyncio.ensure_future(asyncio.sleep(60))) for _ in jobs_]
    for job_id, upload in zip(jobs_, uploads, strict=True):
        bulk.keep_validated(kept, job_id, upload)
    await asyncio.sleep(0)
    assert list(kept) == jobs_[-bulk._UPLOADS_KEPT :]
    assert [u.first_chunk.cancelled() for u in uploads if u.first_chunk] == [True] * 3 + [
        False
    ] * bulk._UPLOADS_KEPT
    for upload in kept.values():
        upload.let_go()


async def test_an_upload_s_first_chunk_is_encoded_while_its_job_is_written_and_only_once(
    app: Any, agency: Agency, monkeypatch: Any
) -> None:
    """The request that validated an upload sends its first chunk to the model before the
    job is written; the worker uses those vectors instead of encoding the chunk again."""
    events: list[tuple[str, ...]] = []
    embed, create = preparation.embed_and_understand, jobs_db.create

    async def watched_embed(state: Any, kind: Any, bodies: Any) -> Any:
        events.append(("encode", bodies[0].external_id, str(len(bodies))))
        return await embed(state, kind, bodies)

    async def watched_create(conn: Any, **values: Any) -> Any:
        job = await create(conn, **values)
        events.append(("job written",))
        return job

    monkeypatch.setattr(preparation, "embed_and_understand", watched_embed)
    monkeypatch.setattr(jobs_db, "create", watched_create)
    n = bulk._CHUNK + 10
    with _settings(app, bulk_sync_max_records=10, bulk_max_records=1000):
        r = await agency.client.post(
            "/v1/seekers:bulk", json=_rows("EARLY", n), headers=agency.auth("portal")
        )
    assert r.status_code == 202, r.text
    job = await _until_finished(agency, r.json()["id"])
    assert job["status"] == "succeeded" and job["created"] == n, job
    assert events == [
        ("encode", "EARLY-0", str(bulk._CHUNK)),
        ("job written",),
        ("encode", f"EARLY-{bulk._CHUNK}", "10"),
    ]


async def test_a_serving_app_hands_the_gil_to_the_model_thread_quickly(app: Any) -> None:
    """While the app serves, a thread holding the GIL gives it up within the app's switch
    interval (shorter than CPython's 5 ms): the model thread takes it back after each numpy
    call of an import's encode, beside the event loop and the understanding thread."""
    import sys

    from service.app import GIL_SWITCH_INTERVAL_S

    assert GIL_SWITCH_INTERVAL_S < 0.005
    assert sys.getswitchinterval() == pytest.approx(GIL_SWITCH_INTERVAL_S)
