"""Retraining and the model registry (admin)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, status
from pydantic import BaseModel, Field

from service.auth.dependencies import State, authorize
from service.auth.permissions import Principal
from service.background_jobs.schemas import JobStatus, job_out
from service.kit.http import API_V1, problems
from service.kit.schemas import Strict
from service.scoring_models import service as training

router = APIRouter(prefix=API_V1, tags=["models"])
Trainer = Annotated[Principal, Depends(authorize("models:train"))]
Reader = Annotated[Principal, Depends(authorize("models:read"))]
Activator = Annotated[Principal, Depends(authorize("models:activate"))]


class ModelOut(BaseModel):
    id: str = Field(description='"default" for the transparent default scorer')
    version: str
    kind: str
    active: bool
    created_at: datetime | None = None
    created_by: str | None = None
    metrics: dict[str, Any] | None = Field(
        default=None, description="Held-out metrics of this model, the then-active and default"
    )
    train_window: list[str] | None = None
    holdout_window: list[str] | None = None
    train_size: int | None = None
    holdout_size: int | None = None
    gate: dict[str, Any] | None = None


class ModelList(BaseModel):
    items: list[ModelOut]
    activations: list[dict[str, Any]] = Field(description="Activation history, newest first")


class ActivateIn(Strict):
    force: bool = Field(default=False, description="Activate although the gate refuses")
    reason: Annotated[str, Field(max_length=2000)] | None = Field(
        default=None, description="Why (required when forcing); kept in the registry"
    )


class Activated(BaseModel):
    active: str
    model_id: str
    forced: bool
    gate: dict[str, Any] | None
    activated_at: datetime
    acted_by: str | None = Field(
        default=None, description="Staff id of the person who activated it (Acting-Person)"
    )


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
                metrics=r.get("metrics"),
                train_window=r.get("train_window"),
                holdout_window=r.get("holdout_window"),
                train_size=r.get("train_size"),
                holdout_size=r.get("holdout_size"),
                gate=r.get("gate"),
            )
        )
    return ModelList(items=items, activations=[h.model_dump(mode="json") for h in history])


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
