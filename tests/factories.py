"""Builders and locations shared by test modules (no test module imports another)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parents[1]
# Derived data kept between test sessions: the ESCO label vectors of the real model (encoding
# them takes minutes). The session's settings use it; so do the servers tests start.
TEST_DATA_DIR = ROOT / ".jobmatch-test-cache"
TEST_CACHE_DIR = TEST_DATA_DIR / "cache"

# The official ESCO v1.1.1 CSV download: beside the repository in this project's workspace
# (`../shared/data/esco`), or wherever JOBMATCH_ESCO_DIR points.
ESCO_DIR = Path(os.environ.get("JOBMATCH_ESCO_DIR") or ROOT.parent / "shared" / "data" / "esco")


def seeker_body(external_id: str = "S-1", **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "external_id": external_id,
        "headline": "Forklift operator with warehouse experience",
        "summary": "Five years of loading, unloading and stock control in a distribution centre.",
        "skills": [{"name": "operate forklift"}, {"name": "stock control"}],
        "desired_occupations": [{"title": "forklift operator", "isco08": "8344"}],
        "experience_years": 5,
        "education_level": 3,
        "languages": ["nl", "en"],
        "location": {"lat": 51.9225, "lon": 4.4792, "city": "Rotterdam"},
        "max_distance_km": 25,
        "desired_salary": {"min": 2600, "currency": "EUR", "period": "MONTH"},
        "employment_types": ["FULL_TIME"],
        "protected": {"consent": True, "gender": "female", "age_band": "35-44"},
    }
    body.update(over)
    return body


def posting_body(external_id: str = "P-1", **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "external_id": external_id,
        "title": "Forklift driver",
        "description": "Load and unload lorries, move pallets with a forklift truck.",
        "hiring_organization": {"name": "Havenlogistiek BV"},
        "occupation": {"title": "forklift operator", "isco08": "8344"},
        "skills_required": [{"name": "operate forklift"}, {"name": "load cargo"}],
        "skills_preferred": [{"name": "stock control"}],
        "employment_type": ["FULL_TIME"],
        "base_salary": {"min": 2500, "max": 2900, "currency": "EUR", "period": "MONTH"},
        "job_location": {"lat": 51.95, "lon": 4.45, "city": "Rotterdam"},
        "valid_through": "2099-01-01T00:00:00Z",
    }
    body.update(over)
    return body


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Agency:
    id: str
    name: str
    keys: dict[str, str]
    client: httpx.AsyncClient

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[role]}"}


_counter = iter(range(1_000_000))


async def make_agency(app: object, pool: asyncpg.Pool, client: httpx.AsyncClient) -> Agency:
    from service.auth import repository as agencies
    from service.auth.permissions import Role

    name = f"Test agency {next(_counter)} {os.getpid()}"
    async with pool.acquire() as conn:
        agency = await agencies.create_agency(conn, name=name)
        keys = {
            role.value: (
                await agencies.create_api_key(conn, agency_id=agency.id, role=role, name=role.value)
            ).secret
            for role in Role
        }
    return Agency(id=str(agency.id), name=name, keys=keys, client=client)
