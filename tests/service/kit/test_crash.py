"""Crashes, injected for real: a stale pid file naming a stranger's process, kill -9 of the
embedded PostgreSQL by its own pid, kill -9 of the API process during an import, SIGTERM to a
two-worker server. Each test runs `jobmatch serve` as a subprocess on a data directory of its
own (the session's server is never touched)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.kit import embedded_db
from tests.factories import seeker_body
from tests.servers import (
    free_port,
    portal_key,
    postgres_of,
    serve,
    stop,
    wait_for,
)


@pytest.fixture
def data_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="jobmatch-crash-"))
    path.chmod(0o755)  # as root, PostgreSQL runs as another user that must reach it
    yield path
    pid = embedded_db.postmaster_pid(path)  # proven ours: never leave a server behind
    if pid is not None:
        os.kill(pid, signal.SIGQUIT)
        wait_for(lambda: not embedded_db.is_our_postmaster(pid, path / "pgdata"), 30, "stop")
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(autouse=True)
def _label_vectors(settings: Any) -> None:
    """The session's settings build the ESCO label vectors into TEST_CACHE_DIR first."""


def test_a_stale_pid_file_naming_a_live_stranger_is_recovered_and_the_stranger_untouched(
    data_dir: Path,
) -> None:
    embedded_db.start_embedded(data_dir, shared_buffers_mb=64)
    embedded_db.stop_embedded(data_dir)
    pid_file = data_dir / "pgdata" / "postmaster.pid"
    assert not pid_file.exists()
    stranger = subprocess.Popen(["sleep", "300"], start_new_session=True)
    try:
        # As a kill -9 leaves it, with the pid since reused by another program.
        pid_file.write_text(f"{stranger.pid}\n{data_dir / 'pgdata'}\n0\n5432\n\n\n0 0\nready \n")
        url = embedded_db.start_embedded(data_dir, shared_buffers_mb=64)
        assert url.startswith("postgresql://")
        assert embedded_db.postmaster_pid(data_dir) not in (None, stranger.pid)
        embedded_db.stop_embedded(data_dir)
        assert stranger.poll() is None, "the stranger was signalled"
        assert postgres_of(data_dir) == []  # and our own server was stopped
    finally:
        stranger.kill()
        stranger.wait()


@pytest.mark.slow
def test_serve_restarts_a_killed_postgres_and_sigterm_stops_it_with_two_workers(
    data_dir: Path,
) -> None:
    port = free_port()
    # A stale pid file naming a live stranger, before the very first start.
    embedded_db.start_embedded(data_dir, shared_buffers_mb=64)
    embedded_db.stop_embedded(data_dir)
    stranger = subprocess.Popen(["sleep", "300"], start_new_session=True)
    (data_dir / "pgdata" / "postmaster.pid").write_text(f"{stranger.pid}\n/elsewhere\n")
    proc = serve(data_dir, port, JOBMATCH_WORKERS="2")
    try:
        assert stranger.poll() is None, "serve signalled a process that is not its postgres"
        base = f"http://127.0.0.1:{port}"
        postmaster = embedded_db.postmaster_pid(data_dir)
        assert postmaster is not None

        os.kill(postmaster, signal.SIGKILL)
        seen_down = None
        deadline = time.monotonic() + 90
        while True:
            assert time.monotonic() < deadline, "not ready again within 90 s"
            try:
                r = httpx.get(f"{base}/readyz", timeout=5)
            except httpx.HTTPError:
                time.sleep(0.1)
                continue
            if r.status_code == 503:
                seen_down = r.json()
                # the database, or the supervisor still restarting it (a fast restart can
                # answer the ping before the supervisor has written that it is running)
                checks = seen_down["checks"]
                assert checks["database"] != "ok" or checks["embedded_database"] != "ok"
            elif seen_down is not None:
                break
            time.sleep(0.1)
        assert r.json()["checks"] == {"model": "ok", "database": "ok", "embedded_database": "ok"}
        assert httpx.get(f"{base}/healthz", timeout=5).status_code == 200
        restarted = embedded_db.postmaster_pid(data_dir)
        assert restarted not in (None, postmaster)
        log = (data_dir / "serve.log").read_text()
        assert "embedded PostgreSQL is down; restarting it" in log
        assert "embedded PostgreSQL restarted" in log

        assert stop(proc) == 0 or proc.returncode in (-signal.SIGTERM, 128 + signal.SIGTERM)
        wait_for(lambda: postgres_of(data_dir) == [], 30, "the embedded PostgreSQL to stop")
        assert stranger.poll() is None
    finally:
        if proc.poll() is None:
            proc.kill()
        stranger.kill()
        stranger.wait()


@pytest.mark.slow
def test_a_server_restarted_after_kill_9_stops_the_postgres_it_adopted(data_dir: Path) -> None:
    port = free_port()
    first = serve(data_dir, port)
    postmaster = embedded_db.postmaster_pid(data_dir)
    first.kill()  # kill -9: PostgreSQL outlives it
    first.wait()
    assert embedded_db.postmaster_pid(data_dir) == postmaster
    second = serve(data_dir, port)
    try:
        assert embedded_db.postmaster_pid(data_dir) == postmaster  # attached, not restarted
        stop(second)
        wait_for(lambda: postgres_of(data_dir) == [], 30, "the adopted PostgreSQL to stop")
    finally:
        if second.poll() is None:
            second.kill()


@pytest.mark.slow
def test_an_import_cut_by_kill_9_resumes_with_counts_equal_to_what_is_stored(
    data_dir: Path,
) -> None:
    port = free_port()
    extra = {"JOBMATCH_BULK_WAIT_SECONDS": "0", "JOBMATCH_JOB_STALE_SECONDS": "3"}
    proc = serve(data_dir, port, **extra)
    base = f"http://127.0.0.1:{port}"
    try:
        portal = portal_key(data_dir, port)
        n = 3000
        body = "\n".join(
            __import__("json").dumps(seeker_body(f"K-{i}", protected=None)) for i in range(n)
        )
        headers = {**portal, "Content-Type": "application/x-ndjson", "Idempotency-Key": "imp-1"}
        r = httpx.post(f"{base}/v1/seekers:bulk", content=body, headers=headers, timeout=60)
        assert r.status_code == 202, r.text
        job_id = r.json()["id"]

        def job() -> dict[str, Any]:
            return httpx.get(f"{base}/v1/jobs/{job_id}", headers=portal, timeout=10).json()

        wait_for(lambda: job()["created"] >= 400, 240, "part of the import to be stored")
        proc.kill()  # kill -9 of the API process mid-import
        proc.wait()
        proc = serve(data_dir, port, **extra)

        # The client cut off by the crash retries with its key: it gets its job, not a 409.
        retry = httpx.post(f"{base}/v1/seekers:bulk", content=body, headers=headers, timeout=60)
        assert retry.status_code in (200, 202), retry.text
        assert retry.json()["id"] == job_id

        wait_for(lambda: job()["status"] not in ("queued", "running"), 300, "the import to end")
        final = job()
        stored = len(set(_all_ids(base, portal)))
        assert final["status"] == "succeeded", final
        assert (final["created"], final["failed"], final["done"], final["total"]) == (
            stored,
            0,
            n,
            n,
        )
        assert stored == n
        listed_jobs = httpx.get(f"{base}/v1/jobs", headers=portal, timeout=10).json()
        assert [j["id"] for j in listed_jobs["items"]] == [job_id]
    finally:
        stop(proc)


def _all_ids(base: str, headers: dict[str, str]) -> list[str]:
    ids: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 200, **({"cursor": cursor} if cursor else {})}
        page = httpx.get(f"{base}/v1/seekers", params=params, headers=headers, timeout=30).json()
        ids += [s["id"] for s in page["items"]]
        cursor = page.get("next_cursor")
        if not cursor:
            return ids
