"""Every background-job handler, in one list, every periodic job and every idle step: a worker
is handed all three, so it can never start without a handler because an import that registered
one happened not to run."""

from __future__ import annotations

from collections.abc import Mapping

from service.accountability import tasks as accountability_tasks
from service.accountability.service import RETENTION_JOB
from service.background_jobs.schedule import Periodic
from service.background_jobs.worker import Handler, IdleStep
from service.capacity import repository as capacity_db
from service.capacity import tasks as capacity_tasks
from service.embeddings import tasks as embeddings_tasks
from service.embeddings.service import index_waiting_vectors
from service.records import tasks as records_tasks
from service.scoring_models import tasks as scoring_models_tasks

_TASK_MODULES = (
    records_tasks,
    embeddings_tasks,
    scoring_models_tasks,
    accountability_tasks,
    capacity_tasks,
)


def _collect() -> dict[str, Handler]:
    handlers: dict[str, Handler] = {}
    for module in _TASK_MODULES:
        clash = handlers.keys() & module.TASKS.keys()
        if clash:
            raise RuntimeError(f"job kinds handled twice: {sorted(clash)}")
        handlers.update(module.TASKS)
    return handlers


HANDLERS: Mapping[str, Handler] = _collect()


PERIODIC: tuple[Periodic, ...] = (
    # Congestion prices for agencies whose capacity policy is `balanced`.
    Periodic(
        "capacity_rebalance",
        every=lambda s: s.capacity_rebalance_seconds,
        agencies=capacity_db.balanced_agencies,
    ),
    # Each agency's retention periods, applied in batches (issue 20).
    Periodic(RETENTION_JOB, every=lambda s: s.retention_interval_seconds),
)


IDLE: tuple[IdleStep, ...] = (
    # Bulk-imported vectors into the HNSW index, after the import (migration 0020).
    index_waiting_vectors,
)
