"""The agency's fairness policy."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from service.auth.dependencies import State, authorize
from service.auth.permissions import Principal
from service.fairness import service as policies
from service.fairness.repository import StoredPolicy
from service.fairness.schemas import FairnessPolicyHistory, FairnessPolicyIn, FairnessPolicyOut
from service.kit.http import API_V1, problems

router = APIRouter(prefix=API_V1, tags=["fairness"])
Reader = Annotated[Principal, Depends(authorize("fairness_policy:read"))]
Writer = Annotated[Principal, Depends(authorize("fairness_policy:write"))]


def _out(stored: StoredPolicy | None) -> FairnessPolicyOut:
    if stored is None:
        return FairnessPolicyOut(version=0)
    return FairnessPolicyOut(
        **stored.policy,
        version=stored.version,
        created_at=stored.created_at,
        created_by=str(stored.created_by) if stored.created_by else None,
        acted_by=stored.acted_by,
    )


@router.get(
    "/fairness-policy",
    response_model=FairnessPolicyOut,
    responses=problems(),
    operation_id="get_fairness_policy",
)
async def get_policy(state: State, principal: Reader) -> FairnessPolicyOut:
    """The policy in force (version 0 with method none when never set)."""
    return _out(await policies.current(state.pool, agency_id=principal.agency_id))


@router.put(
    "/fairness-policy",
    response_model=FairnessPolicyOut,
    responses=problems(422),
    operation_id="put_fairness_policy",
)
async def put_policy(body: FairnessPolicyIn, state: State, principal: Writer) -> FairnessPolicyOut:
    """Set a new policy version; earlier versions stay in the history."""
    stored = await policies.put(
        state.pool, principal, policy=body.model_dump(mode="json"), method=body.method
    )
    return _out(stored)


@router.get(
    "/fairness-policy/history",
    response_model=FairnessPolicyHistory,
    responses=problems(),
    operation_id="get_fairness_policy_history",
)
async def policy_history(state: State, principal: Reader) -> FairnessPolicyHistory:
    """Every version of the policy, newest first, with who set it and why."""
    rows = await policies.history(state.pool, agency_id=principal.agency_id)
    return FairnessPolicyHistory(items=[_out(r) for r in rows])
