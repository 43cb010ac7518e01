"""Background-job handlers of capacity-aware matching: the congestion-price computation."""

from __future__ import annotations

from service.background_jobs.worker import Handler
from service.capacity.service import REBALANCE_KIND, rebalance

TASKS: dict[str, Handler] = {REBALANCE_KIND: rebalance}
