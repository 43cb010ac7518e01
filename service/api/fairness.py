"""The agency's fairness policy."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from service import auditing
from service.api.common import problems
from service.auth import Principal
from service.db import policies
from service.deps import State, authorize
from service.schemas import FairnessPolicyHistory, FairnessPolicyIn, FairnessPolicyOut

router = APIRouter(tags=["fairness"])
Reader = Annotated[Principal, Depends(authorize("fairness_policy:read"))]
Writer = Annotated[Principal, Depends(authorize("fairness_policy:write"))]


def _out(stored: policies.StoredPolicy | None) -> FairnessPolicyOut:
    if stored is None:
        return FairnessPolicyOut(version=0)
    return FairnessPolicyOut(
        **stored.policy,
        version=stored.version,
        created_at=stored.created_at,
        created_by=str(stored.created_by) if stored.created_by else None,
    )


@router.get(
    "/v1/fairness-policy",
    response_model=FairnessPolicyOut,
    responses=problems(),
    operation_id="get_fairness_policy",
)
async def get_policy(state: State, principal: Reader) -> FairnessPolicyOut:
    """The policy in force (version 0 with method none when never set)."""
    async with state.pool.acquire() as conn:
        return _out(await policies.current(conn, agency_id=principal.agency_id))


@router.put(
    "/v1/fairness-policy",
    response_model=FairnessPolicyOut,
    responses=problems(422),
    operation_id="put_fairness_policy",
)
async def put_policy(body: FairnessPolicyIn, state: State, principal: Writer) -> FairnessPolicyOut:
    """Set a new policy version; earlier versions stay in the history."""
    async with state.pool.acquire() as conn, conn.transaction():
        stored = await policies.put(
            conn,
            agency_id=principal.agency_id,
            policy=body.model_dump(mode="json"),
            created_by=principal.key_id,
        )
        await auditing.log(
            conn,
            principal,
            "fairness_policy.update",
            subject_type="fairness_policy",
            version=stored.version,
            method=body.method,
        )
    return _out(stored)


@router.get(
    "/v1/fairness-policy/history",
    response_model=FairnessPolicyHistory,
    responses=problems(),
    operation_id="get_fairness_policy_history",
)
async def policy_history(state: State, principal: Reader) -> FairnessPolicyHistory:
    """Every version of the policy, newest first, with who set it and why."""
    async with state.pool.acquire() as conn:
        rows = await policies.history(conn, agency_id=principal.agency_id)
    return FairnessPolicyHistory(items=[_out(r) for r in rows])
