"""Every router of the service, in the order their routes are matched; `app.py` includes them."""

from __future__ import annotations

from fastapi import APIRouter

from service.accountability.endpoints import router as accountability_router
from service.audit.endpoints import router as audit_router
from service.audit_pack.endpoints import router as audit_pack_router
from service.auth.endpoints import router as keys_router
from service.background_jobs.endpoints import router as jobs_router
from service.capacity.endpoints import router as capacity_router
from service.console.endpoints import router as console_router
from service.console.oversight_endpoints import router as console_oversight_router
from service.fairness.endpoints import router as fairness_router
from service.health.endpoints import router as health_router
from service.match_lists.endpoints import router as matches_router
from service.privacy.endpoints import router as privacy_router
from service.records.endpoints import make_bulk_router, make_router
from service.reports.endpoints import router as reports_router
from service.review.endpoints import router as review_router
from service.scoring_models.endpoints import router as models_router

# The `/v1` routes; each router carries `kit.http.API_V1` as its own prefix. Bulk routes come
# before the record routers, whose `/{id}` would take `:bulk`; match routes before the records'
# `/{id}` for the same reason.
V1_ROUTERS: tuple[APIRouter, ...] = (
    make_bulk_router("seeker"),
    make_bulk_router("posting"),
    matches_router,
    make_router("seeker"),
    make_router("posting"),
    jobs_router,
    fairness_router,
    capacity_router,
    review_router,
    audit_router,
    reports_router,
    audit_pack_router,
    models_router,
    keys_router,
    privacy_router,
    accountability_router,
)

# Outside the versioned API: probes, and the caseworker console (HTML pages, not in the spec).
UNVERSIONED_ROUTERS: tuple[APIRouter, ...] = (
    health_router,
    console_router,
    console_oversight_router,
)
