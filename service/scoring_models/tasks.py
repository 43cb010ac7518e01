"""Background-job handlers of scoring models: retraining."""

from __future__ import annotations

from service.background_jobs.worker import Handler
from service.scoring_models.service import train_model

TASKS: dict[str, Handler] = {"train_model": train_model}
