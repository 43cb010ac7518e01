"""Retraining and the model registry (admin)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, status

from service.auth.dependencies import State, authorize
from service.auth.permissions import Principal
from service.background_jobs.schemas import JobStatus, job_out
from service.kit.http import API_V1, problems
from service.scoring_models import service as training
from service.scoring_models.schemas import (
    Activated,
    ActivateIn,
    ActivationOut,
    GateReport,
    ModelList,
    ModelMetrics,
    ModelOut,
)

router = APIRouter(prefix=API_V1, tags=["models"])
Trainer = Annotated[Principal, Depends(authorize("models:train"))]
Reader = Annotated[Principal, Depends(authorize("models:read"))]
Activator = Annotated[Principal, Depends(authorize("models:activate"))]


@router.post(
    "/models:train",
    response_model=JobStatus,
    status_code=status.HTTP_202_ACCEPTED,
    responses=problems(422),
    operation_id="train_model",
)
async def train(state: State, principal: Trainer) -> JobStatus:
    """Queue a retraining job on your agency's decisions and outcomes; poll GET /v1/jobs/{id}.
    Answers 422 at once when there is too little feedback, saying how much is needed."""
    job = await training.queue_training(state, principal)
    return job_out(job)


@router.get("/models", response_model=ModelList, responses=problems(), operation_id="list_models")
async def list_models(state: State, principal: Reader) -> ModelList:
    """Every model version with its held-out metrics, training window, data size and author."""
    stored, live, history = await training.registry(state.pool, agency_id=principal.agency_id)
    live_id = live.model_id if live else None
    items = [
        ModelOut(
            id=training.DEFAULT_ID,
            version=state.scorer.version,
            kind="default",
            active=live_id is None,
        )
    ]
    for m in stored:
        r = m.report
        items.append(
            ModelOut(
                id=str(m.id),
                version=m.version,
                kind=m.kind,
                active=m.id == live_id,
                created_at=m.created_at,
                created_by=str(m.created_by) if m.created_by else None,
                metrics=ModelMetrics.model_validate(r["metrics"]) if r.get("metrics") else None,
                train_window=r.get("train_window"),
                holdout_window=r.get("holdout_window"),
                train_size=r.get("train_size"),
                holdout_size=r.get("holdout_size"),
                gate=GateReport.model_validate(r["gate"]) if r.get("gate") else None,
            )
        )
    return ModelList(
        items=items, activations=[ActivationOut.model_validate(h.model_dump()) for h in history]
    )


@router.post(
    "/models/{model_id}:activate",
    response_model=Activated,
    responses=problems(404, 409, 422),
    operation_id="activate_model",
)
async def activate(
    model_id: str, state: State, principal: Activator, body: ActivateIn | None = None
) -> Activated:
    """Make a model live for your agency at once (every replica). A learned model must pass the
    gate (quality within tolerance of the live model, impact ratios ≥ 0.8) unless forced with a
    reason. `default` switches back to the transparent scorer; an earlier id rolls back."""
    body = body or ActivateIn()
    result = await training.activate(
        state, principal, model_id, force=body.force, reason=body.reason
    )
    return Activated(**result)
