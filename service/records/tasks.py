"""Background-job handlers of records: bulk imports."""

from __future__ import annotations

from service.background_jobs.worker import Handler
from service.records.bulk import import_job

TASKS: dict[str, Handler] = {"seeker_import": import_job, "posting_import": import_job}
