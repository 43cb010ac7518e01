"""Command-line tools of accountability: `jobmatch audit verify`, `jobmatch retention apply`,
`jobmatch report audit-pack` (what their routes do, without the server)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg


@asynccontextmanager
async def _pool() -> AsyncIterator[asyncpg.Pool]:
    """The migrated database's pool (no embedding model: these commands need none)."""
    from service.config import get_settings
    from service.kit import migrate
    from service.kit.pool import create_pool, resolve_database_url

    settings = get_settings()
    url = resolve_database_url(settings)
    await asyncio.to_thread(migrate.upgrade, url)
    pool = await create_pool(url, settings)
    try:
        yield pool
    finally:
        await pool.close()


async def _agency_id(pool: asyncpg.Pool, name: str) -> UUID:
    from service.auth import repository as agencies

    async with pool.acquire() as conn:
        agency = await agencies.get_agency_by_name(conn, name=name)
    if agency is None:
        sys.exit(f"no agency named {name!r}")
    return agency.id


def cmd_audit_verify(args: argparse.Namespace) -> None:
    """Verify the audit hash chain of one agency (or all); exit 1 at the first break."""
    from service.audit import service as auditing

    async def run() -> bool:
        async with _pool() as pool:
            ids = [await _agency_id(pool, args.agency)] if args.agency else None
            ids = ids or await auditing.agencies(pool)
            ok = True
            for agency_id in ids:
                v = await auditing.verify(pool, agency_id=agency_id)
                out: dict[str, Any] = {
                    "agency_id": str(agency_id),
                    "verified": v.verified,
                    "events_checked": v.events_checked,
                    "anchor_seq": v.anchor_seq,
                    "head_seq": v.head_seq,
                }
                if v.first_break is not None:
                    out["first_break"] = {"seq": v.first_break.seq, "reason": v.first_break.reason}
                print(json.dumps(out), flush=True)
                ok = ok and v.verified
            return ok

    if not asyncio.run(run()):
        sys.exit(1)


def cmd_retention_apply(args: argparse.Namespace) -> None:
    """Run the agency's retention job here, now; print what it deleted."""
    from service.accountability.service import RETENTION_JOB, retain
    from service.background_jobs import repository as jobs_db

    async def run() -> None:
        async with _pool() as pool:
            agency_id = await _agency_id(pool, args.agency)
            async with pool.acquire() as conn:
                job = await jobs_db.create(
                    conn,
                    agency_id=agency_id,
                    kind=RETENTION_JOB,
                    created_by=None,
                    created_by_role="admin",
                    status="running",
                    params={"acted_by": args.acting_person},
                    total=5,
                )

            async def progress(
                done: int, total: int | None = None, phase: str | None = None
            ) -> None:
                async with pool.acquire() as conn:
                    await jobs_db.progress(
                        conn,
                        agency_id=job.agency_id,
                        job_id=job.id,
                        done=done,
                        total=total,
                        phase=phase,
                    )

            result = await retain(pool, job, progress)
            async with pool.acquire() as conn:
                await jobs_db.finish(
                    conn,
                    agency_id=job.agency_id,
                    job_id=job.id,
                    status="succeeded",
                    result=result,
                    error=None,
                )
            print(json.dumps(result))

    asyncio.run(run())


def cmd_report_audit_pack(args: argparse.Namespace) -> None:
    """Write the audit pack of an agency and period as audit-pack.json and audit-pack.html."""
    from pathlib import Path

    from service.audit_pack.endpoints import AuditPack
    from service.audit_pack.html import render
    from service.audit_pack.service import audit_pack
    from service.config import get_settings
    from service.kit.http import report_period

    since, until = report_period(_timestamp(args.from_), _timestamp(args.to))

    async def run() -> dict[str, Any]:
        async with _pool() as pool:
            agency_id = await _agency_id(pool, args.agency)
            return await audit_pack(
                pool, agency_id=agency_id, since=since, until=until, settings=get_settings()
            )

    pack = asyncio.run(run())
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "audit-pack.json").write_text(AuditPack(**pack).model_dump_json(indent=2))
    (out / "audit-pack.html").write_text(render(pack))
    print(f"wrote {out / 'audit-pack.json'} and {out / 'audit-pack.html'}")


def _timestamp(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        sys.exit(f"not an ISO 8601 date or time: {value!r}")


def add_commands(sub: Any) -> None:
    p = sub.add_parser("audit", help="the audit log")
    audit_sub = p.add_subparsers(dest="audit_command", required=True)
    p = audit_sub.add_parser(
        "verify", help="check the audit hash chain; exit 1 and name the first break"
    )
    p.add_argument("--agency", default=None, help="the agency's name (default: every agency)")
    p.set_defaults(func=cmd_audit_verify)

    p = sub.add_parser("retention", help="retention of old records")
    retention_sub = p.add_subparsers(dest="retention_command", required=True)
    p = retention_sub.add_parser(
        "apply", help="delete an agency's records older than its retention periods now"
    )
    p.add_argument("--agency", required=True, help="the agency's name")
    p.add_argument("--acting-person", default=None, help="your staff id, for the audit log")
    p.set_defaults(func=cmd_retention_apply)

    p = sub.add_parser("report", help="reports written offline")
    report_sub = p.add_subparsers(dest="report_command", required=True)
    p = report_sub.add_parser(
        "audit-pack", help="write the audit pack (JSON and printable HTML) of a period"
    )
    p.add_argument("--agency", required=True, help="the agency's name")
    p.add_argument(
        "--from", dest="from_", default=None, help="start (ISO 8601; default 30 days ago)"
    )
    p.add_argument("--to", default=None, help="end (ISO 8601; default now)")
    p.add_argument("--out", required=True, help="directory to write audit-pack.json and .html to")
    p.set_defaults(func=cmd_report_audit_pack)
