"""`jobmatch serve --workers 2` with pre-forked workers (service/prefork.py, the default): the
workers are forked from the process that loaded the model and share its memory, both answer
and both can run the model, a killed worker is replaced, and SIGTERM stops everything."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.mmap_dict import MmapedDict

from tests.factories import posting_body
from tests.servers import (
    free_port,
    portal_key,
    postgres_of,
    run_jobmatch,
    server_data_dir,
    server_env,
    stop,
    wait_for,
    wait_ready,
    workers_of,
)


def _per_worker(metrics_dir: Path, metric: str) -> dict[int, float]:
    """A counter's value per process that has counted some (prometheus_client's files:
    counter_<pid>.db)."""
    counts: dict[int, float] = {}
    for path in metrics_dir.glob("counter_*.db"):
        pid = int(path.stem.removeprefix("counter_"))
        for key, value, *_ in MmapedDict.read_all_values_from_file(str(path)):
            if json.loads(key)[1] == metric and value > 0:
                counts[pid] = counts.get(pid, 0.0) + value
    return counts


def _running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's exit is reaped by whoever adopted it)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _rollup(pid: int) -> dict[str, int]:
    lines = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]
    return {line.split()[0].rstrip(":"): int(line.split()[1]) for line in lines}


@pytest.fixture
def server_dir() -> Iterator[Path]:
    with server_data_dir("jobmatch-prefork-test-") as path:
        yield path


@pytest.mark.slow
def test_two_forked_workers_share_the_model_both_answer_and_write_one_is_replaced(
    server_dir: Path,
) -> None:
    port = free_port()
    metrics_dir = server_dir / "metrics"
    metrics_dir.mkdir()
    env = server_env(server_dir, port, PROMETHEUS_MULTIPROC_DIR=str(metrics_dir))
    env.pop("JOBMATCH_WORKERS", None)
    env.pop("JOBMATCH_PREFORK", None)  # the default
    proc = run_jobmatch("serve", "--workers", "2", env=env, log=server_dir / "serve.log")
    try:
        wait_ready(proc, port, server_dir)
        url = f"http://127.0.0.1:{port}"
        workers = workers_of(proc.pid)
        assert len(workers) == 2, workers
        parent_cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes()
        for w in workers:  # forked: the parent's command, not a fresh interpreter's
            assert Path(f"/proc/{w}/cmdline").read_bytes() == parent_cmdline
            # The model, libraries and reference data are the parent's pages, shared: a worker's
            # proportional share of its anonymous memory is well under what it maps (a spawned
            # worker's anonymous memory is all its own: the two are about equal).
            memory = _rollup(w)
            assert memory["Pss_Anon"] < 0.75 * memory["Anonymous"], memory
        at_ready = {w: _rollup(w)["Private_Dirty"] for w in workers}

        h = portal_key(server_dir, port)
        # Postings written on new connections (the kernel spreads them over the workers) until
        # each worker has encoded some: the model runs in forked processes.
        written = 0
        while len(_per_worker(metrics_dir, "jobmatch_texts_embedded_total")) < 2:
            with httpx.Client(base_url=url, timeout=60) as client:
                r = client.post("/v1/postings", json=posting_body(f"F-{written}"), headers=h)
            assert r.status_code == 201, r.text
            written += 1
            assert written < 200, "one worker took every write"
        assert set(_per_worker(metrics_dir, "jobmatch_texts_embedded_total")) == set(workers)
        for w in workers:
            # Running the model made no private copy of its weights (about 70 MiB for the
            # default model, read by the parent before it forked): a worker's own memory grew
            # by much less than that with its first requests.
            grown_kib = _rollup(w)["Private_Dirty"] - at_ready[w]
            assert grown_kib < 48 * 1024, (w, grown_kib)
        with httpx.Client(base_url=url, timeout=60) as client:
            listed = client.get("/v1/postings?limit=100", headers=h).json()["items"]
        assert len(listed) == written

        # A worker killed: another takes its place, and answers.
        killed = workers[0]
        os.kill(killed, signal.SIGKILL)

        def replaced() -> bool:
            now = workers_of(proc.pid)
            return len(now) == 2 and killed not in now

        wait_for(replaced, 90, "a replacement worker")
        (new,) = set(workers_of(proc.pid)) - set(workers)

        def new_one_answers() -> bool:
            with httpx.Client(base_url=url, timeout=30) as client:
                assert client.get("/readyz").status_code == 200
            return _per_worker(metrics_dir, "jobmatch_http_requests_total").get(new, 0) > 0

        wait_for(new_one_answers, 90, "the replacement to answer")
        log = (server_dir / "serve.log").read_text()
        assert f"worker {killed} was killed by Killed; starting another" in log

        # SIGTERM: the workers stop, then the embedded PostgreSQL, and serve exits cleanly.
        running = workers_of(proc.pid)
        assert stop(proc) == 0
        for w in running:
            assert not _running(w), f"worker {w} outlived serve"
        wait_for(lambda: postgres_of(server_dir) == [], 30, "the embedded PostgreSQL to stop")
        assert "embedded PostgreSQL stopped" in (server_dir / "serve.log").read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.slow
def test_workers_stop_when_their_parent_is_killed(server_dir: Path) -> None:
    """kill -9 of `jobmatch serve` leaves no worker holding the port (the embedded PostgreSQL
    outlives it, as with one worker, and is adopted by the next start)."""
    port = free_port()
    env = server_env(server_dir, port, JOBMATCH_WORKERS="2")
    proc = run_jobmatch("serve", env=env, log=server_dir / "serve.log")
    try:
        wait_ready(proc, port, server_dir)
        workers = workers_of(proc.pid)
        assert len(workers) == 2, workers
        proc.kill()
        proc.wait()
        wait_for(lambda: not any(map(_running, workers)), 30, "the orphaned workers to stop")
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
