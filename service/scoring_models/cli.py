"""`jobmatch retrain`: train a scoring model on an agency's feedback now, in this process."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any


def cmd_retrain(args: argparse.Namespace) -> None:
    """Train a model on an agency's feedback now, in this process, and print its evaluation."""
    # Imported here, not at the top: `jobmatch serve` chooses the metrics directory before the
    # service's modules (and prometheus_client with them) are imported (service/prefork.py).
    from service.auth import repository as agencies
    from service.background_jobs import repository as jobs_db
    from service.background_jobs.worker import run_one
    from service.offline import offline_state
    from service.scoring_models import service as training
    from service.tasks import HANDLERS

    async def run() -> None:
        async with offline_state() as state:
            async with state.pool.acquire() as conn:
                agency = await agencies.get_agency_by_name(conn, name=args.agency)
            if agency is None:
                sys.exit(f"no agency named {args.agency!r}")
            await training.check_enough_data(state, agency.id)
            async with state.pool.acquire() as conn:
                job = await jobs_db.create(
                    conn,
                    agency_id=agency.id,
                    kind="train_model",
                    created_by=None,
                    created_by_role="admin",
                    total=3,
                )
            while True:  # run queued jobs here until ours is done
                async with state.pool.acquire() as conn:
                    current = await jobs_db.get(conn, agency_id=agency.id, job_id=job.id)
                assert current is not None
                if current.status in ("succeeded", "failed", "cancelled"):
                    break
                await run_one(state, "jobmatch-retrain", handlers=HANDLERS)
            summary = {"status": current.status, "error": current.error, **current.result}
            print(json.dumps(summary, indent=2))
            print("activate it with POST /v1/models/<model_id>:activate (admin key)")

    asyncio.run(run())


def add_commands(sub: Any) -> None:
    p = sub.add_parser("retrain", help="train a scoring model on an agency's feedback now")
    p.add_argument("--agency", required=True, help="the agency's name")
    p.set_defaults(func=cmd_retrain)
