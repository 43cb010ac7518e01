"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from service.auth.dependencies import State
from service.health import service as health
from service.health.schemas import Health
from service.kit import metrics

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health, operation_id="healthz")
async def healthz() -> Health:
    """The process is up."""
    return Health(status="ok")


@router.head("/healthz", include_in_schema=False)
async def healthz_head() -> Response:
    """HEAD of the liveness probe (load balancers use it): 200, no body."""
    return Response(status_code=200)


@router.get(
    "/readyz",
    response_model=Health,
    responses={503: {"model": Health, "description": "Not ready"}},
    operation_id="readyz",
)
async def readyz(state: State) -> JSONResponse:
    """Ready when the database answers and the model is loaded. Each read replica has a line
    too (`ok (0.2 s behind)`, or why reads skip it), which does not make the process unready:
    reads then go to the primary."""
    checks = await health.readiness(state)
    ready = health.is_ready(checks)
    body = Health(status="ready" if ready else "unready", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)


@router.get("/metrics", include_in_schema=False)
async def metrics_page(state: State) -> Response:
    """Prometheus metrics for operators: no key (bind it to an internal address or protect it
    at the proxy). Not in the API's spec: its format is Prometheus's, not JSON."""
    return Response(await health.metrics_page(state), media_type=metrics.CONTENT_TYPE)
