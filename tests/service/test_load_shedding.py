"""Load shedding: past `max_in_flight` requests in a process, /v1 answers 503 at once."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from service.middleware import InFlightLimit
from tests.conftest import Agency


def _shedder(app: Any) -> InFlightLimit:
    layer = app.middleware_stack
    while not isinstance(layer, InFlightLimit):
        layer = layer.app
    return layer


async def test_busy_process_sheds_v1_requests_but_not_probes(app: Any, agency: Agency) -> None:
    client = agency.client
    assert (await client.get("/healthz")).status_code == 200  # builds the middleware stack
    shedder = _shedder(app)
    assert shedder.in_flight == 0
    saved = shedder.max_in_flight
    shedder.max_in_flight = 1
    shedder.in_flight = 1  # as if one request were being served
    try:
        r = await client.get("/v1/postings", headers=agency.auth("portal"))
        assert r.status_code == 503
        assert r.headers["content-type"] == "application/problem+json"
        assert r.headers["retry-after"] == "1"
        assert r.json()["type"].endswith("/overloaded")
        assert (await client.get("/healthz")).status_code == 200
        assert (await client.get("/readyz")).status_code == 200
    finally:
        shedder.max_in_flight, shedder.in_flight = saved, 0
    assert (await client.get("/v1/postings", headers=agency.auth("portal"))).status_code == 200
    assert shedder.in_flight == 0  # released after the request


async def test_excess_concurrent_requests_answer_503_without_waiting() -> None:
    release = asyncio.Event()
    entered = asyncio.Event()

    async def slow_app(scope: Any, receive: Any, send: Any) -> None:
        entered.set()
        await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    app = InFlightLimit(slow_app, max_in_flight=1)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        first = asyncio.create_task(client.get("/v1/postings"))
        await entered.wait()
        shed = await asyncio.wait_for(client.get("/v1/postings"), timeout=5)
        assert shed.status_code == 503
        release.set()
        assert (await first).status_code == 200
        assert app.in_flight == 0
        assert (await client.get("/v1/postings")).status_code == 200
