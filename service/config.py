"""Settings from `JOBMATCH_*` environment variables (or a `.env` file)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="JOBMATCH_", env_file=".env", extra="ignore")

    database_url: str | None = Field(
        default=None,
        description="PostgreSQL with pgvector; unset = embedded PostgreSQL in data_dir.",
    )
    data_dir: Path = Field(default=Path(".jobmatch"), description="Embedded database lives here.")
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    model_path: str | None = Field(
        default=None, description="sentence-transformers model directory; unset = bundled MiniLM."
    )
    log_level: str = "INFO"

    pool_min_size: int = 2
    pool_max_size: int = 10
    statement_timeout_ms: int = 15_000

    max_body_bytes: int = 8 * 1024 * 1024
    bulk_max_records: int = 5_000
    page_limit_default: int = 50
    page_limit_max: int = 200
    match_limit_default: int = 20
    match_limit_max: int = 100

    match_candidate_pool: int = Field(
        default=200, description="Candidates retrieved by vector search before scoring."
    )
    min_nearby_postings: int = Field(
        default=10, description="Fewer postings than this within a seeker's radius widens it."
    )
    radius_step_km: float = 20.0
    radius_max_extra_km: float = 100.0
    default_seeker_radius_km: float = Field(
        default=30.0, description="Radius assumed for a seeker who states none."
    )


@lru_cache
def get_settings() -> Settings:
    return Settings()
