"""The agency's capacity policy and its congestion prices."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, status

from service.auth.dependencies import State, authorize
from service.auth.permissions import Principal
from service.background_jobs.schemas import JobStatus, job_out
from service.capacity import service as capacity
from service.capacity.repository import StoredPolicy, StoredPriceSet
from service.capacity.schemas import (
    CapacityPolicyHistory,
    CapacityPolicyIn,
    CapacityPolicyOut,
    PriceSet,
)
from service.kit.http import API_V1, problems
from service.kit.problems import validation_problem

router = APIRouter(prefix=API_V1, tags=["capacity"])
Reader = Annotated[Principal, Depends(authorize("capacity_policy:read"))]
Writer = Annotated[Principal, Depends(authorize("capacity_policy:write"))]


def _out(stored: StoredPolicy | None, prices: StoredPriceSet | None = None) -> CapacityPolicyOut:
    price_set = PriceSet(**prices.model_dump()) if prices is not None else None
    if stored is None:
        return CapacityPolicyOut(version=0, prices=price_set)
    return CapacityPolicyOut(
        **stored.policy,
        version=stored.version,
        created_at=stored.created_at,
        created_by=str(stored.created_by) if stored.created_by else None,
        prices=price_set,
    )


@router.get(
    "/capacity-policy",
    response_model=CapacityPolicyOut,
    responses=problems(),
    operation_id="get_capacity_policy",
)
async def get_policy(state: State, principal: Reader) -> CapacityPolicyOut:
    """The policy in force (version 0 with method none when never set) and the newest prices."""
    return _out(*await capacity.current(state.pool, agency_id=principal.agency_id))


@router.put(
    "/capacity-policy",
    response_model=CapacityPolicyOut,
    responses=problems(422),
    operation_id="put_capacity_policy",
)
async def put_policy(body: CapacityPolicyIn, state: State, principal: Writer) -> CapacityPolicyOut:
    """Set a new policy version; earlier versions stay in the history."""
    errors = body.field_errors()
    if errors:
        raise validation_problem(errors)
    stored = await capacity.put(state.pool, principal, policy=body)
    _, prices = await capacity.current(state.pool, agency_id=principal.agency_id)
    return _out(stored, prices)


@router.get(
    "/capacity-policy/history",
    response_model=CapacityPolicyHistory,
    responses=problems(),
    operation_id="get_capacity_policy_history",
)
async def policy_history(state: State, principal: Reader) -> CapacityPolicyHistory:
    """Every version of the policy, newest first, with who set it and why."""
    rows = await capacity.history(state.pool, agency_id=principal.agency_id)
    return CapacityPolicyHistory(items=[_out(r) for r in rows])


@router.post(
    "/capacity-policy:rebalance",
    response_model=JobStatus,
    status_code=status.HTTP_202_ACCEPTED,
    responses=problems(),
    operation_id="rebalance_capacity",
)
async def rebalance(state: State, principal: Writer) -> JobStatus:
    """Queue the congestion-price computation now; poll GET /v1/jobs/{id}. The worker also
    runs it every JOBMATCH_CAPACITY_REBALANCE_SECONDS for agencies with method balanced."""
    return job_out(await capacity.queue_rebalance(state.pool, principal))
