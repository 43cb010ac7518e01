"""Retraining from recorded feedback, the model registry, and the live scorer per agency."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from matching.fairness.policy import attribute_label
from matching.learning import (
    MIN_HOLDOUT,
    MIN_TRAIN,
    Example,
    InsufficientData,
    LinearModelScorer,
    compare,
    evaluate,
    label_from_events,
    train_and_evaluate,
)
from matching.score import Scorer, WeightedSumScorer
from service.audit import service as auditing
from service.auth.permissions import Principal
from service.background_jobs import repository as jobs_db
from service.background_jobs.repository import Job
from service.background_jobs.worker import JobFailed, Progress
from service.kit.problems import ProblemError, not_found
from service.records.protected_repository import FIELDS
from service.scoring_models import repository as models_db
from service.state import AppState

DEFAULT_ID = "default"
DEFAULT_SCORER = WeightedSumScorer()


async def active_scorer(state: AppState, conn: asyncpg.Connection, agency_id: UUID) -> Scorer:
    """The agency's live scorer, read from the database on every call, so an activation reaches
    every replica at once; parsed artifacts are cached by model id."""
    model_id = await models_db.active_model_id(conn, agency_id=agency_id)
    if model_id is None:
        return state.scorer
    scorer = state.model_cache.get(model_id)
    if scorer is None:
        artifact = await models_db.artifact_of(conn, agency_id=agency_id, model_id=model_id)
        if artifact is None:  # deleted between the two reads: the default is always there
            return state.scorer
        scorer = LinearModelScorer.from_json(artifact)  # plain JSON coefficients, never pickle
        state.model_cache[model_id] = scorer
    return scorer


def to_examples(rows: list[dict[str, Any]]) -> list[Example]:
    out = []
    for r in rows:
        label = label_from_events(r["events"])
        if label is None:
            continue
        groups = {f: attribute_label(r[f]) for f in FIELDS if r[f] is not None}
        out.append(
            Example(
                list_id=str(r["match_list_id"]),
                seeker_id=str(r["seeker_id"]),
                posting_id=str(r["posting_id"]),
                features=r["features"],
                label=label,
                at=r["created_at"],
                groups=groups,
            )
        )
    return out


async def dataset(state: AppState, agency_id: UUID) -> list[Example]:
    async with state.pool.acquire() as conn:
        rows = await models_db.labelled_items(conn, agency_id=agency_id)
    return to_examples(rows)


async def check_enough_data(state: AppState, agency_id: UUID) -> int:
    """Refuse at once (422) when there cannot be enough feedback to train and evaluate."""
    have = len(await dataset(state, agency_id))
    needed = MIN_TRAIN + MIN_HOLDOUT
    if have < needed:
        raise ProblemError(
            422,
            "Not enough feedback to train",
            f"Training needs at least {needed} labelled match items ({MIN_TRAIN} for training, "
            f"{MIN_HOLDOUT} held out for evaluation, with both positive and negative decisions or "
            f"outcomes); your agency has {have}. Record more caseworker decisions and outcomes.",
            slug="insufficient-data",
        )
    return have


async def train_model(state: AppState, job: Job, progress: Progress) -> dict[str, Any]:
    await progress(0, 3, "loading feedback")
    examples = await dataset(state, job.agency_id)
    async with state.pool.acquire() as conn:
        active = await active_scorer(state, conn, job.agency_id)
        number = await models_db.count(conn, agency_id=job.agency_id) + 1
    version = f"linear-v{number}"
    await progress(1, 3, "fitting and evaluating")
    s = state.settings
    try:
        report = await asyncio.to_thread(
            train_and_evaluate,
            examples,
            version=version,
            active=active,
            default=DEFAULT_SCORER,
            tolerance=s.model_gate_tolerance,
            min_impact_ratio=s.fairness_gate_min_impact_ratio,
            min_train=MIN_TRAIN,
            min_holdout=MIN_HOLDOUT,
        )
    except InsufficientData as exc:
        raise JobFailed(str(exc)) from None
    await progress(2, 3, "storing the model")
    body = report.to_json()
    body.pop("model")
    body["active_version_at_training"] = active.version
    async with state.pool.acquire() as conn:
        stored = await models_db.insert(
            conn,
            agency_id=job.agency_id,
            version=version,
            artifact=report.scorer.to_json(),
            report=body,
            created_by=job.created_by,
            job_id=job.id,
        )
    await progress(3, 3, "done")
    metrics = body["metrics"]
    return {
        "model_id": str(stored.id),
        "version": version,
        "ndcg_at_10": {k: metrics[k].get("ndcg_at_k") for k in ("candidate", "active", "default")},
        "gate": body["gate"],
    }


def _evaluation_set(examples: list[Example], stored: models_db.StoredModel) -> list[Example]:
    """Feedback newer than the model's training window: data it has never seen."""
    end = datetime.fromisoformat(stored.report["train_window"][1])
    return [e for e in examples if e.at > end]


async def activate(
    state: AppState,
    principal: Principal,
    model_ref: str,
    *,
    force: bool,
    reason: str | None,
) -> dict[str, Any]:
    """Switch the agency's live scorer. A learned model must pass the gate against the model
    live now (quality within tolerance, impact ratios ≥ the minimum) unless forced with a
    reason. The default scorer can always be switched to at once."""
    s = state.settings
    gate: dict[str, Any] | None = None
    model: models_db.StoredModel | None = None
    if model_ref != DEFAULT_ID:
        try:
            model_id = UUID(model_ref)
        except ValueError:
            raise not_found("model") from None
        async with state.pool.acquire() as conn:
            model = await models_db.get(conn, agency_id=principal.agency_id, model_id=model_id)
            if model is None:
                raise not_found("model")
            live = await active_scorer(state, conn, principal.agency_id)
        candidate = LinearModelScorer.from_json(model.artifact)
        unseen = _evaluation_set(await dataset(state, principal.agency_id), model)
        if len(unseen) >= MIN_HOLDOUT and live.version != candidate.version:
            cand_m, live_m = await asyncio.gather(
                asyncio.to_thread(evaluate, candidate, unseen),
                asyncio.to_thread(evaluate, live, unseen),
            )
            result = compare(
                cand_m,
                live_m,
                tolerance=s.model_gate_tolerance,
                min_impact_ratio=s.fairness_gate_min_impact_ratio,
            )
            gate = {**result.to_json(), "evaluated_on": len(unseen), "against": live.version}
        else:
            # Not enough newer feedback: the held-out evaluation made at training time decides.
            stored_gate = model.report["gate"]
            gate = {
                **stored_gate,
                "evaluated_on": model.report["holdout_size"],
                "against": model.report.get("active_version_at_training"),
            }
        if not gate["passed"] and not force:
            raise ProblemError(
                409,
                "Model refused by the activation gate",
                "; ".join(gate["reasons"]) + ". Activate with force=true and a reason to "
                "override (audited).",
                slug="gate-refused",
            )
        if force and not gate["passed"] and not reason:
            raise ProblemError(
                422, "Reason required", "Forcing past the gate needs a reason.", slug="validation"
            )
    async with state.pool.acquire() as conn, conn.transaction():
        activation = await models_db.activate(
            conn,
            agency_id=principal.agency_id,
            model_id=model.id if model else None,
            activated_by=principal.key_id,
            acted_by=principal.acting_person,
            forced=bool(force and gate is not None and not gate["passed"]),
            reason=reason,
        )
        await auditing.log(
            conn,
            principal,
            "model.activate",
            subject_type="scoring_model",
            subject_id=model.id if model else None,
            version=model.version if model else state.scorer.version,
            forced=activation.forced,
            gate_passed=None if gate is None else gate["passed"],
        )
    return {
        "active": model.version if model else state.scorer.version,
        "model_id": str(model.id) if model else DEFAULT_ID,
        "forced": activation.forced,
        "gate": gate,
        "activated_at": activation.activated_at,
        "acted_by": activation.acted_by,
    }


async def queue_training(state: AppState, principal: Principal) -> Job:
    """A retraining job on the queue (422 at once when there is too little feedback)."""
    await check_enough_data(state, principal.agency_id)
    async with state.pool.acquire() as conn, conn.transaction():
        job = await jobs_db.create(
            conn,
            agency_id=principal.agency_id,
            kind="train_model",
            created_by=principal.key_id,
            created_by_role=principal.role.value,
            total=3,
            max_attempts=2,
        )
        await auditing.log(conn, principal, "model.train", subject_type="job", subject_id=job.id)
    state.job_queued.set()
    return job


async def registry(
    pool: asyncpg.Pool, *, agency_id: UUID
) -> tuple[list[models_db.StoredModel], models_db.Activation | None, list[models_db.Activation]]:
    """Every stored model (newest first), the active one, and the activation history."""
    async with pool.acquire() as conn:
        stored = await models_db.all_models(conn, agency_id=agency_id)
        live = await models_db.active(conn, agency_id=agency_id)
        history = await models_db.activations(conn, agency_id=agency_id)
    return stored, live, history
