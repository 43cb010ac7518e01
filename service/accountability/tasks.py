"""Background-job handlers of accountability: retention."""

from __future__ import annotations

from service.accountability.service import RETENTION_JOB, apply_retention
from service.background_jobs.worker import Handler

TASKS: dict[str, Handler] = {RETENTION_JOB: apply_retention}
