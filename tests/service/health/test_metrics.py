"""Operators' view: `GET /metrics` (Prometheus), request ids and JSON logs, and the figures of
several workers added up in one scrape."""

from __future__ import annotations

import json
import logging
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from matching.score import WeightedSumScorer
from service.kit import logs
from tests.factories import Agency, seeker_body
from tests.servers import free_port, serve, server_data_dir, stop


def _samples(page: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(page)
        for s in family.samples
    }


def _value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def test_metrics_count_requests_by_route_and_read_the_queue_and_models(
    agency: Agency,
) -> None:
    c, h = agency.client, agency.auth("portal")
    route = "/v1/seekers/{record_id}"
    before = _samples((await c.get("/metrics")).text)
    sid = (await c.post("/v1/seekers", json=seeker_body(), headers=h)).json()["id"]
    for _ in range(3):
        assert (await c.get(f"/v1/seekers/{sid}", headers=h)).status_code == 200
    missing = "00000000-0000-4000-8000-000000000000"
    assert (await c.get(f"/v1/seekers/{missing}", headers=h)).status_code == 404
    lists = await c.get(f"/v1/seekers/{sid}/matches", headers=agency.auth("caseworker"))
    assert lists.status_code == 200

    page = await c.get("/metrics")  # no key: operators scrape it
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/plain")
    after = _samples(page.text)

    def grew(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    assert grew("jobmatch_http_requests_total", method="GET", route=route, status="200") == 3
    assert grew("jobmatch_http_requests_total", method="GET", route=route, status="404") == 1
    assert grew("jobmatch_http_request_duration_seconds_count", method="GET", route=route) == 4
    assert sid not in page.text and missing not in page.text  # templates, never record ids
    model = next(
        dict(labels)["model"] for name, labels in after if name == "jobmatch_texts_embedded_total"
    )
    assert grew("jobmatch_texts_embedded_total", model=model) >= 1
    paths = ("memory", "index", "exact", "index_then_exact")
    assert sum(grew("jobmatch_retrievals_total", path=p) for p in paths) == 1
    assert grew("jobmatch_match_list_items_count", kind="postings_for_seeker") == 1
    assert _value(after, "jobmatch_metrics_database_up") == 1
    assert _value(after, "jobmatch_db_pool_connections") >= 1
    live = [dict(labels) for name, labels in after if name == "jobmatch_scoring_model_live"]
    mine = [d["version"] for d in live if d["agency_id"] == agency.id]
    assert mine == [WeightedSumScorer().version]  # a new agency ranks with the default
    waiting = {
        dict(labels)["kind"]
        for name, labels in after
        if name == "jobmatch_vectors_waiting_for_index"
    }
    assert waiting == {"seeker", "posting"}


async def test_every_answer_carries_a_request_id_and_a_well_formed_one_is_kept(
    agency: Agency,
) -> None:
    c = agency.client
    made = (await c.get("/healthz")).headers["x-request-id"]
    assert len(made) == 32 and int(made, 16) >= 0
    kept = await c.get("/healthz", headers={"X-Request-Id": "portal-7f3a.42"})
    assert kept.headers["x-request-id"] == "portal-7f3a.42"
    replaced = await c.get("/healthz", headers={"X-Request-Id": "two words\t<script>"})
    assert replaced.headers["x-request-id"] not in ("two words\t<script>", made)
    assert len(replaced.headers["x-request-id"]) == 32


def test_json_log_lines_carry_the_request_id() -> None:
    record = logging.LogRecord(
        "jobmatch.access", logging.INFO, __file__, 1, "GET %s", ("/x",), None
    )
    record.key_id = "k-1"
    token = logs.REQUEST_ID.set("req-1")
    try:
        logs.RequestIdFilter().filter(record)
    finally:
        logs.REQUEST_ID.reset(token)
    line = json.loads(logs.JsonFormatter().format(record))
    assert line["message"] == "GET /x"
    assert line["request_id"] == "req-1"
    assert line["key_id"] == "k-1"
    assert line["level"] == "INFO" and line["logger"] == "jobmatch.access"
    # outside a request
    other = logging.LogRecord("x", logging.WARNING, __file__, 1, "m", (), None)
    logs.RequestIdFilter().filter(other)
    assert json.loads(logs.JsonFormatter().format(other))["request_id"] == "-"


@pytest.fixture
def server_dir() -> Iterator[Path]:
    with server_data_dir("jobmatch-metrics-test-") as path:
        yield path


@pytest.mark.slow
def test_a_scrape_of_either_worker_adds_up_both(server_dir: Path, settings: Any) -> None:
    """Two uvicorn workers share the load; whichever answers the scrape reports the requests
    both served, and each worker wrote its own figures."""
    shared = server_dir / "metrics"
    shared.mkdir()
    (shared / "counter_1.db").write_bytes(b"stale")  # a previous run's file is cleared
    port = free_port()
    proc = serve(server_dir, port, JOBMATCH_WORKERS="2", PROMETHEUS_MULTIPROC_DIR=str(shared))
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=30) as http:
            readyz_before = _value(
                _samples(http.get("/metrics").text),
                "jobmatch_http_requests_total",
                method="GET",
                route="/readyz",
                status="200",
            )
            served = 0
            # new connections, so that the kernel spreads them over both workers
            while (
                served < 60 or len({p.name.split("_")[-1] for p in shared.glob("counter_*.db")}) < 2
            ):
                with httpx.Client(base_url=base, timeout=30) as one:
                    assert one.get("/healthz").status_code == 200
                served += 1
                assert served < 2000, "one worker answered every request"
            for _ in range(4):
                with httpx.Client(base_url=base, timeout=30) as one:
                    samples = _samples(one.get("/metrics").text)
                healthz = _value(
                    samples,
                    "jobmatch_http_requests_total",
                    method="GET",
                    route="/healthz",
                    status="200",
                )
                assert healthz == served
                assert _value(samples, "jobmatch_metrics_database_up") == 1
            assert readyz_before >= 1  # serve's own readiness polls, counted before
        assert not (shared / "counter_1.db").exists()
    finally:
        assert stop(proc) == 0 or proc.returncode in (-signal.SIGTERM, 128 + signal.SIGTERM)
