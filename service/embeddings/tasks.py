"""Background-job handlers of embeddings: re-embedding with a new model."""

from __future__ import annotations

from service.background_jobs.worker import Handler
from service.embeddings.service import reembed

TASKS: dict[str, Handler] = {"reembed": reembed}
