"""Demo agency: keys for every role and a few hundred generated seekers and postings."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from service.auth import Principal, Role
from service.bulk import import_records
from service.db import agencies
from service.state import AppState

DEMO_AGENCY = "Demo Employment Agency"


@dataclass
class DemoInfo:
    agency_id: UUID
    keys: dict[Role, str]
    seeded: bool


async def prepare_demo(state: AppState, *, postings: int, seekers: int) -> DemoInfo:
    """Create the demo agency and its data on first run; issue fresh keys on every run."""
    from seed.generate import generate_postings, generate_seekers

    async with state.pool.acquire() as conn, conn.transaction():
        agency = await agencies.get_agency_by_name(conn, name=DEMO_AGENCY)
        seeded = agency is None
        if agency is None:
            agency = await agencies.create_agency(conn, name=DEMO_AGENCY)
        keys: dict[Role, str] = {}
        for role in Role:
            name = f"demo-{role.value}"
            # Secrets are shown once, so a restart revokes the old demo keys and prints new ones.
            await agencies.revoke_keys_named(conn, agency_id=agency.id, name=name)
            key = await agencies.create_api_key(conn, agency_id=agency.id, role=role, name=name)
            keys[role] = key.secret
    if seeded:
        principal = Principal(key_id=UUID(int=0), agency_id=agency.id, role=Role.portal)
        await import_records(state, principal, "posting", generate_postings(postings))
        await import_records(state, principal, "seeker", generate_seekers(seekers))
    return DemoInfo(agency_id=agency.id, keys=keys, seeded=seeded)
